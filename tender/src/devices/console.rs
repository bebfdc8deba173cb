//! PUTS: guest console output, one `write(1, ...)` per hypercall (best effort).

use crate::mem::{AccessError, GuestMemory};

/// `struct hvt_hc_puts { u64 data; u64 len; }`
pub fn puts(mem: &GuestMemory, arg: u64) -> Result<(), AccessError> {
    mem.slice(arg, 16)?;
    let data = mem.read_u64(arg)?;
    let len = mem.read_u64(arg + 8)?;
    let buf = mem.slice(data, len)?;
    // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes for the whole call.
    // The console is best effort (ABI §1.7): a failed or short write is ignored.
    let _ = unsafe { libc::write(1, buf.as_ptr().cast(), buf.len()) };
    Ok(())
}
