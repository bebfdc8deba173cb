//! Transcript tests: queries through `Server::handle` over the test zones in
//! `tests/data`, each reply dumped in a readable form (the question, flags, rcode,
//! each section's records in presentation form) and compared with a checked-in file
//! `tests/transcripts/<name>.txt`.
//!
//! A mismatch prints the blocks that differ (`-` expected, `+` got). After a
//! deliberate change, `BLESS=1 cargo test -p dns-core --test transcripts` rewrites
//! the files; review the diff against RFC 1034 §4.3.2 before committing it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use sansio::{Instant, Now, UnixTime};

#[path = "support/presign.rs"]
mod presign;
use presign::presign;

const ZONES: [(&str, &str); 3] = [
    ("example.org", include_str!("data/example.org")),
    ("example.net", include_str!("data/example.net")),
    ("child.example.org", include_str!("data/child.example.org")),
];

fn server(zones: &[(&str, String)]) -> Server {
    let mut z = Zones::new();
    for (origin, text) in zones {
        z.replace(Zone::parse(origin, text).unwrap_or_else(|e| panic!("{origin}: {e}")));
    }
    Server::new(z, Options::default())
}

fn unsigned_zones() -> Vec<(&'static str, String)> {
    ZONES.iter().map(|(n, t)| (*n, t.to_string())).collect()
}

/// The signed zone: a fixed signature pattern, so that the transcript is stable.
fn sign(origin: &str, text: &str) -> String {
    presign(origin, text, || vec![0x5a; 16])
}

/// One query of a transcript.
struct Ask {
    /// Why the query is there, printed above its block.
    note: &'static str,
    wire: Vec<u8>,
    /// How the query itself is shown (the wire form may be deliberately broken).
    shown: String,
    transport: Transport,
}

/// A well-formed query: RD set, over UDP, no EDNS, unless changed.
struct Q {
    name: &'static str,
    qtype: RecordType,
    class: DNSClass,
    transport: Transport,
    edns: Option<(u16, bool)>,
}

fn q(name: &'static str, qtype: RecordType) -> Q {
    Q { name, qtype, class: DNSClass::IN, transport: Transport::Udp, edns: None }
}

impl Q {
    fn tcp(mut self) -> Q {
        self.transport = Transport::Tcp;
        self
    }
    fn class(mut self, class: DNSClass) -> Q {
        self.class = class;
        self
    }
    /// EDNS with this UDP size and the DO bit (RFC 3225).
    fn edns(mut self, size: u16, dnssec_ok: bool) -> Q {
        self.edns = Some((size, dnssec_ok));
        self
    }
    fn note(self, note: &'static str) -> Ask {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        let mut query = Query::query(Name::from_ascii(self.name).unwrap(), self.qtype);
        query.set_query_class(self.class);
        m.queries = vec![query];
        let mut shown = format!("{} {} {}", self.name, self.class, type_text(self.qtype));
        if let Some((size, dnssec_ok)) = self.edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            e.set_dnssec_ok(dnssec_ok);
            m.edns = Some(e);
            write!(shown, " edns={size}{}", if dnssec_ok { " do" } else { "" }).unwrap();
        }
        let transport = self.transport;
        shown.push_str(if transport == Transport::Tcp { " tcp" } else { " udp" });
        Ask { note, wire: m.to_vec().unwrap(), shown, transport }
    }
}

/// A type's mnemonic, or TYPEnnn (RFC 3597 §5) for one hickory doesn't name.
fn type_text(t: RecordType) -> String {
    match t {
        RecordType::Unknown(n) => format!("TYPE{n}"),
        t => t.to_string(),
    }
}

/// A query given as bytes (malformed or unusual on purpose).
fn raw(note: &'static str, shown: &str, wire: Vec<u8>) -> Ask {
    Ask { note, wire, shown: shown.to_string(), transport: Transport::Udp }
}

