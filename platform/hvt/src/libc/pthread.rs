//! pthreads for a guest with exactly one thread: keys are a table, locks always succeed
//! at once (nobody else can hold them), thread creation fails, and the attributes of the
//! one thread report the real stack bounds (std's main-thread guard code reads them).

use core::ffi::{c_int, c_void};
use core::ptr;

use super::errno::{EAGAIN, EINVAL, ESRCH, ETIMEDOUT};
use crate::cell::RacyCell;

/// The one thread's id (any non-zero value; std only compares and passes it back).
const SELF: usize = 1;

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_self() -> usize {
    SELF
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_equal(a: usize, b: usize) -> c_int {
    c_int::from(a == b)
}

/// Our layout inside the caller's (56-byte, opaque) `pthread_attr_t`.
#[repr(C)]
struct Attr {
    stack_addr: usize,
    stack_size: usize,
    guard_size: usize,
}

const _: () = assert!(size_of::<Attr>() <= 56);

/// Lowest address and size of the stack: the reserve at the top of guest memory.
pub(crate) fn stack_bounds() -> (usize, usize) {
    let (_, heap_end) = crate::start::heap_region();
    (heap_end, crate::start::STACK_RESERVE)
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_getattr_np(thread: usize, attr: *mut Attr) -> c_int {
    if thread != SELF {
        return ESRCH;
    }
    let (stack_addr, stack_size) = stack_bounds();
    // SAFETY: the C contract: `attr` is a writable pthread_attr_t.
    unsafe { attr.write(Attr { stack_addr, stack_size, guard_size: 4096 }) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_attr_init(attr: *mut Attr) -> c_int {
    // SAFETY: the C contract: `attr` is a writable pthread_attr_t.
    unsafe { attr.write(Attr { stack_addr: 0, stack_size: 0, guard_size: 4096 }) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_attr_destroy(_attr: *mut Attr) -> c_int {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_attr_getstack(attr: *const Attr, addr: *mut usize, size: *mut usize) -> c_int {
    // SAFETY: the C contract: `attr` initialised, `addr`/`size` writable.
    unsafe {
        addr.write((*attr).stack_addr);
        size.write((*attr).stack_size);
    }
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_attr_getstacksize(attr: *const Attr, size: *mut usize) -> c_int {
    // SAFETY: the C contract: `attr` initialised, `size` writable.
    unsafe { size.write((*attr).stack_size) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_attr_setstacksize(attr: *mut Attr, size: usize) -> c_int {
    // SAFETY: the C contract: `attr` initialised.
    unsafe { (*attr).stack_size = size };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_attr_getguardsize(attr: *const Attr, size: *mut usize) -> c_int {
    // SAFETY: the C contract: `attr` initialised, `size` writable.
    unsafe { size.write((*attr).guard_size) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_create(_t: *mut usize, _a: *const Attr, _f: *const c_void, _arg: *mut c_void) -> c_int {
    EAGAIN // no threads on hvt
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_join(_t: usize, _ret: *mut *mut c_void) -> c_int {
    ESRCH
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_detach(_t: usize) -> c_int {
    ESRCH
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_setname_np(_t: usize, _name: *const u8) -> c_int {
    0
}

// --- keys ---

const KEYS: usize = 256;

struct Keys {
    used: [bool; KEYS],
    values: [*mut c_void; KEYS],
}

static KEY_TABLE: RacyCell<Keys> = RacyCell::new(Keys { used: [false; KEYS], values: [ptr::null_mut(); KEYS] });

fn keys() -> &'static mut Keys {
    // SAFETY: single vCPU; every user below takes this reference for one short,
    // non-reentrant access.
    unsafe { &mut *KEY_TABLE.get() }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_key_create(key: *mut u32, _dtor: *const c_void) -> c_int {
    let k = keys();
    let Some(i) = k.used.iter().position(|u| !u) else { return EAGAIN };
    k.used[i] = true;
    k.values[i] = ptr::null_mut();
    // SAFETY: the C contract: `key` writable.
    unsafe { key.write(i as u32) };
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_key_delete(key: u32) -> c_int {
    let k = keys();
    match k.used.get_mut(key as usize) {
        Some(u) if *u => {
            *u = false;
            0
        }
        _ => EINVAL,
    }
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_getspecific(key: u32) -> *mut c_void {
    keys().values.get(key as usize).copied().unwrap_or(ptr::null_mut())
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_setspecific(key: u32, value: *mut c_void) -> c_int {
    match keys().values.get_mut(key as usize) {
        Some(v) => {
            *v = value;
            0
        }
        None => EINVAL,
    }
}

// --- locks: uncontended by construction ---

macro_rules! succeed {
    ($($name:ident($($arg:ident: $t:ty),*)),* $(,)?) => {
        $(
            #[cfg_attr(solo5_hvt, unsafe(no_mangle))]
            extern "C" fn $name($($arg: $t),*) -> c_int {
                let _ = ($($arg,)*);
                0
            }
        )*
    };
}

succeed!(
    pthread_mutex_init(m: *mut c_void, a: *const c_void),
    pthread_mutex_lock(m: *mut c_void),
    pthread_mutex_trylock(m: *mut c_void),
    pthread_mutex_unlock(m: *mut c_void),
    pthread_mutex_destroy(m: *mut c_void),
    pthread_mutexattr_init(a: *mut c_void),
    pthread_mutexattr_settype(a: *mut c_void, t: c_int),
    pthread_mutexattr_destroy(a: *mut c_void),
    pthread_rwlock_init(l: *mut c_void, a: *const c_void),
    pthread_rwlock_rdlock(l: *mut c_void),
    pthread_rwlock_wrlock(l: *mut c_void),
    pthread_rwlock_unlock(l: *mut c_void),
    pthread_rwlock_destroy(l: *mut c_void),
    pthread_cond_init(c: *mut c_void, a: *const c_void),
    pthread_cond_signal(c: *mut c_void),
    pthread_cond_broadcast(c: *mut c_void),
    pthread_cond_destroy(c: *mut c_void),
    pthread_condattr_init(a: *mut c_void),
    pthread_condattr_setclock(a: *mut c_void, c: c_int),
    pthread_condattr_destroy(a: *mut c_void),
);

/// Waiting for a condition nobody else can signal: a deadlock, so the guest stops.
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn pthread_cond_wait(_c: *mut c_void, _m: *mut c_void) -> c_int {
    crate::console::write_str("platform-hvt: pthread_cond_wait with no other thread (deadlock)\n");
    crate::abort()
}

/// Sleeps until the (CLOCK_MONOTONIC or CLOCK_REALTIME, absolute) deadline; nobody can
/// signal the condition, so this always times out.
#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_cond_timedwait(_c: *mut c_void, _m: *mut c_void, abstime: *const [i64; 2]) -> c_int {
    // SAFETY: the C contract: `abstime` is a readable timespec.
    let [sec, nsec] = unsafe { *abstime };
    let deadline = (sec.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(nsec.max(0) as u64);
    // The clock is unknown here (it is in the condattr); a deadline far above the
    // monotonic clock is a wall-clock one.
    let now = crate::time::monotonic_ns();
    let now = if deadline > now.saturating_mul(4) + 1_000_000_000_000_000 { crate::time::wall_ns() } else { now };
    crate::time::sleep_ns(deadline.saturating_sub(now));
    ETIMEDOUT
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn pthread_once(once: *mut c_int, init: extern "C" fn()) -> c_int {
    // SAFETY: the C contract: `once` is a pthread_once_t (an int, 0 until run).
    unsafe {
        if once.read() == 0 {
            once.write(1);
            init();
        }
    }
    0
}
