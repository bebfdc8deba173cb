//! Response rate limiting, off by default: a token bucket per (client block, answer
//! account), as BIND and NSD do it.
//!
//! Clients are grouped by /24 (IPv4) or /56 (IPv6). Accounts: positive answers by
//! (qname, qtype), negative answers by zone, errors all together — so one spoofed
//! victim can't be flooded with many names. Each account earns
//! [`Config::responses_per_second`] credits per second, holds at most that many, and
//! may go into debt down to `rate × window` (a flood keeps being limited for `window`
//! seconds after it stops getting answers). A limited response is dropped, except every
//! [`Config::slip`]-th one, which is sent as an empty TC=1 reply so a real client
//! retries over TCP. Sans-IO: the caller passes the monotonic `sansio::Instant`.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::rr::Name;
use sansio::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Responses per second per account; 0 turns rate limiting off (the default).
    pub responses_per_second: u32,
    /// Every Nth limited response is sent truncated; 0 = drop all, 1 = slip all.
    pub slip: u32,
    /// Seconds of debt an account can build up.
    pub window: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Accounts kept at most; the idle ones go first.
    pub max_entries: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config { responses_per_second: 0, slip: 2, window: 15, ipv4_prefix: 24, ipv6_prefix: 56, max_entries: 100_000 }
    }
}

impl Config {
    pub fn enabled(&self) -> bool {
        self.responses_per_second > 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Answer,
    Negative,
    Error,
}

/// The answer's account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: Kind,
    pub name: Name,
    pub qtype: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    Drop,
    /// Send an empty reply with TC=1.
    Slip,
}

#[derive(Debug, Clone)]
struct Bucket {
    /// Credits in millionths of a response, so fractional refills add up.
    balance: i64,
    /// When the balance was last brought up to date.
    last: Instant,
    limited: u32,
}

#[derive(Debug)]
pub struct Rrl {
    config: Config,
    buckets: HashMap<(IpAddr, Key), Bucket>,
}

const UNIT: i64 = 1_000_000;

/// The client's block: the address with the host bits cleared.
fn block(ip: IpAddr, v4: u8, v6: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = u32::MAX.checked_shl(32 - u32::from(v4.min(32))).unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = u128::MAX.checked_shl(128 - u32::from(v6.min(128))).unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    }
}

impl Rrl {
    pub fn new(config: Config) -> Rrl {
        Rrl { config, buckets: HashMap::new() }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Accounts one response to `client` at monotonic time `now`.
    pub fn check(&mut self, now: Instant, client: IpAddr, key: &Key) -> Verdict {
        if !self.config.enabled() {
            return Verdict::Send;
        }
        let rate = i64::from(self.config.responses_per_second) * UNIT;
        let floor = -rate * i64::from(self.config.window.max(1));
        if self.buckets.len() >= self.config.max_entries {
            self.sweep(now);
        }
        let id = (block(client, self.config.ipv4_prefix, self.config.ipv6_prefix), key.clone());
        let b = self.buckets.entry(id).or_insert(Bucket { balance: rate, last: now, limited: 0 });
        let elapsed = now.saturating_duration_since(b.last);
        b.last = b.last.max(now);
        // rate credits per second; computed in i128 so long idle times can't overflow.
        let earned = elapsed.as_nanos() as i128 * i128::from(rate) / 1_000_000_000;
        let room = i128::from(rate - b.balance);
        b.balance += earned.min(room) as i64;
        b.balance -= UNIT;
        if b.balance >= 0 {
            b.limited = 0;
            return Verdict::Send;
        }
        b.balance = b.balance.max(floor);
        b.limited = b.limited.wrapping_add(1);
        match self.config.slip {
            0 => Verdict::Drop,
            n if b.limited.is_multiple_of(n) => Verdict::Slip,
            _ => Verdict::Drop,
        }
    }

    /// Forgets accounts idle for longer than the window, or half the table if all are
    /// busy (a flood of distinct accounts must not grow memory without bound).
    fn sweep(&mut self, now: Instant) {
        let idle = Duration::from_secs(u64::from(self.config.window.max(1)));
        self.buckets.retain(|_, b| now.saturating_duration_since(b.last) < idle);
        if self.buckets.len() >= self.config.max_entries {
            let mut ages: Vec<Instant> = self.buckets.values().map(|b| b.last).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            self.buckets.retain(|_, b| b.last > cut);
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_blocks() {
        let v4: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(block(v4, 24, 56), "192.0.2.0".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "2001:db8:aaaa:bbff:1:2:3:4".parse().unwrap();
        assert_eq!(block(v6, 24, 56), "2001:db8:aaaa:bb00::".parse::<IpAddr>().unwrap());
        assert_eq!(block(v4, 0, 0), "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(block(v4, 32, 128), v4);
    }

    #[test]
    fn table_stays_bounded() {
        let mut r = Rrl::new(Config { responses_per_second: 1, max_entries: 100, ..Config::default() });
        for i in 0..10_000u32 {
            let key = Key { kind: Kind::Answer, name: Name::root(), qtype: (i % 60_000) as u16 };
            r.check(Instant::from_nanos(u64::from(i)), IpAddr::from([10, 0, 0, 1]), &key);
            assert!(r.len() <= 100);
        }
    }
}
