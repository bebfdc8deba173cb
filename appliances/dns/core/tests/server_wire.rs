//! The dispatcher on the wire: header rules, EDNS, truncation, rate limiting, and
//! malformed input (random and mutated) that must never panic.

use std::net::SocketAddr;

use dns_core::rrl;
use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sansio::{Instant, Now, UnixTime};
use testkit::rng::Rng;

fn server(options: Options) -> Server {
    let mut z = Zones::new();
    z.replace(Zone::parse("example.org", include_str!("data/example.org")).unwrap());
    Server::new(z, options)
}

fn src() -> SocketAddr {
    "192.0.2.77:5300".parse().unwrap()
}

fn query(name: &str, t: RecordType, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    if let Some((size, dnssec_ok)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        e.set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn ask(s: &mut Server, t: Transport, q: &[u8]) -> Option<Vec<u8>> {
    match s.handle(Now::default(), src(), t, q) {
        Handled::Reply(r) => Some(r),
        Handled::Drop => None,
        other => panic!("unexpected {other:?}"),
    }
}

fn reply(s: &mut Server, t: Transport, q: &[u8]) -> Message {
    Message::from_vec(&ask(s, t, q).expect("a reply")).unwrap()
}

#[test]
fn edns_echoed_with_our_size_and_do() {
    let mut s = server(Options::default());
    let r = reply(&mut s, Transport::Udp, &query("mail.example.org.", RecordType::A, Some((4096, true))));
    let e = r.edns.expect("OPT in reply");
    assert_eq!((e.max_payload(), e.version(), e.flags().dnssec_ok), (1232, 0, true));
    assert!(r.metadata.authoritative && r.metadata.recursion_desired);
    let r = reply(&mut s, Transport::Udp, &query("mail.example.org.", RecordType::A, None));
    assert!(r.edns.is_none());
}

#[test]
fn badvers_and_duplicate_opt() {
    let mut s = server(Options::default());
    let mut q = query("mail.example.org.", RecordType::A, Some((1232, false)));
    let n = q.len();
    q[n - 5] = 1; // OPT TTL is ext-rcode, VERSION, flags: set VERSION=1
    let r = reply(&mut s, Transport::Udp, &q);
    // 16 is BADVERS here (hickory names the shared code BADSIG)
    assert_eq!(u16::from(r.metadata.response_code), 16);
    assert_eq!(r.edns.map(|e| e.version()), Some(0));
    assert!(r.answers.is_empty());
    // a second OPT (RFC 6891 §6.1.1) is FORMERR
    let mut q = query("mail.example.org.", RecordType::A, Some((1232, false)));
    let opt = q[q.len() - 11..].to_vec();
    q.extend_from_slice(&opt);
    q[11] = 2;
    let r = ask(&mut s, Transport::Udp, &q).unwrap();
    assert_eq!((r.len(), r[3] & 0x0f), (12, 1));
}

#[test]
fn header_rules() {
    let mut s = server(Options::default());
    let q = query("mail.example.org.", RecordType::A, None);
    assert!(ask(&mut s, Transport::Udp, &q[..11]).is_none(), "short: dropped");
    let mut resp = q.clone();
    resp[2] |= 0x80;
    assert!(ask(&mut s, Transport::Udp, &resp).is_none(), "QR=1: dropped");
    let mut status = q.clone();
    status[2] = (status[2] & 0x87) | (2 << 3);
    let r = ask(&mut s, Transport::Udp, &status).unwrap();
    assert_eq!((r.len(), r[3] & 0x0f, r[2] & 0x80), (12, 4, 0x80), "STATUS: NOTIMP");
    let mut two = q.clone();
    two[5] = 2;
    let r = ask(&mut s, Transport::Udp, &two).unwrap();
    assert_eq!(r[3] & 0x0f, 1, "bad question count: FORMERR");
    let r = reply(&mut s, Transport::Udp, &query("www.example.com.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let r = reply(&mut s, Transport::Udp, &query("MaIl.example.org.", RecordType::A, None));
    assert_eq!(r.queries[0].name().to_string(), "MaIl.example.org.", "question case kept");
    assert_eq!(r.answers[0].name.to_string(), "MaIl.example.org.");
}

#[test]
fn truncation_drops_whole_rrsets() {
    let mut s = server(Options::default());
    // 10 TXT of ~85 bytes: over 512, under 1232
    let q = query("big.example.org.", RecordType::TXT, None);
    let raw = ask(&mut s, Transport::Udp, &q).unwrap();
    let r = Message::from_vec(&raw).unwrap();
    assert!(r.metadata.truncation && r.answers.is_empty() && raw.len() <= 512);
    let r = reply(&mut s, Transport::Udp, &query("big.example.org.", RecordType::TXT, Some((1232, false))));
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 10);
    // a small EDNS size counts as 512 (RFC 6891 §6.2.5)
    let raw = ask(&mut s, Transport::Udp, &query("big.example.org.", RecordType::TXT, Some((100, false)))).unwrap();
    assert!(Message::from_vec(&raw).unwrap().metadata.truncation && raw.len() <= 512);
    // 20 TXT of ~100 bytes: over 1232, fine over TCP
    let raw = ask(&mut s, Transport::Udp, &query("huge.example.org.", RecordType::TXT, Some((4096, false)))).unwrap();
    assert!(raw.len() <= 1232 && Message::from_vec(&raw).unwrap().metadata.truncation);
    let r = reply(&mut s, Transport::Tcp, &query("huge.example.org.", RecordType::TXT, None));
    assert_eq!((r.metadata.truncation, r.answers.len()), (false, 20));
}

#[test]
fn rate_limit_with_virtual_clock() {
    let options = Options {
        rrl: rrl::Config { responses_per_second: 5, slip: 2, ..rrl::Config::default() },
        ..Options::default()
    };
    let mut s = server(options);
    let q = query("mail.example.org.", RecordType::A, None);
    let at = |s: &mut Server, ns: u64, from: &str| {
        s.handle(
            Now { mono: Instant::from_nanos(ns), wall: UnixTime::EPOCH },
            from.parse().unwrap(),
            Transport::Udp,
            &q,
        )
    };
    let mut sent = 0;
    let mut slipped = 0;
    for _ in 0..20 {
        match at(&mut s, 1_000_000_000, "192.0.2.77:1") {
            Handled::Reply(r) if r[2] & 0x02 != 0 => {
                slipped += 1;
                assert_eq!(Message::from_vec(&r).unwrap().answers.len(), 0);
            }
            Handled::Reply(_) => sent += 1,
            Handled::Drop => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((sent, slipped), (5, 7), "5 answered, every 2nd of the 15 limited slipped");
    // the same /24 shares the account, another /24 does not
    assert!(!matches!(at(&mut s, 1_000_000_000, "192.0.2.200:1"), Handled::Reply(ref r) if r[2] & 0x02 == 0));
    assert!(matches!(at(&mut s, 1_000_000_000, "198.51.100.1:1"), Handled::Reply(ref r) if r[2] & 0x02 == 0));
    // TCP is never limited
    let r = s.handle(Now { mono: Instant::from_secs(1), wall: UnixTime::EPOCH }, src(), Transport::Tcp, &q);
    assert!(matches!(r, Handled::Reply(ref r) if r[2] & 0x02 == 0));
    // the debt is paid off after enough quiet time
    let later = 1_000_000_000 + 20 * 1_000_000_000;
    assert!(matches!(at(&mut s, later, "192.0.2.77:1"), Handled::Reply(ref r) if r[2] & 0x02 == 0));
}

#[test]
fn rate_limit_off_by_default() {
    let mut s = server(Options::default());
    let q = query("mail.example.org.", RecordType::A, None);
    for _ in 0..1000 {
        assert!(matches!(s.handle(Now::default(), src(), Transport::Udp, &q), Handled::Reply(_)));
    }
}

#[test]
fn malformed_input_never_panics() {
    let mut s = server(Options::default());
    let mut rng = Rng::new(42);
    let seeds: Vec<Vec<u8>> = [
        ("www.example.org.", RecordType::A),
        ("x.wild.example.org.", RecordType::ANY),
        ("www.sub.example.org.", RecordType::NS),
        ("huge.example.org.", RecordType::TXT),
    ]
    .iter()
    .map(|(n, t)| query(n, *t, Some((1232, true))))
    .collect();
    let mut replies = 0;
    for i in 0..50_000 {
        let msg: Vec<u8> = if i % 2 == 0 {
            let len = (rng.next_u64() % 80) as usize;
            (0..len).map(|_| rng.next_u64() as u8).collect()
        } else {
            let mut m = seeds[i % seeds.len()].clone();
            for _ in 0..=(rng.next_u64() % 4) {
                let at = (rng.next_u64() as usize) % m.len();
                match rng.next_u64() % 3 {
                    0 => m[at] = rng.next_u64() as u8,
                    1 => m.truncate(at.max(1)),
                    _ => m.insert(at, rng.next_u64() as u8),
                }
            }
            m
        };
        let t = if i % 3 == 0 { Transport::Tcp } else { Transport::Udp };
        if let Handled::Reply(r) = s.handle(Now::default(), src(), t, &msg) {
            replies += 1;
            assert!(r.len() >= 12);
            assert!(t == Transport::Tcp || r.len() <= 1232);
            // every reply is a well-formed response to the same id
            assert_eq!(r[..2], msg[..2]);
            assert_ne!(r[2] & 0x80, 0);
        }
    }
    assert!(replies > 1000, "most mutated queries still get an answer: {replies}");
}
