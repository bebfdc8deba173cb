//! The server on the shared sans-IO verbs (`sansio::Driver`).
//!
//! The wiring hands in requests ([`Server::handle_request`]) and answers to
//! ARP probes ([`Server::handle_arp_claim`]), calls
//! [`handle_timeout`](Driver::handle_timeout) when
//! [`poll_timeout`](Driver::poll_timeout) passes, and drains
//! [`poll_transmit`](Driver::poll_transmit) after each call. The core keeps
//! the state that used to live in the wiring's loop: the offers waiting for
//! their probe (`--probe=arp`) and the sweep of lapsed offers.
//!
//! Durability stays the wiring's job, with one rule the transmits carry: a
//! [`Transmit::Reply`] with `durable` set (an ACK) must not leave before that
//! record is on disk. Group commit (one flush for every ACK of a batch)
//! follows naturally: drain every transmit, flush the records once, then send
//! the replies that waited.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use sansio::{Driver, Duration, Instant, Now, UnixTime};

use crate::record::Record;
use crate::server::{LinkDest, Outcome, Reply, Server};
use crate::wire::Request;

/// How long an ARP probe waits for a host claiming the address.
pub const PROBE_WAIT: Duration = Duration::from_millis(300);
/// At most this many candidates are probed per DISCOVER; a client whose
/// candidates are all claimed gets no offer this time and retries.
pub const PROBE_ROUNDS: usize = 4;
/// How often lapsed offers are returned to the pool while any are out.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What the server asks the wiring to do.
#[derive(Clone, Debug)]
pub enum Transmit {
    /// Send `reply` in a frame to link-layer address `mac`. When `durable`
    /// is set, that record must be durable before the frame leaves.
    Reply { reply: Reply, mac: [u8; 6], durable: Option<Record> },
    /// Make this record durable; no reply waits for it (RELEASE, DECLINE,
    /// an address found in use).
    Record(Record),
    /// Ask by ARP whether a host uses `addr` (RFC 2131 §4.4.1 suggests
    /// probing an address before offering it); send the answers to
    /// [`Server::handle_arp_claim`].
    Probe(Ipv4Addr),
}

/// An OFFER held back until the probe of its address finds nobody.
#[derive(Clone, Debug)]
pub(crate) struct PendingProbe {
    addr: Ipv4Addr,
    req: Request,
    sender: [u8; 6],
    reply: Reply,
    mac: [u8; 6],
    deadline: Instant,
    /// 1 for the first candidate of this DISCOVER.
    round: usize,
    /// The ARP request has been handed to the wiring: only answers after
    /// that say anything about the address.
    asked: bool,
}

/// The driving state kept next to the lease table.
#[derive(Clone, Debug, Default)]
pub(crate) struct DriveState {
    queue: VecDeque<Transmit>,
    probes: Vec<PendingProbe>,
    next_sweep: Option<Instant>,
    /// The latest time handed in: `handle_timeout` only gets the monotonic
    /// clock and derives the wall clock from this pair.
    last: Now,
}

/// The link-layer destination of `reply` to a request framed by `sender`.
fn dest_mac(reply: &Reply, req: &Request, sender: [u8; 6]) -> [u8; 6] {
    match reply.to.link {
        LinkDest::Broadcast => [0xff; 6],
        LinkDest::Sender => sender,
        LinkDest::Chaddr => {
            // `destination` picks Chaddr only for 6-byte Ethernet addresses.
            let mut m = [0xff; 6];
            if let Some(c) = req.chaddr().get(..6) {
                m.copy_from_slice(c);
            }
            m
        }
    }
}

impl Server {
    fn wall_at(&self, mono: Instant) -> UnixTime {
        let last = self.drive.last;
        UnixTime::from_secs(last.wall.as_secs().saturating_add((mono - last.mono).as_secs()))
    }

    fn saw(&mut self, now: Now) {
        if now.mono >= self.drive.last.mono {
            self.drive.last = now;
        }
    }

    fn schedule_sweep(&mut self, now: Instant) {
        if self.drive.next_sweep.is_none() && self.has_offers() {
            self.drive.next_sweep = Some(now + SWEEP_INTERVAL);
        }
    }

