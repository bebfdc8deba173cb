//! Command line and image validation: every rejection is a clear message and exit 1.
//! These fail before an engine is chosen, so they need neither KVM nor the guests.

use std::process::Command;
use std::time::Duration;

use testkit::{Run, run_limited};

/// Runs the tender with `args`, for at most 60 s.
fn run(args: &[&str]) -> Run {
    run_limited(Command::new(env!("CARGO_BIN_EXE_tender")).args(args), Duration::from_secs(60))
}
use tender::elf::{PF_R, PF_W, PF_X};
use tender::synth::ImageBuilder;
use testkit::TempFile;

fn rejected(img: &ImageBuilder, expect: &str) {
    let f = TempFile::new("bad", &img.build());
    for engine in ["--engine=process", "--engine=kvm"] {
        let r = run(&[engine, f.path()]);
        assert_eq!(r.status, Some(1), "{}", r.describe());
        assert!(r.stderr.starts_with("tender: "), "{}", r.describe());
        assert!(r.stderr.contains(expect), "expected '{expect}': {}", r.describe());
    }
}

#[test]
fn malformed_images_are_rejected() {
    rejected(&ImageBuilder::new().abi_version(1), "unsupported ABI version 1");
    rejected(&ImageBuilder::new().abi_target(2), "not for the solo5-hvt target");
    rejected(&ImageBuilder::new().flags(PF_R | PF_W | PF_X), "W+X");
    rejected(&ImageBuilder::new().entry(0x1000), "entry point");
    rejected(&ImageBuilder::new().no_manifest(), "no Solo5 manifest");
    rejected(&ImageBuilder::new().no_abi(), "no Solo5 ABI note");
    rejected(&ImageBuilder::new().vaddr(0x1000).entry(0x1000), "below 0x100000");
    rejected(&ImageBuilder::new().attached_in_image(), "attached");
}

#[test]
fn truncated_and_non_elf_files_are_rejected() {
    let good = ImageBuilder::new().build();
    for (tag, bytes) in [("trunc", &good[..40]), ("trunc2", &good[..good.len() - 8]), ("text", &b"#!/bin/sh\n"[..])] {
        let f = TempFile::new(tag, bytes);
        let r = run(&["--engine=process", f.path()]);
        assert_eq!(r.status, Some(1), "{}", r.describe());
        assert!(r.stderr.starts_with("tender: "), "{}", r.describe());
    }
    let r = run(&["/nonexistent/image.hvt"]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
}

#[test]
fn image_too_big_for_memory() {
    let f = TempFile::new("big", &ImageBuilder::new().memsz(8 << 20).build());
    let r = run(&["--engine=process", "--mem=4", f.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("does not fit"), "{}", r.describe());
}

#[test]
fn options() {
    let img = TempFile::new("ok", &ImageBuilder::new().device("storage", 1).build());
    let r = run(&["--bogus", img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("Invalid option: `--bogus'"), "{}", r.describe());
    assert!(r.stderr.contains("usage:"), "{}", r.describe());

    let r = run(&["--block:nosuch=/dev/null", img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("Resource not declared in manifest: 'nosuch'"), "{}", r.describe());

    let r = run(&["--engine=process", img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("Device 'storage' of type BLOCK_BASIC declared but not attached."), "{}", r.describe());

    let r = run(&["--net:storage=tap0", img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("BLOCK_BASIC"), "{}", r.describe());

    let odd = TempFile::new("odd", &[0u8; 1000]);
    let r = run(&[&format!("--block:storage={}", odd.path()), img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("Backing storage size must be block aligned (512 bytes)"), "{}", r.describe());

    // Upstream's test suite matches these phrases (blk misaligned / odd / too small).
    let disk = TempFile::new("disk", &[0u8; 6144]);
    let r = run(&[&format!("--block:storage={}", disk.path()), "--block-sector-size:storage=4096", img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("Backing storage size must be block aligned (4096 bytes)"), "{}", r.describe());
    for bad in ["521", "256"] {
        let r = run(&[
            &format!("--block:storage={}", disk.path()),
            &format!("--block-sector-size:storage={bad}"),
            img.path(),
        ]);
        assert_eq!(r.status, Some(1), "{}", r.describe());
        assert!(r.stderr.contains("Block size must be a multiple of 2 greater than or equal 512"), "{}", r.describe());
    }

    let r = run(&["--mem=0", img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("Malformed argument to --mem"), "{}", r.describe());

    let r = run(&["--engine=vmware", img.path()]);
    assert_eq!(r.status, Some(1), "{}", r.describe());

    let long = "x".repeat(8192);
    let plain = TempFile::new("plain", &ImageBuilder::new().build());
    let r = run(&["--engine=process", plain.path(), &long]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("Guest command line too long"), "{}", r.describe());

    let r = run(&[]);
    assert_eq!(r.status, Some(1), "{}", r.describe());
}

#[test]
fn help_and_version() {
    let r = run(&["--help"]);
    assert_eq!(r.status, Some(0), "{}", r.describe());
    assert!(r.stdout.contains("usage: tender"), "{}", r.describe());
    let n = tender::seccomp::kvm_syscall_count();
    assert!(r.stdout.contains(&format!("allows {n} system calls")), "{}", r.describe());
    let r = run(&["--version"]);
    assert_eq!(r.status, Some(0), "{}", r.describe());
    assert!(r.stdout.contains("ABI version 2"), "{}", r.describe());
}
