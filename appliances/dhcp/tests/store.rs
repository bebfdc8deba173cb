//! The lease store on platform-sim's `SimBlock` (loses unflushed writes at a
//! crash): the server and its store are killed at every operation of a
//! workload — between requests, between a write and its flush, in the middle
//! of a compaction — and restarted on the same device. Every lease that was
//! acknowledged (its record committed before the ACK) must still be held by
//! its client, and no address may be held by two clients.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;

use dhcp::store::Store;
use dhcp_core::config::{Config, Settings};
use dhcp_core::wire::{HEADER_LEN, MAGIC};
use dhcp_core::{Server, decode_request};
use dhcproto::v4::MessageType;
use platform::block::{Block, BlockError, BlockInfo};
use platform::time::UnixTime;
use platform_sim::SimBlock;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// A block device that dies (every call fails) after `budget` operations.
struct Dying {
    inner: Rc<SimBlock>,
    budget: Cell<u64>,
}

impl Block for Dying {
    fn info(&self) -> BlockInfo {
        self.inner.info()
    }
    fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.spend()?;
        self.inner.read(sector, buf)
    }
    fn write(&self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.spend()?;
        self.inner.write(sector, buf)
    }
    fn flush(&self) -> Result<(), BlockError> {
        self.spend()?;
        self.inner.flush()
    }
}

impl Dying {
    fn spend(&self) -> Result<(), BlockError> {
        match self.budget.get() {
            0 => Err(BlockError::Io(std::io::Error::other("simulated crash"))),
            n => {
                self.budget.set(n - 1);
                Ok(())
            }
        }
    }
}

fn config() -> Config {
    let s = Settings { ipv4: (SERVER, 24), ranges: vec!["10.0.0.10,10.0.0.59,1h"], ..Settings::default() };
    Config::from_settings(&s).unwrap()
}

fn message(kind: u8, client: u8, opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![0u8; HEADER_LEN];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[4] = client;
    p[28..34].copy_from_slice(&[2, 0, 0, 0, 0, client]);
    p[236..240].copy_from_slice(&MAGIC);
    p.extend_from_slice(&[53, 1, kind]);
    for (c, v) in opts {
        p.push(*c);
        p.push(v.len() as u8);
        p.extend_from_slice(v);
    }
    p.push(255);
    p
}

/// One client's DISCOVER+REQUEST, committed as the wiring does; returns the
/// acknowledged address, or None when the device died first.
fn obtain(server: &mut Server, store: &mut Store, client: u8, now: u64) -> Option<Ipv4Addr> {
    let offer = server.respond(&decode_request(&message(1, client, &[])).unwrap(), UnixTime::from_secs(now));
    let addr = offer.reply.expect("an offer").yiaddr;
    let req = message(3, client, &[(54, SERVER.octets().to_vec()), (50, addr.octets().to_vec())]);
    let ack = server.respond(&decode_request(&req).unwrap(), UnixTime::from_secs(now));
    assert_eq!(ack.reply.as_ref().map(|r| r.kind), Some(MessageType::Ack));
    let record = ack.record.expect("a record before the ACK");
    store.commit(&[record], server, UnixTime::from_secs(now)).ok()?;
    Some(addr)
}

fn release(server: &mut Server, store: &mut Store, client: u8, addr: Ipv4Addr, now: u64) -> bool {
    let mut req = message(7, client, &[(54, SERVER.octets().to_vec())]);
    req[12..16].copy_from_slice(&addr.octets());
    let out = server.respond(&decode_request(&req).unwrap(), UnixTime::from_secs(now));
    match out.record {
        Some(r) => store.commit(&[r], server, UnixTime::from_secs(now)).is_ok(),
        None => true,
    }
}

#[test]
fn crash_at_every_point_keeps_every_acknowledged_lease() {
    let mut point = 0u64;
    let mut compactions_seen = 0;
    loop {
        // 40 sectors: regions of 19, so the workload compacts several times.
        let disk = Rc::new(SimBlock::new("storage", 512, 40));
        let mut acked: BTreeMap<u8, Ipv4Addr> = BTreeMap::new();
        let dying = Rc::new(Dying { inner: disk.clone(), budget: Cell::new(point) });
        let mut server = Server::new(config());
        let opened = Store::open(dying.clone(), false, &mut server);
        let mut completed = false;
        if let Ok((mut store, _)) = opened {
            completed = true;
            let mut now = 1_800_000_000;
            'work: for round in 0..6u8 {
                for client in 1..=30u8 {
                    now += 1;
                    if round % 2 == 1 && client % 3 == 0 {
                        if let Some(a) = acked.get(&client).copied() {
                            if !release(&mut server, &mut store, client, a, now) {
                                completed = false;
                                break 'work;
                            }
                            acked.remove(&client);
                        }
                        continue;
                    }
                    match obtain(&mut server, &mut store, client, now) {
                        Some(a) => {
                            if let Some(prev) = acked.insert(client, a) {
                                assert_eq!(prev, a, "a client's address moved");
                            }
                        }
                        None => {
                            completed = false;
                            break 'work;
                        }
                    }
                }
            }
            compactions_seen = compactions_seen.max(store.stats().compactions);
        }
        // Power cut: unflushed writes are gone. Reboot on the same disk.
        disk.crash();
        let mut rebooted = Server::new(config());
        let (_store, _) = Store::open(disk.clone(), false, &mut rebooted)
            .unwrap_or_else(|e| panic!("crash after {point} block operations: cannot reopen: {e}"));
        let now = 1_800_000_100;
        let mut holders: BTreeMap<Ipv4Addr, Vec<u8>> = BTreeMap::new();
        for l in rebooted.table().bound(now) {
            assert!(holders.insert(l.addr, l.chaddr.clone()).is_none(), "{} held twice", l.addr);
        }
        for (client, a) in &acked {
            assert_eq!(
                holders.get(a),
                Some(&vec![2, 0, 0, 0, 0, *client]),
                "crash after {point} block operations: client {client} was acknowledged {a}, lost"
            );
        }
        if completed {
            break;
        }
        point += 1;
    }
    assert!(compactions_seen >= 2, "the workload must compact ({compactions_seen})");
    assert!(point > 150, "crash points tried: {point}");
}
