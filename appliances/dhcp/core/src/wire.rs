//! DHCP message decoding and encoding on top of dhcproto.
//!
//! dhcproto decodes the fixed BOOTP header and typed options, but it reads
//! options only from the `options` field, joins split options (RFC 3396) only
//! when their parts are adjacent, stops silently at the first bad option, and
//! trusts `hlen` (a `hlen` above 16 makes `Message::chaddr` panic). So we
//! first gather the options ourselves — from `options`, then `file`, then
//! `sname` as option 52 (RFC 2132 §9.3) directs — concatenate every instance
//! of a code in that order (RFC 3396 §5), decode each option on its own, and
//! drop malformed ones without losing the rest.
//!
//! Option 108 (IPv6-Only Preferred, RFC 8925) is kept as raw bytes: dhcproto
//! 0.15 maps its `Ipv6OnlyPreferred` variant to code 106, so we never use that
//! variant and build code 108 as an unknown option instead.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, DhcpOptions, Message, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

/// RFC 2131 §3: the magic cookie 99.130.83.99.
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// The smallest DHCP message: 236 bytes of BOOTP header and the cookie.
pub const HEADER_LEN: usize = 240;
/// RFC 2131 §2: every client accepts messages of up to 576 octets (IP and UDP included).
pub const MIN_MAX_MESSAGE: usize = 576;
/// The option code dhcproto gets wrong (RFC 8925).
pub const OPTION_IPV6_ONLY: u8 = 108;
/// Offsets in the BOOTP header.
const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

/// Why a packet was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    Truncated,
    BadMagic,
    NotRequest,
    BadHlen(u8),
    BadOption(u8),
    Codec(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("truncated message"),
            WireError::BadMagic => f.write_str("no DHCP magic cookie"),
            WireError::NotRequest => f.write_str("not a BOOTREQUEST"),
            WireError::BadHlen(h) => write!(f, "hardware address length {h} > 16"),
            WireError::BadOption(c) => write!(f, "option {c} runs past the end of its field"),
            WireError::Codec(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WireError {}

/// A decoded request: the dhcproto message (options normalised) plus the
/// raw bytes of options we handle ourselves.
#[derive(Clone, Debug)]
pub struct Request {
    pub msg: Message,
    /// Every option, concatenated per RFC 3396, as raw bytes by code.
    pub raw: BTreeMap<u8, Vec<u8>>,
    /// Options whose value dhcproto could not decode (dropped, counted).
    pub bad_options: usize,
}

impl Request {
    pub fn client_id(&self) -> Option<&[u8]> {
        self.raw.get(&61).map(Vec::as_slice).filter(|v| !v.is_empty())
    }
    /// The parameter request list (option 55) as raw codes, so that 108 stays 108.
    pub fn prl(&self) -> Option<&[u8]> {
        self.raw.get(&55).map(Vec::as_slice)
    }
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        match self.msg.opts().get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
            _ => None,
        }
    }
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        match self.msg.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(a)) => Some(*a),
            _ => None,
        }
    }
    pub fn hostname(&self) -> Option<String> {
        let raw = self.raw.get(&12)?;
        let s: String = raw.iter().take(63).map(|&b| b as char).filter(|c| c.is_ascii_graphic()).collect();
        (!s.is_empty()).then_some(s)
    }
    /// Option 57, clamped to at least 576 (RFC 2132 §9.10).
    pub fn max_message(&self) -> usize {
        let v = self.raw.get(&57).filter(|v| v.len() == 2).map(|v| u16::from_be_bytes([v[0], v[1]]) as usize);
        v.unwrap_or(MIN_MAX_MESSAGE).max(MIN_MAX_MESSAGE)
    }
    /// The hardware address, `hlen` bytes (checked ≤ 16 at decode).
    pub fn chaddr(&self) -> &[u8] {
        self.msg.chaddr()
    }
}

/// Walks one option field; appends (code, bytes) in order. Stops at End.
fn walk(field: &[u8], out: &mut Vec<(u8, Vec<u8>)>) -> Result<(), WireError> {
    let mut i = 0;
    while i < field.len() {
        let code = field[i];
        match code {
            0 => i += 1,
            255 => return Ok(()),
            _ => {
                let len = *field.get(i + 1).ok_or(WireError::BadOption(code))? as usize;
                let data = field.get(i + 2..i + 2 + len).ok_or(WireError::BadOption(code))?;
                out.push((code, data.to_vec()));
                i += 2 + len;
            }
        }
    }
    Ok(())
}

