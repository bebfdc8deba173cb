//! AXFR/IXFR out and in: serve a zone, parse the stream as a secondary would, compare.

use std::str::FromStr;
use std::sync::Arc;

use dns_core::server::{Handled, Transport};
use dns_core::transfer::{self, TransferIn, XfrError};
use dns_core::tsig::{self, Algorithm, Key};
use dns_core::xfr::{self, History};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sansio::UnixTime;

const NOW: u64 = 1_800_000_000;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn base_zone(extra: usize) -> Zone {
    let mut text = String::from(
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n",
    );
    for i in 0..extra {
        text.push_str(&format!(
            "h{i} A 10.0.{}.{}\nh{i} TXT \"host number {i} with some padding text\"\n",
            i / 250,
            i % 250
        ));
    }
    Zone::parse("example.org", &text).unwrap()
}

fn key() -> Key {
    Key::new(n("192.0.2.1.192.0.2.2._transfer.example.org."), Algorithm::HmacSha256, b"xfr-secret".to_vec())
}

/// Signs an xfr query, verifies it as the server does, answers it.
fn serve(
    zones: &Zones,
    hist: &History,
    qtype: RecordType,
    current: Option<Record>,
    k: Option<&Key>,
    t: Transport,
    allow: bool,
) -> (Handled, Option<tsig::ClientState>) {
    let raw = transfer::request(&n("example.org."), qtype, 77, current);
    let (raw, state) = match k {
        Some(k) => {
            let (b, s) = tsig::sign_request(k, &raw, UnixTime::from_secs(NOW));
            (b, Some(s))
        }
        None => (raw, None),
    };
    let signed = tsig::verify_request(std::slice::from_ref(&key()), &raw, UnixTime::from_secs(NOW)).unwrap();
    let msg = Message::from_vec(&raw).unwrap();
    (xfr::answer(zones, hist, signed.as_ref(), &msg, t, allow, UnixTime::from_secs(NOW)), state)
}

fn receive(h: Handled, state: Option<tsig::ClientState>, current: Option<Arc<Zone>>) -> Result<Zone, XfrError> {
    let msgs = match h {
        Handled::Stream(m) => m,
        Handled::Reply(r) => vec![r],
        Handled::Drop => panic!("dropped"),
        #[allow(unreachable_patterns)]
        _ => panic!("unexpected"),
    };
    let mut t = TransferIn::new(n("example.org."), 77, current, state);
    for (i, m) in msgs.iter().enumerate() {
        if let Some(z) = t.push(m, UnixTime::from_secs(NOW))? {
            assert_eq!(i, msgs.len() - 1, "complete before the last message");
            return Ok(z);
        }
    }
    Err(XfrError::Malformed("stream ended early".into()))
}

fn catalog(z: &Zone) -> Zones {
    let mut c = Zones::new();
    c.replace(z.clone());
    c
}

#[test]
fn axfr_round_trip_signed_multi_message() {
    let zone = base_zone(800);
    let zones = catalog(&zone);
    let (h, st) = serve(&zones, &History::default(), RecordType::AXFR, None, Some(&key()), Transport::Tcp, false);
    let Handled::Stream(msgs) = &h else { panic!() };
    assert!(msgs.len() > 2, "{} messages", msgs.len());
    assert!(msgs.iter().all(|m| m.len() <= 17 * 1024));
    assert_eq!(receive(h, st, None).unwrap(), zone);
}

#[test]
fn axfr_privileges() {
    let zones = catalog(&base_zone(3));
    let refused = |h: Handled| match h {
        Handled::Reply(r) => Message::from_vec(&r).unwrap().metadata.response_code,
        _ => ResponseCode::NoError,
    };
    let h = serve(&zones, &History::default(), RecordType::AXFR, None, None, Transport::Tcp, false).0;
    assert_eq!(refused(h), ResponseCode::Refused);
    let h = serve(&zones, &History::default(), RecordType::AXFR, None, None, Transport::Tcp, true).0;
    assert!(matches!(h, Handled::Stream(_)));
    // A notify key can't transfer (the key is unknown to the server here: BADKEY before).
    let nk = Key::new(n("n._notify.example.org."), Algorithm::HmacSha256, b"x".to_vec());
    let raw = tsig::sign_request(
        &nk,
        &transfer::request(&n("example.org."), RecordType::AXFR, 1, None),
        UnixTime::from_secs(NOW),
    )
    .0;
    let signed = tsig::verify_request(std::slice::from_ref(&nk), &raw, UnixTime::from_secs(NOW)).unwrap();
    let h = xfr::answer(
        &zones,
        &History::default(),
        signed.as_ref(),
        &Message::from_vec(&raw).unwrap(),
        Transport::Tcp,
        true,
        UnixTime::from_secs(NOW),
    );
    assert_eq!(refused(h), ResponseCode::Refused);
    // Tampered stream: TSIG fails.
    let (h, st) = serve(&zones, &History::default(), RecordType::AXFR, None, Some(&key()), Transport::Tcp, false);
    let Handled::Stream(mut m) = h else { panic!() };
    let l = m[0].len();
    m[0][l - 40] ^= 1;
    assert!(matches!(receive(Handled::Stream(m), st, None), Err(XfrError::Tsig(_))));
}

