//! The test guests of the tender's integration tests that boot guests (`engines`,
//! `net`, `seccomp`, `upstream`; every one uses all of this): building them, and the KVM
//! requirement. Running the tender with a time limit is `testkit::run_limited`; temporary
//! files come from `testkit` too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Directory holding the built test guests (hello, args, ...).
///
/// `TENDER_GUESTS_DIR` names a directory of prebuilt guests; otherwise they are built
/// once per test binary with `cargo build --release` in platform/hvt/guests (which needs
/// the `x86_64-unknown-none` target: `rustup target add x86_64-unknown-none`).
pub fn guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("TENDER_GUESTS_DIR") {
            return PathBuf::from(d);
        }
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = manifest_dir.join("../platform/hvt/guests");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest_dir.join("../target"))
            .join("hvt-test-guests");
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "--target", "x86_64-unknown-none", "--manifest-path"])
            .arg(src.join("Cargo.toml"))
            .current_dir(&src) // so that guests/.cargo/config.toml (relocation-model=static) applies
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .output()
            .expect("cannot run cargo to build the test guests");
        assert!(
            out.status.success(),
            "building the test guests in {} failed (is the x86_64-unknown-none target installed? \
             `rustup target add x86_64-unknown-none`); set TENDER_GUESTS_DIR to use prebuilt ones:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("x86_64-unknown-none/release")
    })
}

pub fn guest(name: &str) -> PathBuf {
    let p = guests().join(name);
    assert!(p.exists(), "test guest {} is missing", p.display());
    p
}

/// Fails (never skips) when KVM is not usable: the kvm engine tests must not pass silently.
pub fn require_kvm() {
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        panic!("the kvm engine tests need /dev/kvm, which cannot be opened here: {e}");
    }
}