/// Decodes a DHCP message from the UDP payload.
pub fn decode_request(payload: &[u8]) -> Result<Request, WireError> {
    if payload.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if payload[0] != 1 {
        return Err(WireError::NotRequest);
    }
    if payload[2] > 16 {
        return Err(WireError::BadHlen(payload[2]));
    }
    if payload[236..240] != MAGIC {
        return Err(WireError::BadMagic);
    }
    let mut parts = Vec::new();
    walk(&payload[HEADER_LEN..], &mut parts)?;
    // RFC 2132 §9.3: option 52 says `file` (1), `sname` (2) or both (3) carry options.
    let overload = parts.iter().find(|(c, _)| *c == 52).and_then(|(_, v)| v.first().copied()).unwrap_or(0);
    if overload & 1 != 0 {
        walk(&payload[FILE], &mut parts)?;
    }
    if overload & 2 != 0 {
        walk(&payload[SNAME], &mut parts)?;
    }
    // RFC 3396 §5: all instances of a code, in order, form one value.
    let mut raw: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    for (code, data) in parts {
        raw.entry(code).or_default().extend_from_slice(&data);
    }
    raw.remove(&52);

    // The header alone through dhcproto (options are ours to decode).
    let mut header = payload[..HEADER_LEN].to_vec();
    if overload & 1 != 0 {
        header[FILE].fill(0);
    }
    if overload & 2 != 0 {
        header[SNAME].fill(0);
    }
    header.push(255);
    let mut msg = Message::decode(&mut Decoder::new(&header)).map_err(|e| WireError::Codec(e.to_string()))?;
    let mut opts = DhcpOptions::new();
    let mut bad_options = 0;
    for (&code, data) in &raw {
        if code == OPTION_IPV6_ONLY || code == 106 {
            continue; // see the module notes: never let dhcproto name these
        }
        match decode_option(code, data) {
            Some(o) => {
                opts.insert(o);
            }
            None => bad_options += 1,
        }
    }
    msg.set_opts(opts);
    Ok(Request { msg, raw, bad_options })
}

/// Whether dhcproto 0.15 can decode option `code` of `len` bytes without panicking: a few
/// of its decoders `debug_assert` the length or subtract from it (found by the fuzz
/// target), so those lengths are refused here first.
fn length_ok(code: u8, len: usize) -> bool {
    match code {
        80 => len == 0,        // rapid commit
        81 => len >= 3,        // client FQDN: flags, rcode1, rcode2, name
        94 => len == 3,        // client network interface
        151 => len >= 1,       // bulk leasequery status code
        152..=155 => len == 4, // bulk leasequery times
        _ => true,
    }
}

fn decode_option(code: u8, data: &[u8]) -> Option<DhcpOption> {
    if !length_ok(code, data.len()) {
        return None;
    }
    let mut buf = Vec::with_capacity(data.len() + 4);
    for chunk in data.chunks(255) {
        buf.push(code);
        buf.push(chunk.len() as u8);
        buf.extend_from_slice(chunk);
    }
    if data.is_empty() {
        buf.extend_from_slice(&[code, 0]);
    }
    buf.push(255);
    let opt = DhcpOption::decode(&mut Decoder::new(&buf)).ok()?;
    // A fixed-size value with extra bytes decodes "fine": reject it.
    let mut check = Vec::new();
    opt.encode(&mut Encoder::new(&mut check)).ok()?;
    (check.len() == buf.len() - 1 || matches!(opt, DhcpOption::ParameterRequestList(_))).then_some(opt)
}

