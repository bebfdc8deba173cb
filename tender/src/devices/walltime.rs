//! WALLTIME: host `CLOCK_REALTIME` in nanoseconds since the epoch.

use crate::mem::{AccessError, GuestMemory};

/// `struct hvt_hc_walltime { u64 nsecs; }`
pub fn walltime(mem: &mut GuestMemory, arg: u64) -> Result<(), AccessError> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // The system call itself, not the vDSO: the seccomp allowlist names clock_gettime, and
    // whether the vDSO falls back to it depends on the host's clocksource. One call per
    // WALLTIME, which guests cache anyway.
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
    unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_REALTIME, &mut ts as *mut libc::timespec) };
    let ns = (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64);
    mem.write_u64(arg, ns)
}
