//! The fuzz targets' bodies over their seed corpora, as normal tests, so that a stable
//! `cargo test` here (run by CI's `test` stage) builds the targets' code and runs it.

use testkit::fuzz::seeds;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Every seed reaches the server and is answered (no panic on the way).
#[test]
fn packet_seeds_are_answered() {
    for (name, data) in seeds(DIR, "packet") {
        assert!(dhcp_fuzz::packet(&data) > 0, "{name}: no reply");
    }
}

/// Every seed gets past the victim's own lease to strangers' messages, and none of them
/// takes the lease over (the body asserts that).
#[test]
fn holder_seeds_keep_the_victims_lease() {
    for (name, data) in seeds(DIR, "holder") {
        assert!(dhcp_fuzz::holder(&data) > 0, "{name}: no stranger's message handled");
    }
}
