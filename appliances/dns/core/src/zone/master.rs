//! RFC 1035 §5 master files: our own tokenizer (it keeps line numbers, which
//! hickory's zone parser loses, and never opens other files), hickory's rdata parsers
//! for the types it reads from text, and wire-format building for the types it only
//! reads from the wire (DNSKEY, RRSIG, NSEC, DNAME, RFC 3597 `\#` generic data).

use std::fmt::Write as _;

use data_encoding::{BASE64, HEXUPPER_PERMISSIVE};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, BinEncoder, NameEncoding, Restrict};

use super::{Zone, ZoneError};

/// One token: `text` with quotes removed (escapes kept), `raw` as in the file.
struct Tok<'a> {
    raw: &'a str,
    quoted: bool,
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
    done: bool,
}

type LexError = (usize, String);

fn lex(text: &str) -> Lexer<'_> {
    Lexer { text, i: 0, line: 1, depth: 0, open_line: 0, cur: None, done: false }
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
                self.push(Tok { raw, quoted: true });
            }
            _ => {
                let start = self.i;
                let mut i = start;
                while i < b.len() && !b" \t\r\n;()\"".contains(&b[i]) {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                self.i = i.min(b.len());
                let raw = self.text.get(start..self.i).ok_or((line, "bad escape".to_string()))?;
                self.push(Tok { raw, quoted: false });
            }
        }
        Ok(())
    }

    fn push(&mut self, tok: Tok<'a>) {
        let line = self.line;
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

fn parse_type(s: &str) -> Option<RecordType> {
    let up = s.to_ascii_uppercase();
    if let Some(n) = up.strip_prefix("TYPE") {
        return n.parse::<u16>().ok().map(RecordType::from);
    }
    up.parse::<RecordType>().ok()
}

fn parse_name(s: &str, origin: &Name) -> Result<Name, String> {
    if s == "@" {
        return Ok(origin.clone());
    }
    // from_ascii keeps the case as written (Name::parse would fold it).
    let n = Name::from_ascii(s).map_err(|e| format!("bad domain name {s:?}: {e}"))?;
    if n.is_fqdn() {
        return Ok(n);
    }
    n.append_domain(origin).map_err(|e| format!("bad domain name {s:?}: {e}"))
}

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
        } else if let Ok(class) = t.raw.to_ascii_uppercase().parse::<DNSClass>() {
            if class != DNSClass::IN {
                return Err(format!("class {class} is not supported, only IN"));
            }
        } else {
            rtype = Some(parse_type(t.raw).ok_or(format!("unknown type {:?}", t.raw))?);
            break;
        }
    }
    let rtype = rtype.ok_or("record without a type")?;
    if ttl.is_some() {
        st.last_ttl = ttl;
    }
    // RFC 2308 §4: $TTL is the default; before it, the last explicit TTL (RFC 1035 §5.1).
    let ttl = ttl.or(st.default_ttl).or(st.last_ttl).ok_or("no TTL and no $TTL")?;
    let wire = rdata(rtype, toks, &st.origin)?;
    Ok(Some((owner, rtype, ttl, wire)))
}

/// Token positions that hold domain names, per type (RFC 1035 §3.3, RFC 2782, 9460…).
fn name_positions(rtype: RecordType) -> &'static [usize] {
    match rtype {
        RecordType::NS | RecordType::CNAME | RecordType::PTR | RecordType::ANAME => &[0],
        RecordType::SOA => &[0, 1],
        RecordType::MX => &[1],
        RecordType::SRV => &[3],
        RecordType::SVCB | RecordType::HTTPS => &[1],
        RecordType::NAPTR => &[5],
        _ => &[],
    }
}

