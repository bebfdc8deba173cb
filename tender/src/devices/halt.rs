//! HALT: ends the guest with its exit status.

use super::{Action, Devices, Module, acc};
use crate::mem::GuestMemory;
use hvt_abi::{HcHalt, Hypercall};

pub static MODULE: Module = Module::core("halt", &[Hypercall::Halt], halt);

/// The cookie (a trap frame the guest may pass on a fatal exception) is only used by
/// upstream's core dumps, which this tender does not write, so it is not read.
fn halt(_: &mut Devices, _: Hypercall, arg: u64, mem: &mut GuestMemory) -> Result<Action, String> {
    let a: HcHalt = mem.read(arg).map_err(acc)?;
    Ok(Action::Halt(a.exit_status))
}
