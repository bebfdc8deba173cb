//! The fuzz targets' bodies over their seed corpora, as normal tests, so that a stable
//! `cargo test` here (run by CI's `test` stage) builds the targets' code and runs it.
//! The seeds are written from the specifications (README.md beside them), not by our code.

use tender::devices::Action;
use testkit::fuzz::seeds;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Every seed image (ELF-64 with the Solo5 ABI and manifest notes) is accepted, and keeps
/// the loader's promises (the body asserts them).
#[test]
fn elf_seeds_are_accepted() {
    for (name, data) in seeds(DIR, "elf") {
        assert!(tender_fuzz::elf(&data), "{name}: rejected");
    }
}

/// Every seed is one whole instruction the decoder knows.
#[test]
fn insn_seeds_decode_whole() {
    for (name, data) in seeds(DIR, "insn") {
        let d = tender_fuzz::insn(&data).unwrap_or_else(|| panic!("{name}: not decoded"));
        assert_eq!(d.len, data.len(), "{name}: {d:?}");
    }
}

/// Every seed is a well-formed hypercall with valid arguments: the dispatcher serves it,
/// and only `halt` stops the guest, with the status it gave.
#[test]
fn hypercall_seeds_are_served() {
    for (name, data) in seeds(DIR, "hypercall") {
        let action = tender_fuzz::hypercall(&data).unwrap_or_else(|| panic!("{name}: no hypercall"));
        let expected = if name.ends_with("/halt") { Action::Halt(7) } else { Action::Continue };
        assert_eq!(action, Ok(expected), "{name}");
    }
}
