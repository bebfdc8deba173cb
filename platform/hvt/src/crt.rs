//! Start-up of std images: after the lower layer's entry (CPU tables, clock, command
//! line, heap), set up thread-local storage, seed the random generator, build `argv`,
//! run `.init_array` with `(argc, argv, envp)` — std's linux-gnu argument code relies on
//! that — and call the C `main` that rustc generates; its result is the HALT status.
//!
//! TLS is the static block of the image's `PT_TLS` in the x86_64 layout (variant II):
//! `[.tdata copy | .tbss zeroes | padding]` ends at the thread pointer, which points at
//! the thread control block whose first word (and the word at 0x10) holds its own
//! address; 0x28 holds a random stack-protector canary. The FS base is written with
//! `wrmsr` to `IA32_FS_BASE` (CR4.FSGSBASE is off, so `wrfsbase` would fault).
//! The linker script (`hvt-std.ld`) records the TLS geometry in `__hvt_tls_info`.
// On the host this module is compiled for its unit tests only (see lib.rs).
#![cfg_attr(all(test, not(solo5_hvt)), allow(dead_code, unused_imports))]

use core::alloc::Layout;
use core::ffi::{c_char, c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use hvt_abi::x86_64::MSR_FS_BASE;

/// Bytes of thread control block above the thread pointer (glibc's `tcbhead_t` is
/// smaller; code compiled for linux-gnu reads at most the canary at 0x28).
const TCB_SIZE: usize = 256;

/// TLS geometry as `hvt-std.ld` writes it: `[tdata address, tdata size, memsz, align]`.
#[repr(C)]
struct TlsInfo {
    tdata: usize,
    filesz: usize,
    memsz: usize,
    align: usize,
}

type InitFn = unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char);