/// Encodes a reply. `extra` are raw options we pass through or dhcproto cannot
/// name (108, and 61/82 echoed byte for byte); the relay agent information
/// option always goes last (RFC 3046 §2.2).
pub fn encode_reply(msg: &Message, extra: &[(u8, Vec<u8>)]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(600);
    msg.encode(&mut Encoder::new(&mut out)).map_err(|e| WireError::Codec(e.to_string()))?;
    if extra.is_empty() {
        return Ok(out);
    }
    // Re-emit the options area with ours spliced in before option 82 / End.
    let mut parts = Vec::new();
    walk(&out[HEADER_LEN..], &mut parts)?;
    out.truncate(HEADER_LEN);
    let (relay, rest): (Vec<_>, Vec<_>) = parts.into_iter().chain(extra.iter().cloned()).partition(|(c, _)| *c == 82);
    for (code, data) in rest.iter().chain(relay.iter()) {
        for chunk in data.chunks(255) {
            out.push(*code);
            out.push(chunk.len() as u8);
            out.extend_from_slice(chunk);
        }
    }
    out.push(255);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(opts: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 1;
        p[1] = 1;
        p[2] = 6;
        p[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        p[236..240].copy_from_slice(&MAGIC);
        p.extend_from_slice(opts);
        p
    }

    #[test]
    fn long_and_overloaded_options_are_joined() {
        // Client identifier split in two parts around another option (RFC 3396),
        // and a hostname carried in `file` (option 52 = 1).
        let mut p = base(&[53, 1, 1, 61, 2, 1, 0xaa, 52, 1, 1, 55, 2, 1, 108, 61, 1, 0xbb, 255]);
        p[FILE.start..FILE.start + 6].copy_from_slice(&[12, 3, b'p', b'c', b'1', 255]);
        let r = decode_request(&p).unwrap();
        assert_eq!(r.client_id(), Some(&[1, 0xaa, 0xbb][..]));
        assert_eq!(r.hostname().as_deref(), Some("pc1"));
        assert_eq!(r.prl(), Some(&[1, 108][..]));
        assert_eq!(r.msg.opts().msg_type(), Some(dhcproto::v4::MessageType::Discover));
        assert!(r.msg.fname().is_none_or(|f| f.iter().all(|b| *b == 0)));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert_eq!(decode_request(&[1; 100]).unwrap_err(), WireError::Truncated);
        let mut p = base(&[53, 1, 1]);
        p[2] = 200;
        assert_eq!(decode_request(&p).unwrap_err(), WireError::BadHlen(200));
        let mut p = base(&[53, 1, 1]);
        p[236] = 0;
        assert_eq!(decode_request(&p).unwrap_err(), WireError::BadMagic);
        assert_eq!(decode_request(&base(&[53, 9, 1])).unwrap_err(), WireError::BadOption(53));
        // A bad value loses that option only.
        let r = decode_request(&base(&[53, 1, 3, 50, 3, 1, 2, 3, 54, 4, 10, 0, 0, 1, 255])).unwrap();
        assert_eq!(r.bad_options, 1);
        assert_eq!(r.server_id(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r.requested_ip(), None);
        // Lengths dhcproto's decoders assert or subtract from: refused, not a panic.
        for (code, len) in
            [(80u8, 1u8), (81, 0), (81, 2), (94, 2), (94, 4), (151, 0), (152, 3), (153, 0), (154, 5), (155, 1)]
        {
            let mut opts = vec![53, 1, 1, code, len];
            opts.extend(std::iter::repeat_n(7, usize::from(len)));
            opts.push(255);
            let r = decode_request(&base(&opts)).unwrap();
            assert_eq!(r.bad_options, 1, "option {code} of {len} bytes");
        }
        for len in 0..300 {
            let mut p = base(&[53, 1, 1, 61, 7, 1, 2, 3, 4, 5, 6, 7, 55, 3, 1, 3, 6, 255]);
            p.truncate(len.min(p.len()));
            let _ = decode_request(&p);
        }
    }

    #[test]
    fn option_108_is_encoded_as_108_and_relay_info_stays_last() {
        let r = decode_request(&base(&[53, 1, 1, 82, 4, 1, 2, 0xab, 0xcd, 255])).unwrap();
        let mut m = r.msg.clone();
        m.set_opcode(dhcproto::v4::Opcode::BootReply);
        let bytes = encode_reply(&m, &[(OPTION_IPV6_ONLY, 1800u32.to_be_bytes().to_vec())]).unwrap();
        let mut parts = Vec::new();
        walk(&bytes[HEADER_LEN..], &mut parts).unwrap();
        let codes: Vec<u8> = parts.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, vec![53, 108, 82]);
        assert_eq!(parts[1].1, vec![0, 0, 7, 8]);
        assert_eq!(parts[2].1, vec![1, 2, 0xab, 0xcd]);
    }
}