/// The rdata of one record in wire form; checked to decode, so every record we keep
/// can be served and transferred.
fn rdata(rtype: RecordType, toks: &[Tok<'_>], origin: &Name) -> Result<Vec<u8>, String> {
    if toks.is_empty() {
        return Err(format!("{rtype} record without data"));
    }
    if toks[0].raw == "\\#" {
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
    let wire = match rtype {
        RecordType::DNSKEY | RecordType::CDNSKEY => dnskey_wire(toks)?,
        RecordType::RRSIG => rrsig_wire(toks, origin)?,
        RecordType::NSEC => nsec_wire(toks, origin)?,
        RecordType::DNAME => name_wire(&parse_name(one(toks)?, origin)?),
        RecordType::CDS => emit(&text_rdata(RecordType::DS, toks, origin)?)?,
        RecordType::Unknown(_) | RecordType::NSEC3 | RecordType::NSEC3PARAM => {
            return Err(format!("{rtype} needs the RFC 3597 form: \\# length hex"));
        }
        _ => emit(&text_rdata(rtype, toks, origin)?)?,
    };
    from_wire(rtype, &wire)?;
    Ok(wire)
}

fn one<'a>(toks: &'a [Tok<'_>]) -> Result<&'a str, String> {
    match toks {
        [t] => Ok(t.text()),
        _ => Err("expected exactly one value".into()),
    }
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
    from_wire(rtype, &wire)?;
    Ok(wire)
}

fn num<T: std::str::FromStr>(t: Option<&Tok<'_>>, what: &str) -> Result<T, String> {
    let t = t.ok_or(format!("missing {what}"))?;
    t.text().parse().map_err(|_| format!("bad {what} {:?}", t.text()))
}

fn base64(toks: &[Tok<'_>]) -> Result<Vec<u8>, String> {
    let s: String = toks.iter().map(|t| t.text()).collect();
    BASE64.decode(s.as_bytes()).map_err(|e| format!("bad base64: {e}"))
}

fn name_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// RFC 4034 §2.2: flags protocol algorithm key.
fn dnskey_wire(toks: &[Tok<'_>]) -> Result<Vec<u8>, String> {
    let mut w = Vec::new();
    w.extend_from_slice(&num::<u16>(toks.first(), "flags")?.to_be_bytes());
    w.push(num::<u8>(toks.get(1), "protocol")?);
    w.push(num::<u8>(toks.get(2), "algorithm")?);
    w.extend(base64(toks.get(3..).unwrap_or_default())?);
    Ok(w)
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

fn rrsig_wire(toks: &[Tok<'_>], origin: &Name) -> Result<Vec<u8>, String> {
    let covered = toks.first().and_then(|t| parse_type(t.text())).ok_or("bad type covered")?;
    let mut w = Vec::new();
    w.extend_from_slice(&u16::from(covered).to_be_bytes());
    w.push(num::<u8>(toks.get(1), "algorithm")?);
    w.push(num::<u8>(toks.get(2), "labels")?);
    w.extend_from_slice(
        &parse_ttl(toks.get(3).ok_or("missing original TTL")?.text()).ok_or("bad original TTL")?.to_be_bytes(),
    );
    w.extend_from_slice(&sig_time(toks.get(4))?.to_be_bytes());
    w.extend_from_slice(&sig_time(toks.get(5))?.to_be_bytes());
    w.extend_from_slice(&num::<u16>(toks.get(6), "key tag")?.to_be_bytes());
    let signer = toks.get(7).ok_or("missing signer name")?;
    w.extend(name_wire(&parse_name(signer.text(), origin)?));
    w.extend(base64(toks.get(8..).unwrap_or_default())?);
    Ok(w)
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

fn nsec_wire(toks: &[Tok<'_>], origin: &Name) -> Result<Vec<u8>, String> {
    let next = toks.first().ok_or("missing next name")?;
    let mut w = name_wire(&parse_name(next.text(), origin)?);
    let types = toks[1..]
        .iter()
        .map(|t| parse_type(t.text()).ok_or(format!("bad type {:?}", t.text())))
        .collect::<Result<Vec<_>, _>>()?;
    w.extend(type_bitmap(&types));
    Ok(w)
}

/// Whether hickory's presentation form of this type reads back through [`rdata`].
/// The others are written in the RFC 3597 generic form.
fn text_round_trips(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::A
            | RecordType::AAAA
            | RecordType::NS
            | RecordType::CNAME
            | RecordType::PTR
            | RecordType::MX
            | RecordType::SOA
            | RecordType::SRV
            | RecordType::TXT
            | RecordType::CAA
            | RecordType::TLSA
            | RecordType::SSHFP
            | RecordType::SVCB
            | RecordType::HTTPS
            | RecordType::DS
    )
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
    let rendered = text_round_trips(rtype)
        .then(|| from_wire(rtype, wire).ok())
        .flatten()
        .map(|rd| presentation(&rd))
        .filter(|s| reparses(rtype, s, wire, origin));
    match rendered {
        Some(s) => {
            let _ = writeln!(out, "{owner} {ttl} IN {rtype} {s}");
        }
        None => {
            let hex = HEXUPPER_PERMISSIVE.encode(wire);
            let _ = writeln!(out, "{owner} {ttl} IN TYPE{} \\# {} {hex}", u16::from(rtype), wire.len());
        }
    }
}

/// Presentation form; TXT strings are quoted with RFC 1035 §5.1 escapes, since
/// hickory prints them bare.
fn presentation(rd: &RData) -> String {
    let RData::TXT(txt) = rd else {
        return rd.to_string();
    };
    let mut out = String::new();
    for (i, s) in txt.txt_data.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for &b in s.iter() {
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
    out
}

/// The name in ASCII presentation form (escapes, punycode kept: `Display` would turn
/// `xn--` labels into Unicode, which a master file can't hold).
fn fqdn_text(name: &Name) -> String {
    let s = name.to_ascii();
    if s.ends_with('.') { s } else { format!("{s}.") }
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
