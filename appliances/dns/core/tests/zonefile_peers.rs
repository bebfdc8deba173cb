//! Zone files that NSD and Knot load, we load with the same meaning (issue 14 item 2).
//!
//! The corpus in `tests/data/zones/` is written from the RFC grammar (RFC 1035 §5,
//! RFC 3597, the types' RFCs, RFC 9460 Appendix D), not from our parser:
//! - `accept/`: both `nsd-checkzone` and `kzonecheck` load it. We load it, and every
//!   record's wire rdata equals what NSD serves for it in an AXFR.
//! - `split/`: NSD loads it, Knot refuses it (the file's comment says why). We follow
//!   NSD, our reference server, and load it.
//! - `refuse/`: both peers refuse it. We refuse it too, naming the line marked `; BAD`.
//!
//! Each loaded zone also survives `to_master_file` → parse, an AXFR (zone → messages →
//! zone) and an RFC 2136 UPDATE that adds its records to an empty zone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use dns_core::keys::KeyStore;
use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::transfer::{self, TransferIn};
use dns_core::tsig::{self, Algorithm, Key};
use dns_core::xfr::{self, History};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sansio::{Instant, Now, UnixTime};
use testkit::nsd as common;
use testkit::tool::run_output;

const NOW: u64 = 1_800_000_000;

fn corpus(kind: &str) -> Vec<(String, PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zones").join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no zones in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let origin = p.file_name().unwrap().to_str().unwrap().to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            (origin, p, text)
        })
        .collect()
}

fn require_peers() {
    testkit::tool::require_tool("nsd-checkzone", &["-h"], "nsd");
    testkit::tool::require_tool("kzonecheck", &["-V"], "knot-dnssecutils");
}

