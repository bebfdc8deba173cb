//! BLOCK_READ / BLOCK_WRITE over a host file (`--block:NAME=FILE`).
//!
//! Positional I/O (`pread64`/`pwrite64`) of exactly `len` bytes. Out-of-range, misaligned
//! or oversized requests get `EINVAL`; a host I/O error or short transfer is fatal.
//!
//! The file is opened with `O_DSYNC`: the hvt ABI has no flush hypercall, so a write is
//! durable when BLOCK_WRITE returns, and a guest may acknowledge what it wrote (a DHCP
//! lease, a git object) as soon as the hypercall completes. Upstream's tender writes
//! through the page cache, where a host crash can lose writes the guest saw complete.

use super::{Action, Device, Devices, Module, Opt, acc, lookup};
use crate::cli::Config;
use crate::image::MftCopy;
use crate::mem::GuestMemory;
use hvt_abi::{DeviceType, HcBlockIo, Hypercall, MftDevInfo, result};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

pub static MODULE: Module = Module {
    name: "block",
    options: &[
        Opt {
            prefix: "--block:",
            usage: "--block:NAME=FILE           attach FILE as block device NAME",
            attaches: Some(DeviceType::BlockBasic),
        },
        Opt {
            prefix: "--block-sector-size:",
            usage: "--block-sector-size:NAME=N  sector size of NAME (power of two >= 512, default 512)",
            attaches: None,
        },
    ],
    check_option,
    check_config,
    setup,
    hypercalls: &[Hypercall::BlockWrite, Hypercall::BlockRead],
    handler: io,
};

fn sector_size(v: &str) -> Option<u16> {
    v.parse().ok().filter(|n: &u16| *n >= 512 && n.is_power_of_two())
}

fn check_option(opt: &str, prefix: &str, v: &str) -> Result<(), String> {
    if prefix == "--block-sector-size:" && sector_size(v).is_none() {
        return Err(format!("Block size must be a multiple of 2 greater than or equal 512 (power of two): `{opt}'"));
    }
    Ok(())
}

fn check_config(cfg: &Config) -> Result<(), String> {
    for (name, _) in cfg.opts("--block-sector-size:") {
        if cfg.opt("--block:", name).is_none() {
            return Err(format!("--block-sector-size:{name} given without --block:{name}"));
        }
    }
    Ok(())
}

fn setup(cfg: &Config, mft: &mut MftCopy, devs: &mut Devices) -> Result<(), String> {
    for (name, path) in cfg.opts("--block:") {
        let idx = lookup(mft, name, DeviceType::BlockBasic)?;
        let bs = cfg.opt("--block-sector-size:", name).and_then(sector_size).unwrap_or(512);
        let b = Block::open(path, bs).map_err(|e| format!("{name}: {e}"))?;
        mft.attach(idx, MftDevInfo::block(b.capacity, b.block_size), b.fd());
        devs.devs[idx] = Device::Block(b);
    }
    Ok(())
}

/// `struct hvt_hc_block_{read,write} { u64 handle, offset, data, len; i32 ret; }`
fn io(d: &mut Devices, hc: Hypercall, arg: u64, mem: &mut GuestMemory) -> Result<Action, String> {
    let mut a: HcBlockIo = mem.read_inout(arg).map_err(acc)?;
    a.ret = match d.device(a.handle) {
        Device::Block(b) => b.io(mem, &a, hc == Hypercall::BlockWrite)?,
        _ => result::EINVAL,
    };
    mem.write(arg, &a).map_err(acc)?;
    Ok(Action::Continue)
}

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

    /// Serves one BLOCK_READ/BLOCK_WRITE whose handle named this device; returns `ret`.
    fn io(&self, mem: &mut GuestMemory, a: &HcBlockIo, write: bool) -> Result<i32, String> {
        if !self.valid(a.offset, a.len) {
            return Ok(result::EINVAL);
        }
        if write {
            let buf = mem.slice(a.data, a.len).map_err(acc)?;
            self.file.write_all_at(buf, a.offset).map_err(|err| format!("Fatal error: block write: {err}"))?;
        } else {
            let buf = mem.slice_mut(a.data, a.len).map_err(acc)?;
            self.file.read_exact_at(buf, a.offset).map_err(|err| format!("Fatal error: block read: {err}"))?;
        }
        Ok(result::OK)
    }
}
