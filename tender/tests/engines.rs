//! Boots the platform-hvt test guests (and a few hand-built images) under both engines.
//!
//! Needs: the `x86_64-unknown-none` target (the guests are built on first use, or taken
//! from `TENDER_GUESTS_DIR`), and for the `kvm::` tests a usable `/dev/kvm` — without it
//! they fail, they never pass silently.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use tender::synth::{self, ImageBuilder};
use testkit::{Run, TempFile, run_limited};

const TENDER: &str = env!("CARGO_BIN_EXE_tender");

/// Runs `tender args...` with the extra environment `env`, for at most 60 s.
fn run_with(tender: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_limited(Command::new(tender).args(args).envs(env.iter().copied()), Duration::from_secs(60))
}

fn run(args: &[&str]) -> Run {
    run_with(TENDER, args, &[])
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

/// The same scenarios for each engine.
macro_rules! engine_tests {
    ($modname:ident, $engine:literal, $setup:expr) => {
        mod $modname {
            use super::*;

            const ENGINE: &str = concat!("--engine=", $engine);

            fn setup() {
                $setup
            }

            fn boot(extra: &[&str], image: &str, args: &[&str]) -> Run {
                setup();
                let mut a = vec![ENGINE];
                a.extend_from_slice(extra);
                a.push(image);
                a.extend_from_slice(args);
                run(&a)
            }

            #[test]
            fn hello() {
                let r = boot(&[], guest("hello").to_str().unwrap(), &["Hello_tender"]);
                assert_eq!(r.status, Some(0), "{}", r.describe());
                assert!(r.stdout.contains("Hello"), "{}", r.describe());
                assert!(r.stdout.contains("Hello_tender"), "{}", r.describe());
                assert!(r.stdout.contains("SUCCESS"), "{}", r.describe());
            }

            #[test]
            fn args() {
                let r = boot(&[], guest("args").to_str().unwrap(), &["one", "two", "three"]);
                assert_eq!(r.status, Some(0), "{}", r.describe());
                for w in ["one", "two", "three", "SUCCESS"] {
                    assert!(r.stdout.contains(w), "{}", r.describe());
                }
            }

            #[test]
            fn exit_status_propagates() {
                let r = boot(&[], guest("exit").to_str().unwrap(), &["7"]);
                assert_eq!(r.status, Some(7), "{}", r.describe());
            }

            #[test]
            fn clocks() {
                let r = boot(&[], guest("clocks").to_str().unwrap(), &[]);
                assert_eq!(r.status, Some(0), "{}", r.describe());
                assert!(r.stdout.contains("SUCCESS"), "{}", r.describe());
            }

            #[test]
            fn blk() {
                for sector in ["512", "4096"] {
                    let disk = TempFile::new("disk", &vec![0u8; 4 << 20]);
                    let opt = format!("--block:storage={}", disk.path());
                    let ss = format!("--block-sector-size:storage={sector}");
                    let r = boot(&[&opt, &ss], guest("blk").to_str().unwrap(), &[]);
                    assert_eq!(r.status, Some(0), "sector size {sector}: {}", r.describe());
                    assert!(r.stdout.contains("SUCCESS"), "{}", r.describe());
                    let data = std::fs::read(&disk.0).unwrap();
                    assert!(data.iter().any(|&b| b != 0), "the guest wrote nothing to the disk");
                }
            }

            #[test]
            fn blk_not_attached() {
                let r = boot(&[], guest("blk").to_str().unwrap(), &[]);
                assert_eq!(r.status, Some(1), "{}", r.describe());
                assert!(r.stderr.contains("declared but not attached"), "{}", r.describe());
            }

            #[test]
            fn fault_exits_255() {
                let r = boot(&[], guest("fault").to_str().unwrap(), &[]);
                assert_eq!(r.status, Some(255), "{}", r.describe());
            }

            #[test]
            fn panic_exits_255() {
                let r = boot(&[], guest("panic").to_str().unwrap(), &[]);
                assert_eq!(r.status, Some(255), "{}", r.describe());
                assert!(r.stdout.contains("panic"), "{}", r.describe());
            }

            #[test]
            fn rowrite_ends_guest() {
                let r = boot(&[], guest("rowrite").to_str().unwrap(), &[]);
                assert!(r.status.is_some_and(|s| s != 0), "{}", r.describe());
                assert!(!r.stdout.contains("SUCCESS"), "{}", r.describe());
            }

            #[test]
            fn badaddr_is_an_error_not_a_crash() {
                for mode in ["end", "past", "high", "wrap"] {
                    let r = boot(&[], guest("badaddr").to_str().unwrap(), &[mode]);
                    assert_eq!(r.status, Some(1), "badaddr {mode}: {}", r.describe());
                    assert!(r.stderr.contains("Invalid guest access"), "badaddr {mode}: {}", r.describe());
                }
            }

            #[test]
            fn synthesised_image() {
                let img = TempFile::new(
                    "synth",
                    &ImageBuilder::new().code(synth::puts_halt(b"synth says hi\n", 3, &[])).build(),
                );
                let r = boot(&["--mem=2"], img.path(), &[]);
                assert_eq!(r.status, Some(3), "{}", r.describe());
                assert_eq!(r.stdout, "synth says hi\n");
            }

            #[test]
            fn forbidden_syscall_after_start_kills_tender() {
                setup();
                let r = run_with(
                    tender_with_test_hooks(),
                    &[ENGINE, guest("hello").to_str().unwrap()],
                    &[("TENDER_TEST_SECCOMP_KILL", "1")],
                );
                assert_eq!(r.signal, Some(libc::SIGSYS), "{}", r.describe());
                assert!(!r.stdout.contains("SUCCESS"), "{}", r.describe());
            }

            #[test]
            fn test_hook_is_absent_from_the_normal_build() {
                setup();
                let r =
                    run_with(TENDER, &[ENGINE, guest("hello").to_str().unwrap()], &[("TENDER_TEST_SECCOMP_KILL", "1")]);
                assert_eq!(r.status, Some(0), "{}", r.describe());
                assert!(r.stdout.contains("SUCCESS"), "{}", r.describe());
            }

            #[test]
            fn invalid_port_is_fatal() {
                // mov dx, 0x501; out dx, al
                let code = synth::puts_halt(b"unreachable\n", 0, &[0x66, 0xba, 0x01, 0x05, 0xee]);
                let img = TempFile::new("port", &ImageBuilder::new().code(code).build());
                let r = boot(&[], img.path(), &[]);
                assert_eq!(r.status, Some(1), "{}", r.describe());
                assert!(r.stderr.contains("Invalid guest port access: port=0x501"), "{}", r.describe());
            }
        }
    };
}

engine_tests!(kvm, "kvm", require_kvm());
engine_tests!(process, "process", ());

#[test]
fn process_guest_syscall_is_killed_by_seccomp() {
    let img = TempFile::new(
        "syscall",
        &ImageBuilder::new().code(synth::puts_halt(b"syscall returned\n", 0, synth::SYSCALL_GETPID)).build(),
    );
    let r = run(&["--engine=process", img.path()]);
    assert_eq!(r.signal, Some(libc::SIGSYS), "{}", r.describe());
    assert!(!r.stdout.contains("returned"), "{}", r.describe());
}

#[test]
fn kvm_guest_syscall_does_not_reach_host() {
    require_kvm();
    let img = TempFile::new(
        "syscall",
        &ImageBuilder::new().code(synth::puts_halt(b"syscall returned\n", 0, synth::SYSCALL_GETPID)).build(),
    );
    // EFER.SCE is clear: `syscall` raises #UD; without a guest IDT that is a triple fault.
    let r = run(&["--engine=kvm", img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(!r.stdout.contains("returned"), "{}", r.describe());
}

#[test]
fn sse_image_under_each_engine() {
    let img = TempFile::new("sse", &ImageBuilder::new().code(synth::puts_halt(b"sse ok\n", 0, synth::XORPS)).build());
    let r = run(&["--engine=process", img.path()]);
    assert_eq!(r.status, Some(0), "{}", r.describe());
    require_kvm();
    let r = run(&["--engine=kvm", img.path()]);
    if r.status == Some(0) {
        eprintln!("this host's KVM executes SSE arithmetic");
    } else {
        assert_eq!(r.status, Some(1), "{}", r.describe());
        assert!(r.stderr.contains("internal error"), "{}", r.describe());
        eprintln!("this host's KVM cannot execute SSE arithmetic (internal error exit), as expected on PVM hosts");
    }
}

#[test]
fn auto_engine_logs_choice() {
    let r = run(&[guest("hello").to_str().unwrap()]);
    assert_eq!(r.status, Some(0), "{}", r.describe());
    assert!(r.stderr.starts_with("tender: engine "), "{}", r.describe());
    assert!(r.stderr.contains('('), "{}", r.describe());
}