#[cfg(solo5_hvt)]
unsafe extern "C" {
    static __hvt_tls_info: TlsInfo;
    static __init_array_start: InitFn;
    static __init_array_end: InitFn;
    /// The C entry point rustc generates for a bin crate (calls `std::rt::lang_start`).
    fn main(argc: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
}

/// Start of the static TLS block (for `__tls_get_addr`).
static TLS_BLOCK: AtomicUsize = AtomicUsize::new(0);

/// `(size of the block below the thread pointer, alignment)` for a `PT_TLS` of
/// `memsz`/`align`: the linker places the block at `tp - align_up(memsz, align)` (exactly
/// that rounding; the allocation itself may be aligned more).
pub const fn tls_layout(memsz: usize, align: usize) -> (usize, usize) {
    let align = if align == 0 { 1 } else { align };
    (memsz.next_multiple_of(align), align)
}

/// Allocates and fills the static TLS block and the TCB; returns the thread pointer.
///
/// # Safety
///
/// `info` must describe the image's `.tdata` (readable) and the heap must be set up.
unsafe fn tls_init(info: &TlsInfo) -> usize {
    let (below, align) = tls_layout(info.memsz, info.align);
    let align = align.max(64);
    let Ok(layout) = Layout::from_size_align(below + TCB_SIZE, align) else {
        crate::console::write_str("platform-hvt: invalid TLS geometry\n");
        crate::abort();
    };
    let block = crate::heap::alloc(layout);
    if block.is_null() {
        crate::console::write_str("platform-hvt: no memory for TLS\n");
        crate::abort();
    }
    // SAFETY: `block` is a fresh allocation of `below + TCB_SIZE` bytes; `.tdata` is
    // `filesz <= memsz <= below` readable bytes of the image.
    unsafe {
        block.write_bytes(0, below + TCB_SIZE);
        ptr::copy_nonoverlapping(ptr::with_exposed_provenance::<u8>(info.tdata), block, info.filesz);
        let tp = block.add(below);
        tp.cast::<usize>().write(tp.addr());
        tp.add(0x10).cast::<usize>().write(tp.addr());
        let mut canary = [0u8; 8];
        crate::random::fill(&mut canary);
        canary[0] = 0; // as glibc: a string overflow cannot reproduce it
        tp.add(0x28).cast::<[u8; 8]>().write(canary);
        TLS_BLOCK.store(block.expose_provenance(), Relaxed);
        tp.expose_provenance()
    }
}

#[repr(C)]
struct TlsIndex {
    module: usize,
    offset: usize,
}

/// General-dynamic TLS access (only if the linker left one unrelaxed): module 1 is the
/// image, whose block starts [`TLS_BLOCK`].
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn __tls_get_addr(ti: *const TlsIndex) -> *mut c_void {
    // SAFETY: the caller passes a valid tls_index.
    let offset = unsafe { (*ti).offset };
    ptr::with_exposed_provenance_mut::<u8>(TLS_BLOCK.load(Relaxed)).wrapping_add(offset).cast()
}

/// Splits the command line into NUL-terminated words on the heap; returns
/// `(argc, argv, envp)` with `argv[0] = "hvt"` and an empty environment. Leaked: they
/// live as long as the guest.
fn build_argv(cmdline: &str) -> (c_int, *const *const c_char, *const *const c_char) {
    let words = cmdline.split_ascii_whitespace();
    let argc = 1 + words.clone().count();
    // argv[0..argc], NULL, then envp: NULL.
    let vec = crate::libc::malloc::alloc_c((argc + 2) * size_of::<usize>(), 16, true).cast::<*const c_char>();
    if vec.is_null() {
        crate::console::write_str("platform-hvt: no memory for argv\n");
        crate::abort();
    }
    let mut strings = core::iter::once("hvt").chain(words);
    for i in 0..argc {
        let w = strings.next().unwrap_or("");
        let s = crate::libc::malloc::alloc_c(w.len() + 1, 16, true);
        if s.is_null() {
            crate::console::write_str("platform-hvt: no memory for argv\n");
            crate::abort();
        }
        // SAFETY: `s` has `len + 1` zeroed bytes; `vec` has `argc + 2` slots.
        unsafe {
            ptr::copy_nonoverlapping(w.as_ptr(), s, w.len());
            vec.add(i).write(s.cast());
        }
    }
    // SAFETY: slot `argc` (argv's NULL) and `argc + 1` (envp's NULL) are zeroed already.
    (argc as c_int, vec.cast_const(), unsafe { vec.add(argc + 1) }.cast_const())
}

/// The std image's main function, called by the lower layer's entry point.
#[cfg(solo5_hvt)]
#[unsafe(no_mangle)]
extern "Rust" fn __platform_hvt_main() -> i32 {
    // SAFETY: the linker script defines the TLS description; the heap is ready.
    let tp = unsafe { tls_init(&__hvt_tls_info) };
    // SAFETY: the thread pointer names our TCB; nothing has used TLS yet.
    unsafe { crate::cpu::wrmsr(MSR_FS_BASE, tp as u64) };

    let source = crate::random::init();
    crate::println!("platform-hvt: entropy: {}", source.describe());

    let (argc, argv, envp) = build_argv(crate::cmdline());
    crate::libc::sys::set_environ(envp);

    let start = (&raw const __init_array_start).addr();
    let end = (&raw const __init_array_end).addr();
    let mut at = start;
    while at < end {
        // SAFETY: `[start, end)` is the image's .init_array: function pointers the
        // toolchain placed there to be called once at start-up with (argc, argv, envp).
        unsafe {
            let f = ptr::with_exposed_provenance::<InitFn>(at).read();
            f(argc, argv, envp);
        }
        at += size_of::<InitFn>();
    }
    // SAFETY: rustc's generated C main with a valid argv/envp.
    unsafe { main(argc, argv, envp) }
}

#[cfg(solo5_hvt)]
#[global_allocator]
static GLOBAL: crate::heap::HvtAllocator = crate::heap::HvtAllocator;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_geometry() {
        assert_eq!(tls_layout(0x61, 8), (0x68, 8));
        assert_eq!(tls_layout(0x100, 64), (0x100, 64));
        assert_eq!(tls_layout(0x61, 0), (0x61, 1));
    }
}