fn change(z: &Zone, serial: u32, i: u8) -> Zone {
    let mut z2 = z.clone();
    z2.remove_rrset(&n("h0.example.org."), RecordType::TXT);
    z2.add_record(Record::from_rdata(n(&format!("new{i}.example.org.")), 60, RData::A(A::new(192, 0, 2, i))));
    z2.remove_rrset(&n("ns1.example.org."), RecordType::TXT);
    z2.add_record(Record::from_rdata(n("ns1.example.org."), 60, RData::TXT(TXT::new(vec![format!("v{i}")]))));
    z2.set_serial(serial);
    z2
}

#[test]
fn ixfr_round_trip_from_history() {
    let v1 = base_zone(5);
    let v2 = change(&v1, 2, 2);
    let v3 = change(&v2, 3, 3);
    let mut hist = History::new(5);
    hist.record(&v1, &v2);
    hist.record(&v2, &v3);
    let zones = catalog(&v3);
    for old in [&v1, &v2] {
        let (h, st) = serve(&zones, &hist, RecordType::IXFR, old.soa_record(), Some(&key()), Transport::Tcp, false);
        let Handled::Stream(ref m) = h else { panic!() };
        // Incremental: the second record is the old SOA.
        let first = Message::from_vec(&m[0]).unwrap();
        assert_eq!(first.answers[1].record_type(), RecordType::SOA);
        // Condensed (RFC 1995 §5): one difference sequence, so four SOAs in all;
        // the TXT at ns1 added by v2 and replaced by v3 is sent only to a v2 client
        // (as removed), never to a v1 client.
        let all: Vec<Record> = m.iter().flat_map(|b| Message::from_vec(b).unwrap().answers).collect();
        assert_eq!(all.iter().filter(|r| r.record_type() == RecordType::SOA).count(), 4);
        let v2_txt = RData::TXT(TXT::new(vec!["v2".to_string()]));
        assert_eq!(all.iter().any(|r| r.data == v2_txt), std::ptr::eq(old, &v2));
        let got = receive(h, st, Some(Arc::new(old.clone()))).unwrap();
        assert_eq!(got, v3);
    }
    // Up to date: a single SOA, and the secondary keeps its zone.
    let (h, st) = serve(&zones, &hist, RecordType::IXFR, v3.soa_record(), Some(&key()), Transport::Tcp, false);
    assert!(matches!(h, Handled::Reply(_)));
    assert_eq!(receive(h, st, Some(Arc::new(v3.clone()))).unwrap(), v3);
    // Over UDP: just the SOA.
    let (h, _) = serve(&zones, &hist, RecordType::IXFR, v1.soa_record(), Some(&key()), Transport::Udp, false);
    let Handled::Reply(r) = h else { panic!() };
    assert_eq!(Message::from_vec(&r).unwrap().answers.len(), 1);
}

#[test]
fn ixfr_too_old_falls_back_to_axfr() {
    let v1 = base_zone(5);
    let mut hist = History::new(1);
    let v2 = change(&v1, 2, 2);
    let v3 = change(&v2, 3, 3);
    hist.record(&v1, &v2);
    hist.record(&v2, &v3);
    let zones = catalog(&v3);
    let (h, st) = serve(&zones, &hist, RecordType::IXFR, v1.soa_record(), Some(&key()), Transport::Tcp, false);
    let Handled::Stream(ref m) = h else { panic!() };
    assert_ne!(Message::from_vec(&m[0]).unwrap().answers[1].record_type(), RecordType::SOA);
    assert_eq!(receive(h, st, Some(Arc::new(v1.clone()))).unwrap(), v3);
    // A serial that didn't go up forgets the history.
    let mut hist = History::new(5);
    hist.record(&v1, &v2);
    hist.record(&v2, &change(&v2, 2, 9));
    assert!(hist.since(&n("example.org."), 1).is_none());
}

#[test]
fn ixfr_against_wrong_version_is_refused_by_client() {
    let v1 = base_zone(5);
    let v2 = change(&v1, 2, 2);
    let mut hist = History::new(5);
    hist.record(&v1, &v2);
    let zones = catalog(&v2);
    let (h, st) = serve(&zones, &hist, RecordType::IXFR, v1.soa_record(), Some(&key()), Transport::Tcp, false);
    let mut other = v1.clone();
    other.set_serial(7);
    assert!(matches!(receive(h, st, Some(Arc::new(other))), Err(XfrError::Mismatch(_))));
}
