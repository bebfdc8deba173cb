//! The lease log: a crash-safe append-only log of [`Record`]s on a device of
//! fixed-size sectors.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! sector 0            superblock: "DHCPLOG\0", version u32, sector size u32,
//!                     region sectors u64, crc32 of the preceding bytes
//! region 0            sectors 1 .. 1+R
//! region 1            sectors 1+R .. 1+2R
//! ```
//!
//! Each region starts with a header sector ("DHCPREGN", generation u64,
//! crc32); the valid header with the highest generation names the live
//! region. Its batches follow back to back, each starting on a sector
//! boundary: a 32-byte batch header ("LEAS", generation u64, sequence u64,
//! payload length u32, crc32 over header and payload) then the records.
//!
//! * Append: write one batch (several clients' records: group commit), then
//!   flush. Only after the flush returns may the caller acknowledge.
//! * Replay: read batches in order from the live region; the first one whose
//!   magic, generation, sequence or checksum is wrong ends the log (a torn
//!   write from a crash, or stale data from an earlier generation).
//! * Compaction, when the live region is full: write a snapshot of the whole
//!   state as batches of generation g+1 into the other region, flush, then
//!   write that region's header with g+1, flush. A crash before the header
//!   is durable leaves region g live and intact; after it, g+1 is live.
//!
//! The device is reached through [`Device`], so this module stays sans-IO
//! and is tested with an in-memory device that loses unflushed writes.

use std::fmt;

use crate::crc32::crc32;
use crate::record::Record;

const SUPER_MAGIC: &[u8; 8] = b"DHCPLOG\0";
const REGION_MAGIC: &[u8; 8] = b"DHCPREGN";
const BATCH_MAGIC: &[u8; 4] = b"LEAS";
pub const VERSION: u32 = 1;
const BATCH_HEADER: usize = 32;
/// Snapshot batches are cut at about this many payload bytes.
const SNAPSHOT_BATCH: usize = 64 * 1024;

/// Sector storage. Same contract as the platform's `Block`: whole sectors,
/// durable only after `flush` returns.
pub trait Device {
    fn sector_size(&self) -> usize;
    fn sectors(&self) -> u64;
    fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), String>;
    fn write(&self, sector: u64, buf: &[u8]) -> Result<(), String>;
    fn flush(&self) -> Result<(), String>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogError {
    /// Not a lease log (another file system, random data): left untouched.
    Foreign(String),
    /// A lease log that is damaged beyond a torn tail: left untouched.
    Corrupt(String),
    /// The device is too small.
    TooSmall(String),
    /// The live state does not fit into one region.
    Full(String),
    /// The device failed.
    Io(String),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Foreign(m) => write!(f, "not a lease log ({m}); use --format to overwrite it"),
            LogError::Corrupt(m) => write!(f, "the lease log is damaged ({m}); use --format to start afresh"),
            LogError::TooSmall(m) | LogError::Full(m) => f.write_str(m),
            LogError::Io(m) => write!(f, "block device failed: {m}"),
        }
    }
}

impl std::error::Error for LogError {}

/// How the log was found at open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// A blank (all-zero) device: formatted.
    Formatted,
    /// `--format`: whatever was there was replaced by an empty log.
    Reformatted,
    /// An existing log was replayed.
    Replayed,
}

/// Counters of the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    pub batches: u64,
    pub records: u64,
    pub flushes: u64,
    pub compactions: u64,
    /// Replay ended at a torn or stale batch rather than at clean zeroes.
    pub torn_tail: bool,
}

/// An open lease log.
pub struct Log<D: Device> {
    dev: D,
    ss: usize,
    region_sectors: u64,
    live: u8,
    generation: u64,
    /// Next free sector, relative to the live region's start.
    next: u64,
    seq: u64,
    stats: LogStats,
}

fn io(e: String) -> LogError {
    LogError::Io(e)
}

