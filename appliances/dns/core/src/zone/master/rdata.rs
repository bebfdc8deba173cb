//! Presentation form ⇄ wire form of the record types we read ourselves, each described
//! once as a list of fields (RFC 1035 §3.3, RFC 4034, RFC 5155, RFC 9460, …). The same
//! description reads text into wire data, checks wire data given in the RFC 3597 `\#`
//! form, and writes wire data back as text, so the three cannot disagree.
//!
//! Names and character-strings follow RFC 1035 §5.1: `\DDD` is the octet with that
//! decimal value, `\X` is X itself (so `\.` is a dot inside a label, `\"`, `\;`, `\(`…
//! lose their special meaning). Names keep the case they are written in.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXLOWER, HEXUPPER, HEXUPPER_PERMISSIVE};
use hickory_proto::rr::domain::Label;
use hickory_proto::rr::{Name, RecordType};

use super::{Tok, parse_ttl, sig_time, type_bitmap};

/// One field of rdata.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    U8,
    U16,
    U32,
    /// A 32-bit period that may be written in TTL units (`1h`), as SOA timers.
    Period,
    /// RFC 4034 §3.2 signature time: seconds or YYYYMMDDHHmmSS.
    Time,
    /// DNSSEC algorithm: number or RFC 4034 Appendix A.1 mnemonic.
    Alg,
    /// A record type (RRSIG type covered), 16 bits.
    Covered,
    Name,
    /// One RFC 1035 <character-string>, a length octet on the wire.
    Str,
    /// One or more character-strings, to the end (TXT).
    Strs,
    A4,
    A6,
    /// Hex digits to the end, split over tokens as the writer likes.
    Hex,
    /// The same, written in upper case (DS digests, as the dumps and transcripts
    /// have always shown them; case means nothing in hex).
    HexUp,
    /// Base64 to the end (keys, signatures).
    Base64,
    /// RFC 4034 §4.1.2 type bit maps, to the end.
    Bitmap,
    /// RFC 5155 §3.3 salt: `-` or hex, a length octet on the wire.
    Salt,
    /// RFC 5155 §3.3 next hashed owner: base32hex, a length octet on the wire.
    Hash,
    /// RFC 9460 §2.1 SvcParams, to the end.
    Svc,
    /// RFC 8659 §4.1.1 CAA tag: letters and digits, a length octet on the wire.
    Tag,
    /// One string without a length octet, to the end (CAA value, URI target).
    Rest,
    /// RFC 7043 §3.2 EUI-48 / §4.2 EUI-64: hex pairs joined by `-`.
    Eui48,
    Eui64,
    /// RFC 6742 §2.1.2 64-bit locator or node id: four groups of 4 hex digits, `:`.
    Node64,
    /// RFC 4398 §2.1 certificate type: number or mnemonic.
    CertType,
    /// RFC 1876 §3 location, all of the rdata.
    Loc,
}

use Field::*;

/// The types this module handles, by code, with mnemonic and fields.
const TYPES: &[(u16, &str, &[Field])] = &[
    (1, "A", &[A4]),
    (2, "NS", &[Name]),
    (5, "CNAME", &[Name]),
    (6, "SOA", &[Name, Name, U32, Period, Period, Period, Period]),
    (12, "PTR", &[Name]),
    (13, "HINFO", &[Str, Str]),
    (15, "MX", &[U16, Name]),
    (16, "TXT", &[Strs]),
    (17, "RP", &[Name, Name]),
    (18, "AFSDB", &[U16, Name]),
    (28, "AAAA", &[A6]),
    (29, "LOC", &[Loc]),
    (33, "SRV", &[U16, U16, U16, Name]),
    (35, "NAPTR", &[U16, U16, Str, Str, Str, Name]),
    (36, "KX", &[U16, Name]),
    (39, "DNAME", &[Name]),
    (43, "DS", &[U16, Alg, U8, HexUp]),
    (44, "SSHFP", &[U8, U8, Hex]),
    (46, "RRSIG", &[Covered, Alg, U8, Period, Time, Time, U16, Name, Base64]),
    (47, "NSEC", &[Name, Bitmap]),
    (37, "CERT", &[CertType, U16, Alg, Base64]),
    (48, "DNSKEY", &[U16, U8, Alg, Base64]),
    (49, "DHCID", &[Base64]),
    (50, "NSEC3", &[U8, U8, U16, Salt, Hash, Bitmap]),
    (51, "NSEC3PARAM", &[U8, U8, U16, Salt]),
    (52, "TLSA", &[U8, U8, U8, Hex]),
    (53, "SMIMEA", &[U8, U8, U8, Hex]),
    (59, "CDS", &[U16, Alg, U8, HexUp]),
    (60, "CDNSKEY", &[U16, U8, Alg, Base64]),
    (61, "OPENPGPKEY", &[Base64]),
    (62, "CSYNC", &[U32, U16, Bitmap]),
    (63, "ZONEMD", &[U32, U8, U8, Hex]),
    (64, "SVCB", &[U16, Name, Svc]),
    (65, "HTTPS", &[U16, Name, Svc]),
    (99, "SPF", &[Strs]),
    (104, "NID", &[U16, Node64]),
    (105, "L32", &[U16, A4]),
    (106, "L64", &[U16, Node64]),
    (107, "LP", &[U16, Name]),
    (108, "EUI48", &[Eui48]),
    (109, "EUI64", &[Eui64]),
    (256, "URI", &[U16, U16, Rest]),
    (257, "CAA", &[U8, Tag, Rest]),
];