/// Whether `nsd-checkzone` loads the file, and what it said.
fn nsd_loads(origin: &str, path: &Path) -> (bool, String) {
    let out = Command::new("nsd-checkzone").arg(origin).arg(path).output().expect("run nsd-checkzone");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Whether `kzonecheck` loads the file. DNSSEC checks are off: the corpus's keys and
/// signatures are RFC examples, not a signed zone.
fn knot_loads(origin: &str, path: &Path) -> (bool, String) {
    let out =
        Command::new("kzonecheck").args(["-v", "-d", "off", "-o", origin]).arg(path).output().expect("run kzonecheck");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn load(origin: &str, text: &str) -> Zone {
    Zone::parse(origin, text).unwrap_or_else(|e| panic!("we refuse a zone the peers load: {e}"))
}

#[test]
fn peers_and_we_agree_on_the_corpus() {
    require_peers();
    for (origin, path, text) in corpus("accept") {
        let (nsd, nsd_said) = nsd_loads(&origin, &path);
        let (knot, knot_said) = knot_loads(&origin, &path);
        assert!(nsd && knot, "{origin}: the corpus file must load in both peers\nnsd: {nsd_said}\nknot: {knot_said}");
        load(&origin, &text);
    }
    for (origin, path, text) in corpus("split") {
        let (nsd, nsd_said) = nsd_loads(&origin, &path);
        let (knot, knot_said) = knot_loads(&origin, &path);
        assert_ne!(nsd, knot, "{origin}: meant for the peers to disagree\nnsd: {nsd_said}\nknot: {knot_said}");
        if expects_load(&text) {
            load(&origin, &text);
        } else {
            refused_at_bad_line(&origin, &text);
        }
    }
    for (origin, path, text) in corpus("refuse") {
        let (nsd, _) = nsd_loads(&origin, &path);
        let (knot, _) = knot_loads(&origin, &path);
        assert!(!nsd && !knot, "{origin}: meant for both peers to refuse (nsd {nsd}, knot {knot})");
        refused_at_bad_line(&origin, &text);
    }
}

/// A `split/` file says on its first line what we do with it: `; expect: load` or
/// `; expect: refuse`, and why.
fn expects_load(text: &str) -> bool {
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("; expect: "), "a split/ file starts with '; expect: load|refuse'");
    first.starts_with("; expect: load")
}

fn refused_at_bad_line(origin: &str, text: &str) {
    let bad = text.lines().position(|l| l.contains("; BAD")).expect("a line marked ; BAD") + 1;
    match Zone::parse(origin, text) {
        Ok(_) => panic!("{origin}: we load a zone we mean to refuse"),
        Err(e) => assert_eq!(e.line, Some(bad), "{origin}: the error names the wrong line: {e}"),
    }
}

/// The corpus zones we load.
fn loaded_corpus() -> Vec<(String, String)> {
    let split = corpus("split").into_iter().filter(|(_, _, t)| expects_load(t));
    corpus("accept").into_iter().chain(split).map(|(o, _, t)| (o, t)).collect()
}

/// One record as compared with NSD: owner in lower case (NSD may answer with the
/// spelling of another record's owner), type, TTL, rdata as on the wire.
type Rr = (Vec<u8>, u16, u32, Vec<u8>);

fn wire_name(name: &Name) -> Vec<u8> {
    let mut w = Vec::new();
    for l in name.iter() {
        w.push(l.len() as u8);
        w.extend(l.iter().map(u8::to_ascii_lowercase));
    }
    w.push(0);
    w
}

/// Where names sit in the rdata of a type (RFC 1035 §3.3, RFC 1183, RFC 2782, RFC
/// 3403, RFC 4034, RFC 9460): octets of fixed fields before each name, strings to skip.
fn lower_names(rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut r = rdata.to_vec();
    let lower_at = |r: &mut Vec<u8>, mut i: usize| -> usize {
        while i < r.len() && r[i] != 0 {
            let len = usize::from(r[i]);
            for b in r.iter_mut().skip(i + 1).take(len) {
                *b = b.to_ascii_lowercase();
            }
            i += 1 + len;
        }
        i + 1
    };
    match rtype {
        2 | 5 | 12 | 39 | 47 => {
            lower_at(&mut r, 0);
        }
        6 | 17 => {
            let i = lower_at(&mut r, 0);
            lower_at(&mut r, i);
        }
        15 | 18 | 36 | 64 | 65 => {
            lower_at(&mut r, 2);
        }
        33 => {
            lower_at(&mut r, 6);
        }
        46 => {
            lower_at(&mut r, 18);
        }
        35 => {
            let mut i = 4;
            for _ in 0..3 {
                i += 1 + usize::from(r.get(i).copied().unwrap_or(0));
            }
            lower_at(&mut r, i);
        }
        _ => {}
    }
    r
}

/// Case-folded form for comparing with NSD, which may answer names inside rdata in the
/// spelling of the same name elsewhere in the zone (they are equal, RFC 4343).
fn folded(rrs: &[Rr]) -> Vec<Rr> {
    let mut v: Vec<Rr> = rrs.iter().map(|(o, t, ttl, r)| (o.clone(), *t, *ttl, lower_names(*t, r))).collect();
    v.sort();
    v
}

fn ours(zone: &Zone) -> Vec<Rr> {
    let mut out = Vec::new();
    for node in zone.nodes() {
        for set in node.rrsets() {
            for w in set.wire() {
                out.push((wire_name(&node.name()), u16::from(set.rtype()), set.ttl(), w.to_vec()));
            }
        }
    }
    out.sort();
    out
}

/// Reads a possibly compressed name at `*i` of `msg`, uncompressed, in lower case
/// when `lower` (owners) or as sent (names inside rdata).
fn read_name(msg: &[u8], i: &mut usize, lower: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = *i;
    let mut jumped = false;
    for _ in 0..128 {
        let len = msg[pos];
        if len & 0xc0 == 0xc0 {
            let target = usize::from(u16::from_be_bytes([len & 0x3f, msg[pos + 1]]));
            if !jumped {
                *i = pos + 2;
            }
            jumped = true;
            pos = target;
            continue;
        }
        out.push(len);
        if len == 0 {
            if !jumped {
                *i = pos + 1;
            }
            return out;
        }
        let label = &msg[pos + 1..pos + 1 + usize::from(len)];
        out.extend(label.iter().map(|b| if lower { b.to_ascii_lowercase() } else { *b }));
        pos += 1 + usize::from(len);
    }
    panic!("compression loop");
}

/// The answer records of one AXFR message from NSD, names in rdata uncompressed
/// (NSD compresses those of the RFC 1035 types only, RFC 3597 §4).
fn parse_axfr_message(msg: &[u8], out: &mut Vec<Rr>) {
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut i = 12;
    for _ in 0..qd {
        read_name(msg, &mut i, true);
        i += 4;
    }
    for _ in 0..an {
        let owner = read_name(msg, &mut i, true);
        let rtype = u16::from_be_bytes([msg[i], msg[i + 1]]);
        let ttl = u32::from_be_bytes([msg[i + 4], msg[i + 5], msg[i + 6], msg[i + 7]]);
        let len = usize::from(u16::from_be_bytes([msg[i + 8], msg[i + 9]]));
        i += 10;
        let end = i + len;
        let rdata = match rtype {
            // NS CNAME PTR: one name. MX: preference, name. SOA: two names, 20 octets.
            2 | 5 | 12 => read_name(msg, &mut i, false),
            15 => {
                let mut r = msg[i..i + 2].to_vec();
                i += 2;
                r.extend(read_name(msg, &mut i, false));
                r
            }
            6 => {
                let mut r = read_name(msg, &mut i, false);
                r.extend(read_name(msg, &mut i, false));
                r.extend_from_slice(&msg[i..i + 20]);
                r
            }
            _ => msg[i..end].to_vec(),
        };
        i = end;
        out.push((owner, rtype, ttl, rdata));
    }
}

const AXFR: &str = r#"
import socket, struct, sys
origin, port = sys.argv[1], int(sys.argv[2])
q = struct.pack(">HHHHHH", 0x4242, 0, 1, 0, 0, 0)
for label in origin.strip(".").split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", 252, 1)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(struct.pack(">H", len(q)) + q)
def read(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("connection closed")
        b += c
    return b
soas = 0
while soas < 2:
    m = read(struct.unpack(">H", read(2))[0])
    print(m.hex(), flush=True)
    if m[3] & 15:
        raise SystemExit("rcode %d" % (m[3] & 15))
    # Count SOA records in the answer section (NSD starts and ends with the SOA).
    i = 12
    def skip_name(i):
        while True:
            l = m[i]
            if l & 0xc0 == 0xc0:
                return i + 2
            if l == 0:
                return i + 1
            i += 1 + l
    for _ in range(struct.unpack(">H", m[4:6])[0]):
        i = skip_name(i) + 4
    for _ in range(struct.unpack(">H", m[6:8])[0]):
        i = skip_name(i)
        t, _, _, l = struct.unpack(">HHIH", m[i:i + 10])
        soas += t == 6
        i += 10 + l
"#;

fn nsd_axfr(ns: &str, origin: &str, port: u16) -> Vec<Rr> {
    let mut cmd = testkit::tool::in_ns(Some(ns), "python3");
    cmd.args(["-c", AXFR, origin, &port.to_string()]);
    let text = run_output(&mut cmd, Duration::from_secs(30));
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let msg = data_encoding::HEXLOWER.decode(line.as_bytes()).unwrap_or_else(|_| panic!("{origin}: {text}"));
        parse_axfr_message(&msg, &mut out);
    }
    // The stream ends with the SOA again.
    let last = out.pop().expect("an AXFR answer");
    assert_eq!(last.1, 6, "{origin}: AXFR ends with the SOA");
    out.sort();
    out
}

#[test]
fn records_equal_what_nsd_serves() {
    common::require_tools(&[("nsd", "-v", "nsd")]);
    let lab = common::Lab::new("h2zp");
    let port = 5354;
    let mut conf = common::nsd_server_conf(&lab.dir, port, "  verbosity: 1\n");
    let mut zones = Vec::new();
    for (origin, text) in loaded_corpus() {
        std::fs::write(lab.dir.join(&origin), &text).unwrap();
        conf.push_str(&format!("zone:\n  name: {origin}\n  zonefile: {origin}\n  provide-xfr: 127.0.0.1 NOKEY\n"));
        zones.push((origin, text));
    }
    let _nsd = common::Nsd::start(&lab.ns, &lab.dir, &conf);
    let mut failures = Vec::new();
    for (origin, text) in zones {
        let theirs = folded(&nsd_axfr(&lab.ns, &origin, port));
        let ours = folded(&ours(&load(&origin, &text)));
        let only_ours: Vec<_> = ours.iter().filter(|r| !theirs.contains(r)).collect();
        let only_theirs: Vec<_> = theirs.iter().filter(|r| !ours.contains(r)).collect();
        if !only_ours.is_empty() || !only_theirs.is_empty() {
            failures.push(format!("{origin}:\n  only ours: {only_ours:02x?}\n  only NSD's: {only_theirs:02x?}"));
        }
    }
    assert!(failures.is_empty(), "records differ from NSD's:\n{}", failures.join("\n"));
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn axfr_round_trip(zone: &Zone) -> Zone {
    let origin = zone.origin().clone();
    let mut zones = Zones::new();
    zones.replace(zone.clone());
    let raw = transfer::request(&origin, RecordType::AXFR, 7, None);
    let msg = Message::from_vec(&raw).unwrap();
    let h = xfr::answer(&zones, &History::default(), None, &msg, Transport::Tcp, true, UnixTime::from_secs(NOW));
    let Handled::Stream(msgs) = h else { panic!("{origin}: AXFR not streamed") };
    let mut t = TransferIn::new(origin.clone(), 7, None, None);
    for m in &msgs {
        if let Some(z) = t.push(m, UnixTime::from_secs(NOW)).unwrap_or_else(|e| panic!("{origin}: {e:?}")) {
            return z;
        }
    }
    panic!("{origin}: AXFR stream ended early");
}

/// An (owner, type) asked for: owner wire form in lower case, type code.
type Asked = (Vec<u8>, u16);

fn now() -> Now {
    Now { mono: Instant::ZERO, wall: UnixTime::from_secs(NOW) }
}

/// Adds every record of `zone` but the SOA to a zone holding only its SOA and a
/// placeholder NS, by one signed UPDATE (RFC 2136 §2.5.1) to a [`Server`], commits it,
/// then asks the server for each (owner, type) over TCP. Returns the zone it serves,
/// the records its answers hold and the (owner, type) pairs asked.
fn update_round_trip(zone: &Zone) -> (Zone, Vec<Rr>, Vec<Asked>) {
    let origin = zone.origin().clone();
    let apex = zone.to_master_file().lines().filter(|l| l.contains(" IN SOA ")).collect::<Vec<_>>().join("\n");
    let ns_ttl = zone.rrset(&origin, RecordType::NS).map_or(300, |s| s.ttl());
    let start = format!("{apex}\n{origin} {ns_ttl} IN NS ns.invalid.\n");
    let mut zones = Zones::new();
    zones.replace(Zone::parse(&origin.to_string(), &start).unwrap());
    let key = Key::new(n(&format!("u._update.{origin}")), Algorithm::HmacSha256, b"update-secret".to_vec());
    let mut server = Server::new(zones, Options::default());
    server.keys = Arc::new(KeyStore::from_keys(vec![key.clone()]));
    let mut adds = Vec::new();
    let mut asks = Vec::new();
    // Data at or below a zone cut is answered by a referral (RFC 1034 §4.3.2), all
    // but the DS at the cut (RFC 4035 §3.1.4.1): those are not asked for.
    let cuts: Vec<Name> = zone
        .nodes()
        .filter(|nd| nd.name() != origin && nd.rrset(RecordType::NS).is_some())
        .map(|nd| nd.name())
        .collect();
    for node in zone.nodes() {
        let delegated =
            |t: RecordType| cuts.iter().any(|c| c.zone_of(&node.name()) && !(c == &node.name() && t == RecordType::DS));
        for set in node.rrsets() {
            if set.rtype() == RecordType::SOA {
                continue;
            }
            if !delegated(set.rtype()) {
                asks.push((node.name(), set.rtype()));
            }
            for w in set.wire() {
                // Generic rdata, the octets as stored.
                let rd = RData::Unknown { code: set.rtype(), rdata: NULL::with(w.to_vec()) };
                adds.push(Record::from_rdata(node.name(), set.ttl(), rd));
            }
        }
    }
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Update);
    m.queries = vec![Query::query(origin.clone(), RecordType::SOA)];
    m.authorities = adds;
    let (bytes, _) = tsig::sign_request(&key, &m.to_vec().unwrap(), UnixTime::from_secs(NOW));
    let src: SocketAddr = "192.0.2.99:5353".parse().unwrap();
    let pending = match server.handle(now(), src, Transport::Tcp, &bytes) {
        Handled::Update(p) => p,
        Handled::Reply(b) => panic!("{origin}: update refused: {:?}", Message::from_vec(&b).unwrap().metadata),
        _ => panic!("{origin}: update not handled"),
    };
    server.finish_update(*pending, true);
    let mut answered = Vec::new();
    let asked = asks.iter().map(|(name, t)| (wire_name(name), u16::from(*t))).collect();
    for (id, (name, rtype)) in asks.into_iter().enumerate() {
        let mut q = Message::new(id as u16, MessageType::Query, OpCode::Query);
        q.queries = vec![Query::query(name.clone(), rtype)];
        let Handled::Reply(reply) = server.handle(now(), src, Transport::Tcp, &q.to_vec().unwrap()) else {
            panic!("{origin}: no reply for {name} {rtype}");
        };
        let mut got = Vec::new();
        parse_axfr_message(&reply, &mut got);
        // Only the records of the asked set: a CNAME or DNAME answer is not under test.
        answered.extend(got.into_iter().filter(|r| r.0 == wire_name(&name) && r.1 == u16::from(rtype)));
    }
    answered.sort();
    let served = server.zones.get(&origin).expect("the zone").as_ref().clone();
    (served, answered, asked)
}

#[test]
fn corpus_round_trips_through_master_file_axfr_and_update() {
    for (origin, text) in loaded_corpus() {
        let zone = load(&origin, &text);
        let written = zone.to_master_file();
        let back = Zone::parse(&origin, &written).unwrap_or_else(|e| panic!("{origin}: written zone: {e}\n{written}"));
        assert_eq!(ours(&back), ours(&zone), "{origin}: master file round trip\n{written}");
        assert_eq!(back, zone, "{origin}: master file round trip");
        // hickory refuses to decode a message holding a record with empty rdata outside
        // UPDATE ("length 0 in non-update message"), so a transfer in of such a zone
        // fails (issue 14 item 1, outside the zone file code); those records are left
        // out of the AXFR leg until it decodes messages itself.
        let nonempty: String = written.lines().filter(|l| !l.ends_with("\\# 0")).map(|l| format!("{l}\n")).collect();
        let nonempty = Zone::parse(&origin, &nonempty).unwrap();
        assert_eq!(ours(&axfr_round_trip(&nonempty)), ours(&nonempty), "{origin}: AXFR round trip");
        // An add with empty rdata gets FORMERR (update.rs takes RDLENGTH 0 in class IN
        // for a malformed delete; RFC 2136 §3.4.1.2 does not ask that), so the UPDATE
        // leg, too, uses the records with rdata.
        let (updated, answered, asked) = update_round_trip(&nonempty);
        let want: Vec<_> = ours(&nonempty).into_iter().filter(|r| r.1 != 6).collect();
        let placeholder = wire_name(&n("ns.invalid."));
        let not_placeholder = |r: &Rr| r.1 != 6 && !(r.1 == 2 && r.3 == placeholder);
        let got: Vec<_> = ours(&updated).into_iter().filter(not_placeholder).collect();
        assert_eq!(got, want, "{origin}: UPDATE round trip");
        let answered = folded(&answered.into_iter().filter(not_placeholder).collect::<Vec<_>>());
        let wanted: Vec<_> = folded(&want).into_iter().filter(|r| asked.contains(&(r.0.clone(), r.1))).collect();
        assert_eq!(answered, wanted, "{origin}: answers after the UPDATE");
    }
}

/// RFC 1035 §5.1 and RFC 4343: `\065\066\067` is the name `abc` in other letters, so
/// both owners below are one rrset; the spelling first written is kept, lookups ignore
/// case, and the written file spells the odd octets back with escapes.
#[test]
fn escaped_names_mean_what_the_octets_say() {
    let text = "$ORIGIN e.test.\n$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
                \\065\\066\\067 A 192.0.2.3\nabc A 192.0.2.4\nsp\\032ace A 192.0.2.5\n\
                dot\\.in A 192.0.2.6\nnul\\000 A 192.0.2.7\n\\* TXT \"a wildcard, escaped or not\"\n";
    let zone = Zone::parse("e.test", text).unwrap();
    let node = zone.node(&n("abc.e.test.")).expect("abc");
    assert_eq!(node.name().iter().next(), Some(&b"ABC"[..]), "spelling of the first record kept");
    assert_eq!(node.rrset(RecordType::A).map(|s| s.len()), Some(2), "one rrset for ABC and abc");
    // Built from octets: hickory's own text parser reads `\DDD` as octal.
    let first_label = |first: &[u8]| {
        let name = Name::from_labels([first, b"e", b"test"]).unwrap();
        zone.node(&name).map(|nd| nd.name().iter().next().unwrap().to_vec())
    };
    for octets in [&b"sp ace"[..], b"dot.in", b"nul\0"] {
        assert_eq!(first_label(octets).as_deref(), Some(octets), "{octets:?}");
    }
    assert!(zone.node(&n("*.e.test.")).is_some(), "\\* is the octet *, the wildcard label");
    let written = zone.to_master_file();
    for spelled in ["ABC.e.test.", "sp\\032ace.e.test.", "dot\\.in.e.test.", "nul\\000.e.test."] {
        assert!(written.lines().any(|l| l.starts_with(spelled)), "{spelled} in\n{written}");
    }
    assert_eq!(Zone::parse("e.test", &written).unwrap(), zone);
}

/// Hostile zone text never panics the loader: every corpus file cut at many points,
/// and with octets flipped, either loads and writes back to an equal zone, or is an
/// error.
#[test]
fn mangled_corpus_files_are_errors_or_zones_never_panics() {
    let all = corpus("accept").into_iter().chain(corpus("split")).chain(corpus("refuse"));
    for (origin, _, text) in all {
        let bytes = text.as_bytes();
        let check = |mangled: &[u8]| {
            let Ok(s) = std::str::from_utf8(mangled) else { return };
            if let Ok(zone) = Zone::parse(&origin, s) {
                let written = zone.to_master_file();
                let back = Zone::parse(&origin, &written).unwrap_or_else(|e| panic!("{origin}: {e}\n{written}"));
                assert_eq!(back, zone, "{origin}: written back\n{written}");
            }
        };
        for cut in (0..bytes.len()).step_by(7) {
            check(&bytes[..cut]);
        }
        for (k, at) in (0..bytes.len()).step_by(11).enumerate() {
            let mut m = bytes.to_vec();
            m[at] = b"\\\"();. \n@$*0"[k % 12];
            check(&m);
        }
    }
}
