//! The connect-back rate limiter: port 10001 makes the Piñata open a
//! connection to whoever asks, a reflection primitive, so each source may
//! trigger at most one connect-back per interval. IPv6 sources are grouped
//! by /64 (one host usually owns a whole /64). The table is bounded: when it
//! is full of sources still inside their interval, new sources are refused
//! too (fail closed).

use std::collections::HashMap;
use std::net::IpAddr;

use sansio::{Duration, Instant};

#[derive(Debug)]
pub struct ConnectBackLimiter {
    interval: Duration,
    capacity: usize,
    last: HashMap<IpAddr, Instant>,
}

/// Default: one connect-back per source per 10 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default bound on the number of sources remembered.
pub const DEFAULT_CAPACITY: usize = 4096;

impl Default for ConnectBackLimiter {
    fn default() -> Self {
        ConnectBackLimiter::new(DEFAULT_INTERVAL, DEFAULT_CAPACITY)
    }
}

fn source_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl ConnectBackLimiter {
    pub fn new(interval: Duration, capacity: usize) -> ConnectBackLimiter {
        ConnectBackLimiter { interval, capacity: capacity.max(1), last: HashMap::new() }
    }

    /// Whether `source` may trigger a connect-back at monotonic time `now`;
    /// if so, the attempt is recorded. (No timer: stale entries are evicted
    /// when the table is full, so the limiter needs no `handle_timeout`.)
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        let key = source_key(source);
        let interval = self.interval;
        let recent = |t: &Instant| now - *t < interval;
        if let Some(t) = self.last.get(&key) {
            if recent(t) {
                return false;
            }
        } else if self.last.len() >= self.capacity {
            self.last.retain(|_, t| recent(t));
            if self.last.len() >= self.capacity {
                return false;
            }
        }
        self.last.insert(key, now);
        true
    }

    /// Number of sources remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Instant {
        Instant::from_secs(n)
    }

    #[test]
    fn one_per_interval_per_source() {
        let mut l = ConnectBackLimiter::new(Duration::from_secs(10), 16);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.allow(a, s(100)));
        assert!(!l.allow(a, s(105)));
        assert!(l.allow(b, s(105)));
        assert!(!l.allow(a, s(109)));
        assert!(l.allow(a, s(110)));
    }

    #[test]
    fn ipv6_grouped_by_prefix() {
        let mut l = ConnectBackLimiter::new(Duration::from_secs(10), 16);
        assert!(l.allow("2001:db8::1".parse().unwrap(), s(0)));
        assert!(!l.allow("2001:db8::ffff:2".parse().unwrap(), s(1)));
        assert!(l.allow("2001:db8:0:1::1".parse().unwrap(), s(1)));
        assert!(l.allow("::ffff:192.0.2.9".parse().unwrap(), s(1)));
        assert!(!l.allow("192.0.2.9".parse().unwrap(), s(2)));
    }

    #[test]
    fn bounded_and_fails_closed() {
        let mut l = ConnectBackLimiter::new(Duration::from_secs(10), 4);
        for i in 0..4u8 {
            assert!(l.allow(IpAddr::from([10, 0, 0, i]), s(0)));
        }
        assert!(!l.allow(IpAddr::from([10, 0, 0, 99]), s(5)), "full of recent sources");
        assert_eq!(l.len(), 4);
        assert!(l.allow(IpAddr::from([10, 0, 0, 99]), s(11)), "stale entries evicted");
        assert!(l.len() <= 4);
    }
}