fn fields(rtype: RecordType) -> Option<&'static [Field]> {
    let code = u16::from(rtype);
    TYPES.iter().find(|t| t.0 == code).map(|t| t.2)
}

/// A type mnemonic of ours, `TYPEnnn` (RFC 3597 §5), or one hickory knows.
pub(super) fn parse_type(s: &str) -> Option<RecordType> {
    let up = s.to_ascii_uppercase();
    if let Some(t) = TYPES.iter().find(|t| t.1 == up) {
        return Some(RecordType::from(t.0));
    }
    if let Some(n) = up.strip_prefix("TYPE") {
        return n.parse::<u16>().ok().map(RecordType::from);
    }
    up.parse::<RecordType>().ok()
}

/// The mnemonic of a type, or `TYPEnnn`.
pub(super) fn type_text(rtype: RecordType) -> String {
    let code = u16::from(rtype);
    match TYPES.iter().find(|t| t.0 == code) {
        Some(t) => t.1.to_string(),
        None => match rtype {
            RecordType::Unknown(_) => format!("TYPE{code}"),
            known => known.to_string(),
        },
    }
}

/// RFC 4034 Appendix A.1 and RFC 8624 algorithm mnemonics.
const ALGORITHMS: &[(u8, &str)] = &[
    (1, "RSAMD5"),
    (2, "DH"),
    (3, "DSA"),
    (5, "RSASHA1"),
    (6, "DSA-NSEC3-SHA1"),
    (7, "RSASHA1-NSEC3-SHA1"),
    (8, "RSASHA256"),
    (10, "RSASHA512"),
    (12, "ECC-GOST"),
    (13, "ECDSAP256SHA256"),
    (14, "ECDSAP384SHA384"),
    (15, "ED25519"),
    (16, "ED448"),
    (252, "INDIRECT"),
    (253, "PRIVATEDNS"),
    (254, "PRIVATEOID"),
];

/// RFC 4398 §2.1 certificate type mnemonics.
const CERT_TYPES: &[(u16, &str)] = &[
    (1, "PKIX"),
    (2, "SPKI"),
    (3, "PGP"),
    (4, "IPKIX"),
    (5, "ISPKI"),
    (6, "IPGP"),
    (7, "ACPKIX"),
    (8, "IACPKIX"),
    (253, "URI"),
    (254, "OID"),
];

// ---------------------------------------------------------------------------
// Names and character-strings (RFC 1035 §5.1).

/// The octets of presentation text with RFC 1035 §5.1 escapes undone. `split_dots`:
/// unescaped dots end labels (names); otherwise a dot is an octet like any other.
/// Returns the pieces (one unless splitting).
fn unescape(s: &str, split_dots: bool) -> Result<Vec<Vec<u8>>, String> {
    let b = s.as_bytes();
    let mut pieces = vec![Vec::new()];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let digits = b.get(i + 1..i + 4).filter(|d| d.iter().all(u8::is_ascii_digit));
            let value =
                digits.map(|d| u32::from(d[0] - b'0') * 100 + u32::from(d[1] - b'0') * 10 + u32::from(d[2] - b'0'));
            // `\DDD` over 255 is no octet. NSD and Knot both load it; NSD (our reference)
            // reads `\D` as the digit D and the rest as text, and so do we.
            let octet = if let Some(v) = value.and_then(|v| u8::try_from(v).ok()) {
                i += 4;
                v
            } else {
                let x = *b.get(i + 1).ok_or(format!("{s:?} ends in a lone backslash"))?;
                i += 2;
                x
            };
            pieces.last_mut().expect("never empty").push(octet);
        } else if c == b'.' && split_dots {
            pieces.push(Vec::new());
            i += 1;
        } else {
            pieces.last_mut().expect("never empty").push(c);
            i += 1;
        }
    }
    Ok(pieces)
}

