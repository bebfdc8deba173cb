//! `Block`: a device of fixed-size sectors.

use std::fmt;
use std::io;

/// Geometry of a block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Bytes per sector: a power of two, at least 512.
    pub sector_size: usize,
    /// Number of sectors.
    pub sectors: u64,
}

impl BlockInfo {
    pub fn capacity_bytes(&self) -> u64 {
        self.sectors * self.sector_size as u64
    }
}

/// Why a block operation failed.
#[derive(Debug)]
pub enum BlockError {
    /// The range `[sector, sector + len/sector_size)` lies (partly) past the end.
    OutOfRange { sector: u64, count: u64, sectors: u64 },
    /// The buffer length is not a non-zero multiple of the sector size.
    Misaligned { len: usize, sector_size: usize },
    /// The device failed.
    Io(io::Error),
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::OutOfRange { sector, count, sectors } => {
                write!(f, "sectors {sector}..{} are outside the device ({sectors} sectors)", sector + count)
            }
            BlockError::Misaligned { len, sector_size } => {
                write!(f, "buffer of {len} bytes is not a multiple of the {sector_size}-byte sector")
            }
            BlockError::Io(e) => write!(f, "block device failed: {e}"),
        }
    }
}

impl std::error::Error for BlockError {}

impl From<io::Error> for BlockError {
    fn from(e: io::Error) -> Self {
        BlockError::Io(e)
    }
}

/// A block device.
///
/// Contract:
/// * `read`/`write` transfer whole sectors starting at `sector`; the buffer
///   length must be a non-zero multiple of `info().sector_size`, else
///   [`BlockError::Misaligned`]; a range past the end is
///   [`BlockError::OutOfRange`] and transfers nothing;
/// * a transfer is all or nothing;
/// * data written is durable only after [`Block::flush`] returns `Ok`: a
///   crash (kill -9, power cut) may lose unflushed writes, never flushed ones;
/// * calls may block the appliance while the device works.
pub trait Block {
    fn info(&self) -> BlockInfo;
    fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    fn write(&self, sector: u64, buf: &[u8]) -> Result<(), BlockError>;
    fn flush(&self) -> Result<(), BlockError>;
}

/// Checks a request against the geometry; every backend calls this first so
/// that all of them fail the same way.
pub fn check_range(info: BlockInfo, sector: u64, len: usize) -> Result<(), BlockError> {
    if len == 0 || !len.is_multiple_of(info.sector_size) {
        return Err(BlockError::Misaligned { len, sector_size: info.sector_size });
    }
    let count = (len / info.sector_size) as u64;
    match sector.checked_add(count) {
        Some(end) if end <= info.sectors => Ok(()),
        _ => Err(BlockError::OutOfRange { sector, count, sectors: info.sectors }),
    }
}
