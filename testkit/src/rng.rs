//! A seeded generator of test inputs: xorshift64* (Vigna, "An experimental exploration of
//! Marsaglia's xorshift generators, scrambled", 2016). The same seed gives the same inputs
//! on every run, so a failure reproduces. Nothing secret may come from it.

/// xorshift64* state; never zero.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`, which must not be 0 (xorshift never leaves 0).
    pub fn new(seed: u64) -> Rng {
        assert_ne!(seed, 0, "xorshift needs a non-zero seed");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// An element of `v` (not empty).
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }

    /// A locally administered unicast MAC address (RFC 7042 §2.1: the U/L bit set, the
    /// I/G bit clear).
    pub fn mac(&mut self) -> [u8; 6] {
        let b = self.next_u64().to_be_bytes();
        [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]]
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn one_seed_one_sequence() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let first: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(first[0], first[1]);
        assert_ne!(Rng::new(43).next_u64(), first[0]);
    }

    #[test]
    fn macs_are_local_unicast() {
        let mut r = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(r.mac()[0] & 0x03, 0x02);
        }
    }
}
