//! A zone we are configured for but cannot serve (a secondary zone expired or not
//! yet transferred, `Server::unavailable`) answers SERVFAIL, as NSD does; names in
//! a served zone below it, and zones we are not configured for, are unaffected.

use std::net::SocketAddr;

use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sansio::{Instant, Now, UnixTime};

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

const CHILD: &str = "$ORIGIN child.example.org.
$TTL 300
@ IN SOA ns hostmaster 1 3600 900 604800 300
@ NS ns
ns A 192.0.2.53
www A 192.0.2.80
";

fn ask(s: &mut Server, name: &str, edns: bool) -> Message {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(n(name), RecordType::A));
    if edns {
        m.edns = Some(Edns::new());
    }
    let src: SocketAddr = "192.0.2.50:4000".parse().unwrap();
    let now = Now { mono: Instant::ZERO, wall: UnixTime::from_secs(1_700_000_000) };
    match s.handle(now, src, Transport::Udp, &m.to_vec().unwrap()) {
        Handled::Reply(r) => Message::from_vec(&r).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unavailable_zone_answers_servfail() {
    let mut zones = Zones::new();
    zones.replace(Zone::parse("child.example.org", CHILD).unwrap());
    let mut s = Server::new(zones, Options::default());
    s.unavailable.insert(n("example.org."));

    for name in ["www.example.org.", "example.org.", "WWW.Example.ORG.", "deep.below.example.org."] {
        let r = ask(&mut s, name, true);
        assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{name}");
        assert!(!r.metadata.authoritative, "{name}: AA on SERVFAIL");
        assert_eq!(r.metadata.id, 4242);
        assert!(r.metadata.recursion_desired, "RD echoed");
        assert_eq!(r.queries.len(), 1, "the question is echoed");
        assert!(r.answers.is_empty() && r.authorities.is_empty());
        assert!(r.edns.is_some(), "our OPT on a reply to an EDNS query");
    }
    // A served zone below the unavailable one answers as usual.
    let r = ask(&mut s, "www.child.example.org.", false);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(r.answers.len(), 1);
    // A zone we are not configured for stays REFUSED.
    assert_eq!(ask(&mut s, "www.other.net.", false).metadata.response_code, ResponseCode::Refused);

    // No longer configured at all: REFUSED, as for any zone not ours.
    s.unavailable.clear();
    assert_eq!(ask(&mut s, "www.example.org.", false).metadata.response_code, ResponseCode::Refused);
}
