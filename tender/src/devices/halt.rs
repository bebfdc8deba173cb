//! HALT: ends the guest with its exit status.

use crate::mem::{AccessError, GuestMemory};

/// `struct hvt_hc_halt { u64 cookie; i32 exit_status; }`. The cookie (a trap frame the
/// guest may pass on a fatal exception) is only used by upstream's core dumps, which this
/// tender does not write, so it is not read.
pub fn halt(mem: &GuestMemory, arg: u64) -> Result<i32, AccessError> {
    let s = mem.slice(arg, 16)?;
    Ok(i32::from_le_bytes(s[8..12].try_into().expect("4 bytes")))
}
