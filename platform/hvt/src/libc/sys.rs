//! Console output, clocks, sleeping, randomness, `syscall`, `dlsym`, process and signal
//! functions, and the file functions (which all fail: an hvt guest has no files).
#![allow(non_snake_case)]

use core::ffi::{CStr, c_char, c_int, c_long, c_void};
use core::ptr;

use super::errno::{EAGAIN, EBADF, EINVAL, ENOENT, ENOSYS, ENOTTY, EPERM, ERANGE, ETIMEDOUT};
use super::{errno_ptr, fail, fail_long};
use crate::cell::RacyCell;
use crate::{console, hypercall, random, time};

// --- output ---

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: usize) -> isize {
    if fd != 1 && fd != 2 {
        return fail_long(EBADF);
    }
    if n > 0 {
        // SAFETY: the C contract: `buf` readable for `n` bytes.
        console::write(unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), n) });
    }
    n as isize
}

#[repr(C)]
struct Iovec {
    base: *const u8,
    len: usize,
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn writev(fd: c_int, iov: *const Iovec, count: c_int) -> isize {
    if fd != 1 && fd != 2 {
        return fail_long(EBADF);
    }
    if !(0..=1024).contains(&count) {
        return fail_long(EINVAL);
    }
    let mut total = 0usize;
    for i in 0..count as usize {
        // SAFETY: the C contract: `count` iovecs, each naming readable memory.
        let v = unsafe { &*iov.add(i) };
        if v.len > 0 {
            // SAFETY: as above.
            console::write(unsafe { core::slice::from_raw_parts(v.base, v.len) });
        }
        total += v.len;
    }
    total as isize
}

// --- files: there are none. stdin is at end of file; 0, 1 and 2 are open. ---

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn read(fd: c_int, _buf: *mut c_void, _n: usize) -> isize {
    if fd == 0 { 0 } else { fail_long(EBADF) }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn open(_path: *const c_char, _flags: c_int, _mode: c_int) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn open64(_path: *const c_char, _flags: c_int, _mode: c_int) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn openat(_dir: c_int, _path: *const c_char, _flags: c_int, _mode: c_int) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn openat64(_dir: c_int, _path: *const c_char, _flags: c_int, _mode: c_int) -> c_int {
    fail(ENOSYS)
}

fn std_fd(fd: c_int) -> bool {
    (0..=2).contains(&fd)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn close(fd: c_int) -> c_int {
    if std_fd(fd) { 0 } else { fail(EBADF) }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn fcntl(fd: c_int, _cmd: c_int, _arg: c_long) -> c_int {
    if std_fd(fd) { 0 } else { fail(EBADF) }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    fcntl(fd, cmd, arg)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn ioctl(_fd: c_int, _req: c_long, _arg: c_long) -> c_int {
    fail(ENOTTY)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn isatty(_fd: c_int) -> c_int {
    fail(ENOTTY);
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn dup(_fd: c_int) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn dup2(_fd: c_int, _to: c_int) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn lseek(_fd: c_int, _off: i64, _whence: c_int) -> i64 {
    fail(ENOSYS).into()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn lseek64(_fd: c_int, _off: i64, _whence: c_int) -> i64 {
    fail(ENOSYS).into()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn fstat(_fd: c_int, _st: *mut c_void) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn fstat64(_fd: c_int, _st: *mut c_void) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn stat(_path: *const c_char, _st: *mut c_void) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn stat64(_path: *const c_char, _st: *mut c_void) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn lstat(_path: *const c_char, _st: *mut c_void) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn lstat64(_path: *const c_char, _st: *mut c_void) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn fstatat64(_dir: c_int, _path: *const c_char, _st: *mut c_void, _flags: c_int) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn statx(_dir: c_int, _path: *const c_char, _flags: c_int, _mask: u32, _buf: *mut c_void) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn readlink(_path: *const c_char, _buf: *mut c_char, _n: usize) -> isize {
    fail_long(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn realpath(_path: *const c_char, _out: *mut c_char) -> *mut c_char {
    fail(ENOSYS);
    ptr::null_mut()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn getcwd(_buf: *mut c_char, _n: usize) -> *mut c_char {
    fail(ENOSYS);
    ptr::null_mut()
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

const POLLNVAL: i16 = 0x20;

/// fds 0, 1 and 2 are valid and never ready; anything else is `POLLNVAL`. Never waits
/// (std only uses it at start-up to check that 0–2 are open).
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn poll(fds: *mut PollFd, n: u64, _timeout_ms: c_int) -> c_int {
    let mut ready = 0;
    for i in 0..n as usize {
        // SAFETY: the C contract: `n` writable pollfds.
        let p = unsafe { &mut *fds.add(i) };
        p.revents = if std_fd(p.fd) || p.fd < 0 { 0 } else { POLLNVAL };
        if p.revents != 0 {
            ready += 1;
        }
    }
    ready
}

// --- clocks and sleeping ---

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

const CLOCK_REALTIME: c_int = 0;
const CLOCK_REALTIME_COARSE: c_int = 5;
const CLOCK_REALTIME_ALARM: c_int = 8;
const NSEC: u64 = 1_000_000_000;

fn clock_ns(clock: c_int) -> Option<u64> {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_REALTIME_ALARM | 11 => Some(time::wall_ns()),
        // MONOTONIC, PROCESS/THREAD_CPUTIME, MONOTONIC_RAW/_COARSE, BOOTTIME(_ALARM):
        // all the TSC clock (there is one thread and nothing else runs).
        1 | 2 | 3 | 4 | 6 | 7 | 9 => Some(time::monotonic_ns()),
        _ => None,
    }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int {
    let Some(ns) = clock_ns(clock) else { return fail(EINVAL) };
    // SAFETY: the C contract: `ts` writable.
    unsafe { ts.write(Timespec { sec: (ns / NSEC) as i64, nsec: (ns % NSEC) as i64 }) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn clock_getres(clock: c_int, ts: *mut Timespec) -> c_int {
    if clock_ns(clock).is_none() {
        return fail(EINVAL);
    }
    if !ts.is_null() {
        // SAFETY: the C contract: `ts` null or writable.
        unsafe { ts.write(Timespec { sec: 0, nsec: 1 }) };
    }
    0
}

fn timespec_ns(ts: &Timespec) -> Option<u64> {
    if ts.sec < 0 || !(0..NSEC as i64).contains(&ts.nsec) {
        return None;
    }
    Some((ts.sec as u64).saturating_mul(NSEC).saturating_add(ts.nsec as u64))
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn nanosleep(req: *const Timespec, rem: *mut Timespec) -> c_int {
    // SAFETY: the C contract: `req` readable.
    let Some(ns) = timespec_ns(unsafe { &*req }) else { return fail(EINVAL) };
    time::sleep_ns(ns);
    if !rem.is_null() {
        // SAFETY: the C contract: `rem` null or writable.
        unsafe { rem.write(Timespec { sec: 0, nsec: 0 }) };
    }
    0
}

const TIMER_ABSTIME: c_int = 1;

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn clock_nanosleep(clock: c_int, flags: c_int, req: *const Timespec, rem: *mut Timespec) -> c_int {
    let Some(now) = clock_ns(clock) else { return EINVAL };
    // SAFETY: the C contract: `req` readable.
    let Some(ns) = timespec_ns(unsafe { &*req }) else { return EINVAL };
    let ns = if flags & TIMER_ABSTIME != 0 { ns.saturating_sub(now) } else { ns };
    time::sleep_ns(ns);
    if !rem.is_null() {
        // SAFETY: the C contract: `rem` null or writable.
        unsafe { rem.write(Timespec { sec: 0, nsec: 0 }) };
    }
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn sched_yield() -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn usleep(us: u32) -> c_int {
    time::sleep_ns(u64::from(us) * 1000);
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn sleep(s: u32) -> u32 {
    time::sleep_ns(u64::from(s) * NSEC);
    0
}

// --- randomness: one CSPRNG behind getrandom, getentropy, syscall and dlsym ---

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn getrandom(buf: *mut c_void, n: usize, _flags: u32) -> isize {
    if n > 0 {
        // SAFETY: the C contract: `buf` writable for `n` bytes.
        random::fill(unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), n) });
    }
    n as isize
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn getentropy(buf: *mut c_void, n: usize) -> c_int {
    if n > 256 {
        return fail(EINVAL);
    }
    // SAFETY: the C contract: `buf` writable for `n` bytes.
    unsafe { getrandom(buf, n, 0) };
    0
}

const SYS_SCHED_YIELD: c_long = 24;
const SYS_GETPID: c_long = 39;
const SYS_GETTID: c_long = 186;
const SYS_FUTEX: c_long = 202;
const SYS_CLOCK_GETTIME: c_long = 228;
const SYS_GETRANDOM: c_long = 318;

const FUTEX_WAIT: c_long = 0;
const FUTEX_WAKE: c_long = 1;
const FUTEX_WAIT_BITSET: c_long = 9;
const FUTEX_WAKE_BITSET: c_long = 10;
const FUTEX_CLOCK_REALTIME: c_long = 256;

/// futex with one thread: a wake wakes nobody; a wait whose value still matches can only
/// end by its timeout (without one it would hang forever, so the guest stops instead).
///
/// # Safety
///
/// The futex contract: `uaddr` readable, `timeout` null or readable.
unsafe fn futex(uaddr: *const u32, op: c_long, val: c_long, timeout: *const Timespec) -> c_long {
    let cmd = op & 0x7f;
    match cmd {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => 0,
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            // SAFETY: per the caller.
            if unsafe { uaddr.read_volatile() } != val as u32 {
                return fail_long(EAGAIN) as c_long;
            }
            if timeout.is_null() {
                crate::console::write_str("platform-hvt: futex wait with no other thread to wake it (deadlock)\n");
                crate::abort();
            }
            // SAFETY: per the caller.
            let Some(ns) = timespec_ns(unsafe { &*timeout }) else { return fail_long(EINVAL) as c_long };
            let ns = if cmd == FUTEX_WAIT_BITSET {
                let now = if op & FUTEX_CLOCK_REALTIME != 0 { time::wall_ns() } else { time::monotonic_ns() };
                ns.saturating_sub(now)
            } else {
                ns
            };
            time::sleep_ns(ns);
            fail_long(ETIMEDOUT) as c_long
        }
        _ => fail_long(ENOSYS) as c_long,
    }
}

/// `long syscall(long nr, ...)`: variadic in C, but on x86_64 the first six integer
/// arguments travel in the same registers either way, so fixed parameters read them.
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn syscall(nr: c_long, a1: c_long, a2: c_long, a3: c_long, _a4: c_long, _a5: c_long) -> c_long {
    match nr {
        // SAFETY: getrandom(buf, len, flags) with the caller's arguments.
        SYS_GETRANDOM => unsafe { getrandom(a1 as *mut c_void, a2 as usize, a3 as u32) as c_long },
        // SAFETY: futex(uaddr, op, val, timeout) with the caller's arguments.
        SYS_FUTEX => unsafe { futex(a1 as *const u32, a2, a3, _a4 as *const Timespec) },
        SYS_GETTID | SYS_GETPID => 1,
        SYS_SCHED_YIELD => 0,
        // SAFETY: clock_gettime(clock, ts) with the caller's arguments.
        SYS_CLOCK_GETTIME => unsafe { clock_gettime(a1 as c_int, a2 as *mut Timespec).into() },
        _ => fail_long(ENOSYS) as c_long,
    }
}

// --- dynamic symbols: only getrandom can be looked up (getrandom 0.3/0.4 do that) ---

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn dlsym(_handle: *mut c_void, name: *const c_char) -> *mut c_void {
    // SAFETY: the C contract: `name` is NUL-terminated.
    match unsafe { CStr::from_ptr(name) }.to_bytes() {
        b"getrandom" => getrandom as *const () as *mut c_void,
        b"getentropy" => getentropy as *const () as *mut c_void,
        _ => ptr::null_mut(),
    }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn dlerror() -> *const c_char {
    c"dynamic loading is not available on hvt".as_ptr()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn dl_iterate_phdr(_cb: *const c_void, _data: *mut c_void) -> c_int {
    0
}

// --- process ---

const AT_PAGESZ: u64 = 6;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn getauxval(kind: u64) -> u64 {
    match kind {
        AT_PAGESZ => 4096,
        AT_CLKTCK => 100,
        AT_HWCAP => u64::from(core::arch::x86_64::__cpuid(1).edx),
        _ => {
            fail(ENOENT);
            0
        }
    }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn sysconf(name: c_int) -> c_long {
    match name {
        2 => 100,                                             // _SC_CLK_TCK
        4 => 1024,                                            // _SC_OPEN_MAX
        30 => 4096,                                           // _SC_PAGESIZE
        83 | 84 => 1,                                         // _SC_NPROCESSORS_CONF / _ONLN
        85 => (crate::boot_info().mem_size / 4096) as c_long, // _SC_PHYS_PAGES
        249 => 2048,                                          // _SC_MINSIGSTKSZ
        250 => 8192,                                          // _SC_SIGSTKSZ
        _ => fail(EINVAL).into(),
    }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn getenv(_name: *const c_char) -> *mut c_char {
    ptr::null_mut()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn secure_getenv(_name: *const c_char) -> *mut c_char {
    ptr::null_mut()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn setenv(_name: *const c_char, _value: *const c_char, _overwrite: c_int) -> c_int {
    fail(ENOSYS)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn unsetenv(_name: *const c_char) -> c_int {
    fail(ENOSYS)
}

/// The (empty) environment: a pointer to a null pointer, set by the start-up code.
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
#[allow(non_upper_case_globals)]
static mut environ: *const *const c_char = ptr::null();

/// Points `environ` at `envp` (start-up only).
pub(crate) fn set_environ(envp: *const *const c_char) {
    // SAFETY: single vCPU; written once at start-up before any reader runs.
    unsafe { (&raw mut environ).write(envp) };
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn getpid() -> c_int {
    1
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn getppid() -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn gettid() -> c_int {
    1
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn getuid() -> u32 {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn geteuid() -> u32 {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn getgid() -> u32 {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn getegid() -> u32 {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn exit(status: c_int) -> ! {
    hypercall::halt(status, 0)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _exit(status: c_int) -> ! {
    hypercall::halt(status, 0)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Exit(status: c_int) -> ! {
    hypercall::halt(status, 0)
}

/// HALT with 255 (std's panic=abort path ends here after printing the message).
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn abort() -> ! {
    console::write_str("platform-hvt: abort\n");
    crate::abort()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn __stack_chk_fail() -> ! {
    console::write_str("platform-hvt: stack corruption detected\n");
    crate::abort()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn __errno_location() -> *mut c_int {
    errno_ptr()
}

fn error_text(e: c_int) -> &'static str {
    match e {
        0 => "Success",
        EPERM => "Operation not permitted",
        ENOENT => "No such file or directory",
        super::errno::ESRCH => "No such process",
        super::errno::EINTR => "Interrupted system call",
        EBADF => "Bad file descriptor",
        EAGAIN => "Resource temporarily unavailable",
        super::errno::ENOMEM => "Cannot allocate memory",
        super::errno::EFAULT => "Bad address",
        EINVAL => "Invalid argument",
        ENOTTY => "Inappropriate ioctl for device",
        ERANGE => "Numerical result out of range",
        ENOSYS => "Function not implemented",
        ETIMEDOUT => "Connection timed out",
        _ => "Unknown error",
    }
}

/// XSI `strerror_r` (what Rust std calls): the message for `e` into `buf`.
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn __xpg_strerror_r(e: c_int, buf: *mut c_char, len: usize) -> c_int {
    let text = error_text(e).as_bytes();
    if len == 0 {
        return ERANGE;
    }
    let n = text.len().min(len - 1);
    // SAFETY: the C contract: `buf` writable for `len` bytes; we write `n + 1 <= len`.
    unsafe {
        ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
    if n < text.len() { ERANGE } else { 0 }
}

/// Thread-local destructors never run: the guest's one thread ends with HALT.
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn __cxa_thread_atexit_impl(_dtor: *const c_void, _obj: *mut c_void, _dso: *mut c_void) -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn __cxa_atexit(_f: *const c_void, _arg: *mut c_void, _dso: *mut c_void) -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn atexit(_f: *const c_void) -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn __cxa_finalize(_dso: *mut c_void) {}

// --- signals: never delivered; handlers are accepted and ignored ---

/// Size of glibc's `struct sigaction` on x86_64.
const SIGACTION_SIZE: usize = 152;
/// Size of `sigset_t`.
const SIGSET_SIZE: usize = 128;
const SS_DISABLE: c_int = 2;

#[repr(C)]
#[derive(Clone, Copy)]
struct StackT {
    sp: *mut c_void,
    flags: c_int,
    size: usize,
}

static ALT_STACK: RacyCell<StackT> = RacyCell::new(StackT { sp: ptr::null_mut(), flags: SS_DISABLE, size: 0 });

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn sigaction(sig: c_int, _act: *const c_void, old: *mut c_void) -> c_int {
    if !(1..=64).contains(&sig) {
        return fail(EINVAL);
    }
    if !old.is_null() {
        // SAFETY: the C contract: `old` writable; zero = SIG_DFL, no flags, empty mask.
        unsafe { old.cast::<u8>().write_bytes(0, SIGACTION_SIZE) };
    }
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn sigaltstack(new: *const StackT, old: *mut StackT) -> c_int {
    // SAFETY: single vCPU; the C contract: `new`/`old` null or valid.
    unsafe {
        if !old.is_null() {
            old.write(*ALT_STACK.get());
        }
        if !new.is_null() {
            *ALT_STACK.get() = *new;
        }
    }
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn signal(_sig: c_int, _handler: usize) -> usize {
    0 // SIG_DFL: the previous disposition
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn sigemptyset(set: *mut c_void) -> c_int {
    // SAFETY: the C contract: `set` is a writable sigset_t.
    unsafe { set.cast::<u8>().write_bytes(0, SIGSET_SIZE) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn sigfillset(set: *mut c_void) -> c_int {
    // SAFETY: the C contract: `set` is a writable sigset_t.
    unsafe { set.cast::<u8>().write_bytes(0xff, SIGSET_SIZE) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn sigaddset(_set: *mut c_void, _sig: c_int) -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn sigdelset(_set: *mut c_void, _sig: c_int) -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn sigprocmask(_how: c_int, _set: *const c_void, old: *mut c_void) -> c_int {
    if !old.is_null() {
        // SAFETY: the C contract: `old` null or a writable sigset_t.
        unsafe { sigemptyset(old) };
    }
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_sigmask(how: c_int, set: *const c_void, old: *mut c_void) -> c_int {
    // SAFETY: same contract as sigprocmask.
    unsafe { sigprocmask(how, set, old) }
}

const SIGABRT: c_int = 6;

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn raise(sig: c_int) -> c_int {
    if sig == SIGABRT {
        abort();
    }
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn kill(_pid: c_int, _sig: c_int) -> c_int {
    fail(EPERM)
}

/// No signal ever arrives: sleep forever (in POLL, so the host is not kept busy).
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pause() -> c_int {
    loop {
        hypercall::poll(NSEC * 3600);
    }
}
