//! The fuzz target's body over its seed corpus, as a normal test, so that a stable
//! `cargo test` here (CI's `fuzz` stage) builds the target's code and runs it.

use std::path::Path;

/// Every file of `seeds/<target>/` (at least one).
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    let files = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let out: Vec<_> =
        files.map(|f| f.unwrap().path()).map(|p| (p.display().to_string(), std::fs::read(p).unwrap())).collect();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

/// Every seed reaches the server and is answered (no panic on the way).
#[test]
fn packet_seeds_are_answered() {
    for (name, data) in seeds("packet") {
        assert!(dhcp_fuzz::packet(&data) > 0, "{name}: no reply");
    }
}