fn flags(m: &Message) -> String {
    let h = &m.metadata;
    let mut f = vec![];
    for (on, name) in [
        (h.message_type == MessageType::Response, "qr"),
        (h.authoritative, "aa"),
        (h.truncation, "tc"),
        (h.recursion_desired, "rd"),
        (h.recursion_available, "ra"),
        (h.authentic_data, "ad"),
        (h.checking_disabled, "cd"),
    ] {
        if on {
            f.push(name);
        }
    }
    f.join(" ")
}

/// RFC 1035 mnemonics (hickory's `Display` spells them out).
fn rcode(m: &Message) -> String {
    match u16::from(m.metadata.response_code) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        9 => "NOTAUTH".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    }
}

/// A record in presentation form: the zone writer's, but DNSSEC types (which it
/// writes in the RFC 3597 generic form) decoded here, so a transcript reads.
fn record_text(r: &Record) -> String {
    let text = Zone::record_text(r);
    let rdata = dns_core::zone::rdata_wire(&r.data).and_then(|w| dnssec_text(r.record_type(), &w));
    match rdata {
        Some(rdata) => format!("{} {} IN {} {rdata}", r.name, r.ttl, r.record_type()),
        None => text,
    }
}

/// A wire name at the start of `w` (uncompressed, as in RRSIG and NSEC rdata, RFC 4034
/// §3.1.7 and §4.1.1) and the rest.
fn wire_name(mut w: &[u8]) -> Option<(String, &[u8])> {
    let mut name = String::new();
    loop {
        let (&len, rest) = w.split_first()?;
        w = rest;
        if len == 0 {
            break;
        }
        let label = w.get(..usize::from(len))?;
        name.push_str(&String::from_utf8_lossy(label));
        name.push('.');
        w = &w[usize::from(len)..];
    }
    Some((if name.is_empty() { ".".into() } else { name }, w))
}

/// The types of an NSEC type bitmap (RFC 4034 §4.1.2).
fn bitmap_types(mut w: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while let [window, len, rest @ ..] = w {
        let bits = rest.get(..usize::from(*len))?;
        for (i, byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    let code = u16::from(*window) * 256 + (i * 8 + bit) as u16;
                    out.push(type_text(RecordType::from(code)));
                }
            }
        }
        w = &rest[usize::from(*len)..];
    }
    Some(out)
}

/// Presentation form of RRSIG (RFC 4034 §3.2; times as seconds since 1970, which
/// §3.2 allows), NSEC (§4.2) and DNSKEY (§2.2) rdata.
fn dnssec_text(rtype: RecordType, w: &[u8]) -> Option<String> {
    let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
    let u16_at = |i: usize| Some(u16::from_be_bytes(w.get(i..i + 2)?.try_into().ok()?));
    let u32_at = |i: usize| Some(u32::from_be_bytes(w.get(i..i + 4)?.try_into().ok()?));
    match rtype {
        RecordType::RRSIG => {
            let covered = type_text(RecordType::from(u16_at(0)?));
            let (alg, labels) = (w.get(2)?, w.get(3)?);
            let (ttl, expire, incept, tag) = (u32_at(4)?, u32_at(8)?, u32_at(12)?, u16_at(16)?);
            let (signer, sig) = wire_name(w.get(18..)?)?;
            Some(format!("{covered} {alg} {labels} {ttl} {expire} {incept} {tag} {signer} {}", b64(sig)))
        }
        RecordType::NSEC => {
            let (next, bitmap) = wire_name(w)?;
            Some(format!("{next} {}", bitmap_types(bitmap)?.join(" ")))
        }
        RecordType::DNSKEY => {
            let (flags, protocol, alg) = (u16_at(0)?, w.get(2)?, w.get(3)?);
            Some(format!("{flags} {protocol} {alg} {}", b64(w.get(4..)?)))
        }
        _ => None,
    }
}

