//! The lease store: dhcp-core's lease log on the platform `Block` device.

use std::rc::Rc;

use dhcp_core::log::{Device, Log, LogError, Opened};
use dhcp_core::{Record, Server};
use platform::block::Block;
use platform::time::UnixTime;

/// A platform block device as the log's sector device.
#[derive(Clone)]
pub struct BlockDevice(pub Rc<dyn Block>);

impl Device for BlockDevice {
    fn sector_size(&self) -> usize {
        self.0.info().sector_size
    }
    fn sectors(&self) -> u64 {
        self.0.info().sectors
    }
    fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), String> {
        self.0.read(sector, buf).map_err(|e| e.to_string())
    }
    fn write(&self, sector: u64, buf: &[u8]) -> Result<(), String> {
        self.0.write(sector, buf).map_err(|e| e.to_string())
    }
    fn flush(&self) -> Result<(), String> {
        self.0.flush().map_err(|e| e.to_string())
    }
}

/// The open lease log.
pub struct Store {
    log: Log<BlockDevice>,
}

/// What [`Store::open`] found.
#[derive(Debug)]
pub struct Replayed {
    pub how: Opened,
    pub records: usize,
    pub torn_tail: bool,
}

impl Store {
    /// Opens (or formats) the log and replays it into `server`.
    pub fn open(block: Rc<dyn Block>, format: bool, server: &mut Server) -> Result<(Store, Replayed), LogError> {
        let (log, records, how) = Log::open(BlockDevice(block), format)?;
        for r in &records {
            server.replay(r);
        }
        let torn_tail = log.stats().torn_tail;
        Ok((Store { log }, Replayed { how, records: records.len(), torn_tail }))
    }

    /// Makes `records` durable (one write and one flush; compacts when the
    /// region is full, using the server's current state).
    pub fn commit(&mut self, records: &[Record], server: &Server, now: UnixTime) -> Result<(), LogError> {
        self.log.append(records, || server.snapshot(now))
    }

    pub fn usage(&self) -> (u64, u64) {
        self.log.usage()
    }

    pub fn stats(&self) -> dhcp_core::log::LogStats {
        self.log.stats()
    }
}
