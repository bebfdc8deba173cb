//! RFC 1035 §5 master files: our own tokenizer (it keeps line numbers, which
//! hickory's zone parser loses, and never opens other files) and our own rdata
//! reader and writer (`rdata.rs`: one field table per type, RFC 3597 `\#` generic data
//! for every type); hickory's text parsers only for the few types the table lacks.
//!
//! Error policy. NSD refuses a whole zone over one record it cannot read (and keeps
//! serving nothing for it); Knot does the same. We do too: [`Zone::parse`] fails with
//! the file and line of the first bad record, and the zone is not loaded.
//! What makes that safe is the other half: a form both peers load never fails here.
//! `tests/zonefile_peers.rs` holds a corpus written from the RFCs that both load (we
//! load it and serve NSD's wire rdata), that both refuse (we refuse, naming the line),
//! and where they disagree (`tests/data/zones/split/`, each file says what we do and
//! why; we follow NSD, our reference server, except where an RFC says otherwise).
//! Known exceptions: `$INCLUDE` is refused (each zone is one file in the repository);
//! classes other than IN are refused; a type neither our table nor hickory reads from
//! text needs the `\#` form.

use std::fmt::Write as _;

use data_encoding::HEXUPPER_PERMISSIVE;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, BinEncoder, NameEncoding, Restrict};

use super::{Zone, ZoneError};

mod rdata;

/// One token: `text` with quotes removed (escapes kept), `raw` as in the file.
/// `glued`: no blank between it and the token before (`alpn="h2"` lexes as `alpn=`
/// and a glued quoted `"h2"`).
struct Tok<'a> {
    raw: &'a str,
    quoted: bool,
    glued: bool,
}

impl Tok<'_> {
    fn text(&self) -> &str {
        if self.quoted { &self.raw[1..self.raw.len() - 1] } else { self.raw }
    }
}

/// One logical entry (parentheses joined), with the line it starts on.
struct Entry<'a> {
    line: usize,
    blank_owner: bool,
    toks: Vec<Tok<'a>>,
}

/// Splits text into entries, one at a time (a large zone is never held as tokens all
/// at once). RFC 1035 §5.1: `;` comments, `( )` continue lines, `"..."` strings, `\`
/// escapes, a line starting with blank inherits the owner.
struct Lexer<'a> {
    text: &'a str,
    i: usize,
    line: usize,
    depth: usize,
    open_line: usize,
    cur: Option<Entry<'a>>,
    /// Where the last token ended, to tell glued tokens.
    last_end: usize,
    done: bool,
}

type LexError = (usize, String);

fn lex(text: &str) -> Lexer<'_> {
    Lexer { text, i: 0, line: 1, depth: 0, open_line: 0, cur: None, last_end: usize::MAX, done: false }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Entry<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.step();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r.transpose()
    }
}

impl<'a> Lexer<'a> {
    fn step(&mut self) -> Result<Option<Entry<'a>>, LexError> {
        let b = self.text.as_bytes();
        while self.i < b.len() {
            let i = self.i;
            if (i == 0 || b[i - 1] == b'\n') && self.depth == 0 {
                let fresh = Entry { line: self.line, blank_owner: b[i] == b' ' || b[i] == b'\t', toks: Vec::new() };
                if let Some(e) = self.cur.replace(fresh).filter(|e| !e.toks.is_empty()) {
                    return Ok(Some(e));
                }
            }
            self.byte(b)?;
        }
        if self.depth > 0 {
            return Err((self.open_line, "unclosed '('".into()));
        }
        Ok(self.cur.take().filter(|e| !e.toks.is_empty()))
    }

    /// Consumes one byte, or one token.
    fn byte(&mut self, b: &[u8]) -> Result<(), LexError> {
        let line = self.line;
        match b[self.i] {
            b'\n' => {
                self.line += 1;
                self.i += 1;
            }
            b' ' | b'\t' | b'\r' => self.i += 1,
            b';' => {
                while self.i < b.len() && b[self.i] != b'\n' {
                    self.i += 1;
                }
            }
            b'(' => {
                if self.depth == 0 {
                    self.open_line = line;
                }
                self.depth += 1;
                self.i += 1;
            }
            b')' => {
                self.depth = self.depth.checked_sub(1).ok_or((line, "')' without '('".to_string()))?;
                self.i += 1;
            }
            b'"' => {
                let start = self.i;
                let mut i = start + 1;
                loop {
                    match b.get(i) {
                        None => return Err((line, "unclosed quoted string".into())),
                        Some(b'"') => break,
                        Some(b'\\') => i += 2,
                        Some(b'\n') => {
                            self.line += 1;
                            i += 1
                        }
                        Some(_) => i += 1,
                    }
                }
                self.i = (i + 1).min(b.len());
                let raw = self.text.get(start..self.i).ok_or((line, "bad quoting".to_string()))?;
                self.push(start, Tok { raw, quoted: true, glued: false });
            }
            _ => {
                let start = self.i;
                let mut i = start;
                while i < b.len() && !b" \t\r\n;()\"".contains(&b[i]) {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                self.i = i.min(b.len());
                let raw = self.text.get(start..self.i).ok_or((line, "bad escape".to_string()))?;
                self.push(start, Tok { raw, quoted: false, glued: false });
            }
        }
        Ok(())
    }

    fn push(&mut self, start: usize, mut tok: Tok<'a>) {
        let line = self.line;
        tok.glued = start == self.last_end;
        self.last_end = self.i;
        self.cur.get_or_insert_with(|| Entry { line, blank_owner: false, toks: Vec::new() }).toks.push(tok);
    }
}