    /// Handles one request whose frame came from link-layer address
    /// `sender`; returns why nothing was sent, or what happened, for a debug
    /// log. A retransmitted DISCOVER while its offer is being probed is
    /// ignored: the offer goes out when the probe ends.
    pub fn handle_request(&mut self, now: Now, req: &Request, sender: [u8; 6]) -> Option<String> {
        self.saw(now);
        if self.drive.probes.iter().any(|p| p.req.chaddr() == req.chaddr() && p.req.msg.xid() == req.msg.xid()) {
            return Some("retransmission while its offer is probed".into());
        }
        let out = self.respond(req, now.wall);
        let note = out.note.clone();
        self.queue_outcome(now.mono, out, req, sender, 1);
        self.schedule_sweep(now.mono);
        note
    }

    fn queue_outcome(&mut self, now: Instant, out: Outcome, req: &Request, sender: [u8; 6], round: usize) {
        let Some(reply) = out.reply else {
            if let Some(r) = out.record {
                self.drive.queue.push_back(Transmit::Record(r));
            }
            return;
        };
        let mac = dest_mac(&reply, req, sender);
        match out.probe {
            Some(addr) => {
                self.drive.queue.push_back(Transmit::Probe(addr));
                self.drive.probes.push(PendingProbe {
                    addr,
                    req: req.clone(),
                    sender,
                    reply,
                    mac,
                    deadline: now + PROBE_WAIT,
                    round,
                    asked: false,
                });
            }
            None => self.drive.queue.push_back(Transmit::Reply { reply, mac, durable: out.record }),
        }
    }

    /// A host with link-layer address `sender` answered an ARP request for
    /// `addr`. When that is a probe's address and the host is not the client
    /// it is offered to, the address is quarantined (a [`Transmit::Record`])
    /// and the request handled again, which probes the next candidate (at
    /// most [`PROBE_ROUNDS`]). Returns a line for the log when it was a claim.
    pub fn handle_arp_claim(&mut self, now: Now, addr: Ipv4Addr, sender: [u8; 6]) -> Option<String> {
        self.saw(now);
        let i = self.drive.probes.iter().position(|p| p.addr == addr && p.asked)?;
        let record = self.claimed(addr, &sender, now.wall)?;
        let p = self.drive.probes.remove(i);
        self.drive.queue.push_back(Transmit::Record(record));
        let mut line = format!(
            "address {addr} is in use by {} (it answered an ARP probe): quarantined for {}s",
            mac_str(&sender),
            self.config().quarantine_secs
        );
        if p.round >= PROBE_ROUNDS {
            line.push_str(&format!(
                "; no offer to {} this time: {PROBE_ROUNDS} candidates in use",
                mac_str(p.req.chaddr())
            ));
        } else {
            let out = self.respond(&p.req, now.wall);
            self.queue_outcome(now.mono, out, &p.req, p.sender, p.round + 1);
        }
        Some(line)
    }

    /// The durable state, for compaction.
    pub fn snapshot(&self, now: UnixTime) -> Vec<Record> {
        self.table().snapshot(now.as_secs())
    }
}

impl Driver for Server {
    type Transmit = Transmit;

    /// Sends the offers whose probe found nobody, and returns lapsed offers
    /// to the pool.
    fn handle_timeout(&mut self, now: Instant) {
        let (done, waiting): (Vec<_>, Vec<_>) = self.drive.probes.drain(..).partition(|p| p.deadline <= now);
        self.drive.probes = waiting;
        for p in done {
            self.drive.queue.push_back(Transmit::Reply { reply: p.reply, mac: p.mac, durable: None });
        }
        if self.drive.next_sweep.is_some_and(|t| t <= now) {
            self.drive.next_sweep = None;
            let wall = self.wall_at(now);
            self.expire_offers(wall);
            self.schedule_sweep(now);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let probe = self.drive.probes.iter().map(|p| p.deadline).min();
        match (probe, self.drive.next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.drive.queue.pop_front()?;
        if let Transmit::Probe(addr) = t {
            for p in self.drive.probes.iter_mut().filter(|p| p.addr == addr) {
                p.asked = true;
            }
        }
        Some(t)
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}