/// The block of one query and its reply.
fn block(ask: &Ask, handled: Handled) -> String {
    let mut out = format!("# {}\n> {}\n", ask.note, ask.shown);
    let bytes = match handled {
        Handled::Reply(b) => b,
        Handled::Drop => return out + "< dropped\n",
        other => return out + &format!("< {other:?}\n"),
    };
    let m = match Message::from_vec(&bytes) {
        Ok(m) => m,
        Err(e) => return out + &format!("< unparsable reply ({e}): {}\n", data_encoding::HEXLOWER.encode(&bytes)),
    };
    let (opcode, id) = (m.metadata.op_code, m.metadata.id);
    writeln!(out, "< {} opcode {opcode} flags [{}] id {id:#06x}", rcode(&m), flags(&m)).unwrap();
    if let Some(e) = &m.edns {
        let dnssec_ok = if e.flags().dnssec_ok { " do" } else { "" };
        writeln!(out, "  opt: version {} udp {}{dnssec_ok}", e.version(), e.max_payload()).unwrap();
    }
    for q in &m.queries {
        writeln!(out, "  question: {} {} {}", q.name(), q.query_class(), type_text(q.query_type())).unwrap();
    }
    for (title, records) in [("answer", &m.answers), ("authority", &m.authorities), ("additional", &m.additionals)] {
        if records.is_empty() {
            continue;
        }
        writeln!(out, "  {title}:").unwrap();
        for r in records {
            writeln!(out, "    {}", record_text(r)).unwrap();
        }
    }
    out
}

fn transcript(zones: &[(&str, String)], asks: &[Ask]) -> String {
    let mut s = server(zones);
    let src: SocketAddr = "192.0.2.53:5353".parse().unwrap();
    let now = Now { mono: Instant::ZERO, wall: UnixTime::from_secs(1_800_000_000) };
    let blocks: Vec<String> = asks.iter().map(|a| block(a, s.handle(now, src, a.transport, &a.wire))).collect();
    blocks.join("\n")
}

/// The blocks of `text`, keyed by their first two lines (note and query).
fn blocks(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| (b.lines().take(2).collect::<Vec<_>>().join("\n"), b.trim_end().to_string()))
        .collect()
}

/// What differs, block by block: `-` lines expected, `+` lines got.
fn diff(want: &str, got: &str) -> String {
    let (want, got) = (blocks(want), blocks(got));
    let mut out = String::new();
    let minus = |b: &str| b.lines().map(|l| format!("- {l}\n")).collect::<String>();
    let plus = |b: &str| b.lines().map(|l| format!("+ {l}\n")).collect::<String>();
    for (key, g) in &got {
        match want.iter().find(|(k, _)| k == key) {
            Some((_, w)) if w == g => {}
            Some((_, w)) => out += &format!("{}{}\n", minus(w), plus(g)),
            None => out += &format!("(new)\n{}\n", plus(g)),
        }
    }
    for (key, w) in &want {
        if !got.iter().any(|(k, _)| k == key) {
            out += &format!("(gone)\n{}\n", minus(w));
        }
    }
    if out.is_empty() {
        // Same blocks, other order or spacing.
        out = "(same blocks, different order or blank lines)\n".into();
    }
    out
}

/// Compares `got` with `tests/transcripts/<name>.txt`, or rewrites it with BLESS=1.
fn check(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts").join(format!("{name}.txt"));
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with BLESS=1 to write it, then review it", path.display()));
    if want != got {
        panic!(
            "transcript {} differs (- expected, + got); after review, BLESS=1 rewrites it:\n{}",
            path.display(),
            diff(&want, got)
        );
    }
}

