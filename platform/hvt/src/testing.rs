//! Deliberate misbehaviour for the test guests (they check that the trap handler and
//! the tender react correctly). Each function returns only if the protection it probes
//! is missing.

use core::ptr;

use hvt_abi::x86_64::{BOOT_INFO_ADDR, MEM_MAX};

/// An address that is never guest memory: 16 GiB (guest memory ends at or below 4 GiB).
pub const UNMAPPED_ADDR: u64 = 0x4_0000_0000;

const _: () = assert!(UNMAPPED_ADDR >= MEM_MAX);

/// Writes to [`UNMAPPED_ADDR`]. The page tables map nothing there, so the CPU raises
/// `#PF` (error code 0x2, cr2 = 0x400000000) and the trap handler halts with 255.
pub fn write_unmapped() {
    // SAFETY: the address lies outside any memory the guest can own, so no Rust object
    // is modified; the expected outcome is a page fault that ends the guest.
    unsafe { ptr::write_volatile(ptr::with_exposed_provenance_mut::<u64>(UNMAPPED_ADDR as usize), 0) };
}

/// Writes the boot info's reserved `guest_features` word (at 0x1002c) back with the
/// value it already holds. The tender maps that page read-only, so with CR0.WP set the
/// CPU raises `#PF` (error code 0x3) and the trap handler halts with 255. If the page
/// were writable the write changes nothing.
pub fn write_boot_info() {
    let addr = BOOT_INFO_ADDR as usize + core::mem::offset_of!(hvt_abi::BootInfo, guest_features);
    let p = ptr::with_exposed_provenance_mut::<u32>(addr);
    // SAFETY: `p` is the 4-aligned `guest_features` field of the boot info the tender
    // wrote; reading it is fine, and writing back the same value leaves it unchanged.
    unsafe { ptr::write_volatile(p, ptr::read_volatile(p)) };
}
