//! The fuzz targets' bodies over their seed corpora (real peers' handshakes, written by
//! `examples/seeds.rs`), as normal tests, so that a stable `cargo test` here (run by CI's
//! `test` stage) builds the targets' code and runs it.

use testkit::fuzz::seeds;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// A client without a certificate, or with a self-signed one, never completes the
/// port-10000 handshake (the body panics if one does): the Piñata refuses it.
#[test]
fn tls_server_seeds_are_refused() {
    for (name, data) in seeds(DIR, "tls_server") {
        assert!(pinata_fuzz::feed(pinata_fuzz::server(), &data), "{name}: not refused");
    }
}

/// A server with a self-signed certificate never completes a connect-back handshake.
#[test]
fn tls_client_seeds_are_refused() {
    for (name, data) in seeds(DIR, "tls_client") {
        assert!(pinata_fuzz::feed(pinata_fuzz::client(), &data), "{name}: not refused");
    }
}
