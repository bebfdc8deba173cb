//! The checked-in seed corpora of the fuzz crates, for the stable tests that run each
//! target's body over them (`fuzz/tests/seeds.rs`), so a target cannot go stale unseen.

use std::path::Path;

/// Every file of `<fuzz_dir>/seeds/<target>/`, as (path, contents), sorted by path so a
/// failure names the same seed every run. Panics if there is none: a missing or empty
/// corpus must fail the test, not pass it.
pub fn seeds(fuzz_dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(fuzz_dir).join("seeds").join(target);
    let files = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<_> = files.map(|f| f.expect("a directory entry").path()).collect();
    paths.sort();
    let out: Vec<_> = paths
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), data)
        })
        .collect();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}
