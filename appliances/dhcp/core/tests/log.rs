//! The lease log on an in-memory device that loses unflushed writes.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;

use dhcp_core::log::{Device, Log, LogError, Opened};
use dhcp_core::record::Record;

/// Durable sectors plus unflushed ones. After `fail_after` more operations
/// every call fails (the process "died"); [`MemDev::crash`] then keeps a
/// pseudo-random subset of the unflushed sectors, as a real disk may.
#[derive(Clone)]
struct MemDev(Rc<Inner>);

struct Inner {
    ss: usize,
    sectors: u64,
    durable: RefCell<Vec<u8>>,
    pending: RefCell<BTreeMap<u64, Vec<u8>>>,
    fail_after: Cell<Option<u64>>,
    seed: Cell<u64>,
}

impl MemDev {
    fn new(ss: usize, sectors: u64) -> MemDev {
        MemDev(Rc::new(Inner {
            ss,
            sectors,
            durable: RefCell::new(vec![0; ss * sectors as usize]),
            pending: RefCell::new(BTreeMap::new()),
            fail_after: Cell::new(None),
            seed: Cell::new(0x9e37_79b9_7f4a_7c15),
        }))
    }
    fn tick(&self) -> Result<(), String> {
        match self.0.fail_after.get() {
            Some(0) => Err("device gone (simulated crash)".into()),
            Some(n) => {
                self.0.fail_after.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        }
    }
    fn rand(&self) -> u64 {
        let mut x = self.0.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.seed.set(x);
        x
    }
    /// A new device holding what survived: the durable data and a random
    /// subset of unflushed sectors (`keep_all`/`keep_none` for the extremes).
    fn crash(&self, mode: u64) -> MemDev {
        let mut durable = self.0.durable.borrow().clone();
        for (s, data) in self.0.pending.borrow().iter() {
            let keep = match mode % 3 {
                0 => false,
                1 => true,
                _ => self.rand().is_multiple_of(2),
            };
            if keep {
                let off = *s as usize * self.0.ss;
                durable[off..off + self.0.ss].copy_from_slice(data);
            }
        }
        let d = MemDev::new(self.0.ss, self.0.sectors);
        *d.0.durable.borrow_mut() = durable;
        d.0.seed.set(self.rand() | 1);
        d
    }
    fn corrupt(&self, sector: u64, byte: usize) {
        self.0.durable.borrow_mut()[sector as usize * self.0.ss + byte] ^= 0x5a;
    }
}

impl Device for MemDev {
    fn sector_size(&self) -> usize {
        self.0.ss
    }
    fn sectors(&self) -> u64 {
        self.0.sectors
    }
    fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), String> {
        self.tick()?;
        let ss = self.0.ss;
        let pending = self.0.pending.borrow();
        let durable = self.0.durable.borrow();
        for (i, chunk) in buf.chunks_mut(ss).enumerate() {
            let s = sector + i as u64;
            if s >= self.0.sectors {
                return Err("out of range".into());
            }
            match pending.get(&s) {
                Some(d) => chunk.copy_from_slice(d),
                None => chunk.copy_from_slice(&durable[s as usize * ss..(s as usize + 1) * ss]),
            }
        }
        Ok(())
    }
    fn write(&self, sector: u64, buf: &[u8]) -> Result<(), String> {
        self.tick()?;
        let ss = self.0.ss;
        if sector + (buf.len() / ss) as u64 > self.0.sectors {
            return Err("out of range".into());
        }
        let mut pending = self.0.pending.borrow_mut();
        for (i, chunk) in buf.chunks(ss).enumerate() {
            pending.insert(sector + i as u64, chunk.to_vec());
        }
        Ok(())
    }
    fn flush(&self) -> Result<(), String> {
        self.tick()?;
        let ss = self.0.ss;
        let mut durable = self.0.durable.borrow_mut();
        for (s, d) in std::mem::take(&mut *self.0.pending.borrow_mut()) {
            durable[s as usize * ss..(s as usize + 1) * ss].copy_from_slice(&d);
        }
        Ok(())
    }
}

