//! TSIG (RFC 8945) against messages signed by real tools.
//!
//! The hex vectors were captured once (2026-11-23) with a python UDP socket on
//! 127.0.0.1:5300 inside `unshare -n` (loopback of a fresh namespace), at unix time
//! 1795473378, with:
//! - `dig -y hmac-sha256:test.key.:c2VjcmV0LXNlY3JldC1zZWNyZXQtMzI= @127.0.0.1 -p 5300 www.example.org A`
//! - `dig -y hmac-sha1:k1.:YWJjZGVmZ2hpamtsbW5vcHFyc3Q= @127.0.0.1 -p 5300 example.org SOA`
//! - `nsupdate -y hmac-sha512:upd._update.example.org.:dXBkYXRl…` with
//!   `zone example.org` / `update add new.example.org. 300 A 192.0.2.7` / `send`.

use dns_core::tsig::{self, Algorithm, ClientState, Key, StreamSigner, StreamVerifier, TsigError};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::Name;
use sansio::UnixTime;

const DIG_SHA256: &str = "90450120000100000000000203777777076578616d706c65036f7267000001000100002904d000000000000c000a00085a86d845fff451380474657374036b65790000fa00ff00000000003d0b686d61632d7368613235360000006b04bfe2012c0020b56a7404cec5a80d082fba383000adab365b70aa8a431f4d466ef391a37e413e904500000000";
const DIG_SHA1: &str = "80e501200001000000000002076578616d706c65036f7267000006000100002904d000000000000c000a0008b3d31f8a6d2e9403026b310000fa00ff00000000002f09686d61632d736861310000006b04bfe3012c001463e7d1aec57988f9e73143de3ef5e961422da37380e500000000";
const NSUPDATE_SHA512: &str = "2ab128000001000000010001076578616d706c65036f72670000060001036e6577c00c000100010000012c0004c000020703757064075f757064617465076578616d706c65036f72670000fa00ff00000000005d0b686d61632d7368613531320000006b04bfe4012c004055ac7aecebdc6e8411a1a5866607a3008ba77f7e1140ac94e232c4d67eb63e5fdc010d612ee2148f6cf6a5dbb37aff41eda8a556948aaa13f59a30f6411607282ab100000000";
const NOW: u64 = 1795473378;

fn hex(s: &str) -> Vec<u8> {
    data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
}

fn key(name: &str, alg: Algorithm, b64: &str) -> Key {
    Key::new(Name::from_ascii(name).unwrap(), alg, data_encoding::BASE64.decode(b64.as_bytes()).unwrap())
}

fn keys() -> Vec<Key> {
    vec![
        key("test.key.", Algorithm::HmacSha256, "c2VjcmV0LXNlY3JldC1zZWNyZXQtMzI="),
        key("k1.", Algorithm::HmacSha1, "YWJjZGVmZ2hpamtsbW5vcHFyc3Q="),
        key("upd._update.example.org.", Algorithm::HmacSha512, "dXBkYXRlLWtleS1zZWNyZXQtdXBkYXRlLWtleS1zZWNyZXQ="),
    ]
}

#[test]
fn real_tool_requests_verify() {
    for (v, name) in [(DIG_SHA256, "test.key."), (DIG_SHA1, "k1."), (NSUPDATE_SHA512, "upd._update.example.org.")] {
        let signed =
            tsig::verify_request(keys().as_slice(), &hex(v), UnixTime::from_secs(NOW + 2)).unwrap().expect("signed");
        assert_eq!(signed.key.name, Name::from_ascii(name).unwrap());
    }
}

#[test]
fn unsigned_is_none() {
    let mut m = Message::query();
    m.metadata.id = 7;
    assert!(tsig::verify_request(keys().as_slice(), &m.to_vec().unwrap(), UnixTime::from_secs(NOW)).unwrap().is_none());
}

#[test]
fn tampered_wrong_key_and_time_fail() {
    let good = hex(DIG_SHA256);
    // A changed byte in the question: BADSIG.
    let mut bad = good.clone();
    bad[14] ^= 0x20;
    assert!(matches!(
        tsig::verify_request(keys().as_slice(), &bad, UnixTime::from_secs(NOW)),
        Err(TsigError::BadSig { .. })
    ));
    // Same name, other secret: BADSIG.
    let other = vec![key("test.key.", Algorithm::HmacSha256, "b3RoZXI=")];
    assert!(matches!(
        tsig::verify_request(other.as_slice(), &good, UnixTime::from_secs(NOW)),
        Err(TsigError::BadSig { .. })
    ));
    // Same name, other algorithm: BADKEY.
    let other = vec![key("test.key.", Algorithm::HmacSha512, "c2VjcmV0LXNlY3JldC1zZWNyZXQtMzI=")];
    assert!(matches!(
        tsig::verify_request(other.as_slice(), &good, UnixTime::from_secs(NOW)),
        Err(TsigError::BadKey { .. })
    ));
    // No such key: BADKEY.
    assert!(matches!(
        tsig::verify_request(&keys()[1..], &good, UnixTime::from_secs(NOW)),
        Err(TsigError::BadKey { .. })
    ));
    // 301 s off with a fudge of 300: BADTIME.
    assert!(matches!(
        tsig::verify_request(keys().as_slice(), &good, UnixTime::from_secs(NOW + 301)),
        Err(TsigError::BadTime(_))
    ));
    assert!(tsig::verify_request(keys().as_slice(), &good, UnixTime::from_secs(NOW - 300)).is_ok());
    // Truncated message: FORMERR, never a panic.
    for cut in 0..good.len() {
        let _ = tsig::verify_request(keys().as_slice(), &good[..cut], UnixTime::from_secs(NOW));
    }
    assert!(matches!(
        tsig::verify_request(keys().as_slice(), &good[..good.len() - 1], UnixTime::from_secs(NOW)),
        Err(TsigError::FormErr)
    ));
}