/// A domain name in presentation form: `@` is the origin, a name without the final
/// dot is relative to it. A label over 63 octets or a name over 255 (RFC 1035 §2.3.4,
/// after unescaping) is an error.
pub(super) fn parse_name(s: &str, origin: &Name) -> Result<Name, String> {
    if s == "@" {
        return Ok(origin.clone());
    }
    if s.is_empty() {
        return Err("empty domain name".into());
    }
    if s == "." {
        return Ok(Name::root());
    }
    let mut labels = unescape(s, true)?;
    let absolute = labels.last().is_some_and(Vec::is_empty);
    if absolute {
        labels.pop();
    }
    if labels.iter().any(Vec::is_empty) {
        return Err(format!("empty label in domain name {s:?}"));
    }
    if let Some(l) = labels.iter().find(|l| l.len() > 63) {
        return Err(format!("label of {} octets in {s:?}: at most 63 (RFC 1035 §2.3.4)", l.len()));
    }
    if !absolute {
        labels.extend(origin.iter().map(<[u8]>::to_vec));
    }
    let wire_len = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    if wire_len > 255 {
        return Err(format!("domain name {s:?} is {wire_len} octets: at most 255 (RFC 1035 §2.3.4)"));
    }
    let labels = labels.iter().map(|l| Label::from_raw_bytes(l)).collect::<Result<Vec<_>, _>>();
    let labels = labels.map_err(|e| format!("bad domain name {s:?}: {e}"))?;
    Name::from_labels(labels).map_err(|e| format!("bad domain name {s:?}: {e}"))
}

/// One label in presentation form: the octets that mean something in a master file
/// are escaped, the unprintable ones as `\DDD`.
fn push_label(out: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'$' | b'@' => {
                out.push('\\');
                out.push(b as char);
            }
            0x21..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
}

