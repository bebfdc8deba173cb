//! The fuzz targets' bodies over their seed corpora, as normal tests, so that a stable
//! `cargo test` here (run by CI's `test` stage) builds the targets' code and runs it.

use testkit::fuzz::seeds;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Every well-formed seed query is answered over both transports (the body checks each
/// reply's id, QR bit and size); a `malformed-` one at least over UDP (with FORMERR; over
/// TCP the server may drop it).
#[test]
fn query_seeds_are_answered() {
    for (name, data) in seeds(DIR, "query") {
        let replies = dns_fuzz::query(&data);
        if name.rsplit('/').next().is_some_and(|f| f.starts_with("malformed-")) {
            assert!(replies >= 1, "{name}: not answered");
        } else {
            assert_eq!(replies, 2, "{name}: not answered over UDP and TCP");
        }
    }
}

/// Every seed zone parses, and writes back to text that parses to the same zone.
#[test]
fn zonefile_seeds_parse_and_round_trip() {
    for (name, data) in seeds(DIR, "zonefile") {
        assert!(dns_fuzz::zonefile(&data), "{name}: does not parse");
    }
}