fn bind(i: u32, expires: u64) -> Record {
    Record::Bind {
        addr: Ipv4Addr::from(0x0a00_0000 + (i % 1000)),
        client: vec![1, 1, 2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8],
        chaddr: vec![2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8],
        hostname: i.is_multiple_of(3).then(|| format!("host-{i}")),
        expires,
    }
}

/// The state the records describe: address -> (client, expires).
fn state(records: &[Record]) -> BTreeMap<Ipv4Addr, (Vec<u8>, u64)> {
    let mut m = BTreeMap::new();
    for r in records {
        match r {
            Record::Bind { addr, client, expires, .. } => {
                m.insert(*addr, (client.clone(), *expires));
            }
            Record::Release { addr, .. } | Record::Decline { addr, .. } => {
                m.remove(addr);
            }
        }
    }
    m
}

fn snapshot_of(m: &BTreeMap<Ipv4Addr, (Vec<u8>, u64)>) -> Vec<Record> {
    m.iter()
        .map(|(a, (c, e))| Record::Bind { addr: *a, client: c.clone(), chaddr: vec![], hostname: None, expires: *e })
        .collect()
}

#[test]
fn blank_device_is_formatted_and_records_replay() {
    let dev = MemDev::new(512, 64);
    let (mut log, recs, how) = Log::open(dev.clone(), false).unwrap();
    assert_eq!((recs.len(), how), (0, Opened::Formatted));
    let batch1 = vec![bind(1, 100), bind(2, 200)];
    let batch2 = vec![Record::Release { addr: Ipv4Addr::from(0x0a00_0001), client: vec![9], at: 5 }, bind(3, 300)];
    log.append(&batch1, || unreachable!()).unwrap();
    log.append(&batch2, || unreachable!()).unwrap();
    let (_, recs, how) = Log::open(dev.clone(), false).unwrap();
    assert_eq!(how, Opened::Replayed);
    assert_eq!(recs, [batch1, batch2].concat());
}

#[test]
fn foreign_and_corrupt_devices_are_refused_unless_format() {
    let dev = MemDev::new(512, 64);
    dev.0.durable.borrow_mut()[..4].copy_from_slice(b"\x7fELF");
    let before = dev.0.durable.borrow().clone();
    assert!(matches!(Log::open(dev.clone(), false), Err(LogError::Foreign(_))));
    assert_eq!(*dev.0.durable.borrow(), before, "a foreign device is not written");
    let (_, recs, how) = Log::open(dev.clone(), true).unwrap();
    assert_eq!((recs.len(), how), (0, Opened::Reformatted));

    // A damaged superblock or region headers: corrupt, untouched.
    let (mut log, _, _) = Log::open(dev.clone(), false).unwrap();
    log.append(&[bind(1, 1)], || unreachable!()).unwrap();
    let good = dev.0.durable.borrow().clone();
    dev.corrupt(0, 20);
    assert!(matches!(Log::open(dev.clone(), false), Err(LogError::Corrupt(_))));
    *dev.0.durable.borrow_mut() = good.clone();
    dev.corrupt(1, 3);
    let e = Log::open(dev.clone(), false).err().expect("no valid region header");
    assert!(e.to_string().contains("--format"), "{e}");
    // A reformat over an old log never replays its stale batches.
    let (_, recs, _) = Log::open(dev.clone(), true).unwrap();
    assert!(recs.is_empty());
    let (_, recs, _) = Log::open(dev.clone(), false).unwrap();
    assert!(recs.is_empty(), "{recs:?}");
}