/// An absolute name in presentation form, from its labels.
pub(super) fn name_text<'a>(labels: impl Iterator<Item = &'a [u8]>) -> String {
    let mut out = String::new();
    for l in labels {
        push_label(&mut out, l);
        out.push('.');
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Octets as a quoted character-string.
fn push_quoted(out: &mut String, s: &[u8]) {
    out.push('"');
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
    out.push('"');
}

fn string(t: &Tok<'_>) -> Result<Vec<u8>, String> {
    Ok(unescape(t.text(), false)?.remove(0))
}

fn char_string(t: &Tok<'_>) -> Result<Vec<u8>, String> {
    let s = string(t)?;
    if s.len() > 255 {
        return Err(format!("character-string of {} octets: at most 255 (RFC 1035 §3.3)", s.len()));
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// Text to wire.

/// The rdata of `rtype` read from its presentation tokens, or None if this module does
/// not handle the type.
pub(super) fn encode(rtype: RecordType, toks: &[Tok<'_>], origin: &Name) -> Option<Result<Vec<u8>, String>> {
    let fields = fields(rtype)?;
    Some(encode_fields(rtype, fields, toks, origin))
}

fn encode_fields(rtype: RecordType, fields: &[Field], toks: &[Tok<'_>], origin: &Name) -> Result<Vec<u8>, String> {
    let mut w = Vec::new();
    let mut i = 0;
    for &f in fields {
        let rest = &toks[i.min(toks.len())..];
        match f {
            Strs | Hex | HexUp | Base64 | Bitmap | Svc | Loc => {
                i = toks.len();
                encode_rest(f, rest, origin, &mut w)?;
            }
            _ => {
                let t = rest.first().ok_or(format!("{} record: missing {}", type_text(rtype), what(f)))?;
                i += 1;
                encode_one(f, t, origin, &mut w).map_err(|e| format!("{} record: {e}", type_text(rtype)))?;
            }
        }
    }
    if let Some(t) = toks.get(i) {
        return Err(format!("{} record: unexpected {:?} after the data", type_text(rtype), t.raw));
    }
    if w.len() > usize::from(u16::MAX) {
        return Err("record data over 65535 octets".into());
    }
    Ok(w)
}

fn what(f: Field) -> &'static str {
    match f {
        U8 | U16 | U32 => "number",
        Period => "period",
        Time => "signature time",
        Alg => "algorithm",
        Covered => "type covered",
        Name => "domain name",
        Str | Strs => "character-string",
        A4 => "IPv4 address",
        A6 => "IPv6 address",
        Hex | HexUp => "hex data",
        Base64 => "base64 data",
        Bitmap => "type list",
        Salt => "salt",
        Hash => "next hashed owner",
        Svc => "SvcParams",
        Tag => "tag",
        Rest => "string",
        Eui48 => "EUI-48 address",
        Eui64 => "EUI-64 address",
        Node64 => "64-bit locator",
        CertType => "certificate type",
        Loc => "location",
    }
}

fn number<T: std::str::FromStr>(t: &Tok<'_>, f: Field) -> Result<T, String> {
    let s = t.text();
    // Plain decimal only: `+1` or `0x1` are not numbers in a master file.
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("bad {} {s:?}", what(f)));
    }
    s.parse().map_err(|_| format!("{} {s:?} out of range", what(f)))
}

fn encode_one(f: Field, t: &Tok<'_>, origin: &Name, w: &mut Vec<u8>) -> Result<(), String> {
    let s = t.text();
    match f {
        U8 => w.push(number(t, f)?),
        U16 => w.extend_from_slice(&number::<u16>(t, f)?.to_be_bytes()),
        U32 => w.extend_from_slice(&number::<u32>(t, f)?.to_be_bytes()),
        Period => w.extend_from_slice(&parse_ttl(s).ok_or(format!("bad period {s:?}"))?.to_be_bytes()),
        Time => w.extend_from_slice(&sig_time(Some(t))?.to_be_bytes()),
        Alg => {
            let up = s.to_ascii_uppercase();
            let v = match ALGORITHMS.iter().find(|a| a.1 == up) {
                Some(a) => a.0,
                None => number(t, f)?,
            };
            w.push(v);
        }
        Covered => w.extend_from_slice(&u16::from(parse_type(s).ok_or(format!("bad type {s:?}"))?).to_be_bytes()),
        Name => push_name_wire(w, &parse_name(s, origin)?),
        Str => {
            let v = char_string(t)?;
            w.push(v.len() as u8);
            w.extend(v);
        }
        A4 => w.extend_from_slice(&s.parse::<Ipv4Addr>().map_err(|_| format!("bad IPv4 address {s:?}"))?.octets()),
        A6 => w.extend_from_slice(&s.parse::<Ipv6Addr>().map_err(|_| format!("bad IPv6 address {s:?}"))?.octets()),
        Salt => {
            let v = if s == "-" { Vec::new() } else { hex(s)? };
            if v.is_empty() && s != "-" || v.len() > 255 {
                return Err(format!("bad salt {s:?}"));
            }
            w.push(v.len() as u8);
            w.extend(v);
        }
        Hash => {
            let v = BASE32HEX_NOPAD
                .decode(s.to_ascii_uppercase().as_bytes())
                .map_err(|e| format!("bad next hashed owner {s:?}: {e}"))?;
            if v.is_empty() || v.len() > 255 {
                return Err(format!("bad next hashed owner {s:?}"));
            }
            w.push(v.len() as u8);
            w.extend(v);
        }
        Tag => {
            // RFC 8659 §4.1.1: the tag is letters and digits.
            if s.is_empty() || s.len() > 255 || !s.bytes().all(|c| c.is_ascii_alphanumeric()) || t.quoted {
                return Err(format!("bad CAA tag {s:?}"));
            }
            w.push(s.len() as u8);
            w.extend_from_slice(s.as_bytes());
        }
        Rest => w.extend(string(t)?),
        Eui48 | Eui64 => {
            let n = if f == Eui48 { 6 } else { 8 };
            let parts: Vec<&str> = s.split('-').collect();
            let ok = parts.len() == n && parts.iter().all(|p| p.len() == 2);
            let bytes = ok.then(|| parts.iter().map(|p| u8::from_str_radix(p, 16).ok()).collect::<Option<Vec<u8>>>());
            w.extend(bytes.flatten().ok_or(format!("bad {} {s:?}", what(f)))?);
        }
        Node64 => {
            let parts: Vec<&str> = s.split(':').collect();
            let ok = parts.len() == 4 && parts.iter().all(|p| p.len() == 4);
            let groups =
                ok.then(|| parts.iter().map(|p| u16::from_str_radix(p, 16).ok()).collect::<Option<Vec<u16>>>());
            let groups = groups.flatten().ok_or(format!("bad {} {s:?}", what(f)))?;
            groups.iter().for_each(|g| w.extend_from_slice(&g.to_be_bytes()));
        }
        CertType => {
            let up = s.to_ascii_uppercase();
            let v = match CERT_TYPES.iter().find(|c| c.1 == up) {
                Some(c) => c.0,
                None => number(t, f)?,
            };
            w.extend_from_slice(&v.to_be_bytes());
        }
        Strs | Hex | HexUp | Base64 | Bitmap | Svc | Loc => unreachable!("handled by encode_rest"),
    }
    Ok(())
}

fn hex(s: &str) -> Result<Vec<u8>, String> {
    HEXUPPER_PERMISSIVE.decode(s.as_bytes()).map_err(|e| format!("bad hex {s:?}: {e}"))
}

fn encode_rest(f: Field, toks: &[Tok<'_>], origin: &Name, w: &mut Vec<u8>) -> Result<(), String> {
    let _ = origin;
    match f {
        Strs => {
            if toks.is_empty() {
                return Err("missing character-string".into());
            }
            for t in toks {
                let v = char_string(t)?;
                w.push(v.len() as u8);
                w.extend(v);
            }
        }
        Hex | HexUp | Base64 => {
            if toks.is_empty() {
                return Err(format!("missing {}", what(f)));
            }
            let s: String = toks.iter().map(|t| t.text()).collect();
            let v = if f != Base64 {
                hex(&s)?
            } else {
                BASE64.decode(s.as_bytes()).map_err(|e| format!("bad base64: {e}"))?
            };
            w.extend(v);
        }
        Bitmap => {
            let types = toks
                .iter()
                .map(|t| parse_type(t.text()).ok_or(format!("bad type {:?}", t.text())))
                .collect::<Result<Vec<_>, _>>()?;
            w.extend(type_bitmap(&types));
        }
        Svc => w.extend(svc_encode(toks)?),
        Loc => w.extend(loc_encode(toks)?),
        _ => unreachable!("single-token field"),
    }
    Ok(())
}

pub(super) fn push_name_wire(w: &mut Vec<u8>, name: &Name) {
    for label in name.iter() {
        w.push(label.len() as u8);
        w.extend_from_slice(label);
    }
    w.push(0);
}

// ---------------------------------------------------------------------------
// RFC 9460 SvcParams.

const SVC_KEYS: &[(u16, &str)] = &[
    (0, "mandatory"),
    (1, "alpn"),
    (2, "no-default-alpn"),
    (3, "port"),
    (4, "ipv4hint"),
    (5, "ech"),
    (6, "ipv6hint"),
    (7, "dohpath"),
    (8, "ohttp"),
];

/// A SvcParamKey name (RFC 9460 §14.3.2): a registered name or `keyNNNNN`; key65535
/// is reserved as invalid. The flag says the key was written in the generic form.
fn svc_key(s: &str) -> Result<(u16, bool), String> {
    if let Some(k) = SVC_KEYS.iter().find(|k| k.1 == s) {
        return Ok((k.0, false));
    }
    let n = s
        .strip_prefix("key")
        .filter(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|n| n.parse::<u16>().ok())
        .ok_or(format!("unknown SvcParamKey {s:?}"))?;
    // key65535 is reserved as "Invalid key" (RFC 9460 §14.3.2), yet NSD and Knot load
    // it; so do we.
    Ok((n, true))
}

fn svc_key_text(k: u16) -> String {
    match SVC_KEYS.iter().find(|e| e.0 == k) {
        Some(e) => e.1.to_string(),
        None => format!("key{k}"),
    }
}

/// RFC 9460 Appendix A.1 value-list: items split on commas, where `\,` and `\\` (after
/// the character-string unescaping) stand for a comma and a backslash in an item.
fn value_list(v: &[u8]) -> Vec<Vec<u8>> {
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if i + 1 < v.len() => {
                items.last_mut().expect("never empty").push(v[i + 1]);
                i += 2;
            }
            b',' => {
                items.push(Vec::new());
                i += 1;
            }
            c => {
                items.last_mut().expect("never empty").push(c);
                i += 1;
            }
        }
    }
    items
}

fn svc_encode(toks: &[Tok<'_>]) -> Result<Vec<u8>, String> {
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut j = 0;
    while let Some(t) = toks.get(j) {
        j += 1;
        if t.quoted {
            return Err(format!("SvcParam value {:?} without a key", t.raw));
        }
        let (key, value) = match t.raw.split_once('=') {
            None => (t.raw, None),
            // `key="..."`: the lexer sees the quoted value as a token of its own,
            // written right after the `=`.
            Some((k, "")) => match toks.get(j).filter(|n| n.glued && n.quoted) {
                Some(n) => {
                    j += 1;
                    (k, Some(string(n)?))
                }
                None => (k, Some(Vec::new())),
            },
            Some((k, v)) => (k, Some(unescape(v, false)?.remove(0))),
        };
        let (code, generic) = svc_key(key)?;
        if params.iter().any(|p| p.0 == code) {
            return Err(format!("SvcParamKey {key} given twice (RFC 9460 §2.2)"));
        }
        let wire = svc_value(code, generic, value).map_err(|e| format!("SvcParam {key}: {e}"))?;
        params.push((code, wire));
    }
    // RFC 9460 §2.2: the wire form is in increasing key order, whatever the text's.
    params.sort_by_key(|p| p.0);
    if let Some((_, m)) = params.iter().find(|p| p.0 == 0) {
        if !m.len().is_multiple_of(2) {
            return Err("mandatory: a list of 16-bit keys".into());
        }
        for k in m.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])) {
            if k == 0 {
                return Err("mandatory lists itself (RFC 9460 §8)".into());
            }
            if !params.iter().any(|p| p.0 == k) {
                return Err(format!("mandatory lists {}, which is not given (RFC 9460 §8)", svc_key_text(k)));
            }
        }
    }
    let mut w = Vec::new();
    for (k, v) in params {
        w.extend_from_slice(&k.to_be_bytes());
        let len = u16::try_from(v.len()).map_err(|_| "SvcParam value too long".to_string())?;
        w.extend_from_slice(&len.to_be_bytes());
        w.extend(v);
    }
    Ok(w)
}

