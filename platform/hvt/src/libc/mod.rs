//! The small libc that Rust std (x86_64-unknown-linux-gnu) and our dependencies import,
//! implemented over hypercalls. No glibc, no `syscall` instruction.
//!
//! What each group does:
//! - [`mem`]: `memcpy memmove memset memcmp bcmp strlen` (`rep movsb`/`rep stosb` and
//!   plain loops that cannot be turned back into calls to themselves);
//! - [`malloc`]: `malloc calloc realloc free posix_memalign aligned_alloc memalign` over
//!   the runtime's heap, and anonymous `mmap`/`munmap`/`mprotect`;
//! - [`sys`]: `write`/`writev` to fd 1 and 2 (PUTS), `clock_gettime` (TSC, WALLTIME),
//!   `nanosleep` (POLL), `getrandom`, `syscall` (getrandom, futex, gettid), `dlsym`,
//!   `getauxval`, `sysconf`, `getenv`, signals (accepted and ignored), files (ENOSYS /
//!   EBADF), `exit`/`abort` (HALT), errno and `strerror`;
//! - [`pthread`]: single-threaded keys, mutexes, attributes with the real stack bounds;
//! - [`unwind`]: `_Unwind_*` stubs (panic=abort images still link std's unwinding code).
//!
//! The symbols are exported (`no_mangle`) only when built with `--cfg solo5_hvt`; on the
//! host the same functions are ordinary private functions so that they can be unit-tested
//! without clashing with the host's libc.
// On the host this module is compiled for its unit tests only (see lib.rs), which call
// some of the functions.
#![cfg_attr(all(test, not(solo5_hvt)), allow(dead_code))]

pub(crate) mod malloc;
pub(crate) mod mem;
pub(crate) mod pthread;
pub(crate) mod sys;
pub(crate) mod unwind;

use core::ffi::c_int;

use crate::cell::RacyCell;

/// errno values (Linux, x86_64).
pub(crate) mod errno {
    use core::ffi::c_int;
    pub const EPERM: c_int = 1;
    pub const ENOENT: c_int = 2;
    pub const ESRCH: c_int = 3;
    pub const EINTR: c_int = 4;
    pub const EBADF: c_int = 9;
    pub const EAGAIN: c_int = 11;
    pub const ENOMEM: c_int = 12;
    pub const EFAULT: c_int = 14;
    pub const EINVAL: c_int = 22;
    pub const ENOTTY: c_int = 25;
    pub const ERANGE: c_int = 34;
    pub const ENOSYS: c_int = 38;
    pub const ETIMEDOUT: c_int = 110;
}

/// The one errno (one thread, so no TLS needed; usable before TLS is set up).
static ERRNO: RacyCell<c_int> = RacyCell::new(0);

pub(crate) fn errno_ptr() -> *mut c_int {
    ERRNO.get()
}

/// Sets errno and returns -1, the usual failure return.
pub(crate) fn fail(e: c_int) -> c_int {
    // SAFETY: single vCPU, no interrupts; nothing holds a reference to ERRNO.
    unsafe { *ERRNO.get() = e };
    -1
}

/// Like [`fail`] for functions returning `long`/`ssize_t`.
pub(crate) fn fail_long(e: c_int) -> isize {
    fail(e) as isize
}
