//! PUTS: guest console output, one `write(1, ...)` per hypercall (best effort).

use super::{Action, Devices, Module, acc};
use crate::mem::GuestMemory;
use hvt_abi::{HcPuts, Hypercall};

pub static MODULE: Module = Module::core("console", &[Hypercall::Puts], puts);

fn puts(_d: &mut Devices, _: Hypercall, arg: u64, mem: &mut GuestMemory) -> Result<Action, String> {
    #[cfg(feature = "test-hooks")]
    if _d.test_forbidden_syscall {
        // SAFETY: getppid has no arguments and no memory effects; under the seccomp
        // filter it is not allowed and ends the process.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let a: HcPuts = mem.read(arg).map_err(acc)?;
    let buf = mem.slice(a.data, a.len).map_err(acc)?;
    // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes for the whole call.
    // The console is best effort (ABI §1.7): a failed or short write is ignored.
    let _ = unsafe { libc::write(1, buf.as_ptr().cast(), buf.len()) };
    Ok(Action::Continue)
}
