//! In-memory block devices with a durability model.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use platform::block::{Block, BlockError, BlockInfo, check_range};

/// A block device held in memory.
///
/// Writes are visible to reads at once but become *durable* only when
/// [`Block::flush`] returns: [`SimBlock::crash`] (or `World::crash` of its
/// host) throws away every write since the last flush, as a power cut may.
/// Flushed data survives every crash.
pub struct SimBlock {
    name: String,
    info: BlockInfo,
    durable: RefCell<Vec<u8>>,
    /// Unflushed sectors, newest content.
    pending: RefCell<BTreeMap<u64, Box<[u8]>>>,
    stats: Cell<BlockStats>,
}

/// Operation counters of a [`SimBlock`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockStats {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub crashes: u64,
    /// Sectors written but lost in crashes.
    pub sectors_lost: u64,
}

impl SimBlock {
    /// A zero-filled device. `sector_size` must be a power of two, at least 512.
    ///
    /// # Panics
    /// On a bad sector size (a test bug).
    pub fn new(name: &str, sector_size: usize, sectors: u64) -> SimBlock {
        assert!(
            sector_size >= 512 && sector_size.is_power_of_two(),
            "sector size {sector_size} of block '{name}' is not a power of two >= 512"
        );
        let bytes = usize::try_from(sectors * sector_size as u64).expect("block device too large for memory");
        SimBlock {
            name: name.into(),
            info: BlockInfo { sector_size, sectors },
            durable: RefCell::new(vec![0; bytes]),
            pending: RefCell::new(BTreeMap::new()),
            stats: Cell::new(BlockStats::default()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Loses every write not yet flushed.
    pub fn crash(&self) {
        let lost = {
            let mut p = self.pending.borrow_mut();
            let n = p.len() as u64;
            p.clear();
            n
        };
        self.update(|s| {
            s.crashes += 1;
            s.sectors_lost += lost;
        });
    }

    /// Number of sectors written since the last flush.
    pub fn unflushed_sectors(&self) -> usize {
        self.pending.borrow().len()
    }

    /// The durable content (what survives a crash now).
    pub fn durable_bytes(&self) -> Vec<u8> {
        self.durable.borrow().clone()
    }

    pub fn stats(&self) -> BlockStats {
        self.stats.get()
    }

    fn update(&self, f: impl FnOnce(&mut BlockStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }
}

impl Block for SimBlock {
    fn info(&self) -> BlockInfo {
        self.info
    }

    fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(self.info, sector, buf.len())?;
        let ss = self.info.sector_size;
        let durable = self.durable.borrow();
        let pending = self.pending.borrow();
        for (i, chunk) in buf.chunks_mut(ss).enumerate() {
            let s = sector + i as u64;
            match pending.get(&s) {
                Some(data) => chunk.copy_from_slice(data),
                None => {
                    let off = s as usize * ss;
                    chunk.copy_from_slice(&durable[off..off + ss]);
                }
            }
        }
        self.update(|s| s.reads += 1);
        Ok(())
    }

    fn write(&self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_range(self.info, sector, buf.len())?;
        let mut pending = self.pending.borrow_mut();
        for (i, chunk) in buf.chunks(self.info.sector_size).enumerate() {
            pending.insert(sector + i as u64, chunk.into());
        }
        self.update(|s| s.writes += 1);
        Ok(())
    }

    fn flush(&self) -> Result<(), BlockError> {
        let ss = self.info.sector_size;
        let mut durable = self.durable.borrow_mut();
        for (s, data) in std::mem::take(&mut *self.pending.borrow_mut()) {
            let off = s as usize * ss;
            durable[off..off + ss].copy_from_slice(&data);
        }
        self.update(|s| s.flushes += 1);
        Ok(())
    }
}
