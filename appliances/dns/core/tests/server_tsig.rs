//! Signed queries through the dispatcher: a valid TSIG gets a signed reply that the
//! client side verifies; a wrong key or MAC gets NOTAUTH (RFC 8945 §5.2, §5.3).

use std::net::SocketAddr;
use std::sync::Arc;

use dns_core::keys::KeyStore;
use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::tsig::{self, Algorithm, Key};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use sansio::{Instant, Now, UnixTime};

const NOW: u64 = 1_700_000_000;

fn key(name: &str, secret: &[u8]) -> Key {
    Key::new(Name::from_ascii(name).unwrap(), Algorithm::HmacSha256, secret.to_vec())
}

fn server() -> Server {
    let mut z = Zones::new();
    z.replace(Zone::parse("example.org", include_str!("data/example.org")).unwrap());
    let mut s = Server::new(z, Options::default());
    s.keys = Arc::new(KeyStore::from_keys(vec![key("k1._transfer.example.org.", b"0123456789abcdef0123456789abcdef")]));
    s
}

fn query(name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m.to_vec().unwrap()
}

fn ask(s: &mut Server, q: &[u8], t: Transport) -> Vec<u8> {
    let src: SocketAddr = "192.0.2.9:53000".parse().unwrap();
    match s.handle(Now { mono: Instant::ZERO, wall: UnixTime::from_secs(NOW) }, src, t, q) {
        Handled::Reply(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn signed_query_gets_signed_answer() {
    let mut s = server();
    let k = key("k1._transfer.example.org.", b"0123456789abcdef0123456789abcdef");
    let (signed, state) = tsig::sign_request(&k, &query("mail.example.org.", RecordType::A), UnixTime::from_secs(NOW));
    let reply = ask(&mut s, &signed, Transport::Udp);
    tsig::verify_response(&state, &reply, UnixTime::from_secs(NOW)).expect("reply signed with the request's key");
    let m = Message::from_vec(&reply).unwrap();
    assert_eq!(m.answers.len(), 1);
    // a truncated big answer still has room for the TSIG under 512 bytes
    let (signed, state) = tsig::sign_request(&k, &query("big.example.org.", RecordType::TXT), UnixTime::from_secs(NOW));
    let reply = ask(&mut s, &signed, Transport::Udp);
    assert!(reply.len() <= 512, "{}", reply.len());
    tsig::verify_response(&state, &reply, UnixTime::from_secs(NOW)).unwrap();
    assert!(Message::from_vec(&reply).unwrap().metadata.truncation);
}

#[test]
fn bad_key_or_mac_is_notauth() {
    let mut s = server();
    let unknown = key("nobody.example.org.", b"0123456789abcdef0123456789abcdef");
    let (signed, _) =
        tsig::sign_request(&unknown, &query("mail.example.org.", RecordType::A), UnixTime::from_secs(NOW));
    let reply = ask(&mut s, &signed, Transport::Udp);
    assert_eq!(reply[3] & 0x0f, 9, "NOTAUTH");
    let wrong = key("k1._transfer.example.org.", b"not the secret, not the secret!!");
    let (signed, _) = tsig::sign_request(&wrong, &query("mail.example.org.", RecordType::A), UnixTime::from_secs(NOW));
    let reply = ask(&mut s, &signed, Transport::Tcp);
    assert_eq!(reply[3] & 0x0f, 9, "NOTAUTH");
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 0);
}