#[test]
fn torn_and_corrupt_tail_batches_end_replay() {
    let dev = MemDev::new(512, 64);
    let (mut log, _, _) = Log::open(dev.clone(), false).unwrap();
    log.append(&[bind(1, 1)], || unreachable!()).unwrap();
    let (used, _) = log.usage();
    // A two-sector batch of which only the first sector reached the disk.
    let big: Vec<Record> = (10..40).map(|i| bind(i, 7)).collect();
    log.append(&big, || unreachable!()).unwrap();
    let region0 = 1u64;
    dev.0.durable.borrow_mut()[((region0 + used + 1) as usize) * 512..((region0 + used + 2) as usize) * 512].fill(0);
    let (_, recs, _) = Log::open(dev.clone(), false).unwrap();
    assert_eq!(recs, vec![bind(1, 1)]);
    // A flipped bit in the first batch: nothing replays, nothing panics.
    dev.corrupt(region0 + 1, 40);
    let (mut log, recs, _) = Log::open(dev.clone(), false).unwrap();
    assert!(recs.is_empty());
    // Appending after a torn tail overwrites it.
    log.append(&[bind(2, 2)], || unreachable!()).unwrap();
    let (_, recs, _) = Log::open(dev.clone(), false).unwrap();
    assert_eq!(recs, vec![bind(2, 2)]);
}

#[test]
fn compaction_alternates_regions_and_keeps_state() {
    let dev = MemDev::new(512, 41); // regions of 20 sectors
    let (mut log, _, _) = Log::open(dev.clone(), false).unwrap();
    let mut live = BTreeMap::new();
    for i in 0..2000u32 {
        let r = bind(i % 100, u64::from(i));
        live = {
            let mut m = live;
            m.extend(state(std::slice::from_ref(&r)));
            m
        };
        let snap = snapshot_of(&live);
        log.append(&[r], || snap).unwrap();
    }
    assert!(log.stats().compactions > 10, "{:?}", log.stats());
    let (_, recs, _) = Log::open(dev.clone(), false).unwrap();
    assert_eq!(state(&recs), live);
    // A state that no longer fits half the device is an error, not a loss.
    let huge: Vec<Record> = (0..5000).map(|i| bind(i, 1)).collect();
    assert!(matches!(log.compact(huge), Err(LogError::Full(_))));
    let (_, recs, _) = Log::open(dev, false).unwrap();
    assert_eq!(state(&recs), live);
}

/// Crash at every operation count of a workload that compacts several
/// times; keep none, all, or a random subset of the unflushed sectors.
/// Every acknowledged (appended) record must survive with its content.
#[test]
fn crash_at_any_point_loses_no_acknowledged_record() {
    for ss in [512usize, 4096] {
        let sectors = if ss == 512 { 25 } else { 13 };
        let mut point = 0u64;
        loop {
            let dev = MemDev::new(ss, sectors);
            // The crash may come during the format of the blank device, too.
            dev.0.fail_after.set(Some(point));
            let mut log = Log::open(dev.clone(), false).ok().map(|(log, _, _)| log);
            let mut acked: BTreeMap<Ipv4Addr, (Vec<u8>, u64)> = BTreeMap::new();
            let mut live = BTreeMap::new();
            let mut finished = true;
            // The batch being written at the crash may or may not survive.
            let mut inflight = BTreeMap::new();
            for i in 0..150u32 {
                let Some(log) = log.as_mut() else {
                    finished = false;
                    break;
                };
                // Batches of 1..4 records: group commit.
                // 40 addresses, rebound over and over, keep the state small.
                let batch: Vec<Record> = (0..(i % 4 + 1)).map(|k| bind((i * 7 + k) % 40, u64::from(i))).collect();
                live.extend(state(&batch));
                let snap = snapshot_of(&live);
                if log.append(&batch, || snap).is_err() {
                    inflight = state(&batch);
                    finished = false;
                    break;
                }
                acked.extend(state(&batch));
            }
            for mode in 0..3 {
                let after = dev.crash(mode + point);
                let (_, recs, _) = Log::open(after, false)
                    .unwrap_or_else(|e| panic!("ss {ss} crash at op {point} mode {mode}: cannot reopen: {e}"));
                let got = state(&recs);
                for (a, v) in &acked {
                    let g = got.get(a);
                    assert!(
                        g == Some(v) || (g.is_some() && g == inflight.get(a)),
                        "ss {ss} crash at op {point} mode {mode}: lease {a} acked as {v:?}, recovered {g:?}"
                    );
                }
            }
            if finished {
                break;
            }
            point += 1;
            assert!(point < 100_000, "the workload never completes");
        }
        assert!(point > 100, "the workload must run long enough to compact ({point} ops)");
    }
}
