//! Shared helpers for the tender's integration tests: building the test guests, running
//! the tender with a time limit, and the engine requirements (temporary files come
//! from `testkit`).

// Each test binary uses a part of these tender-specific helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const TENDER: &str = env!("CARGO_BIN_EXE_tender");

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

/// A tender built with the `test-hooks` feature (the seccomp kill hook), built once per
/// test binary into `<target>/tender-test-hooks` so that it never replaces [`TENDER`].
pub fn tender_with_test_hooks() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        // TENDER is <target>/<profile>/tender.
        let target = Path::new(TENDER).parent().and_then(Path::parent).expect("target dir").join("tender-test-hooks");
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--bin", "tender", "--features", "test-hooks", "--manifest-path"])
            .arg(manifest_dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("cannot run cargo to build the tender with test hooks");
        assert!(
            out.status.success(),
            "building the tender with test-hooks failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("debug/tender").to_str().expect("UTF-8 path").to_string()
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

/// Result of one tender run.
pub struct Run {
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn describe(&self) -> String {
        format!(
            "status={:?} signal={:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.signal, self.stdout, self.stderr
        )
    }
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "tender did not finish within {limit:?}\n--- stdout\n{}--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().expect("wait")
}

/// Runs `prefix... tender args...` with a 60 s limit.
pub fn run_cmd(prefix: &[&str], args: &[&str], env: &[(&str, &str)]) -> Run {
    run_with(TENDER, prefix, args, env)
}

/// Like [`run_cmd`], with the tender binary `tender`.
pub fn run_with(tender: &str, prefix: &[&str], args: &[&str], env: &[(&str, &str)]) -> Run {
    use std::os::unix::process::ExitStatusExt;
    let mut cmd = if let Some((first, rest)) = prefix.split_first() {
        let mut c = Command::new(first);
        c.args(rest).arg(tender);
        c
    } else {
        Command::new(tender)
    };
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("cannot start the tender");
    let out = wait_with_timeout(child, Duration::from_secs(60));
    Run {
        status: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(args: &[&str]) -> Run {
    run_cmd(&[], args, &[])
}
