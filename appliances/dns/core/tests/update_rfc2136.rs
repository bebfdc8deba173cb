//! UPDATE (RFC 2136) scenarios, one or more per section, through update::handle with
//! TSIG-signed requests.

use std::net::SocketAddr;
use std::str::FromStr;

use dns_core::serial;
use dns_core::server::{Options, Server};
use dns_core::tsig::{self, Algorithm, ClientState, Key};
use dns_core::update::{self, Outcome};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use sansio::UnixTime;

const ZONE: &str = "$ORIGIN example.org.
$TTL 3600
@    SOA ns1 hostmaster 10 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.1
www  A   192.0.2.2
www  A   192.0.2.3
alias CNAME www
";
const NOW: u64 = 1_800_000_000;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn key(name: &str) -> Key {
    Key::new(n(name), Algorithm::HmacSha256, b"update-secret".to_vec())
}

fn zones() -> Zones {
    let mut z = Zones::new();
    z.replace(Zone::parse("example.org", ZONE).unwrap());
    z
}

fn a(name: &str, ttl: u32, ip: &str) -> Record {
    Record::from_rdata(n(name), ttl, RData::A(A::from_str(ip).unwrap()))
}

fn with_class(mut r: Record, class: DNSClass) -> Record {
    r.dns_class = class;
    r
}

fn any(name: &str, t: RecordType) -> Record {
    with_class(Record::update0(n(name), 0, t), DNSClass::ANY)
}

fn none(name: &str, t: RecordType) -> Record {
    with_class(Record::update0(n(name), 0, t), DNSClass::NONE)
}

/// Builds, signs and runs an UPDATE; returns the outcome and the client state.
fn run(zones: &Zones, k: &Key, zone: &str, prereq: Vec<Record>, updates: Vec<Record>) -> (Outcome, ClientState) {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Update);
    m.queries = vec![Query::query(n(zone), RecordType::SOA)];
    m.answers = prereq;
    m.authorities = updates;
    let (bytes, state) = tsig::sign_request(k, &m.to_vec().unwrap(), UnixTime::from_secs(NOW));
    let signed = tsig::verify_request(std::slice::from_ref(k), &bytes, UnixTime::from_secs(NOW)).unwrap();
    let parsed = Message::from_vec(&bytes).unwrap();
    let src: SocketAddr = "192.0.2.99:5353".parse().unwrap();
    (update::handle(zones, signed.as_ref(), &parsed, src, UnixTime::from_secs(NOW)), state)
}

fn rcode(out: &Outcome, state: &ClientState) -> ResponseCode {
    match out {
        Outcome::Reply(b) => {
            tsig::verify_response(state, b, UnixTime::from_secs(NOW)).expect("signed reply");
            Message::from_vec(b).unwrap().metadata.response_code
        }
        Outcome::Commit(_) => ResponseCode::NoError,
    }
}

fn upd_key() -> Key {
    key("u._update.example.org.")
}

fn commit(out: Outcome) -> update::Pending {
    match out {
        Outcome::Commit(p) => *p,
        Outcome::Reply(b) => panic!("no commit: {:?}", Message::from_vec(&b).unwrap().metadata.response_code),
    }
}

#[test]
fn zone_section_3_1() {
    let z = zones();
    let (o, s) = run(&z, &upd_key(), "example.net.", vec![], vec![a("x.example.net.", 60, "192.0.2.9")]);
    assert_eq!(rcode(&o, &s), ResponseCode::NotAuth);
    let (o, s) = run(&z, &upd_key(), "www.example.org.", vec![], vec![]);
    assert_eq!(rcode(&o, &s), ResponseCode::NotAuth);
}

#[test]
fn privileges_3_3() {
    let z = zones();
    for k in ["t._transfer.example.org.", "u._update.example.net.", "n._notify.example.org."] {
        let (o, s) = run(&z, &key(k), "example.org.", vec![], vec![a("x.example.org.", 60, "192.0.2.9")]);
        assert_eq!(rcode(&o, &s), ResponseCode::Refused, "{k}");
    }
    // A root update key covers every zone.
    let (o, _) = run(&z, &key("all._update."), "example.org.", vec![], vec![a("x.example.org.", 60, "192.0.2.9")]);
    commit(o);
    // Unsigned: REFUSED.
    let mut m = Message::new(1, MessageType::Query, OpCode::Update);
    m.queries = vec![Query::query(n("example.org."), RecordType::SOA)];
    let out = update::handle(&z, None, &m, "192.0.2.1:1".parse().unwrap(), UnixTime::from_secs(NOW));
    let Outcome::Reply(b) = out else { panic!() };
    assert_eq!(Message::from_vec(&b).unwrap().metadata.response_code, ResponseCode::Refused);
}