fn svc_value(code: u16, generic: bool, value: Option<Vec<u8>>) -> Result<Vec<u8>, String> {
    if generic {
        // keyNNNNN=value: the octets of the value are the wire form (§2.1).
        return Ok(value.unwrap_or_default());
    }
    let need = |v: Option<Vec<u8>>| v.filter(|v| !v.is_empty()).ok_or("needs a value".to_string());
    let mut w = Vec::new();
    match code {
        0 => {
            let mut keys = Vec::new();
            for item in value_list(&need(value)?) {
                let name = std::str::from_utf8(&item).map_err(|_| "bad key name".to_string())?;
                keys.push(svc_key(name)?.0);
            }
            keys.sort_unstable();
            if keys.windows(2).any(|p| p[0] == p[1]) {
                return Err("a key is listed twice (RFC 9460 §8)".into());
            }
            keys.iter().for_each(|k| w.extend_from_slice(&k.to_be_bytes()));
        }
        1 => {
            for id in value_list(&need(value)?) {
                if id.is_empty() || id.len() > 255 {
                    return Err("an ALPN id is 1 to 255 octets (RFC 9460 §7.1.1)".into());
                }
                w.push(id.len() as u8);
                w.extend(id);
            }
        }
        2 | 8 => {
            if value.is_some_and(|v| !v.is_empty()) {
                return Err("takes no value".into());
            }
        }
        3 => {
            let v = need(value)?;
            let s = std::str::from_utf8(&v).ok().filter(|s| s.bytes().all(|c| c.is_ascii_digit()));
            let port: u16 = s.and_then(|s| s.parse().ok()).ok_or("bad port")?;
            w.extend_from_slice(&port.to_be_bytes());
        }
        4 | 6 => {
            for item in value_list(&need(value)?) {
                let s = std::str::from_utf8(&item).map_err(|_| "bad address".to_string())?;
                if code == 4 {
                    w.extend_from_slice(
                        &s.parse::<Ipv4Addr>().map_err(|_| format!("bad IPv4 address {s:?}"))?.octets(),
                    );
                } else {
                    w.extend_from_slice(
                        &s.parse::<Ipv6Addr>().map_err(|_| format!("bad IPv6 address {s:?}"))?.octets(),
                    );
                }
            }
        }
        5 => w = BASE64.decode(&need(value)?).map_err(|e| format!("bad base64: {e}"))?,
        _ => w = value.unwrap_or_default(),
    }
    Ok(w)
}

