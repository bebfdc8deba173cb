//! The eight hvt hypercalls.
//!
//! A hypercall is a 32-bit `out` to port `0x500 + nr` whose value is the (identity-mapped,
//! below 4 GiB) address of a `#[repr(C)]` argument struct. The tender reads and writes
//! the struct in place while the vCPU is stopped, so the `asm!` blocks are not `nomem`.

use core::arch::asm;

use hvt_abi::{HYPERCALL_PIO_BASE, HcBlockIo, HcHalt, HcNetIo, HcPoll, HcPuts, HcWalltime, TrapFrame, hc};

/// Issues hypercall `nr` with argument struct `arg`.
///
/// # Safety
///
/// `T` must be the argument struct of hypercall `nr` (so that the tender reads and
/// writes only within it), and any guest addresses it contains must be valid for the
/// access the hypercall makes (readable for PUTS/writes, writable for reads), unless the
/// caller deliberately tests the tender's bounds checks.
#[inline(always)]
unsafe fn hypercall<T>(nr: u32, arg: &mut T) {
    let addr = core::ptr::from_mut(arg).expose_provenance();
    debug_assert!(addr <= u32::MAX as usize);
    let port = HYPERCALL_PIO_BASE + nr as u16;
    // SAFETY: a 32-bit OUT to a hypercall port; the tender accesses only `*arg` (and the
    // buffers it names, which the caller vouches for). Not `nomem`: the tender writes the
    // struct, and the exposed provenance lets the compiler see that.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") addr as u32, options(nostack, preserves_flags));
    }
}

/// Address of a buffer as the 64-bit guest-physical address the tender expects.
#[inline(always)]
fn gpa<T>(p: *const T) -> u64 {
    p.expose_provenance() as u64
}

/// WALLTIME: host real-time clock, nanoseconds since the UNIX epoch.
pub fn walltime() -> u64 {
    let mut a = HcWalltime::default();
    // SAFETY: `a` is the WALLTIME argument struct and contains no addresses.
    unsafe { hypercall(hc::WALLTIME, &mut a) };
    a.nsecs
}

/// PUTS: writes `s` to the tender's stdout (best effort).
pub fn puts(s: &[u8]) {
    if s.is_empty() {
        return;
    }
    let mut a = HcPuts { data: gpa(s.as_ptr()), len: s.len() as u64 };
    // SAFETY: `a` is the PUTS struct and names the readable slice `s`.
    unsafe { hypercall(hc::PUTS, &mut a) };
}

/// PUTS with an arbitrary address and length, for testing the tender's bounds checks.
/// The tender only reads, so this cannot corrupt the guest; a conforming tender stops
/// the guest with an error when the range is outside guest memory.
pub fn puts_raw(data: u64, len: u64) {
    let mut a = HcPuts { data, len };
    // SAFETY: `a` is the PUTS struct; PUTS only reads guest memory, so any address is
    // harmless to the guest (the tender validates it).
    unsafe { hypercall(hc::PUTS, &mut a) };
}

/// POLL: waits up to `timeout_ns` for a net device to have input. Returns the set of
/// ready handles (bit `h` = handle `h`), 0 on timeout.
pub fn poll(timeout_ns: u64) -> u64 {
    let mut a = HcPoll { timeout_nsecs: timeout_ns, ready_set: 0, ret: 0 };
    // SAFETY: `a` is the POLL struct and contains no addresses.
    unsafe { hypercall(hc::POLL, &mut a) };
    a.ready_set
}

/// BLOCK_WRITE of `buf` at byte `offset` of device `handle`; returns the raw result code.
/// No alignment or size checks here (see [`crate::devices::Block`]).
pub fn block_write(handle: u64, offset: u64, buf: &[u8]) -> i32 {
    let mut a = HcBlockIo { handle, offset, data: gpa(buf.as_ptr()), len: buf.len() as u64, ret: 0 };
    // SAFETY: `a` is the BLOCK_WRITE struct and names the readable slice `buf`.
    unsafe { hypercall(hc::BLOCK_WRITE, &mut a) };
    a.ret
}

/// BLOCK_READ into `buf` from byte `offset` of device `handle`; returns the raw result code.
pub fn block_read(handle: u64, offset: u64, buf: &mut [u8]) -> i32 {
    let mut a = HcBlockIo { handle, offset, data: gpa(buf.as_mut_ptr()), len: buf.len() as u64, ret: 0 };
    // SAFETY: `a` is the BLOCK_READ struct and names the writable slice `buf`; the tender
    // writes at most `buf.len()` bytes.
    unsafe { hypercall(hc::BLOCK_READ, &mut a) };
    a.ret
}

/// NET_WRITE of one frame (Ethernet header included); returns the raw result code.
pub fn net_write(handle: u64, frame: &[u8]) -> i32 {
    let mut a = HcNetIo { handle, data: gpa(frame.as_ptr()), len: frame.len() as u64, ret: 0 };
    // SAFETY: `a` is the NET_WRITE struct and names the readable slice `frame`.
    unsafe { hypercall(hc::NET_WRITE, &mut a) };
    a.ret
}

/// NET_READ of one frame into `buf`; returns the raw result code and the frame length.
pub fn net_read(handle: u64, buf: &mut [u8]) -> (i32, usize) {
    let mut a = HcNetIo { handle, data: gpa(buf.as_mut_ptr()), len: buf.len() as u64, ret: 0 };
    // SAFETY: `a` is the NET_READ struct and names the writable slice `buf`; the tender
    // writes at most `buf.len()` bytes.
    unsafe { hypercall(hc::NET_READ, &mut a) };
    (a.ret, (a.len as usize).min(buf.len()))
}

/// HALT with `exit_status` and `cookie` (0, or the address of ≥ 512 readable bytes).
pub fn halt(exit_status: i32, cookie: u64) -> ! {
    let mut a = HcHalt { cookie, exit_status };
    // SAFETY: `a` is the HALT struct; callers pass 0 or the address of a 512-byte cookie.
    unsafe { hypercall(hc::HALT, &mut a) };
    // A conforming tender never resumes the vCPU after HALT. If one does, spin without
    // `hlt` (which would kill the tender with an unhandled exit anyway).
    loop {
        core::hint::spin_loop();
    }
}

/// A 512-byte, 8-aligned HALT cookie holding a [`TrapFrame`] (the rest is zero).
#[repr(C, align(64))]
pub(crate) struct HaltCookie {
    pub(crate) frame: TrapFrame,
    _rest: [u8; hvt_abi::HALT_COOKIE_MAX - TrapFrame::SIZE],
}

impl HaltCookie {
    pub(crate) const fn zeroed() -> Self {
        Self {
            frame: TrapFrame { cr2: 0, ec: 0, rip: 0, cs: 0, rflags: 0, rsp: 0, ss: 0 },
            _rest: [0; hvt_abi::HALT_COOKIE_MAX - TrapFrame::SIZE],
        }
    }
}

const _: () = assert!(size_of::<HaltCookie>() == hvt_abi::HALT_COOKIE_MAX);
