//! Helpers shared by the test files (included with `mod common;`); frames and
//! pcap parsing come from `testkit::frames`.

/// A path for a test output file under the target directory.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("platform-sim");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