/// TTL in seconds or BIND units (`1h30m`), as NSD accepts.
fn parse_ttl(s: &str) -> Option<u32> {
    if let Ok(v) = s.parse::<u32>() {
        return Some(v);
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(num.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(d))?);
            continue;
        }
        let mult = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(num.take()?.checked_mul(mult)?)?;
    }
    if let Some(n) = num {
        total = total.checked_add(n)?;
    }
    u32::try_from(total).ok()
}

use rdata::{parse_name, parse_type};

struct State {
    origin: Name,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    owner: Option<Name>,
}

pub(super) fn parse(file_name: &str, text: &str) -> Result<Zone, ZoneError> {
    let err = |line: Option<usize>, reason: String| ZoneError { file: file_name.to_string(), line, reason };
    let origin = Name::parse(file_name.trim_end_matches('.'), Some(&Name::root()))
        .map_err(|e| err(None, format!("file name is not a zone name: {e}")))?;
    let entries = lex(text);
    let mut zone = Zone::empty(origin.clone());
    let mut st = State { origin, default_ttl: None, last_ttl: None, owner: None };
    // Where each owner first appears, to place the errors found after parsing.
    let mut first_line = std::collections::HashMap::new();
    for e in entries {
        let e = e.map_err(|(l, r)| err(Some(l), r))?;
        if let Some(rec) = entry(&mut st, &e).map_err(|r| err(Some(e.line), r))? {
            first_line.entry(super::key(&rec.0)).or_insert(e.line);
            add_checked(&mut zone, rec).map_err(|r| err(Some(e.line), r))?;
        }
    }
    zone.validate().map_err(|(name, r)| err(first_line.get(&super::key(&name)).copied(), r))?;
    Ok(zone)
}

/// One parsed record: owner, type, TTL, rdata in wire form.
type WireRecord = (Name, RecordType, u32, Vec<u8>);

/// Adds a record, refusing a second SOA or CNAME at once (the store would replace it).
fn add_checked(zone: &mut Zone, (name, rtype, ttl, wire): WireRecord) -> Result<(), String> {
    if matches!(rtype, RecordType::SOA | RecordType::CNAME)
        && let Some(set) = zone.rrset(&name, rtype)
        && set.wire().next() != Some(wire.as_slice())
    {
        return Err(format!("more than one {rtype} record at {name}"));
    }
    zone.add_wire(&name, rtype, ttl, &wire);
    Ok(())
}