// ---------------------------------------------------------------------------
// Wire: checking and writing.

/// A cursor over wire rdata.
struct Wire<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Wire<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.i..];
        self.i = self.b.len();
        s
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// An uncompressed name (RFC 3597 §4: no compression in stored or generic data).
    fn name(&mut self) -> Option<Vec<&'a [u8]>> {
        let start = self.i;
        let mut labels = Vec::new();
        loop {
            let len = usize::from(self.u8()?);
            if len == 0 {
                break;
            }
            if len > 63 {
                return None;
            }
            labels.push(self.take(len)?);
        }
        (self.i - start <= 255).then_some(labels)
    }
    fn counted(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
}

/// Checks wire rdata of a type this module handles against its fields (RFC 3597 §5:
/// generic data of a known type must be valid data of that type). None: not ours.
pub(super) fn check(rtype: RecordType, wire: &[u8]) -> Option<Result<(), String>> {
    let fields = fields(rtype)?;
    let ok = walk(fields, wire).is_some();
    Some(if ok { Ok(()) } else { Err(format!("{} data given as \\# is not valid for the type", type_text(rtype))) })
}

/// The presentation form of wire rdata, or None (not ours, or not presentable: the
/// caller writes the generic form).
pub(super) fn render(rtype: RecordType, wire: &[u8]) -> Option<String> {
    let parts = walk(fields(rtype)?, wire)?;
    parts.into_iter().collect::<Option<Vec<String>>>().map(|p| p.join(" "))
}

/// Walks the fields over the wire data: None if it is not valid; per field its text,
/// None where the value has no presentation form (an empty hex field, say).
fn walk(fields: &[Field], wire: &[u8]) -> Option<Vec<Option<String>>> {
    let mut c = Wire { b: wire, i: 0 };
    let mut out = Vec::new();
    for &f in fields {
        let text = match f {
            U8 => Some(c.u8()?.to_string()),
            U16 => Some(c.u16()?.to_string()),
            U32 | Period | Time => Some(c.u32()?.to_string()),
            Alg => Some(c.u8()?.to_string()),
            Covered => Some(type_text(RecordType::from(c.u16()?))),
            Name => Some(name_text(c.name()?.into_iter())),
            Str => {
                let mut s = String::new();
                push_quoted(&mut s, c.counted()?);
                Some(s)
            }
            Strs => {
                let mut parts = Vec::new();
                while c.i < wire.len() {
                    let mut s = String::new();
                    push_quoted(&mut s, c.counted()?);
                    parts.push(s);
                }
                (!parts.is_empty()).then(|| parts.join(" "))
            }
            A4 => Some(Ipv4Addr::from(<[u8; 4]>::try_from(c.take(4)?).ok()?).to_string()),
            A6 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(c.take(16)?).ok()?).to_string()),
            Hex => {
                let r = c.rest();
                (!r.is_empty()).then(|| HEXLOWER.encode(r))
            }
            HexUp => {
                let r = c.rest();
                (!r.is_empty()).then(|| HEXUPPER.encode(r))
            }
            Base64 => {
                let r = c.rest();
                (!r.is_empty()).then(|| BASE64.encode(r))
            }
            Bitmap => Some(bitmap_text(c.rest())?),
            Salt => {
                let s = c.counted()?;
                Some(if s.is_empty() { "-".to_string() } else { HEXLOWER.encode(s) })
            }
            Hash => {
                let s = c.counted()?;
                (!s.is_empty()).then(|| BASE32HEX_NOPAD.encode(s))
            }
            Svc => svc_text(c.rest())?,
            Tag => {
                let s = c.counted()?;
                (!s.is_empty() && s.iter().all(u8::is_ascii_alphanumeric))
                    .then(|| String::from_utf8_lossy(s).into_owned())
            }
            Rest => {
                let mut s = String::new();
                push_quoted(&mut s, c.rest());
                Some(s)
            }
            Eui48 | Eui64 => {
                let octets = c.take(if f == Eui48 { 6 } else { 8 })?;
                Some(octets.iter().map(|o| format!("{o:02x}")).collect::<Vec<_>>().join("-"))
            }
            Node64 => {
                let octets = c.take(8)?;
                Some(octets.chunks(2).map(|g| format!("{:02x}{:02x}", g[0], g[1])).collect::<Vec<_>>().join(":"))
            }
            CertType => Some(c.u16()?.to_string()),
            Loc => loc_text(c.rest())?,
        };
        out.push(text);
    }
    (c.i == wire.len()).then_some(out)
}