#[test]
fn prerequisites_3_2() {
    let z = zones();
    let k = upd_key();
    let add = || vec![a("new.example.org.", 60, "192.0.2.9")];
    let cases: Vec<(Vec<Record>, ResponseCode)> = vec![
        (vec![any("www.example.org.", RecordType::ANY)], ResponseCode::NoError),
        (vec![any("nope.example.org.", RecordType::ANY)], ResponseCode::NXDomain),
        (vec![any("www.example.org.", RecordType::A)], ResponseCode::NoError),
        (vec![any("www.example.org.", RecordType::AAAA)], ResponseCode::NXRRSet),
        (vec![none("nope.example.org.", RecordType::ANY)], ResponseCode::NoError),
        (vec![none("www.example.org.", RecordType::ANY)], ResponseCode::YXDomain),
        (vec![none("www.example.org.", RecordType::A)], ResponseCode::YXRRSet),
        (vec![none("www.example.org.", RecordType::TXT)], ResponseCode::NoError),
        // Value-dependent: the whole rrset, in any order.
        (vec![a("www.example.org.", 0, "192.0.2.3"), a("www.example.org.", 0, "192.0.2.2")], ResponseCode::NoError),
        (vec![a("www.example.org.", 0, "192.0.2.3")], ResponseCode::NXRRSet),
        // Out of zone, TTL not 0, rdata on ANY.
        (vec![any("www.example.net.", RecordType::ANY)], ResponseCode::NotZone),
        (
            vec![with_class(Record::update0(n("www.example.org."), 5, RecordType::A), DNSClass::ANY)],
            ResponseCode::FormErr,
        ),
        (vec![with_class(a("www.example.org.", 0, "192.0.2.2"), DNSClass::ANY)], ResponseCode::FormErr),
    ];
    for (pre, want) in cases {
        let (o, s) = run(&z, &k, "example.org.", pre.clone(), add());
        assert_eq!(rcode(&o, &s), want, "{pre:?}");
    }
}

#[test]
fn prescan_3_4_1() {
    let z = zones();
    let k = upd_key();
    for (u, want) in [
        (a("x.example.net.", 60, "192.0.2.9"), ResponseCode::NotZone),
        (with_class(Record::update0(n("x.example.org."), 0, RecordType::AXFR), DNSClass::ANY), ResponseCode::FormErr),
        (with_class(a("x.example.org.", 60, "192.0.2.9"), DNSClass::NONE), ResponseCode::FormErr),
        (with_class(a("x.example.org.", 0, "192.0.2.9"), DNSClass::CH), ResponseCode::FormErr),
    ] {
        // A valid add before the bad record: nothing may be applied.
        let (o, s) = run(&z, &k, "example.org.", vec![], vec![a("ok.example.org.", 60, "192.0.2.8"), u.clone()]);
        assert_eq!(rcode(&o, &s), want, "{u:?}");
    }
    assert!(z.get(&n("example.org.")).unwrap().node(&n("ok.example.org.")).is_none());
}

#[test]
fn add_and_delete_3_4_2() {
    let z = zones();
    let k = upd_key();
    let (o, _) = run(
        &z,
        &k,
        "example.org.",
        vec![],
        vec![
            a("new.example.org.", 60, "192.0.2.9"),
            with_class(a("www.example.org.", 0, "192.0.2.2"), DNSClass::NONE),
            any("ns1.example.org.", RecordType::ANY),
            a("ns1.example.org.", 300, "192.0.2.11"),
        ],
    );
    let p = commit(o);
    let zone = &p.zone;
    assert_eq!(zone.rrset(&n("new.example.org."), RecordType::A).unwrap().len(), 1);
    assert_eq!(
        zone.rrset(&n("www.example.org."), RecordType::A).unwrap().rdatas(),
        vec![RData::A(A::from_str("192.0.2.3").unwrap())]
    );
    assert_eq!(
        zone.rrset(&n("ns1.example.org."), RecordType::A).unwrap().rdatas(),
        vec![RData::A(A::from_str("192.0.2.11").unwrap())]
    );
    // §3.6: the serial went up by one; the master file says so and parses back equal.
    assert_eq!(zone.serial(), 11);
    assert_eq!(&Zone::parse("example.org", &p.master_file).unwrap(), zone);
    assert_eq!(p.author, "u._update.example.org.");
    assert!(p.message.contains("192.0.2.99"), "{}", p.message);
    assert_eq!(p.file_name, "example.org");
    // Not applied before finish_update.
    assert_eq!(z.get(&n("example.org.")).unwrap().serial(), 10);
}