fn region_start(region: u8, region_sectors: u64) -> u64 {
    1 + u64::from(region) * region_sectors
}

impl<D: Device> Log<D> {
    /// Opens the log on `dev`, returning it and every record to replay.
    /// A blank device is formatted; a foreign or damaged one is an error
    /// unless `format` is true, which replaces it with an empty log.
    pub fn open(dev: D, format: bool) -> Result<(Log<D>, Vec<Record>, Opened), LogError> {
        let ss = dev.sector_size();
        let sectors = dev.sectors();
        if ss < 512 || sectors < 9 {
            return Err(LogError::TooSmall(format!(
                "the block device has {sectors} sectors of {ss} bytes; the lease log needs at least 9"
            )));
        }
        let region_sectors = (sectors - 1) / 2;
        let mut sb = vec![0u8; ss];
        dev.read(0, &mut sb).map_err(io)?;
        // Blank: nothing in sector 0, and sector 1 empty too or holding the
        // region header of a format of ours that a crash interrupted before
        // the superblock was written.
        let blank = sb.iter().all(|b| *b == 0) && {
            let mut r = vec![0u8; ss];
            dev.read(1, &mut r).map_err(io)?;
            r.iter().all(|b| *b == 0) || parse_region_header(&r).is_some()
        };
        if format || blank {
            let log = Log::format(dev, region_sectors)?;
            return Ok((log, Vec::new(), if blank && !format { Opened::Formatted } else { Opened::Reformatted }));
        }
        if &sb[..8] != SUPER_MAGIC {
            return Err(LogError::Foreign("no lease-log signature in sector 0".into()));
        }
        let body = 8 + 4 + 4 + 8;
        if crc32(&sb[..body]) != u32::from_be_bytes(sb[body..body + 4].try_into().expect("4 bytes")) {
            return Err(LogError::Corrupt("superblock checksum mismatch".into()));
        }
        let version = u32::from_be_bytes(sb[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(LogError::Foreign(format!("lease log version {version}, this server reads {VERSION}")));
        }
        let stored_ss = u32::from_be_bytes(sb[12..16].try_into().expect("4 bytes")) as usize;
        let stored_rs = u64::from_be_bytes(sb[16..24].try_into().expect("8 bytes"));
        if stored_ss != ss {
            return Err(LogError::Corrupt(format!("written with {stored_ss}-byte sectors, device has {ss}")));
        }
        if stored_rs < 4 || 1 + 2 * stored_rs > sectors {
            return Err(LogError::Corrupt(format!("regions of {stored_rs} sectors do not fit the device")));
        }
        let mut best: Option<(u64, u8)> = None;
        for region in 0..2u8 {
            let mut h = vec![0u8; ss];
            dev.read(region_start(region, stored_rs), &mut h).map_err(io)?;
            if let Some(g) = parse_region_header(&h)
                && best.is_none_or(|(bg, _)| g > bg)
            {
                best = Some((g, region));
            }
        }
        let Some((generation, live)) = best else {
            return Err(LogError::Corrupt("no valid region header".into()));
        };
        let mut log =
            Log { dev, ss, region_sectors: stored_rs, live, generation, next: 1, seq: 0, stats: LogStats::default() };
        let records = log.replay()?;
        Ok((log, records, Opened::Replayed))
    }

    fn format(dev: D, region_sectors: u64) -> Result<Log<D>, LogError> {
        let ss = dev.sector_size();
        // A fresh generation above anything a previous log of ours may have
        // left on the device, so no stale batch can look live.
        let mut generation = 1;
        for region in 0..2u8 {
            let mut h = vec![0u8; ss];
            if dev.read(region_start(region, region_sectors), &mut h).is_ok()
                && let Some(g) = parse_region_header(&h)
            {
                generation = generation.max(g + 1);
            }
        }
        let zero = vec![0u8; ss];
        // Region 1's header and the first batch slot of both regions are
        // cleared before the new superblock makes the layout valid.
        dev.write(region_start(1, region_sectors), &zero).map_err(io)?;
        dev.write(region_start(0, region_sectors) + 1, &zero).map_err(io)?;
        dev.write(region_start(1, region_sectors) + 1, &zero).map_err(io)?;
        dev.write(region_start(0, region_sectors), &region_header(generation, ss)).map_err(io)?;
        dev.flush().map_err(io)?;
        let mut sb = vec![0u8; ss];
        sb[..8].copy_from_slice(SUPER_MAGIC);
        sb[8..12].copy_from_slice(&VERSION.to_be_bytes());
        sb[12..16].copy_from_slice(&(ss as u32).to_be_bytes());
        sb[16..24].copy_from_slice(&region_sectors.to_be_bytes());
        let c = crc32(&sb[..24]);
        sb[24..28].copy_from_slice(&c.to_be_bytes());
        dev.write(0, &sb).map_err(io)?;
        dev.flush().map_err(io)?;
        Ok(Log { dev, ss, region_sectors, live: 0, generation, next: 1, seq: 0, stats: LogStats::default() })
    }

    fn replay(&mut self) -> Result<Vec<Record>, LogError> {
        let start = region_start(self.live, self.region_sectors);
        let mut out = Vec::new();
        let mut first = vec![0u8; self.ss];
        while self.next < self.region_sectors {
            self.dev.read(start + self.next, &mut first).map_err(io)?;
            let Some(len) = parse_batch_header(&first, self.generation, self.seq) else {
                self.stats.torn_tail = first.iter().any(|b| *b != 0);
                break;
            };
            let total = BATCH_HEADER + len;
            let nsect = total.div_ceil(self.ss) as u64;
            if self.next + nsect > self.region_sectors {
                self.stats.torn_tail = true;
                break;
            }
            let mut buf = vec![0u8; nsect as usize * self.ss];
            self.dev.read(start + self.next, &mut buf).map_err(io)?;
            let stored = u32::from_be_bytes(buf[24..28].try_into().expect("4 bytes"));
            let mut c = crate::crc32::Crc32::new();
            c.update(&buf[..24]);
            c.update(&buf[BATCH_HEADER..total]);
            if c.finish() != stored {
                self.stats.torn_tail = true;
                break;
            }
            let records = Record::decode_all(&buf[BATCH_HEADER..total]).ok_or_else(|| {
                LogError::Corrupt(format!("batch {} has a valid checksum but unreadable records", self.seq))
            })?;
            self.stats.records += records.len() as u64;
            self.stats.batches += 1;
            out.extend(records);
            self.next += nsect;
            self.seq += 1;
        }
        Ok(out)
    }

    fn batch_bytes(&self, generation: u64, seq: u64, payload: &[u8]) -> Vec<u8> {
        let total = BATCH_HEADER + payload.len();
        let mut buf = vec![0u8; total.div_ceil(self.ss) * self.ss];
        buf[..4].copy_from_slice(BATCH_MAGIC);
        buf[4..12].copy_from_slice(&generation.to_be_bytes());
        buf[12..20].copy_from_slice(&seq.to_be_bytes());
        buf[20..24].copy_from_slice(&(payload.len() as u32).to_be_bytes());
        buf[BATCH_HEADER..total].copy_from_slice(payload);
        let mut c = crate::crc32::Crc32::new();
        c.update(&buf[..24]);
        c.update(payload);
        let crc = c.finish();
        buf[24..28].copy_from_slice(&crc.to_be_bytes());
        buf
    }

    /// Makes `records` durable: one batch, one flush. When the live region
    /// is full, compacts instead: `snapshot` must return the whole state
    /// *including* `records` (the caller applied them in memory already).
    pub fn append(&mut self, records: &[Record], snapshot: impl FnOnce() -> Vec<Record>) -> Result<(), LogError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut payload = Vec::new();
        for r in records {
            r.encode(&mut payload);
        }
        let buf = self.batch_bytes(self.generation, self.seq, &payload);
        let nsect = (buf.len() / self.ss) as u64;
        if self.next + nsect > self.region_sectors {
            return self.compact(snapshot());
        }
        let start = region_start(self.live, self.region_sectors);
        self.dev.write(start + self.next, &buf).map_err(io)?;
        self.dev.flush().map_err(io)?;
        self.next += nsect;
        self.seq += 1;
        self.stats.batches += 1;
        self.stats.records += records.len() as u64;
        self.stats.flushes += 1;
        Ok(())
    }

