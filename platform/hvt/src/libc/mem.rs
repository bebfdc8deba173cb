//! `memcpy memmove memset memcmp bcmp strlen`.
//!
//! The compiler lowers copies and fills to calls of exactly these functions, so their
//! bodies must never be lowered back into such calls: copies and fills are `rep movsb` /
//! `rep stosb` in inline assembly, and the comparisons are plain loops (checked in the
//! disassembly of built images: none of them calls itself).

use core::arch::asm;
use core::ffi::{c_char, c_int, c_void};

/// Copies `n` bytes forward (`rep movsb`; overlapping ranges are fine only when
/// `dst <= src`).
///
/// # Safety
///
/// `src` readable and `dst` writable for `n` bytes.
#[inline(always)]
unsafe fn copy_forward(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: per the caller; DF is clear (SysV ABI at every call boundary).
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
             options(nostack, preserves_flags));
    }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
#[inline(never)]
unsafe extern "C" fn memcpy(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: the C contract of memcpy: non-overlapping, valid for `n` bytes.
    unsafe { copy_forward(dst.cast(), src.cast(), n) };
    dst
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
#[inline(never)]
unsafe extern "C" fn memmove(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void {
    let (d, s) = (dst.cast::<u8>(), src.cast::<u8>());
    if d.addr().wrapping_sub(s.addr()) >= n {
        // dst before src, or no overlap: a forward copy never reads a byte it wrote.
        // SAFETY: the C contract of memmove: both ranges valid for `n` bytes.
        unsafe { copy_forward(d, s, n) };
    } else if n > 0 {
        // dst overlaps the tail of src: copy backwards, from the last byte down.
        // SAFETY: as above; DF is set only for this instruction and cleared again.
        unsafe {
            asm!("std", "rep movsb", "cld",
                 inout("rcx") n => _, inout("rdi") d.add(n - 1) => _, inout("rsi") s.add(n - 1) => _,
                 options(nostack));
        }
    }
    dst
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
#[inline(never)]
unsafe extern "C" fn memset(dst: *mut c_void, c: c_int, n: usize) -> *mut c_void {
    // SAFETY: the C contract of memset: `dst` writable for `n` bytes; DF is clear.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dst
}

/// Index of the first differing byte, or `n`.
///
/// # Safety
///
/// Both pointers readable for `n` bytes.
#[inline(always)]
unsafe fn first_difference(a: *const u8, b: *const u8, n: usize) -> usize {
    let mut i = 0;
    // Eight bytes at a time while they are equal.
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`, unaligned reads.
        let (x, y) = unsafe { (a.add(i).cast::<u64>().read_unaligned(), b.add(i).cast::<u64>().read_unaligned()) };
        if x != y {
            break;
        }
        i += 8;
    }
    while i < n {
        // SAFETY: `i < n`.
        if unsafe { *a.add(i) != *b.add(i) } {
            return i;
        }
        i += 1;
    }
    n
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
#[inline(never)]
unsafe extern "C" fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
    let (a, b) = (a.cast::<u8>(), b.cast::<u8>());
    // SAFETY: the C contract: both readable for `n` bytes.
    let i = unsafe { first_difference(a, b, n) };
    if i == n {
        return 0;
    }
    // SAFETY: `i < n`.
    unsafe { c_int::from(*a.add(i)) - c_int::from(*b.add(i)) }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
#[inline(never)]
unsafe extern "C" fn bcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
    // SAFETY: the C contract: both readable for `n` bytes.
    c_int::from(unsafe { first_difference(a.cast(), b.cast(), n) } != n)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
#[inline(never)]
unsafe extern "C" fn strlen(s: *const c_char) -> usize {
    let mut n = 0;
    // SAFETY: the C contract: `s` is NUL-terminated. Volatile reads keep the loop a loop
    // (it is only used for short strings: names, messages).
    while unsafe { s.add(n).read_volatile() } != 0 {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_fills_compares() {
        let mut buf: [u8; 64] = core::array::from_fn(|i| i as u8);
        // SAFETY: all ranges lie inside `buf`.
        unsafe {
            memmove(buf.as_mut_ptr().add(4).cast(), buf.as_ptr().cast(), 20);
            assert_eq!(&buf[4..24], &(0..20).collect::<Vec<u8>>()[..]);
            memmove(buf.as_mut_ptr().cast(), buf.as_ptr().add(4).cast(), 20);
            assert_eq!(&buf[0..20], &(0..20).collect::<Vec<u8>>()[..]);
            memset(buf.as_mut_ptr().add(30).cast(), 0xab, 10);
            assert!(buf[30..40].iter().all(|&b| b == 0xab) && buf[40] == 40);
            let mut dst = [0u8; 17];
            memcpy(dst.as_mut_ptr().cast(), buf.as_ptr().cast(), 17);
            assert_eq!(&dst[..], &buf[..17]);
            let x = *b"abcdefghijklmnopq";
            let mut y = x;
            assert_eq!(memcmp(x.as_ptr().cast(), y.as_ptr().cast(), 17), 0);
            y[12] = b'a';
            assert!(memcmp(x.as_ptr().cast(), y.as_ptr().cast(), 17) > 0);
            assert_eq!(bcmp(x.as_ptr().cast(), y.as_ptr().cast(), 12), 0);
            assert_eq!(bcmp(x.as_ptr().cast(), y.as_ptr().cast(), 13), 1);
            assert_eq!(strlen(c"hello".as_ptr()), 5);
        }
    }
}