fn directive(st: &mut State, toks: &[Tok<'_>]) -> Result<(), String> {
    let arg = toks.get(1).map(Tok::text);
    match toks[0].raw.to_ascii_uppercase().as_str() {
        "$ORIGIN" => {
            let a = arg.ok_or("$ORIGIN needs a name")?;
            // NSD and Knot both refuse a relative $ORIGIN ("requires absolute domain
            // name"); RFC 1035 §5.1 leaves it open, so we side with them.
            // The final dot must not be escaped: count the backslashes before it.
            let body = a.strip_suffix('.');
            let absolute = body.is_some_and(|b| (b.len() - b.trim_end_matches('\\').len()).is_multiple_of(2));
            if !absolute {
                return Err(format!("$ORIGIN {a:?} is not an absolute name"));
            }
            st.origin = parse_name(a, &st.origin)?;
        }
        "$TTL" => {
            let a = arg.ok_or("$TTL needs a value")?;
            st.default_ttl = Some(parse_ttl(a).ok_or(format!("bad $TTL {a:?}"))?);
        }
        "$INCLUDE" => {
            return Err("$INCLUDE is not supported: each zone is one file".into());
        }
        d => return Err(format!("unknown directive {d}")),
    }
    Ok(())
}

/// A class mnemonic or RFC 3597 §5 `CLASSnnn`.
fn parse_class(s: &str) -> Option<DNSClass> {
    let up = s.to_ascii_uppercase();
    if let Some(n) = up.strip_prefix("CLASS") {
        return n.parse::<u16>().ok().map(DNSClass::from);
    }
    up.parse::<DNSClass>().ok()
}

/// Handles one entry: a directive (None) or a record.
fn entry(st: &mut State, e: &Entry<'_>) -> Result<Option<WireRecord>, String> {
    let mut toks = &e.toks[..];
    if !e.blank_owner && !toks[0].quoted && toks[0].raw.starts_with('$') {
        directive(st, toks)?;
        return Ok(None);
    }
    if !e.blank_owner {
        st.owner = Some(parse_name(toks[0].raw, &st.origin)?);
        toks = &toks[1..];
    }
    let owner = st.owner.clone().ok_or("no owner name")?;
    let (mut ttl, mut rtype) = (None, None);
    while let Some((t, rest)) = toks.split_first() {
        toks = rest;
        if let Some(v) = parse_ttl(t.raw).filter(|_| ttl.is_none() && !t.quoted) {
            ttl = Some(v);
        } else if let Some(class) = parse_class(t.raw) {
            if class != DNSClass::IN {
                return Err(format!("class {class} is not supported, only IN"));
            }
        } else {
            rtype = Some(parse_type(t.raw).ok_or(format!("unknown type {:?}", t.raw))?);
            break;
        }
    }
    let rtype = rtype.ok_or("record without a type")?;
    if matches!(rtype, RecordType::OPT | RecordType::ANY | RecordType::AXFR | RecordType::IXFR | RecordType::TSIG) {
        // Meta types (RFC 6895 §3.1) live in messages, never in zones.
        return Err(format!("{rtype} is a meta type, not zone data"));
    }
    if ttl.is_some() {
        st.last_ttl = ttl;
    }
    // RFC 2308 §4: $TTL is the default; before it, the last explicit TTL (RFC 1035 §5.1).
    let ttl = ttl.or(st.default_ttl).or(st.last_ttl).ok_or("no TTL and no $TTL")?;
    let wire = rdata(rtype, toks, &st.origin)?;
    Ok(Some((owner, rtype, ttl, wire)))
}

/// Token positions that hold domain names, for the types hickory reads from text
/// (the ones [`rdata`] handles itself list theirs in its table).
fn name_positions(rtype: RecordType) -> &'static [usize] {
    match rtype {
        RecordType::ANAME => &[0],
        _ => &[],
    }
}

