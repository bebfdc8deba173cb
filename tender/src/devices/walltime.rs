//! WALLTIME: host `CLOCK_REALTIME` in nanoseconds since the epoch.

use super::{Action, Devices, Module, acc};
use crate::mem::GuestMemory;
use hvt_abi::{HcWalltime, Hypercall};

pub static MODULE: Module = Module::core("walltime", &[Hypercall::Walltime], walltime);

fn walltime(_: &mut Devices, _: Hypercall, arg: u64, mem: &mut GuestMemory) -> Result<Action, String> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // The system call itself, not the vDSO: the seccomp allowlist names clock_gettime, and
    // whether the vDSO falls back to it depends on the host's clocksource. One call per
    // WALLTIME, which guests cache anyway.
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
    unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_REALTIME, &mut ts as *mut libc::timespec) };
    let nsecs = (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64);
    mem.write(arg, &HcWalltime { nsecs }).map_err(acc)?;
    Ok(Action::Continue)
}
