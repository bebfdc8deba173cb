//! C allocation over the runtime heap, and anonymous `mmap`.
//!
//! C's `free` gets no size, so every block carries a 16-byte header just below the
//! pointer handed out: the total size and the alignment of the underlying heap block.
//! The block starts `max(16, align)` bytes before the pointer.

use core::alloc::Layout;
use core::ffi::{c_int, c_void};
use core::ptr;

use super::errno::{EINVAL, ENOMEM};
use super::fail;
use crate::heap;

const HEADER: usize = 16;
const PAGE: usize = 4096;

/// Allocates `size` bytes aligned to `align` (a power of two) with a header; null on
/// exhaustion or overflow.
pub(crate) fn alloc_c(size: usize, align: usize, zero: bool) -> *mut u8 {
    let align = align.max(HEADER);
    let Some(total) = size.checked_add(align) else { return ptr::null_mut() };
    let Ok(layout) = Layout::from_size_align(total, align) else { return ptr::null_mut() };
    let base = heap::alloc(layout);
    if base.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `base` is a fresh block of `total = align + size` bytes, so the user area
    // `[base + align, base + total)` and the header just below it are inside it.
    unsafe {
        let user = base.add(align);
        user.cast::<usize>().sub(2).write(total);
        user.cast::<usize>().sub(1).write(align);
        if zero {
            user.write_bytes(0, size);
        }
        user
    }
}

/// `(block start, layout, user size)` of a pointer from [`alloc_c`].
///
/// # Safety
///
/// `p` must come from [`alloc_c`] and not be freed.
unsafe fn block_of(p: *mut u8) -> (*mut u8, Layout, usize) {
    // SAFETY: per the caller, the header sits just below `p`.
    let (total, align) = unsafe { (p.cast::<usize>().sub(2).read(), p.cast::<usize>().sub(1).read()) };
    // SAFETY: these values built a valid layout in `alloc_c`.
    let layout = unsafe { Layout::from_size_align_unchecked(total, align) };
    (p.wrapping_sub(align), layout, total - align)
}

/// Frees a pointer from [`alloc_c`] (null is ignored).
///
/// # Safety
///
/// `p` null or from [`alloc_c`], not yet freed.
pub(crate) unsafe fn free_c(p: *mut u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: per the caller.
    unsafe {
        let (base, layout, _) = block_of(p);
        heap::dealloc(base, layout);
    }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn malloc(size: usize) -> *mut c_void {
    let p = alloc_c(size, HEADER, false);
    if p.is_null() {
        fail(ENOMEM);
    }
    p.cast()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(bytes) = n.checked_mul(size) else {
        fail(ENOMEM);
        return ptr::null_mut();
    };
    let p = alloc_c(bytes, HEADER, true);
    if p.is_null() {
        fail(ENOMEM);
    }
    p.cast()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the C contract: null or a live pointer from this allocator.
    unsafe { free_c(p.cast()) }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    // SAFETY: the C contract: `p` is live and from this allocator.
    let (_, layout, old) = unsafe { block_of(p.cast()) };
    if size <= old && size >= old / 2 {
        return p; // fits, and shrinking would not free much
    }
    let new = alloc_c(size, layout.align(), false);
    if new.is_null() {
        fail(ENOMEM);
        return ptr::null_mut();
    }
    // SAFETY: both blocks are live and distinct, each at least `min(old, size)` long.
    unsafe {
        ptr::copy_nonoverlapping(p.cast::<u8>(), new, old.min(size));
        free_c(p.cast());
    }
    new.cast()
}

fn valid_align(align: usize) -> bool {
    align.is_power_of_two() && align >= size_of::<usize>()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !valid_align(align) {
        return EINVAL;
    }
    let p = alloc_c(size, align, false);
    if p.is_null() {
        return ENOMEM;
    }
    // SAFETY: the C contract: `out` is writable.
    unsafe { out.write(p.cast()) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        fail(EINVAL);
        return ptr::null_mut();
    }
    let p = alloc_c(size, align, false);
    if p.is_null() {
        fail(ENOMEM);
    }
    p.cast()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    aligned_alloc(align, size)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: the C contract: `p` is live and from this allocator.
    unsafe { block_of(p.cast()).2 }
}

// --- mmap: anonymous, private memory from the heap, page-aligned and zeroed. ---

const MAP_FAILED: *mut c_void = usize::MAX as *mut c_void;
const MAP_ANONYMOUS: c_int = 0x20;
const MAP_FIXED: c_int = 0x10;

fn page_round(len: usize) -> Option<usize> {
    len.checked_add(PAGE - 1).map(|l| l & !(PAGE - 1))
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn mmap(_addr: *mut c_void, len: usize, _prot: c_int, flags: c_int, _fd: c_int, _off: i64) -> *mut c_void {
    if len == 0 {
        fail(EINVAL);
        return MAP_FAILED;
    }
    // Files cannot be mapped, and nothing may be placed at a fixed address.
    if flags & MAP_ANONYMOUS == 0 || flags & MAP_FIXED != 0 {
        fail(super::errno::ENOSYS);
        return MAP_FAILED;
    }
    let Some(len) = page_round(len) else {
        fail(ENOMEM);
        return MAP_FAILED;
    };
    // A page-aligned block with the header in the page before it.
    let p = alloc_c(len, PAGE, true);
    if p.is_null() {
        fail(ENOMEM);
        return MAP_FAILED;
    }
    p.cast()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn mmap64(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64) -> *mut c_void {
    mmap(addr, len, prot, flags, fd, off)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn munmap(addr: *mut c_void, len: usize) -> c_int {
    if addr.is_null() || !addr.addr().is_multiple_of(PAGE) {
        return fail(EINVAL);
    }
    // Only whole mappings are released (what std does with its signal stacks); a
    // partial unmap leaves the memory allocated.
    // SAFETY: page-aligned pointers handed out by `mmap` carry our header; callers only
    // unmap what they mapped.
    let (_, _, size) = unsafe { block_of(addr.cast()) };
    if page_round(len) == Some(size) {
        // SAFETY: as above; the whole mapping is released once.
        unsafe { free_c(addr.cast()) };
    }
    0
}

/// Page protections are not enforced inside the guest (the tender maps all RAM RW);
/// accepted so that std's guard-page set-up succeeds.
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn mprotect(_addr: *mut c_void, _len: usize, _prot: c_int) -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn madvise(_addr: *mut c_void, _len: usize, _advice: c_int) -> c_int {
    0
}
