//! The one accessor through which the tender touches guest memory.
//!
//! Both engines hand device code a [`GuestMemory`]. Every access is checked against the
//! guest's memory size with overflow-checked arithmetic (`gpa` and `gpa + len` must both be
//! below `mem_size`, as upstream requires), against the lowest host-mapped address, and —
//! for writes — against the ranges the host has made read-only, so that no hypercall
//! argument can make the tender read or write outside the guest, or fault on a protected
//! page.

use hvt_abi::GuestStruct;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessError {
    pub gpa: u64,
    pub len: u64,
    pub write: bool,
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.write { " (write to read-only memory)" } else { "" };
        write!(f, "Invalid guest access: gpa={:#x}, sz={}{kind}", self.gpa, self.len)
    }
}

pub struct GuestMemory {
    /// Host address of guest-physical address 0 (0 for the process engine, where guest
    /// memory sits at its own addresses).
    host: usize,
    /// Guest RAM size: the exclusive upper bound of every access.
    mem_size: u64,
    /// Lowest guest-physical address that is mapped on the host.
    low: u64,
    /// `[start, end)` ranges the host has mapped read-only.
    readonly: Vec<(u64, u64)>,
}

impl GuestMemory {
    /// # Safety
    /// `host + low .. host + mem_size` must be a mapping owned by the caller that stays
    /// mapped, and readable, for the lifetime of the returned value; ranges that are not
    /// writable must be registered with [`GuestMemory::set_readonly`] before any write.
    pub unsafe fn new(host: usize, mem_size: u64, low: u64) -> GuestMemory {
        GuestMemory { host, mem_size, low, readonly: Vec::new() }
    }

    pub fn mem_size(&self) -> u64 {
        self.mem_size
    }

    /// Host address corresponding to `gpa` (no checks; for mprotect and KVM set-up).
    pub fn host_addr(&self, gpa: u64) -> usize {
        self.host + gpa as usize
    }

    /// Records that `[start, end)` is read-only on the host.
    pub fn set_readonly(&mut self, start: u64, end: u64) {
        self.readonly.push((start, end));
    }

    fn check(&self, gpa: u64, len: u64, write: bool) -> Result<usize, AccessError> {
        let err = AccessError { gpa, len, write: false };
        let end = gpa.checked_add(len).ok_or(err.clone())?;
        if gpa < self.low || gpa >= self.mem_size || end >= self.mem_size {
            return Err(err);
        }
        if write && self.readonly.iter().any(|&(s, e)| gpa < e && end > s) {
            return Err(AccessError { write: true, ..err });
        }
        Ok(self.host + gpa as usize)
    }

    /// A checked read-only view of `len` guest bytes at `gpa`.
    pub fn slice(&self, gpa: u64, len: u64) -> Result<&[u8], AccessError> {
        let addr = self.check(gpa, len, false)?;
        // SAFETY: `check` proved `[gpa, gpa+len)` lies inside the mapping that `new`'s
        // contract keeps alive and readable. The guest is stopped while the tender serves
        // it (vCPU exited, or the process engine's guest is suspended in its trap), so
        // nothing writes the bytes while the slice lives.
        Ok(unsafe { std::slice::from_raw_parts(std::ptr::with_exposed_provenance::<u8>(addr), len as usize) })
    }

    /// A checked writable view of `len` guest bytes at `gpa`.
    pub fn slice_mut(&mut self, gpa: u64, len: u64) -> Result<&mut [u8], AccessError> {
        let addr = self.check(gpa, len, true)?;
        // SAFETY: as in `slice`, plus: `check` rejected ranges the host mapped read-only,
        // and `&mut self` makes this the only view handed out by the accessor.
        Ok(unsafe { std::slice::from_raw_parts_mut(std::ptr::with_exposed_provenance_mut::<u8>(addr), len as usize) })
    }

    /// Copies a hypercall argument (or any [`GuestStruct`]) in from `gpa`.
    pub fn read<T: GuestStruct>(&self, gpa: u64) -> Result<T, AccessError> {
        let b = self.slice(gpa, T::SIZE as u64)?;
        Ok(T::read_from(b).expect("slice has SIZE bytes"))
    }

    /// Copies an in/out argument in from `gpa`, first checking that all of it is writable,
    /// so that a hypercall whose result cannot be stored fails before it acts.
    pub fn read_inout<T: GuestStruct>(&mut self, gpa: u64) -> Result<T, AccessError> {
        let b = self.slice_mut(gpa, T::SIZE as u64)?;
        Ok(T::read_from(b).expect("slice has SIZE bytes"))
    }

    /// Copies `v` back out to `gpa`.
    pub fn write<T: GuestStruct>(&mut self, gpa: u64, v: &T) -> Result<(), AccessError> {
        v.write_to(self.slice_mut(gpa, T::SIZE as u64)?);
        Ok(())
    }

    /// Set-up time write (image, boot info, page tables): bounds-checked against the whole
    /// allocation but not against read-only ranges, which the caller protects afterwards.
    pub fn setup_write(&mut self, gpa: u64, data: &[u8]) -> Result<(), AccessError> {
        let len = data.len() as u64;
        let err = AccessError { gpa, len, write: true };
        let end = gpa.checked_add(len).ok_or(err.clone())?;
        if gpa < self.low || end > self.mem_size {
            return Err(err);
        }
        // SAFETY: the range is inside the caller's mapping (checked above); set-up runs
        // before the guest, and before the host protections are applied.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                std::ptr::with_exposed_provenance_mut::<u8>(self.host + gpa as usize),
                data.len(),
            )
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(buf: &mut [u8]) -> GuestMemory {
        // SAFETY: `buf` outlives the accessor in each test.
        unsafe { GuestMemory::new(buf.as_mut_ptr().expose_provenance(), buf.len() as u64, 0) }
    }

    #[test]
    fn bounds_are_strict_and_overflow_checked() {
        let mut buf = vec![0u8; 4096];
        let mut m = mem(&mut buf);
        assert!(m.slice(0, 4095).is_ok());
        assert!(m.slice(0, 4096).is_err());
        assert!(m.slice(4095, 0).is_ok());
        assert!(m.slice(4096, 0).is_err());
        assert!(m.slice(u64::MAX, 2).is_err());
        assert!(m.slice(8, u64::MAX - 4).is_err());
        m.set_readonly(100, 200);
        assert!(m.slice_mut(199, 1).is_err());
        assert!(m.slice_mut(200, 8).is_ok());
        assert!(m.slice(150, 8).is_ok());
        m.write(8, &hvt_abi::HcWalltime { nsecs: 42 }).unwrap();
        assert_eq!(m.read::<hvt_abi::HcWalltime>(8).unwrap().nsecs, 42);
        assert!(m.read_inout::<hvt_abi::HcWalltime>(196).is_err());
        assert!(m.read::<hvt_abi::HcWalltime>(196).is_ok());
    }
}