#[test]
fn answers() {
    use RecordType as T;
    let asks = [
        q("mail.example.org.", T::A).note("positive A"),
        q("ns1.example.org.", T::AAAA).note("positive AAAA"),
        q("example.org.", T::NS).note("apex NS (RFC 1034 §4.3.2 step 3a: the data, no referral)"),
        q("example.org.", T::SOA).note("apex SOA"),
        q("example.org.", T::MX).note("MX"),
        q("example.org.", T::TXT).note("TXT"),
        q("quote.example.org.", T::TXT).note("TXT with quotes and several strings"),
        q("example.org.", T::CAA).note("CAA"),
        q("srv.example.org.", T::SRV).note("SRV"),
        q("ptr.example.org.", T::PTR).note("PTR"),
        q("_443._tcp.web.example.org.", T::TLSA).note("TLSA"),
        q("host.deep.example.org.", T::SSHFP).note("SSHFP"),
        q("svc.example.org.", T::SVCB).note("SVCB"),
        q("example.org.", T::HTTPS).note("HTTPS"),
        q("key.example.org.", T::DNSKEY).note("DNSKEY, no DO: no RRSIG"),
        q("unk.example.org.", T::Unknown(65280)).note("unknown type (RFC 3597)"),
        q("MIXED.case.example.org.", T::A).note("names compare case-insensitively; the question keeps its case"),
        q("www.example.org.", T::CNAME).note("CNAME asked for: just the CNAME"),
        q("nope.example.org.", T::A).note("NXDOMAIN: SOA in authority (RFC 2308 §3)"),
        q("mail.example.org.", T::TXT).note("NODATA: NOERROR, SOA in authority (RFC 2308 §2.2)"),
        q("ent.example.org.", T::A).note("empty non-terminal: NODATA, not NXDOMAIN (RFC 8020)"),
        q("x.wild.example.org.", T::A).note("wildcard (RFC 4592): owner is the query name"),
        q("x.y.wild.example.org.", T::TXT).note("wildcard two labels down"),
        q("x.wild.example.org.", T::MX).note("wildcard, type not there: NODATA"),
        q("exists.wild.example.org.", T::A).note("a name that exists is not covered by the wildcard: NODATA"),
        q("x.wc.example.org.", T::A).note("wildcard CNAME, then the chain"),
        q("www.example.org.", T::A).note("CNAME chain inside the zone (RFC 1034 §4.3.2 step 3a)"),
        q("ext.example.org.", T::A).note("CNAME to another zone we serve: followed (step 3a goes back to step 1)"),
        q("tochild.example.org.", T::A).note("CNAME into a delegated child we also serve"),
        q("loop1.example.org.", T::A).note("CNAME loop: stops"),
        q("foo.sub.example.org.", T::A).note("referral (step 3b): NS in authority, glue in additional, no AA"),
        q("sub.example.org.", T::NS).note("the cut itself: referral"),
        q("deep.ns.sub.example.org.", T::A).note("data below a cut (even glue) is not answered: referral"),
        q("sub.example.org.", T::DS).note("DS at a cut: answered by the parent, AA (RFC 4035 §3.1.4.1)"),
        q("child.example.org.", T::DS).note("DS at a cut to a child we serve: still the parent"),
        q("www.child.example.org.", T::A).note("the child zone answers for itself"),
        q("example.org.", T::ANY).note("ANY: one rrset (RFC 8482 §4.1)"),
        q("example.com.", T::A).note("a zone we don't serve: REFUSED"),
        q("a.example.net.", T::A).note("CNAME chain in the other zone"),
        q("whatever.example.net.", T::MX).note("wildcard at the apex of example.net"),
    ];
    check("answers", &transcript(&unsigned_zones(), &asks));
}