fn reply_to(req: &[u8]) -> Vec<u8> {
    let m = Message::from_vec(req).unwrap();
    let mut r = Message::new(m.metadata.id, MessageType::Response, OpCode::Query);
    r.queries = m.queries.clone();
    r.to_vec().unwrap()
}

#[test]
fn error_replies_follow_rfc8945_5_3_2() {
    let req = hex(DIG_SHA256);
    let err = tsig::verify_request(&keys()[1..], &req, UnixTime::from_secs(NOW)).unwrap_err();
    let out = Message::from_vec(&err.reply(&reply_to(&req), UnixTime::from_secs(NOW))).unwrap();
    assert_eq!(out.metadata.response_code, ResponseCode::NotAuth);
    let sig = out.signature().expect("TSIG with the error");
    assert_eq!(sig.data.error.map(u16::from), Some(tsig::BADKEY));
    assert!(sig.data.mac.is_empty());
    // BADTIME: signed, the client can verify it, and it carries our time.
    let err = tsig::verify_request(keys().as_slice(), &req, UnixTime::from_secs(NOW + 1000)).unwrap_err();
    let TsigError::BadTime(signed) = &err else { panic!("{err:?}") };
    let bytes = err.reply(&reply_to(&req), UnixTime::from_secs(NOW + 1000));
    let state = ClientState { key: signed.key.clone(), request_mac: signed.request_mac.clone() };
    let res = tsig::verify_response(&state, &bytes, UnixTime::from_secs(NOW));
    assert!(matches!(res, Err(TsigError::Rejected(18))), "{res:?}");
}

#[test]
fn sign_and_verify_round_trip_all_algorithms() {
    for alg in [Algorithm::HmacSha1, Algorithm::HmacSha256, Algorithm::HmacSha384, Algorithm::HmacSha512] {
        let k = key("x._transfer.example.org.", alg, "c2VjcmV0");
        let mut q = Message::query();
        q.metadata.id = 0x1234;
        let (req, state) = tsig::sign_request(&k, &q.to_vec().unwrap(), UnixTime::from_secs(NOW));
        let signed = tsig::verify_request(std::slice::from_ref(&k), &req, UnixTime::from_secs(NOW)).unwrap().unwrap();
        let reply = tsig::sign_response(&signed, &reply_to(&req), UnixTime::from_secs(NOW));
        tsig::verify_response(&state, &reply, UnixTime::from_secs(NOW)).unwrap();
        // A reply to some other request does not verify.
        let other = ClientState { key: k.clone(), request_mac: vec![0; alg.mac_len()] };
        assert!(tsig::verify_response(&other, &reply, UnixTime::from_secs(NOW)).is_err());
        // Streams: every message signed, or some left unsigned in between.
        let mut s = StreamSigner::new(&signed);
        let msgs: Vec<Vec<u8>> = (0..4).map(|_| s.sign(&reply_to(&req), UnixTime::from_secs(NOW))).collect();
        let mut v = StreamVerifier::new(state.clone());
        for m in &msgs {
            assert!(v.next(m, UnixTime::from_secs(NOW)).unwrap());
        }
        assert!(v.complete());
        let mut v = StreamVerifier::new(state.clone());
        assert!(v.next(&msgs[0], UnixTime::from_secs(NOW)).unwrap());
        // Out of order: the chain breaks.
        assert!(v.next(&msgs[2], UnixTime::from_secs(NOW)).is_err());
    }
}

#[test]
fn mutated_inputs_never_panic() {
    let ks = keys();
    for v in [DIG_SHA256, DIG_SHA1, NSUPDATE_SHA512] {
        let good = hex(v);
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80, 0xff] {
                let mut m = good.clone();
                m[i] ^= bit;
                let _ = tsig::verify_request(ks.as_slice(), &m, UnixTime::from_secs(NOW));
                let state = ClientState { key: ks[0].clone(), request_mac: vec![1; 32] };
                let _ = tsig::verify_response(&state, &m, UnixTime::from_secs(NOW));
                let mut t =
                    dns_core::transfer::TransferIn::new(Name::from_ascii("example.org.").unwrap(), 0, None, None);
                let _ = t.push(&m, sansio::UnixTime::from_secs(NOW));
            }
        }
    }
    let _ = dns_core::keys::KeyStore::parse("_keys", "( ( ) \u{0} DNSKEY DNSKEY 1 2 3 4\n)))\n.. DNSKEY 0 3 163 =\n");
}
