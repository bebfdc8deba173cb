//! Answers kept for their TTL (RFC 1035 §7.4), in a table of bounded size.
//!
//! Only addresses are cached; a failed lookup is not (negative caching, RFC
//! 2308, would need the SOA of the authority section, which a stub does not
//! read), so a name that does not resolve yet is asked again at the caller's
//! next attempt.

use std::collections::HashMap;
use std::net::IpAddr;

use sansio::{Duration, Instant};

use crate::wire::Name;

/// The longest we keep an answer whatever its TTL says (RFC 8767 §4 caps
/// TTLs at 7 days; a day keeps a renumbered server from being missed long).
pub const MAX_TTL: u32 = 86_400;

#[derive(Debug)]
pub struct Cache {
    entries: HashMap<Vec<u8>, (Vec<IpAddr>, Instant)>,
    capacity: usize,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache { entries: HashMap::new(), capacity }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The addresses of `name` if they have not expired by `now`.
    pub fn get(&mut self, now: Instant, name: &Name) -> Option<Vec<IpAddr>> {
        let key = name.key();
        match self.entries.get(&key) {
            Some((addresses, expires)) if now < *expires => Some(addresses.clone()),
            Some(_) => {
                self.entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps `addresses` for `ttl` seconds (capped at [`MAX_TTL`]; 0 means
    /// "use once", so nothing is kept). When full, expired entries go first,
    /// then the one that would expire soonest.
    pub fn insert(&mut self, now: Instant, name: &Name, addresses: Vec<IpAddr>, ttl: u32) {
        if ttl == 0 || self.capacity == 0 {
            return;
        }
        let key = name.key();
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, (_, expires)| now < *expires);
            if self.entries.len() >= self.capacity {
                let soonest = self.entries.iter().min_by_key(|(_, (_, e))| *e).map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.entries.remove(&k);
                }
            }
        }
        let expires = now + Duration::from_secs(u64::from(ttl.min(MAX_TTL)));
        self.entries.insert(key, (addresses, expires));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_host(s).unwrap()
    }

    #[test]
    fn entries_expire_with_their_ttl_and_ignore_case() {
        let mut c = Cache::new(4);
        let a: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        c.insert(Instant::from_secs(10), &name("Git.Test"), a.clone(), 30);
        assert_eq!(c.get(Instant::from_secs(39), &name("git.test")), Some(a));
        assert_eq!(c.get(Instant::from_secs(40), &name("git.test")), None);
        assert!(c.is_empty(), "an expired entry is removed when met");
        c.insert(Instant::from_secs(10), &name("zero.test"), vec!["192.0.2.2".parse().unwrap()], 0);
        assert_eq!(c.get(Instant::from_secs(10), &name("zero.test")), None);
        c.insert(Instant::ZERO, &name("long.test"), vec!["192.0.2.3".parse().unwrap()], u32::MAX);
        assert!(c.get(Instant::from_secs(u64::from(MAX_TTL) - 1), &name("long.test")).is_some());
        assert!(c.get(Instant::from_secs(u64::from(MAX_TTL)), &name("long.test")).is_none());
    }

    #[test]
    fn size_is_bounded() {
        let mut c = Cache::new(3);
        let a: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        for (i, ttl) in [(0, 100), (1, 50), (2, 200), (3, 300), (4, 400)] {
            c.insert(Instant::ZERO, &name(&format!("h{i}.test")), a.clone(), ttl);
            assert!(c.len() <= 3);
        }
        // The soonest to expire went first: h1 (50 s), then h0 (100 s).
        assert!(c.get(Instant::ZERO, &name("h1.test")).is_none());
        assert!(c.get(Instant::ZERO, &name("h0.test")).is_none());
        for h in ["h2.test", "h3.test", "h4.test"] {
            assert!(c.get(Instant::ZERO, &name(h)).is_some(), "{h}");
        }
    }
}