/// The rdata of one record in wire form. Our own table reads the types it lists; the
/// rest go through hickory's text parsers and are checked to decode.
fn rdata(rtype: RecordType, toks: &[Tok<'_>], origin: &Name) -> Result<Vec<u8>, String> {
    if toks.first().is_some_and(|t| t.raw == "\\#" && !t.quoted) {
        return generic(rtype, &toks[1..]);
    }
    // Addresses are most of a large zone: parse them directly.
    match (rtype, toks) {
        (RecordType::A, [t]) if !t.quoted => {
            let ip: std::net::Ipv4Addr = t.raw.parse().map_err(|_| format!("bad A data {:?}", t.raw))?;
            return Ok(ip.octets().to_vec());
        }
        (RecordType::AAAA, [t]) if !t.quoted => {
            let ip: std::net::Ipv6Addr = t.raw.parse().map_err(|_| format!("bad AAAA data {:?}", t.raw))?;
            return Ok(ip.octets().to_vec());
        }
        _ => {}
    }
    if let Some(wire) = rdata::encode(rtype, toks, origin) {
        return wire;
    }
    if toks.is_empty() {
        return Err(format!("{rtype} record without data"));
    }
    if let RecordType::Unknown(_) = rtype {
        return Err(format!("{} needs the RFC 3597 form: \\# length hex", rdata::type_text(rtype)));
    }
    let wire = emit(&text_rdata(rtype, toks, origin)?)?;
    from_wire(rtype, &wire)?;
    Ok(wire)
}

/// Types hickory reads from text. Names are made absolute first, since its text
/// parser has no origin to complete relative ones with.
fn text_rdata(rtype: RecordType, toks: &[Tok<'_>], origin: &Name) -> Result<RData, String> {
    let positions = name_positions(rtype);
    let mut text = String::new();
    for (i, t) in toks.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        if positions.contains(&i) && !t.quoted {
            text.push_str(&parse_name(t.raw, origin)?.to_string());
            if !text.ends_with('.') {
                text.push('.');
            }
        } else {
            text.push_str(t.raw);
        }
    }
    RData::try_from_str(rtype, &text).map_err(|e| format!("bad {rtype} data: {e}"))
}

fn emit(rd: &RData) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    // Uncompressed, case kept (canonical form would lower-case names).
    enc.set_name_encoding(NameEncoding::Uncompressed);
    rd.emit(&mut enc).map_err(|e| format!("cannot encode data: {e}"))?;
    if buf.len() > usize::from(u16::MAX) {
        return Err("record data too long".into());
    }
    Ok(buf)
}

fn from_wire(rtype: RecordType, wire: &[u8]) -> Result<RData, String> {
    let len = u16::try_from(wire.len()).map_err(|_| "record data too long".to_string())?;
    let mut dec = BinDecoder::new(wire);
    let rd = RData::read(&mut dec, rtype, Restrict::new(len)).map_err(|e| format!("bad {rtype} data: {e}"))?;
    if dec.index() != wire.len() {
        return Err(format!("bad {rtype} data: trailing bytes"));
    }
    Ok(rd)
}