#[test]
fn special_rules_soa_ns_cname() {
    let z = zones();
    let k = upd_key();
    let soa = |serial| {
        Record::from_rdata(
            n("example.org."),
            3600,
            RData::SOA(SOA::new(n("ns1.example.org."), n("hostmaster.example.org."), serial, 7200, 3600, 1209600, 300)),
        )
    };
    // Older SOA: ignored, nothing changes → NOERROR without a commit.
    let (o, s) = run(&z, &k, "example.org.", vec![], vec![soa(9)]);
    assert!(matches!(o, Outcome::Reply(_)));
    assert_eq!(rcode(&o, &s), ResponseCode::NoError);
    // Newer SOA: kept as given (no extra bump).
    let p = commit(run(&z, &k, "example.org.", vec![], vec![soa(500)]).0);
    assert_eq!(p.zone.serial(), 500);
    // Apex SOA/NS deletions ignored; the last apex NS stays.
    let ns = Record::from_rdata(n("example.org."), 0, RData::NS(NS(n("ns1.example.org."))));
    let (o, _) = run(
        &z,
        &k,
        "example.org.",
        vec![],
        vec![any("example.org.", RecordType::SOA), any("example.org.", RecordType::NS), with_class(ns, DNSClass::NONE)],
    );
    assert!(matches!(o, Outcome::Reply(_)));
    // CNAME conflicts: A at a CNAME, CNAME at an A: ignored.
    let cname = Record::from_rdata(n("www.example.org."), 60, RData::CNAME(CNAME(n("ns1.example.org."))));
    let (o, _) = run(&z, &k, "example.org.", vec![], vec![a("alias.example.org.", 60, "192.0.2.9"), cname]);
    assert!(matches!(o, Outcome::Reply(_)));
    // Delete all at the apex keeps SOA and NS.
    let p = commit(run(&z, &k, "example.org.", vec![], vec![a("example.org.", 60, "192.0.2.9")]).0);
    let mut z2 = Zones::new();
    z2.replace(p.zone);
    let p = commit(run(&z2, &k, "example.org.", vec![], vec![any("example.org.", RecordType::ANY)]).0);
    assert!(p.zone.soa().is_some() && p.zone.rrset(&n("example.org."), RecordType::NS).is_some());
    assert!(p.zone.rrset(&n("example.org."), RecordType::A).is_none());
}

#[test]
fn serial_wraps_rfc1982() {
    assert!(serial::gt(1, 0xffff_ffff));
    assert!(!serial::gt(0xffff_ffff, 1));
    assert!(serial::gt(11, 10));
    let text = ZONE.replace(" 10 7200", " 4294967295 7200");
    let mut z = Zones::new();
    z.replace(Zone::parse("example.org", &text).unwrap());
    let p = commit(run(&z, &upd_key(), "example.org.", vec![], vec![a("x.example.org.", 60, "192.0.2.9")]).0);
    assert_eq!(p.zone.serial(), 0);
}

#[test]
fn finish_update_swaps_or_drops() {
    let mut server = Server::new(zones(), Options::default());
    let k = upd_key();
    let (o, state) = run(&server.zones, &k, "example.org.", vec![], vec![a("x.example.org.", 60, "192.0.2.9")]);
    let reply = server.finish_update(commit(o), false);
    tsig::verify_response(&state, &reply, UnixTime::from_secs(NOW)).unwrap();
    assert_eq!(Message::from_vec(&reply).unwrap().metadata.response_code, ResponseCode::ServFail);
    assert_eq!(server.zones.get(&n("example.org.")).unwrap().serial(), 10);
    let (o, state) = run(&server.zones, &k, "example.org.", vec![], vec![a("x.example.org.", 60, "192.0.2.9")]);
    let reply = server.finish_update(commit(o), true);
    tsig::verify_response(&state, &reply, UnixTime::from_secs(NOW)).unwrap();
    let m = Message::from_vec(&reply).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.metadata.op_code, OpCode::Update);
    assert_eq!(server.zones.get(&n("example.org.")).unwrap().serial(), 11);
    // The change is in the IXFR history.
    let chain = server.history.since(&n("example.org."), 10).expect("history");
    assert_eq!(chain.len(), 1);
    assert!(chain[0].added.iter().any(|r| r.name == n("x.example.org.")));
}