    /// Writes `state` as the whole content of the other region and switches to it.
    pub fn compact(&mut self, state: Vec<Record>) -> Result<(), LogError> {
        let target = 1 - self.live;
        let generation = self.generation + 1;
        let start = region_start(target, self.region_sectors);
        let mut next = 1u64;
        let mut seq = 0u64;
        let mut payload = Vec::new();
        let flush_batch = |payload: &mut Vec<u8>, next: &mut u64, seq: &mut u64| -> Result<(), LogError> {
            if payload.is_empty() {
                return Ok(());
            }
            let buf = self.batch_bytes(generation, *seq, payload);
            let n = (buf.len() / self.ss) as u64;
            if *next + n > self.region_sectors {
                return Err(LogError::Full(format!(
                    "the leases no longer fit into half of the block device ({} sectors); give a larger one",
                    self.region_sectors
                )));
            }
            self.dev.write(start + *next, &buf).map_err(io)?;
            *next += n;
            *seq += 1;
            payload.clear();
            Ok(())
        };
        for r in &state {
            r.encode(&mut payload);
            if payload.len() >= SNAPSHOT_BATCH {
                flush_batch(&mut payload, &mut next, &mut seq)?;
            }
        }
        flush_batch(&mut payload, &mut next, &mut seq)?;
        if next < self.region_sectors {
            // End marker: a zero sector, so a stale batch of this region's
            // previous life can never follow ours even by a fluke.
            self.dev.write(start + next, &vec![0u8; self.ss]).map_err(io)?;
        }
        self.dev.flush().map_err(io)?;
        self.dev.write(start, &region_header(generation, self.ss)).map_err(io)?;
        self.dev.flush().map_err(io)?;
        self.live = target;
        self.generation = generation;
        self.next = next;
        self.seq = seq;
        self.stats.compactions += 1;
        self.stats.flushes += 2;
        Ok(())
    }