/// RFC 3597 §5: `\# <length> <hex...>`.
fn generic(rtype: RecordType, toks: &[Tok<'_>]) -> Result<Vec<u8>, String> {
    let (len, hex) = toks.split_first().ok_or("\\# needs a length")?;
    let len: usize = len.raw.parse().map_err(|_| "bad \\# length")?;
    let hex: String = hex.iter().map(|t| t.raw).collect();
    let wire = HEXUPPER_PERMISSIVE.decode(hex.as_bytes()).map_err(|e| format!("bad hex: {e}"))?;
    if wire.len() != len {
        return Err(format!("\\# length {len} but {} bytes of data", wire.len()));
    }
    match rdata::check(rtype, &wire) {
        Some(checked) => checked?,
        None => drop(from_wire(rtype, &wire)?),
    }
    Ok(wire)
}

/// RFC 4034 §3.2: a time is either seconds or YYYYMMDDHHmmSS (UTC).
fn sig_time(t: Option<&Tok<'_>>) -> Result<u32, String> {
    let s = t.ok_or("missing signature time")?.text();
    if s.len() == 14 && s.bytes().all(|c| c.is_ascii_digit()) {
        let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap_or(0);
        let days = days_from_civil(n(0, 4), n(4, 6), n(6, 8));
        let secs = days * 86400 + n(8, 10) * 3600 + n(10, 12) * 60 + n(12, 14);
        // Serial number arithmetic (RFC 4034 §3.1.5): the value is taken mod 2^32.
        return Ok(secs.rem_euclid(1 << 32) as u32);
    }
    s.parse().map_err(|_| format!("bad signature time {s:?}"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 4034 §4.1.2 type bit maps.
fn type_bitmap(types: &[RecordType]) -> Vec<u8> {
    let mut codes: Vec<u16> = types.iter().map(|&t| u16::from(t)).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut out = Vec::new();
    let mut window: Option<(u8, [u8; 32])> = None;
    let flush = |out: &mut Vec<u8>, (w, bits): (u8, [u8; 32])| {
        let len = bits.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        out.push(w);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    };
    for c in codes {
        let (w, lo) = ((c >> 8) as u8, (c & 0xff) as usize);
        match &mut window {
            Some((cw, bits)) if *cw == w => bits[lo / 8] |= 0x80 >> (lo % 8),
            _ => {
                if let Some(prev) = window.take() {
                    flush(&mut out, prev);
                }
                let mut bits = [0u8; 32];
                bits[lo / 8] |= 0x80 >> (lo % 8);
                window = Some((w, bits));
            }
        }
    }
    if let Some(prev) = window {
        flush(&mut out, prev);
    }
    out
}

/// Deterministic master file: `$ORIGIN`, then every record with absolute owner,
/// explicit TTL and class, the SOA first.
pub(super) fn write(zone: &Zone) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "$ORIGIN {}", fqdn_text(&zone.origin));
    let soa = zone.node(&zone.origin).and_then(|n| Some((n.name(), n.rrset(RecordType::SOA)?)));
    let rest = zone.nodes().flat_map(|n| {
        let name = n.name();
        let apex = name == zone.origin;
        n.rrsets().iter().filter(move |s| !(apex && s.rtype == RecordType::SOA)).map(move |s| (name.clone(), s))
    });
    for (name, set) in soa.into_iter().chain(rest) {
        let owner = fqdn_text(&name);
        for wire in set.wire() {
            // One TTL per stored set, RRSIGs too: answers give each RRSIG the TTL of the
            // rrset it covers (RFC 4034 §3), so the file needs no more.
            write_one(&mut out, &owner, set.rtype, set.ttl, wire, &zone.origin);
        }
    }
    out
}

/// One record as [`write`] puts it in a master file (absolute owner, TTL, class, type,
/// rdata; the RFC 3597 generic form when the text would not read back). For readable
/// dumps of answers, whose records come from zones (class IN).
pub(super) fn record_line(r: &Record) -> String {
    let mut out = String::new();
    match super::rdata_wire(&r.data) {
        Some(wire) => write_one(&mut out, &fqdn_text(&r.name), r.record_type(), r.ttl, &wire, &Name::root()),
        None => {
            let _ = writeln!(out, "{} {} IN {} (rdata not encodable)", fqdn_text(&r.name), r.ttl, r.record_type());
        }
    }
    out.trim_end().to_string()
}

fn write_one(out: &mut String, owner: &str, rtype: RecordType, ttl: u32, wire: &[u8], origin: &Name) {
    let rendered = rdata::render(rtype, wire).filter(|s| reparses(rtype, s, wire, origin));
    match rendered {
        Some(s) => {
            let _ = writeln!(out, "{owner} {ttl} IN {} {s}", rdata::type_text(rtype));
        }
        None => {
            // RFC 3597 §5: `\\# 0` has no hex field at all.
            let hex = HEXUPPER_PERMISSIVE.encode(wire);
            let sep = if hex.is_empty() { "" } else { " " };
            let _ = writeln!(out, "{owner} {ttl} IN TYPE{} \\# {}{sep}{hex}", u16::from(rtype), wire.len());
        }
    }
}

/// The name in presentation form, absolute, with RFC 1035 §5.1 escapes (punycode
/// kept: `Display` would turn `xn--` labels into Unicode, which a master file can't
/// hold).
fn fqdn_text(name: &Name) -> String {
    rdata::name_text(name.iter())
}

/// Guards the presentation form: if it would not read back to the same data (an odd
/// TXT escape, say), the generic form is used instead.
fn reparses(rtype: RecordType, text: &str, wire: &[u8], origin: &Name) -> bool {
    let Ok(entries) = lex(text).collect::<Result<Vec<_>, _>>() else { return false };
    let [e] = &entries[..] else { return false };
    rdata(rtype, &e.toks, origin).is_ok_and(|back| back == wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("3600"), Some(3600));
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("1W"), Some(604_800));
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl("abc"), None);
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
    }

    #[test]
    fn bitmap_windows() {
        let b = type_bitmap(&[RecordType::A, RecordType::MX, RecordType::RRSIG, RecordType::NSEC]);
        assert_eq!(b, vec![0, 6, 0x40, 0x01, 0, 0, 0, 0x03]);
    }
}