#[test]
fn sizes_and_errors() {
    use RecordType as T;
    let two_questions = {
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.queries = vec![
            Query::query(Name::from_ascii("mail.example.org.").unwrap(), T::A),
            Query::query(Name::from_ascii("ns1.example.org.").unwrap(), T::A),
        ];
        m.to_vec().unwrap()
    };
    let status = {
        let mut m = Message::new(8, MessageType::Query, OpCode::Status);
        m.metadata.recursion_desired = true;
        m.queries = vec![Query::query(Name::from_ascii("example.org.").unwrap(), T::SOA)];
        m.to_vec().unwrap()
    };
    let with_answer = {
        let mut m = Message::new(9, MessageType::Query, OpCode::Query);
        m.queries = vec![Query::query(Name::from_ascii("mail.example.org.").unwrap(), T::A)];
        m.answers = vec![Record::from_rdata(
            Name::from_ascii("mail.example.org.").unwrap(),
            60,
            hickory_proto::rr::RData::A("192.0.2.99".parse().unwrap()),
        )];
        m.to_vec().unwrap()
    };
    let mut truncated_question = q("mail.example.org.", T::A).note("").wire;
    truncated_question.truncate(20);
    let mut response = q("mail.example.org.", T::A).note("").wire;
    response[2] |= 0x80;
    let asks = [
        q("huge.example.org.", T::TXT).note("20 TXT over plain UDP: TC, whole rrset dropped (RFC 2181 §9)"),
        q("big.example.org.", T::TXT).edns(1232, false).note("EDNS 1232 leaves room for the big TXT set"),
        q("huge.example.org.", T::TXT).edns(1232, false).note("huge TXT set beyond 1232: TC"),
        q("huge.example.org.", T::TXT).tcp().note("TCP: all of it"),
        q("mail.example.org.", T::A).edns(4096, false).note("EDNS: our OPT with our size (RFC 6891 §6.2.5)"),
        q("example.org.", T::AXFR).note("AXFR over UDP: NOTIMP (RFC 5936 §4.2)"),
        q("mail.example.org.", T::A).class(DNSClass::CH).note("class CH: REFUSED, question echoed"),
        q("mail.example.org.", T::A).class(DNSClass::HS).note("class HS: REFUSED, header only"),
        raw("two questions: FORMERR, no flags", "2 questions", two_questions),
        raw("a question cut short: FORMERR (RFC 1035 §4.1.1)", "mail.example.org. A (20 bytes)", truncated_question),
        raw("records in the answer section of a query: FORMERR", "mail.example.org. A + answer", with_answer),
        raw("opcode STATUS: NOTIMP, header only", "opcode 2", status),
        raw("QR set: a response, not answered", "mail.example.org. A (qr)", response),
    ];
    check("sizes_and_errors", &transcript(&unsigned_zones(), &asks));
}

#[test]
fn signed_zone_with_do() {
    use RecordType as T;
    let zones = vec![("signed.example", sign("signed.example", include_str!("data/signed.example")))];
    let asks = [
        q("mail.signed.example.", T::A).edns(1232, true).note("DO: the answer with its RRSIG (RFC 4035 §3.1.1)"),
        q("mail.signed.example.", T::A).edns(1232, false).note("no DO: no RRSIG"),
        q("nope.signed.example.", T::A)
            .edns(1232, true)
            .note("NXDOMAIN: SOA, NSECs for the name and the wildcard, with RRSIGs (§3.1.3.2)"),
        q("mail.signed.example.", T::TXT).edns(1232, true).note("NODATA: SOA and the name's NSEC (§3.1.3.1)"),
        q("x.w.signed.example.", T::TXT).edns(1232, true).note(
            "wildcard answer: RRSIG labels 3 (the wildcard's, RFC 4035 §5.3.4), NSEC covering the qname (§3.1.3.3)",
        ),
        q("www.signed.example.", T::A).edns(1232, true).note("CNAME, signed, then the target, signed"),
        q("x.sub.signed.example.", T::A)
            .edns(1232, true)
            .note("referral to a signed child: NS, DS and its RRSIG, glue (§3.1.4)"),
        q("x.nods.signed.example.", T::A)
            .edns(1232, true)
            .note("referral to an unsigned child: NS and the NSEC proving no DS"),
        q("sub.signed.example.", T::DS).edns(1232, true).note("DS at the cut, signed"),
        q("signed.example.", T::DNSKEY).edns(1232, true).note("DNSKEY at the apex, signed"),
        q("signed.example.", T::ANY).edns(1232, true).note("ANY with DO: one rrset and its RRSIG"),
    ];
    check("signed_zone_with_do", &transcript(&zones, &asks));
}

#[test]
fn diff_shows_changed_blocks() {
    let want = "# a\n> q1\n< x\n\n# b\n> q2\n< y\n";
    let got = "# a\n> q1\n< x\n\n# b\n> q2\n< z\n\n# c\n> q3\n< w\n";
    assert_eq!(diff(want, got), "- # b\n- > q2\n- < y\n+ # b\n+ > q2\n+ < z\n\n(new)\n+ # c\n+ > q3\n+ < w\n\n");
}
