//! The dispatcher hands UPDATE to `update.rs` and finishes it after the (simulated)
//! push: the new record is served only once the push is reported done.

use std::net::SocketAddr;
use std::sync::Arc;

use dns_core::keys::KeyStore;
use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::tsig::{self, Algorithm, Key};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use sansio::{Instant, Now, UnixTime};

const NOW: u64 = 1_700_000_000;

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn setup() -> (Server, Key) {
    let mut z = Zones::new();
    z.replace(Zone::parse("example.org", include_str!("data/example.org")).unwrap());
    let mut s = Server::new(z, Options::default());
    let key =
        Key::new(n("ops._update.example.org."), Algorithm::HmacSha256, b"update-secret-update-secret-1234".to_vec());
    s.keys = Arc::new(KeyStore::from_keys(vec![key.clone()]));
    (s, key)
}

fn handle(s: &mut Server, bytes: &[u8]) -> Handled {
    let src: SocketAddr = "192.0.2.50:4000".parse().unwrap();
    s.handle(Now { mono: Instant::ZERO, wall: UnixTime::from_secs(NOW) }, src, Transport::Tcp, bytes)
}

fn update_adding(name: &str) -> Vec<u8> {
    let mut m = Message::new(99, MessageType::Query, OpCode::Update);
    let mut zone = Query::query(n("example.org."), RecordType::SOA);
    zone.set_query_class(DNSClass::IN);
    m.add_query(zone);
    let mut r = Record::from_rdata(n(name), 300, RData::A(A::new(192, 0, 2, 99)));
    r.dns_class = DNSClass::IN;
    m.add_authority(r);
    m.to_vec().unwrap()
}

fn lookup(s: &mut Server, name: &str) -> Message {
    let mut m = Message::new(1, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(n(name), RecordType::A));
    match handle(s, &m.to_vec().unwrap()) {
        Handled::Reply(r) => Message::from_vec(&r).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn update_is_served_only_after_push() {
    let (mut s, key) = setup();
    let (req, state) = tsig::sign_request(&key, &update_adding("new.example.org."), UnixTime::from_secs(NOW));
    let pending = match handle(&mut s, &req) {
        Handled::Update(p) => p,
        other => panic!("expected a pending update, got {other:?}"),
    };
    assert!(pending.master_file.contains("new.example.org."));
    assert!(lookup(&mut s, "new.example.org.").answers.is_empty(), "not before the push");
    let reply = s.finish_update(*pending, true);
    tsig::verify_response(&state, &reply, UnixTime::from_secs(NOW)).unwrap();
    assert_eq!(reply[3] & 0x0f, 0);
    assert_eq!(lookup(&mut s, "new.example.org.").answers.len(), 1);

    // a failed push: SERVFAIL, nothing kept
    let (req, _) = tsig::sign_request(&key, &update_adding("other.example.org."), UnixTime::from_secs(NOW));
    let Handled::Update(pending) = handle(&mut s, &req) else { panic!("no pending update") };
    let reply = s.finish_update(*pending, false);
    assert_eq!(reply[3] & 0x0f, 2);
    assert!(lookup(&mut s, "other.example.org.").answers.is_empty());
}

#[test]
fn unsigned_update_is_refused() {
    let (mut s, _) = setup();
    match handle(&mut s, &update_adding("new.example.org.")) {
        Handled::Reply(r) => assert_eq!(r[3] & 0x0f, 5),
        other => panic!("{other:?}"),
    }
}

fn xfr_query(t: RecordType) -> Vec<u8> {
    let mut m = Message::new(5, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(n("example.org."), t));
    m.to_vec().unwrap()
}

#[test]
fn axfr_over_tcp_streams_the_zone() {
    let (mut s, _) = setup();
    s.options.axfr_unsigned = true;
    let Handled::Stream(msgs) = handle(&mut s, &xfr_query(RecordType::AXFR)) else { panic!("no stream") };
    let records: Vec<Record> = msgs.iter().flat_map(|m| Message::from_vec(m).unwrap().answers).collect();
    let zone = Zone::parse("example.org", include_str!("data/example.org")).unwrap();
    // RFC 5936 §2.2: SOA first and last
    assert_eq!(records.first().map(Record::record_type), Some(RecordType::SOA));
    assert_eq!(records.last().map(Record::record_type), Some(RecordType::SOA));
    assert_eq!(records.len(), zone.len() + 1);
}

#[test]
fn transfers_need_a_key_unless_allowed() {
    let (mut s, key) = setup();
    match handle(&mut s, &xfr_query(RecordType::AXFR)) {
        Handled::Reply(r) => assert_eq!(r[3] & 0x0f, 5, "REFUSED"),
        other => panic!("{other:?}"),
    }
    // an update key may transfer
    let (req, _) = tsig::sign_request(&key, &xfr_query(RecordType::AXFR), UnixTime::from_secs(NOW));
    assert!(matches!(handle(&mut s, &req), Handled::Stream(_)));
    // AXFR over UDP: NOTIMP, as NSD
    let src: SocketAddr = "192.0.2.50:4000".parse().unwrap();
    match s.handle(
        Now { mono: Instant::ZERO, wall: UnixTime::from_secs(NOW) },
        src,
        Transport::Udp,
        &xfr_query(RecordType::AXFR),
    ) {
        Handled::Reply(r) => assert_eq!(r[3] & 0x0f, 4),
        other => panic!("{other:?}"),
    }
}

fn notify_for(zone: &str) -> Vec<u8> {
    let mut m = Message::new(77, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(n(zone), RecordType::SOA));
    m.to_vec().unwrap()
}

#[test]
fn signed_notify_is_reported_unsigned_refused() {
    let (mut s, key) = setup();
    let (req, state) = tsig::sign_request(&key, &notify_for("example.org."), UnixTime::from_secs(NOW));
    match handle(&mut s, &req) {
        Handled::Notified { zone, reply } => {
            assert_eq!(zone, n("example.org."));
            tsig::verify_response(&state, &reply, UnixTime::from_secs(NOW)).unwrap();
            assert_eq!(reply[3] & 0x0f, 0);
        }
        other => panic!("{other:?}"),
    }
    match handle(&mut s, &notify_for("example.org.")) {
        Handled::Reply(r) => assert_eq!(r[3] & 0x0f, 5),
        other => panic!("{other:?}"),
    }
}
