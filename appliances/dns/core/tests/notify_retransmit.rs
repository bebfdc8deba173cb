//! NOTIFY (RFC 1996): incoming acceptance, outgoing retransmission on a virtual clock.

use std::net::SocketAddr;
use std::str::FromStr;

use dns_core::keys::KeyStore;
use dns_core::notify::{self, Incoming, Notifier, RETRY, TRIES};
use dns_core::tsig::{self, Algorithm, Key};
use dns_core::zone::Zone;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sansio::{Datagram, Driver, Instant, Now, UnixTime};

const ZONE: &str = "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hostmaster 5 7200 3600 1209600 300\n@ NS ns1\n@ NS ns2\n@ NS ns.other.net.\nns1 A 192.0.2.1\nns2 A 192.0.2.2\nns2 AAAA 2001:db8::2\n";
const KEYS: &str = "192.0.2.1.198.51.100.7._transfer.example.org. DNSKEY 0 3 163 c2VjcmV0\n";

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn at(secs: u64) -> Now {
    Now { mono: Instant::from_secs(secs), wall: UnixTime::from_secs(1_800_000_000 + secs) }
}

/// The wiring's loop, once: the timeout passed, drain what is due.
fn poll(nt: &mut Notifier, now: Now) -> Vec<(SocketAddr, Vec<u8>)> {
    nt.handle_timeout(now.mono);
    std::iter::from_fn(|| nt.poll_transmit()).map(|Datagram { dst, payload }| (dst, payload)).collect()
}

fn notify_msg(zone: &str) -> Message {
    let mut m = Message::new(9, MessageType::Query, OpCode::Notify);
    m.queries = vec![Query::query(n(zone), RecordType::SOA)];
    m
}

#[test]
fn incoming_signed_accepted_unsigned_refused() {
    let k = Key::new(n("n._notify.example.org."), Algorithm::HmacSha256, b"s".to_vec());
    let raw = notify_msg("example.org.").to_vec().unwrap();
    let (signed_raw, state) = tsig::sign_request(&k, &raw, at(0).wall);
    let signed = tsig::verify_request(std::slice::from_ref(&k), &signed_raw, at(0).wall).unwrap();
    match notify::incoming(signed.as_ref(), &Message::from_vec(&signed_raw).unwrap(), at(0).wall) {
        Incoming::Accepted { zone, reply } => {
            assert_eq!(zone, n("example.org."));
            tsig::verify_response(&state, &reply, at(0).wall).unwrap();
            let m = Message::from_vec(&reply).unwrap();
            assert!(m.metadata.authoritative);
            assert_eq!(m.metadata.op_code, OpCode::Notify);
            assert_eq!(m.queries.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    let refused = |i: Incoming| match i {
        Incoming::Reply(r) => Message::from_vec(&r).unwrap().metadata.response_code,
        Incoming::Accepted { .. } => ResponseCode::NoError,
    };
    assert_eq!(refused(notify::incoming(None, &notify_msg("example.org."), UnixTime::EPOCH)), ResponseCode::Refused);
    // The key is for another zone.
    assert_eq!(
        refused(notify::incoming(signed.as_ref(), &notify_msg("example.net."), UnixTime::EPOCH)),
        ResponseCode::Refused
    );
    let mut bad = notify_msg("example.org.");
    bad.queries[0] = Query::query(n("example.org."), RecordType::A);
    assert_eq!(refused(notify::incoming(signed.as_ref(), &bad, UnixTime::EPOCH)), ResponseCode::FormErr);
}

#[test]
fn secondaries_from_ns_glue_and_keys() {
    let zone = Zone::parse("example.org", ZONE).unwrap();
    let keys = KeyStore::parse("_keys", KEYS).unwrap();
    let got: Vec<String> = Notifier::secondaries(&zone, &keys).iter().map(|i| i.to_string()).collect();
    // ns1 is the MNAME (the primary itself); ns.other.net has no glue here.
    assert_eq!(got, ["192.0.2.2", "198.51.100.7", "2001:db8::2"]);
}

#[test]
fn retransmits_with_backoff_until_acknowledged() {
    let zone = Zone::parse("example.org", ZONE).unwrap();
    let keys = KeyStore::parse("_keys", KEYS).unwrap();
    let mut nt = Notifier::new(42);
    assert_eq!(nt.poll_timeout(), None);
    nt.handle_zone_changed(at(0), &zone, &keys);
    let first = poll(&mut nt, at(0));
    assert_eq!(first.len(), 3);
    assert!(poll(&mut nt, at(1)).is_empty());
    assert_eq!(nt.poll_timeout(), Some(Instant::ZERO + RETRY));
    // The keyed peer answers (signed reply); the others keep being retried.
    let (peer, bytes) = first.iter().find(|(a, _)| a.ip().to_string() == "198.51.100.7").unwrap().clone();
    let key = keys.get(&n("192.0.2.1.198.51.100.7._transfer.example.org.")).unwrap();
    let signed = tsig::verify_request(keys.keys(), &bytes, at(0).wall).unwrap().expect("signed notify");
    assert_eq!(&signed.key, key);
    let req = Message::from_vec(&bytes).unwrap();
    let mut r = Message::new(req.metadata.id, MessageType::Response, OpCode::Notify);
    r.queries = req.queries.clone();
    let unsigned = r.to_vec().unwrap();
    // An unsigned or wrong-source reply doesn't count.
    assert!(!nt.handle_reply(at(1), peer, &unsigned));
    let other: SocketAddr = "192.0.2.99:53".parse().unwrap();
    let signed_reply = tsig::sign_response(&signed, &unsigned, at(1).wall);
    assert!(!nt.handle_reply(at(1), other, &signed_reply));
    assert!(nt.handle_reply(at(1), peer, &signed_reply));
    assert_eq!(nt.pending(), 2);
    // 2 s, 4 s, 8 s, 16 s later: then give up after TRIES sends.
    let mut sends = 1;
    let mut t = 0u64;
    while let Some(d) = nt.poll_timeout() {
        t = d.as_secs();
        let out = poll(&mut nt, at(t));
        if !out.is_empty() {
            assert_eq!(out.len(), 2);
            sends += 1;
        }
    }
    assert_eq!(sends, TRIES);
    assert_eq!(t, 2 + 4 + 8 + 16 + 32);
}