/// Type bit maps as type names; None if the windows are malformed (RFC 4034 §4.1.2:
/// increasing window numbers, 1 to 32 octets each).
fn bitmap_text(b: &[u8]) -> Option<String> {
    let mut c = Wire { b, i: 0 };
    let mut types = Vec::new();
    let mut last: Option<u8> = None;
    while c.i < b.len() {
        let window = c.u8()?;
        let bits = c.counted()?;
        if last.is_some_and(|l| window <= l) || bits.is_empty() || bits.len() > 32 {
            return None;
        }
        last = Some(window);
        for (i, &octet) in bits.iter().enumerate() {
            for bit in 0..8 {
                if octet & (0x80 >> bit) != 0 {
                    let code = u16::from(window) << 8 | (i * 8 + bit) as u16;
                    types.push(type_text(RecordType::from(code)));
                }
            }
        }
    }
    Some(types.join(" "))
}

/// SvcParams as text: Some(None) when valid but not presentable, None when invalid.
fn svc_text(b: &[u8]) -> Option<Option<String>> {
    let mut c = Wire { b, i: 0 };
    let mut parts = Vec::new();
    let mut presentable = true;
    let mut last: Option<u16> = None;
    while c.i < b.len() {
        let key = c.u16()?;
        let len = usize::from(c.u16()?);
        let v = c.take(len)?;
        // Keys in strictly increasing order (RFC 9460 §2.2); otherwise the text form
        // would be sorted on reading and not give these octets back.
        if last.is_some_and(|l| key <= l) {
            presentable = false;
        }
        last = Some(key);
        match svc_param_text(key, v) {
            Some(p) => parts.push(p),
            None => presentable = false,
        }
    }
    Some(presentable.then(|| parts.join(" ")))
}

fn svc_param_text(key: u16, v: &[u8]) -> Option<String> {
    let name = svc_key_text(key);
    let generic = || {
        let mut s = format!("{name}=");
        push_quoted(&mut s, v);
        s
    };
    Some(match key {
        0 => {
            if v.is_empty() || !v.len().is_multiple_of(2) {
                return None;
            }
            let keys: Vec<String> = v.chunks(2).map(|k| svc_key_text(u16::from_be_bytes([k[0], k[1]]))).collect();
            format!("mandatory={}", keys.join(","))
        }
        1 => {
            let mut c = Wire { b: v, i: 0 };
            let mut list = Vec::new();
            while c.i < v.len() {
                let id = c.counted().filter(|id| !id.is_empty())?;
                // Value-list escaping first (`,` and `\`), then the quoted string's.
                let mut item = Vec::new();
                for &o in id {
                    if o == b',' || o == b'\\' {
                        item.push(b'\\');
                    }
                    item.push(o);
                }
                list.push(item);
            }
            if list.is_empty() {
                return None;
            }
            let mut s = "alpn=".to_string();
            push_quoted(&mut s, &list.join(&b','));
            s
        }
        2 | 8 if v.is_empty() => name,
        3 if v.len() == 2 => format!("port={}", u16::from_be_bytes([v[0], v[1]])),
        4 if !v.is_empty() && v.len().is_multiple_of(4) => {
            let a: Vec<String> =
                v.chunks(4).map(|a| Ipv4Addr::from(<[u8; 4]>::try_from(a).expect("4 octets")).to_string()).collect();
            format!("ipv4hint={}", a.join(","))
        }
        6 if !v.is_empty() && v.len().is_multiple_of(16) => {
            let a: Vec<String> =
                v.chunks(16).map(|a| Ipv6Addr::from(<[u8; 16]>::try_from(a).expect("16 octets")).to_string()).collect();
            format!("ipv6hint={}", a.join(","))
        }
        5 if !v.is_empty() => format!("ech={}", BASE64.encode(v)),
        0..=8 if key != 7 => return None,
        _ => generic(),
    })
}

// ---------------------------------------------------------------------------
// RFC 1876 LOC.