    pub fn stats(&self) -> LogStats {
        self.stats
    }

    /// Sectors used in the live region, and its size.
    pub fn usage(&self) -> (u64, u64) {
        (self.next, self.region_sectors)
    }

    pub fn device(&self) -> &D {
        &self.dev
    }
}

fn region_header(generation: u64, ss: usize) -> Vec<u8> {
    let mut h = vec![0u8; ss];
    h[..8].copy_from_slice(REGION_MAGIC);
    h[8..16].copy_from_slice(&generation.to_be_bytes());
    let c = crc32(&h[..16]);
    h[16..20].copy_from_slice(&c.to_be_bytes());
    h
}

fn parse_region_header(h: &[u8]) -> Option<u64> {
    if &h[..8] != REGION_MAGIC {
        return None;
    }
    let stored = u32::from_be_bytes(h[16..20].try_into().ok()?);
    (crc32(&h[..16]) == stored).then(|| u64::from_be_bytes(h[8..16].try_into().expect("8 bytes")))
}

/// The payload length if `first` starts the batch we expect.
fn parse_batch_header(first: &[u8], generation: u64, seq: u64) -> Option<usize> {
    if &first[..4] != BATCH_MAGIC || first[4..12] != generation.to_be_bytes() || first[12..20] != seq.to_be_bytes() {
        return None;
    }
    Some(u32::from_be_bytes(first[20..24].try_into().ok()?) as usize)
}
