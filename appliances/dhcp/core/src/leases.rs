//! The lease table: who holds which address until when, and allocation.
//!
//! Times are wall-clock seconds (Unix time) so that leases keep their meaning
//! across a restart. Entries are never removed, only reused: an address that
//! was released or expired remembers its last client, so that client gets it
//! back (RFC 2131 §4.3.1 asks servers to do so where possible), and addresses
//! never used before are handed out before such remembered ones.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use crate::config::{Config, Pool};
use crate::record::Record;

/// How the server names a client: by client identifier (option 61) when it
/// sends one, else by hardware type and address (RFC 2131 §4.2).
pub type ClientKey = Vec<u8>;

/// The key of a client: `0, id...` or `1, htype, chaddr...`.
pub fn client_key(client_id: Option<&[u8]>, htype: u8, chaddr: &[u8]) -> ClientKey {
    match client_id {
        Some(id) => {
            let mut k = Vec::with_capacity(id.len() + 1);
            k.push(0);
            k.extend_from_slice(id);
            k
        }
        None => {
            let mut k = Vec::with_capacity(chaddr.len() + 2);
            k.push(1);
            k.push(htype);
            k.extend_from_slice(chaddr);
            k
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Offered, not yet requested; held until `expires` (never persisted).
    Offered,
    /// Acknowledged; the client holds it until `expires`.
    Bound,
    /// Released by the client; free, remembered for it.
    Released,
    /// Declined by a client: in use by someone unknown; free after `expires`.
    Declined,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub addr: Ipv4Addr,
    pub client: ClientKey,
    pub chaddr: Vec<u8>,
    pub hostname: Option<String>,
    pub expires: u64,
    pub state: State,
}

impl Lease {
    /// Whether the address is taken at `now` (by `client` or anybody).
    pub fn active(&self, now: u64) -> bool {
        match self.state {
            State::Offered | State::Bound | State::Declined => self.expires > now,
            State::Released => false,
        }
    }
}

/// All leases.
#[derive(Clone, Debug, Default)]
pub struct Table {
    by_addr: BTreeMap<u32, Lease>,
    by_client: HashMap<ClientKey, u32>,
    /// Per pool: every address below this offset has an entry.
    fresh_cursor: Vec<u32>,
    /// The offered address last given to another client ([`Table::take_offer`]).
    take_cursor: u32,
}

impl Table {
    pub fn new(pools: usize) -> Table {
        Table { fresh_cursor: vec![0; pools], ..Table::default() }
    }

    pub fn get(&self, addr: Ipv4Addr) -> Option<&Lease> {
        self.by_addr.get(&u32::from(addr))
    }

    /// The address the client had last (any state).
    pub fn of_client(&self, client: &[u8]) -> Option<&Lease> {
        let a = self.by_client.get(client)?;
        self.by_addr.get(a).filter(|l| l.client == client)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_addr.values()
    }

    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    pub fn insert(&mut self, lease: Lease) {
        if !lease.client.is_empty() {
            self.by_client.insert(lease.client.clone(), u32::from(lease.addr));
        }
        self.by_addr.insert(u32::from(lease.addr), lease);
    }

    /// Whether `client` may be given `addr` now: nobody else holds it, it is
    /// not reserved for another host, not the server's, not quarantined.
    pub fn usable_for(&self, cfg: &Config, addr: Ipv4Addr, client: &[u8], reserved_ok: bool, now: u64) -> bool {
        if addr == cfg.server {
            return false;
        }
        if let Some(sub) = cfg.subnet_of(addr)
            && (addr == sub.network || addr == sub.broadcast())
        {
            return false;
        }
        if !reserved_ok && cfg.reserved(addr).is_some() {
            return false;
        }
        match self.get(addr) {
            None => true,
            Some(l) if l.state == State::Declined => !l.active(now),
            Some(l) => l.client == client || !l.active(now),
        }
    }

    /// A free address of `pools` for `client`: a never-used one first, then
    /// the one free the longest, then (none free) an unanswered offer to
    /// another client.
    pub fn allocate(&mut self, cfg: &Config, pools: &[usize], client: &[u8], now: u64) -> Option<Ipv4Addr> {
        for &i in pools {
            let pool: &Pool = &cfg.pools[i];
            let size = pool.size();
            while u64::from(self.fresh_cursor[i]) < size {
                let a = Ipv4Addr::from(u32::from(pool.start) + self.fresh_cursor[i]);
                if self.get(a).is_none() && cfg.reserved(a).is_none() && a != cfg.server {
                    return Some(a);
                }
                self.fresh_cursor[i] += 1;
            }
        }
        let mut best: Option<(u64, Ipv4Addr)> = None;
        for &i in pools {
            let pool = &cfg.pools[i];
            for (a, l) in self.by_addr.range(u32::from(pool.start)..=u32::from(pool.end)) {
                let addr = Ipv4Addr::from(*a);
                if !l.active(now)
                    && self.usable_for(cfg, addr, client, false, now)
                    && best.is_none_or(|(e, _)| l.expires < e)
                {
                    best = Some((l.expires, addr));
                }
            }
        }
        if best.is_none() {
            return self.take_offer(cfg, pools, client, now);
        }
        best.map(|(_, a)| a)
    }

    /// When nothing else is free: an address offered to another client that
    /// has not answered. RFC 2131 §4.3.1 says a server SHOULD NOT reuse an
    /// offered address before the client responds; we do only when the
    /// alternative is to answer nobody, because otherwise strangers
    /// DISCOVERing from made-up hardware addresses, and never REQUESTing,
    /// hold the whole pool (Kea does not hold offers at all). The first of
    /// the two clients to REQUEST it gets it, the other a NAK (§4.3.2) and
    /// starts over. Taken round-robin from the address after the last one
    /// taken: offer times are whole seconds, so "the oldest" would pick the
    /// same address for every DISCOVER of a burst.
    fn take_offer(&mut self, cfg: &Config, pools: &[usize], client: &[u8], now: u64) -> Option<Ipv4Addr> {
        let cursor = self.take_cursor;
        let candidate = |l: &&Lease| {
            l.state == State::Offered && l.active(now) && l.client != client && cfg.reserved(l.addr).is_none()
        };
        let entries = || {
            pools.iter().flat_map(|&i| {
                let pool = &cfg.pools[i];
                self.by_addr.range(u32::from(pool.start)..=u32::from(pool.end)).map(|(a, l)| (*a, l))
            })
        };
        let after = entries().filter(|(a, _)| *a > cursor).map(|(_, l)| l).find(candidate);
        let taken = after.or_else(|| entries().filter(|(a, _)| *a <= cursor).map(|(_, l)| l).find(candidate))?.addr;
        self.take_cursor = u32::from(taken);
        Some(taken)
    }

    /// Applies a durable record (at boot replay and when committing).
    pub fn apply(&mut self, r: &Record) {
        match r {
            Record::Bind { addr, client, chaddr, hostname, expires } => self.insert(Lease {
                addr: *addr,
                client: client.clone(),
                chaddr: chaddr.clone(),
                hostname: hostname.clone(),
                expires: *expires,
                state: State::Bound,
            }),
            Record::Release { addr, client, at } => {
                if let Some(l) = self.by_addr.get_mut(&u32::from(*addr))
                    && l.client == *client
                {
                    l.state = State::Released;
                    l.expires = *at;
                }
            }
            Record::Decline { addr, until } => {
                let prev = self.by_addr.remove(&u32::from(*addr));
                if let Some(p) = prev
                    && self.by_client.get(&p.client) == Some(&u32::from(*addr))
                {
                    self.by_client.remove(&p.client);
                }
                self.insert(Lease {
                    addr: *addr,
                    client: Vec::new(),
                    chaddr: Vec::new(),
                    hostname: None,
                    expires: *until,
                    state: State::Declined,
                });
            }
        }
    }

    /// The durable state as records: what compaction writes. Offers are not
    /// durable; quarantines that ended are dropped; released and expired
    /// leases are kept for address affinity.
    pub fn snapshot(&self, now: u64) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.by_addr.len());
        for l in self.by_addr.values() {
            match l.state {
                State::Offered => {}
                State::Bound => out.push(Record::Bind {
                    addr: l.addr,
                    client: l.client.clone(),
                    chaddr: l.chaddr.clone(),
                    hostname: l.hostname.clone(),
                    expires: l.expires,
                }),
                State::Released => {
                    out.push(Record::Bind {
                        addr: l.addr,
                        client: l.client.clone(),
                        chaddr: l.chaddr.clone(),
                        hostname: l.hostname.clone(),
                        expires: l.expires,
                    });
                    out.push(Record::Release { addr: l.addr, client: l.client.clone(), at: l.expires });
                }
                State::Declined if l.active(now) => out.push(Record::Decline { addr: l.addr, until: l.expires }),
                State::Declined => {}
            }
        }
        out
    }

    /// Leases whose client holds them at `now`.
    pub fn bound(&self, now: u64) -> impl Iterator<Item = &Lease> {
        self.by_addr.values().filter(move |l| l.state == State::Bound && l.active(now))
    }

    /// Offers past their hold time go back to the pool (the entry stays for
    /// affinity); returns how many.
    pub fn expire_offers(&mut self, now: u64) -> usize {
        let mut n = 0;
        for l in self.by_addr.values_mut() {
            if l.state == State::Offered && l.expires <= now {
                l.state = State::Released;
                n += 1;
            }
        }
        n
    }

    /// Drops an outstanding offer of `client` (it chose another server).
    pub fn withdraw_offer(&mut self, client: &[u8], now: u64) {
        if let Some(a) = self.by_client.get(client).copied()
            && let Some(l) = self.by_addr.get_mut(&a)
            && l.client == client
            && l.state == State::Offered
        {
            l.state = State::Released;
            l.expires = now;
        }
    }
}
