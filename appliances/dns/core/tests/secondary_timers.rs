//! Secondary mode state machine on a virtual clock, against our own primary code
//! (Server::handle for SOA queries, xfr::answer for transfers), all TSIG-signed.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use dns_core::keys::KeyStore;
use dns_core::secondary::{Action, QUERY_TIMEOUT, Secondary};
use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::tsig;
use dns_core::xfr::{self, History};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use sansio::{Driver, Instant, Now, UnixTime};

const SEC: u64 = 1_000_000_000;
const KEYS: &str = "192.0.2.1.192.0.2.2._transfer.example.org. DNSKEY 0 3 163 eGZyLXNlY3JldA==\n";
const ZONE: &str = "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hostmaster 1 100 20 300 60\n@ NS ns1\nns1 A 192.0.2.1\n";

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// The wiring's loop, once: the timeout passed, drain what is due.
fn poll(s: &mut Secondary, now: Now) -> Vec<Action> {
    s.handle_timeout(now.mono);
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn at(s: u64) -> Now {
    Now { mono: Instant::from_nanos(s * SEC), wall: UnixTime::from_secs(1_800_000_000 + s) }
}

struct Primary {
    server: Server,
    history: History,
    keys: KeyStore,
}

impl Primary {
    fn new() -> Primary {
        let keys = KeyStore::parse("_keys", KEYS).unwrap();
        let mut zones = Zones::new();
        zones.replace(Zone::parse("example.org", ZONE).unwrap());
        let mut server = Server::new(zones, Options::default());
        server.keys = Arc::new(keys.clone());
        Primary { server, history: History::default(), keys }
    }

    fn zone(&self) -> Arc<Zone> {
        self.server.zones.get(&n("example.org.")).unwrap().clone()
    }

    fn change(&mut self, serial: u32, last: u8) {
        let old = self.zone();
        let mut new = (*old).clone();
        new.add_record(Record::from_rdata(n("x.example.org."), 60, RData::A(A::new(192, 0, 2, last))));
        new.set_serial(serial);
        self.history.record(&old, &new);
        self.server.zones.replace(new);
    }

    fn soa(&mut self, bytes: &[u8], now: Now) -> Vec<u8> {
        let src: SocketAddr = "192.0.2.2:4000".parse().unwrap();
        match self.server.handle(now, src, Transport::Udp, bytes) {
            Handled::Reply(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn transfer(&self, bytes: &[u8], now: Now) -> Vec<Vec<u8>> {
        let signed = tsig::verify_request(&self.keys, bytes, now.wall).unwrap();
        let msg = Message::from_vec(bytes).unwrap();
        match xfr::answer(&self.server.zones, &self.history, signed.as_ref(), &msg, Transport::Tcp, false, now.wall) {
            Handled::Stream(m) => m,
            Handled::Reply(r) => vec![r],
            other => panic!("{other:?}"),
        }
    }
}

fn is_ixfr(bytes: &[u8]) -> bool {
    Message::from_vec(bytes).unwrap().queries[0].query_type() == hickory_proto::rr::RecordType::IXFR
}

#[test]
fn refresh_notify_and_expire() {
    let mut p = Primary::new();
    let keys = KeyStore::parse("_keys", KEYS).unwrap();
    let mut s = Secondary::new(keys.primaries(), 7, at(0));
    let origin = n("example.org.");
    assert!(s.zone(&origin).is_none());

    // 1. Initial AXFR.
    let acts = poll(&mut s, at(0));
    let [Action::Transfer { bytes, primary, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert_eq!(primary.to_string(), "192.0.2.1:53");
    assert!(!is_ixfr(bytes));
    let z = s.handle_transfer(at(0), &origin, &p.transfer(bytes, at(0))).expect("zone");
    assert_eq!(z, *p.zone());
    assert_eq!(s.poll_timeout(), Some(Instant::from_secs(100)));

    // 2. Nothing until refresh; then an SOA query; same serial → wait another refresh.
    assert!(poll(&mut s, at(99)).is_empty());
    let acts = poll(&mut s, at(100));
    let [Action::QuerySoa { bytes, primary, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    let reply = p.soa(bytes, at(100));
    // A reply from elsewhere is ignored.
    assert!(!s.handle_soa_reply(at(100), "192.0.2.9:53".parse().unwrap(), &reply));
    assert!(s.handle_soa_reply(at(100), *primary, &reply));
    assert!(poll(&mut s, at(101)).is_empty());
    assert_eq!(s.poll_timeout(), Some(Instant::from_secs(200)));

    // 3. The primary changes; the next SOA check sees serial 2 → IXFR.
    p.change(2, 7);
    let acts = poll(&mut s, at(200));
    let [Action::QuerySoa { bytes, primary, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert!(s.handle_soa_reply(at(200), *primary, &p.soa(bytes, at(200))));
    let acts = poll(&mut s, at(200));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert!(is_ixfr(bytes));
    assert_eq!(s.handle_transfer(at(200), &origin, &p.transfer(bytes, at(200))).expect("v2"), *p.zone());

    // 4. NOTIFY → IXFR at once; nothing new → no zone returned.
    s.handle_notify(at(210), &origin);
    let acts = poll(&mut s, at(210));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert!(s.handle_transfer(at(210), &origin, &p.transfer(bytes, at(210))).is_none());
    p.change(3, 8);
    s.handle_notify(at(220), &origin);
    let acts = poll(&mut s, at(220));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert_eq!(s.handle_transfer(at(220), &origin, &p.transfer(bytes, at(220))).expect("v3"), *p.zone());

    // 5. The primary goes silent: queries time out, retried every 20 s; expire 300 s
    //    after the last success (t=220).
    let mut t = 220;
    let mut queries = 0;
    let mut expired_at = None;
    while t < 600 {
        let next = s.poll_timeout().unwrap().as_secs();
        t = next.max(t);
        for a in poll(&mut s, at(t)) {
            match a {
                Action::QuerySoa { .. } => queries += 1,
                Action::Expire { zone } => {
                    assert_eq!(zone, origin);
                    expired_at = Some(t);
                }
                other => panic!("{other:?}"),
            }
        }
        if expired_at.is_some() {
            break;
        }
    }
    assert_eq!(expired_at, Some(520));
    assert!(queries >= 8, "{queries} queries");
    assert!(s.zone(&origin).is_none());
    let _ = QUERY_TIMEOUT;

    // 6. The primary is back with the same serial. The SOA check alone must not
    //    leave the zone expired (it would never be served again): an expired zone
    //    is transferred again (AXFR), and the transfer hands it back to the wiring.
    let mut t = 520;
    let zone = loop {
        t = s.poll_timeout().unwrap().as_secs().max(t);
        assert!(t < 700, "no transfer after the primary came back");
        let acts = poll(&mut s, at(t));
        let mut got = None;
        for a in acts {
            match a {
                Action::QuerySoa { bytes, primary, .. } => {
                    assert!(s.handle_soa_reply(at(t), primary, &p.soa(&bytes, at(t))));
                }
                Action::Transfer { bytes, .. } => {
                    assert!(!is_ixfr(&bytes), "an expired zone is fetched whole");
                    got = s.handle_transfer(at(t), &origin, &p.transfer(&bytes, at(t)));
                }
                other => panic!("{other:?}"),
            }
        }
        if let Some(z) = got {
            break z;
        }
        t += 1;
    };
    assert_eq!(zone, *p.zone());
    assert!(s.zone(&origin).is_some(), "served again");
}

#[test]
fn broken_ixfr_falls_back_to_axfr() {
    let mut p = Primary::new();
    let keys = KeyStore::parse("_keys", KEYS).unwrap();
    let mut s = Secondary::new(keys.primaries(), 9, at(0));
    let origin = n("example.org.");
    let acts = poll(&mut s, at(0));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!() };
    s.handle_transfer(at(0), &origin, &p.transfer(bytes, at(0))).unwrap();
    p.change(2, 1);
    s.handle_notify(at(5), &origin);
    let acts = poll(&mut s, at(5));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!() };
    assert!(is_ixfr(bytes));
    // The connection breaks.
    s.handle_transfer_failed(at(5), &origin);
    let acts = poll(&mut s, at(5));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert!(!is_ixfr(bytes));
    assert_eq!(s.handle_transfer(at(5), &origin, &p.transfer(bytes, at(5))).unwrap(), *p.zone());
    // A stream signed with another key is rejected.
    p.change(3, 2);
    s.handle_notify(at(6), &origin);
    let acts = poll(&mut s, at(6));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!() };
    let mut msgs = p.transfer(bytes, at(6));
    let l = msgs[0].len();
    msgs[0][l - 30] ^= 0xff;
    assert!(s.handle_transfer(at(6), &origin, &msgs).is_none());
    assert_eq!(s.zone(&origin).unwrap().serial(), 2);
}

#[test]
fn timeouts_sign_with_the_extrapolated_wall_clock() {
    // handle_timeout gets only the monotonic clock; the TSIG time (RFC 8945 §5.2.3,
    // 300 s fudge) must still be the wall clock of that moment: the last Now handed
    // in plus the monotonic time since.
    let keys = KeyStore::parse("_keys", KEYS).unwrap();
    let mut s = Secondary::new(keys.primaries(), 3, at(0));
    let acts = poll(&mut s, at(1000));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    let t = at(1000).wall.as_secs();
    assert!(
        tsig::verify_request(&keys, bytes, UnixTime::from_secs(t)).unwrap().is_some(),
        "signed at the wall time of t=1000"
    );
    assert!(
        tsig::verify_request(&keys, bytes, UnixTime::from_secs(t - 301)).is_err(),
        "not at the wall time handed to new"
    );
}
