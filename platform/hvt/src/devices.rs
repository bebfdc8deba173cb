//! Block and net devices, found by name in the tender's filled-in manifest copy
//! (`BootInfo::mft`). A device's handle is its index in the manifest; each name can be
//! acquired once.

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hvt_abi::x86_64::{LOWMEM_RO_END, LOWMEM_RO_START};
use hvt_abi::{DeviceType, MFT_MAX_ENTRIES, Manifest, MftEntry, MftHeader, NET_HLEN, Solo5Result};

use crate::hypercall;

/// Errors of device operations (the Solo5 result codes plus look-up failures).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Nothing to read now (net), try again after POLL.
    Again,
    /// Invalid argument: misaligned or wrongly sized block I/O, offset out of range,
    /// buffer too small or frame too large.
    Invalid,
    /// Unspecified error reported by the tender.
    Unspecified,
    /// No device with that name in the manifest.
    NotFound,
    /// The device exists but has another type.
    WrongType,
    /// The tender did not attach the device.
    NotAttached,
    /// The device was acquired before.
    AlreadyAcquired,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Again => "try again",
            Self::Invalid => "invalid argument",
            Self::Unspecified => "unspecified error",
            Self::NotFound => "no such device in the manifest",
            Self::WrongType => "device has another type",
            Self::NotAttached => "device not attached",
            Self::AlreadyAcquired => "device already acquired",
        })
    }
}

fn check(ret: i32) -> Result<(), Error> {
    match Solo5Result::from_raw(ret) {
        Solo5Result::Ok => Ok(()),
        Solo5Result::Again => Err(Error::Again),
        Solo5Result::Einval => Err(Error::Invalid),
        Solo5Result::Eunspec => Err(Error::Unspecified),
    }
}

static ACQUIRED: AtomicU64 = AtomicU64::new(0);

/// The tender's manifest copy, validated; `None` if it is missing or malformed.
pub fn manifest() -> Option<Manifest<'static>> {
    let addr = crate::boot_info().mft;
    if !(LOWMEM_RO_START..LOWMEM_RO_END).contains(&addr) {
        return None;
    }
    let avail = (LOWMEM_RO_END - addr) as usize;
    let max = MftHeader::SIZE + MftEntry::SIZE * MFT_MAX_ENTRIES;
    // SAFETY: `[addr, addr + min(avail, max))` is inside the read-only low-memory area the
    // tender fills before entry and never changes afterwards.
    let bytes =
        unsafe { core::slice::from_raw_parts(ptr::with_exposed_provenance::<u8>(addr as usize), avail.min(max)) };
    Manifest::parse_copy(bytes).ok()
}

fn acquire(name: &str, ty: DeviceType) -> Result<(u64, MftEntry), Error> {
    let m = manifest().ok_or(Error::NotFound)?;
    let (handle, e) = m.find(name).ok_or(Error::NotFound)?;
    if e.device_type() != Some(ty) {
        return Err(Error::WrongType);
    }
    if !e.is_attached() {
        return Err(Error::NotAttached);
    }
    let bit = 1u64 << handle;
    if ACQUIRED.fetch_or(bit, Relaxed) & bit != 0 {
        return Err(Error::AlreadyAcquired);
    }
    Ok((handle as u64, e))
}

/// A block device: fixed-size sectors, one sector per call (as upstream's bindings).
#[derive(Debug)]
pub struct Block {
    handle: u64,
    capacity: u64,
    block_size: u64,
}

impl Block {
    /// Acquires the block device declared as `name`.
    pub fn acquire(name: &str) -> Result<Self, Error> {
        let (handle, e) = acquire(name, DeviceType::BlockBasic)?;
        let block_size = u64::from(e.u.block_size());
        if block_size == 0 {
            return Err(Error::Invalid);
        }
        Ok(Self { handle, capacity: e.u.block_capacity(), block_size })
    }

    /// The handle (manifest index).
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Sector size in bytes.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    fn check_io(&self, offset: u64, len: usize) -> Result<(), Error> {
        if len as u64 != self.block_size || !offset.is_multiple_of(self.block_size) {
            return Err(Error::Invalid);
        }
        Ok(())
    }

    /// Reads the sector at byte `offset` (a multiple of the sector size) into `buf`
    /// (exactly one sector). Offsets past the end give [`Error::Invalid`] from the tender.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.check_io(offset, buf.len())?;
        check(hypercall::block_read(self.handle, offset, buf))
    }

    /// Writes one sector at byte `offset`. Same rules as [`Block::read`].
    pub fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        self.check_io(offset, buf.len())?;
        check(hypercall::block_write(self.handle, offset, buf))
    }
}

/// A network device: Ethernet frames including the 14-byte header.
#[derive(Debug)]
pub struct Net {
    handle: u64,
    mac: [u8; 6],
    mtu: u16,
}

impl Net {
    /// Acquires the net device declared as `name`.
    pub fn acquire(name: &str) -> Result<Self, Error> {
        let (handle, e) = acquire(name, DeviceType::NetBasic)?;
        Ok(Self { handle, mac: e.u.net_mac(), mtu: e.u.net_mtu() })
    }

    /// The handle (manifest index).
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// The bit of this device in POLL's ready set.
    pub fn ready_bit(&self) -> u64 {
        1 << self.handle
    }

    /// MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// MTU, not counting the Ethernet header.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Smallest read buffer / largest frame: `mtu + 14`.
    pub fn frame_max(&self) -> usize {
        usize::from(self.mtu) + NET_HLEN
    }

    /// Sends one frame (never blocks; the host may drop it).
    pub fn write(&self, frame: &[u8]) -> Result<(), Error> {
        if frame.len() > self.frame_max() {
            return Err(Error::Invalid);
        }
        check(hypercall::net_write(self.handle, frame))
    }

    /// Receives one frame into `buf` (at least `mtu + 14` bytes); returns its length, or
    /// [`Error::Again`] when none is queued.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.len() < self.frame_max() {
            return Err(Error::Invalid);
        }
        let (ret, len) = hypercall::net_read(self.handle, buf);
        check(ret).map(|()| len)
    }
}
