//! The `_keys` file format and privileges by key name (keys.rs).

use std::net::IpAddr;

use dns_core::keys::{KeyStore, Op};
use dns_core::tsig::Algorithm;
use hickory_proto::rr::Name;

const KEYS: &str = "; keys for everything
foo._update.example.org. DNSKEY 0 3 163 c2VjcmV0LXNlY3JldC1zZWNyZXQtMzI=
192.0.2.1.192.0.2.2._transfer.example.org. 3600 IN DNSKEY 0 3 165 (
   b3RoZXIg
   c2VjcmV0 )
n._notify.example.org. DNSKEY 0 3 161 bm90aWZ5
root._update. DNSKEY 0 3 164 cm9vdA==
";

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

#[test]
fn parses_dnskey_lines() {
    let ks = KeyStore::parse("_keys", KEYS).unwrap();
    assert_eq!(ks.keys().len(), 4);
    let k = ks.get(&n("FOO._update.example.org.")).unwrap();
    assert_eq!(k.algorithm, Algorithm::HmacSha256);
    assert_eq!(k.secret, b"secret-secret-secret-32");
    let t = ks.get(&n("192.0.2.1.192.0.2.2._transfer.example.org.")).unwrap();
    assert_eq!(t.algorithm, Algorithm::HmacSha512);
    assert_eq!(t.secret, b"other secret");
    assert_eq!(ks.get(&n("n._notify.example.org.")).unwrap().algorithm, Algorithm::HmacSha1);
}

#[test]
fn relative_names_and_errors() {
    let ks = KeyStore::parse("example.org._keys", "a._update DNSKEY 0 3 163 c2VjcmV0\n").unwrap();
    assert!(ks.get(&n("a._update.example.org.")).is_some());
    for (bad, why) in [
        ("a._update. DNSKEY 0 3 157 c2VjcmV0", "hmac-md5"),
        ("a._update. DNSKEY 0 3 162 c2VjcmV0", "sha224"),
        ("a._update. DNSKEY 0 3 99 c2VjcmV0", "unknown"),
        ("a._update. DNSKEY 0 3 163 !!!", "base64"),
        ("a._update. A 192.0.2.1", "DNSKEY"),
        ("\n\na._update. DNSKEY 0 3", "needs"),
    ] {
        let e = KeyStore::parse("_keys", bad).unwrap_err();
        assert!(e.reason.contains(why), "{bad}: {e}");
    }
    assert_eq!(KeyStore::parse("_keys", "\n\na._update. DNSKEY 0 3").unwrap_err().line, 3);
}

#[test]
fn privileges_nest_and_cover_subzones() {
    let ks = KeyStore::parse("_keys", KEYS).unwrap();
    let org = n("example.org.");
    let upd = n("foo._update.example.org.");
    assert!(ks.allowed(&upd, &org, Op::Update));
    assert!(ks.allowed(&upd, &org, Op::Transfer));
    assert!(ks.allowed(&upd, &n("sub.example.org."), Op::Notify));
    assert!(!ks.allowed(&upd, &n("example.net."), Op::Notify));
    let xfr = n("192.0.2.1.192.0.2.2._transfer.example.org.");
    assert!(ks.allowed(&xfr, &org, Op::Transfer));
    assert!(!ks.allowed(&xfr, &org, Op::Update));
    let nt = n("n._notify.example.org.");
    assert!(ks.allowed(&nt, &org, Op::Notify));
    assert!(!ks.allowed(&nt, &org, Op::Transfer));
    let root = n("root._update.");
    assert!(ks.allowed(&root, &n("example.net."), Op::Update));
    // A name not in the store grants nothing.
    assert!(!ks.allowed(&n("zzz._update."), &org, Op::Notify));
}

#[test]
fn peers_from_key_names() {
    let ks = KeyStore::parse("_keys", KEYS).unwrap();
    let peers = ks.transfer_peers(&n("example.org."));
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].0, "192.0.2.2".parse::<IpAddr>().unwrap());
    assert!(ks.transfer_peers(&n("example.net.")).is_empty());
    let p = ks.primaries();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].zone, n("example.org."));
    assert_eq!(p[0].primary, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert!(ks.key_for_peer(&n("example.org."), "192.0.2.1".parse().unwrap()).is_some());
}
