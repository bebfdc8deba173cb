//! BLOCK_READ / BLOCK_WRITE over a host file (`--block:NAME=FILE`).
//!
//! Positional I/O (`pread64`/`pwrite64`) of exactly `len` bytes. Out-of-range, misaligned
//! or oversized requests get `EINVAL`; a host I/O error or short transfer is fatal.
//!
//! The file is opened with `O_DSYNC`: the hvt ABI has no flush hypercall, so a write is
//! durable when BLOCK_WRITE returns, and a guest may acknowledge what it wrote (a DHCP
//! lease, a git object) as soon as the hypercall completes. Upstream's tender writes
//! through the page cache, where a host crash can lose writes the guest saw complete.

use crate::abi;
use crate::mem::GuestMemory;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

pub struct Block {
    file: File,
    pub capacity: u64,
    pub block_size: u16,
}

impl Block {
    pub fn open(path: &str, block_size: u16) -> Result<Block, String> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DSYNC)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        let capacity = file.seek(SeekFrom::End(0)).map_err(|e| format!("{path}: {e}"))?;
        let bs = u64::from(block_size);
        // Upstream's wording (its test suite matches on it), plus the path and size.
        if !capacity.is_multiple_of(bs) {
            return Err(format!(
                "Backing storage size must be block aligned ({block_size} bytes): {path} has {capacity} bytes, \
                 not a multiple of the sector size"
            ));
        }
        if capacity < bs {
            return Err(format!(
                "Backing storage must be at least 1 block ({block_size} bytes) in size: {path} is empty"
            ));
        }
        Ok(Block { file, capacity, block_size })
    }

    pub fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    fn valid(&self, offset: u64, len: u64) -> bool {
        let bs = u64::from(self.block_size);
        len <= isize::MAX as u64
            && offset < self.capacity
            && offset.checked_add(len).is_some_and(|end| end <= self.capacity)
            && offset.is_multiple_of(bs)
            && len.is_multiple_of(bs)
    }

    /// `struct hvt_hc_block_{read,write} { u64 handle, offset, data, len; i32 ret; }`;
    /// the handle has already been resolved to `self` by the caller.
    pub fn io(&self, mem: &mut GuestMemory, arg: u64, write: bool) -> Result<(), String> {
        let e = |e: crate::mem::AccessError| e.to_string();
        mem.slice_mut(arg, 40).map_err(e)?;
        let offset = mem.read_u64(arg + 8).map_err(e)?;
        let data = mem.read_u64(arg + 16).map_err(e)?;
        let len = mem.read_u64(arg + 24).map_err(e)?;
        if !self.valid(offset, len) {
            return mem.write_i32(arg + 32, abi::SOLO5_R_EINVAL).map_err(e);
        }
        if write {
            let buf = mem.slice(data, len).map_err(e)?;
            self.file.write_all_at(buf, offset).map_err(|err| format!("Fatal error: block write: {err}"))?;
        } else {
            let buf = mem.slice_mut(data, len).map_err(e)?;
            self.file.read_exact_at(buf, offset).map_err(|err| format!("Fatal error: block read: {err}"))?;
        }
        mem.write_i32(arg + 32, abi::SOLO5_R_OK).map_err(e)
    }
}