/// A decimal with at most `places` fraction digits, scaled to an integer
/// (`"54.1"`, 3 → 54100).
fn scaled(s: &str, places: u32) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || (!frac.is_empty() && !digits(frac)) || frac.len() > places as usize || int.len() > 12 {
        return None;
    }
    let mut v: i64 = int.parse().ok()?;
    for k in 0..places as usize {
        v = v * 10 + frac.as_bytes().get(k).map_or(0, |c| i64::from(c - b'0'));
    }
    Some(if neg { -v } else { v })
}

/// RFC 1876 §2 size and precision: centimetres as mantissa × 10^exponent in one octet
/// (high and low nibble). Values that are no such product are rounded down, as NSD does.
fn loc_size(cm: i64) -> Option<u8> {
    if !(0..=9_000_000_000).contains(&cm) {
        return None;
    }
    let mut e = 0u8;
    let mut m = cm;
    while m > 9 {
        m /= 10;
        e += 1;
    }
    Some((m as u8) << 4 | e)
}

fn loc_encode(toks: &[Tok<'_>]) -> Result<Vec<u8>, String> {
    let bad = || "bad LOC data (RFC 1876 §3)".to_string();
    let mut it = toks.iter().map(|t| t.text()).peekable();
    // One of latitude or longitude: degrees [minutes [seconds]] hemisphere.
    let mut angle = |hemis: [&str; 2], max_deg: i64| -> Result<u32, String> {
        let deg: i64 = it.next().and_then(|d| d.parse().ok()).filter(|d| (0..=max_deg).contains(d)).ok_or_else(bad)?;
        let mut parts = [0i64; 2];
        let mut sign = None;
        for (k, part) in parts.iter_mut().enumerate() {
            let t = it.next().ok_or_else(bad)?;
            if let Some(h) = hemis.iter().position(|h| t.eq_ignore_ascii_case(h)) {
                sign = Some(h);
                break;
            }
            *part = if k == 0 {
                t.parse().ok().filter(|m| (0..60).contains(m))
            } else {
                scaled(t, 3).filter(|s| (0..60_000).contains(s))
            }
            .ok_or_else(bad)?;
        }
        let sign = match sign {
            Some(s) => s,
            None => it.next().and_then(|t| hemis.iter().position(|h| t.eq_ignore_ascii_case(h))).ok_or_else(bad)?,
        };
        let thousandths = ((deg * 60 + parts[0]) * 60) * 1000 + parts[1];
        if thousandths > max_deg * 3_600_000 {
            return Err(bad());
        }
        let base = 1i64 << 31;
        Ok((if sign == 0 { base + thousandths } else { base - thousandths }) as u32)
    };
    let lat = angle(["N", "S"], 90)?;
    let lon = angle(["E", "W"], 180)?;
    let metres = |t: Option<&str>| t.and_then(|t| scaled(t.strip_suffix(['m', 'M']).unwrap_or(t), 2));
    let alt = metres(it.next()).filter(|a| (-10_000_000..=4_284_967_295).contains(a)).ok_or_else(bad)?;
    // Defaults of §3: size 1 m, horizontal precision 10 km, vertical 10 m.
    let mut sizes = [100i64, 1_000_000, 1000];
    for size in sizes.iter_mut() {
        match it.next() {
            Some(t) => *size = metres(Some(t)).ok_or_else(bad)?,
            None => break,
        }
    }
    if it.next().is_some() {
        return Err(bad());
    }
    let mut w = vec![0];
    for size in sizes {
        w.push(loc_size(size).ok_or_else(bad)?);
    }
    w.extend_from_slice(&lat.to_be_bytes());
    w.extend_from_slice(&lon.to_be_bytes());
    w.extend_from_slice(&((alt + 10_000_000) as u32).to_be_bytes());
    Ok(w)
}

fn loc_text(b: &[u8]) -> Option<Option<String>> {
    let mut c = Wire { b, i: 0 };
    let version = c.u8()?;
    let sizes = [c.u8()?, c.u8()?, c.u8()?];
    let (lat, lon, alt) = (c.u32()?, c.u32()?, c.u32()?);
    if c.i != b.len() {
        return None;
    }
    // Only version 0 has a text form; a nibble over 9 is not a size.
    if version != 0 || sizes.iter().any(|s| s >> 4 > 9 || s & 15 > 9) {
        return Some(None);
    }
    let angle = |v: u32, hemis: [char; 2]| {
        let off = i64::from(v) - (1i64 << 31);
        let (h, t) = if off >= 0 { (hemis[0], off) } else { (hemis[1], -off) };
        format!("{} {} {}.{:03} {h}", t / 3_600_000, t / 60_000 % 60, t / 1000 % 60, t % 1000)
    };
    let cm = |v: i64| format!("{}{}.{:02}m", if v < 0 { "-" } else { "" }, v.abs() / 100, v.abs() % 100);
    let size = |s: u8| cm(i64::from(s >> 4) * 10i64.pow(u32::from(s & 15)));
    Some(Some(format!(
        "{} {} {} {} {} {}",
        angle(lat, ['N', 'S']),
        angle(lon, ['E', 'W']),
        cm(i64::from(alt) - 10_000_000),
        size(sizes[0]),
        size(sizes[1]),
        size(sizes[2])
    )))
}
