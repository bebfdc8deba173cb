//! The guest's one source of random bytes: a ChaCha20 generator with fast key erasure,
//! seeded once at boot.
//!
//! Seed material, in order of preference (the boot line names the one used):
//! 1. `RDSEED`, when CPUID leaf 7 says the CPU has it;
//! 2. `RDRAND`, when CPUID leaf 1 says so;
//! 3. the 32 bytes our tender passes as a leading `--hvt-seed=<64 hex>` command-line word
//!    (see [`crate::start::tender_seed`]);
//! 4. nothing but timer jitter and the wall clock: **weak**, reported as such.
//!
//! Whatever the source, TSC jitter samples and WALLTIME are mixed in as well. Every
//! consumer — `getrandom`, `syscall(SYS_getrandom)`, `dlsym("getrandom")` in the libc
//! shim, and the platform `Entropy` device — draws from this one generator.

use core::arch::asm;
use core::arch::x86_64::__cpuid;

use crate::cell::RacyCell;

/// ChaCha20 block function (RFC 8439 layout: constants, 8 key words, 32-bit counter,
/// 3 nonce words); returns the 16 output words after the feed-forward.
pub fn chacha20_block(key: &[u32; 8], counter: u32, nonce: [u32; 3]) -> [u32; 16] {
    #[inline(always)]
    fn qr(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(12);
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(7);
    }
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    init[4..12].copy_from_slice(key);
    init[12] = counter;
    init[13..16].copy_from_slice(&nonce);
    let mut s = init;
    for _ in 0..10 {
        qr(&mut s, 0, 4, 8, 12);
        qr(&mut s, 1, 5, 9, 13);
        qr(&mut s, 2, 6, 10, 14);
        qr(&mut s, 3, 7, 11, 15);
        qr(&mut s, 0, 5, 10, 15);
        qr(&mut s, 1, 6, 11, 12);
        qr(&mut s, 2, 7, 8, 13);
        qr(&mut s, 3, 4, 9, 14);
    }
    for (o, i) in s.iter_mut().zip(init) {
        *o = o.wrapping_add(i);
    }
    s
}

fn words_le(b: &[u8; 32]) -> [u32; 8] {
    let mut k = [0u32; 8];
    for (w, c) in k.iter_mut().zip(b.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    k
}

/// Accumulates seed material into a 256-bit pool: each 32-byte chunk is XORed into the
/// pool and the result used as a ChaCha20 key whose first half-block becomes the new
/// pool (a chained compression; the input length is mixed in at the end).
#[derive(Clone)]
pub struct SeedPool {
    pool: [u32; 8],
    len: u64,
    chunk: [u8; 32],
    fill: usize,
}

impl SeedPool {
    const DOMAIN: [u32; 3] = [0x6876_742d, 0x7365_6564, 0x706f_6f6c]; // "hvt-seedpool"

    pub const fn new() -> Self {
        Self { pool: [0; 8], len: 0, chunk: [0; 32], fill: 0 }
    }

    fn compress(&mut self, counter: u32) {
        let mut key = words_le(&self.chunk);
        for (k, p) in key.iter_mut().zip(self.pool) {
            *k ^= p;
        }
        let out = chacha20_block(&key, counter, Self::DOMAIN);
        self.pool.copy_from_slice(&out[..8]);
        self.chunk = [0; 32];
        self.fill = 0;
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.chunk[self.fill] = b;
            self.fill += 1;
            self.len += 1;
            if self.fill == 32 {
                self.compress(0);
            }
        }
    }

    /// The 32-byte seed.
    pub fn finish(mut self) -> [u8; 32] {
        let len = self.len;
        self.update(&len.to_le_bytes());
        self.compress(1);
        let mut out = [0u8; 32];
        for (c, w) in out.chunks_exact_mut(4).zip(self.pool) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

impl Default for SeedPool {
    fn default() -> Self {
        Self::new()
    }
}

/// ChaCha20 keystream generator with fast key erasure: after every request the key is
/// replaced by fresh keystream, so a later compromise does not reveal earlier output.
pub struct ChaChaRng {
    key: [u32; 8],
    nonce: u64,
}

impl ChaChaRng {
    pub const fn from_seed_words(key: [u32; 8]) -> Self {
        Self { key, nonce: 0 }
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::from_seed_words(words_le(seed))
    }

    /// Fills `dst` with keystream, then rekeys.
    pub fn fill(&mut self, dst: &mut [u8]) {
        let nonce = [self.nonce as u32, (self.nonce >> 32) as u32, 0];
        self.nonce = self.nonce.wrapping_add(1);
        // Block 0 gives the next key; blocks 1.. the output.
        let next = chacha20_block(&self.key, 0, nonce);
        for (i, chunk) in dst.chunks_mut(64).enumerate() {
            let block = chacha20_block(&self.key, i as u32 + 1, nonce);
            for (j, b) in chunk.iter_mut().enumerate() {
                *b = (block[j / 4] >> (8 * (j % 4))) as u8;
            }
        }
        self.key.copy_from_slice(&next[..8]);
    }
}

/// Where the seed came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Not seeded yet.
    None,
    Rdseed,
    Rdrand,
    /// `--hvt-seed=` from the tender.
    TenderSeed,
    /// Only TSC jitter and the wall clock: predictable, not fit for keys.
    JitterOnly,
}

impl Source {
    /// Text for boot lines and the `Entropy` device.
    pub const fn describe(self) -> &'static str {
        match self {
            Source::None => "unseeded",
            Source::Rdseed => "rdseed (CPUID) + tsc jitter",
            Source::Rdrand => "rdrand (CPUID) + tsc jitter",
            Source::TenderSeed => "tender seed (--hvt-seed) + tsc jitter",
            Source::JitterOnly => "WEAK: tsc jitter + walltime only (no RDRAND/RDSEED, no --hvt-seed)",
        }
    }
}

struct Global {
    rng: ChaChaRng,
    source: Source,
}

static GLOBAL: RacyCell<Global> =
    RacyCell::new(Global { rng: ChaChaRng::from_seed_words([0; 8]), source: Source::None });

/// CPUID: (RDRAND, RDSEED) available.
pub fn cpu_has_rng() -> (bool, bool) {
    // CPUID exists on every x86_64 CPU; leaf 0 gives the highest basic leaf.
    let max = __cpuid(0).eax;
    let rdrand = __cpuid(1).ecx & (1 << 30) != 0;
    let rdseed = max >= 7 && __cpuid(7).ebx & (1 << 18) != 0;
    (rdrand, rdseed)
}

fn rdrand64() -> Option<u64> {
    for _ in 0..16 {
        let v: u64;
        let ok: u8;
        // SAFETY: only called when CPUID reports RDRAND; writes a register and CF.
        unsafe { asm!("rdrand {v}", "setc {ok}", v = out(reg) v, ok = out(reg_byte) ok, options(nomem, nostack)) };
        if ok != 0 {
            return Some(v);
        }
    }
    None
}

fn rdseed64() -> Option<u64> {
    for _ in 0..64 {
        let v: u64;
        let ok: u8;
        // SAFETY: only called when CPUID reports RDSEED; writes a register and CF.
        unsafe { asm!("rdseed {v}", "setc {ok}", v = out(reg) v, ok = out(reg_byte) ok, options(nomem, nostack)) };
        if ok != 0 {
            return Some(v);
        }
        core::hint::spin_loop();
    }
    None
}

/// Mixes TSC jitter: the low bits of the time taken by small, variable loops.
fn add_jitter(pool: &mut SeedPool, rounds: usize) {
    let mut prev = crate::time::rdtsc();
    for i in 0..rounds {
        let mut x = prev;
        for _ in 0..(i % 7) + 1 {
            x = x.rotate_left(7) ^ crate::time::rdtsc();
        }
        let now = crate::time::rdtsc();
        pool.update(&(now.wrapping_sub(prev) ^ x).to_le_bytes());
        prev = now;
    }
}

/// Seeds the generator (once; later calls return the source of the first). Call after
/// the entry point has set up the clock and the command line.
pub fn init() -> Source {
    // SAFETY: single vCPU, no interrupts: nothing else accesses GLOBAL meanwhile, and no
    // reference escapes this function.
    let g = unsafe { &mut *GLOBAL.get() };
    if g.source != Source::None {
        return g.source;
    }
    let mut pool = SeedPool::new();
    pool.update(b"platform-hvt seed v1");
    let (has_rdrand, has_rdseed) = cpu_has_rng();
    let mut source = Source::JitterOnly;
    let hw = |f: fn() -> Option<u64>, pool: &mut SeedPool| {
        let mut got = 0;
        for _ in 0..8 {
            if let Some(v) = f() {
                pool.update(&v.to_le_bytes());
                got += 1;
            }
        }
        got == 8
    };
    if has_rdseed && hw(rdseed64, &mut pool) {
        source = Source::Rdseed;
    } else if has_rdrand && hw(rdrand64, &mut pool) {
        source = Source::Rdrand;
    }
    if let Some(seed) = crate::start::tender_seed() {
        pool.update(&seed);
        if source == Source::JitterOnly {
            source = Source::TenderSeed;
        }
    }
    pool.update(&crate::time::wall_ns().to_le_bytes());
    add_jitter(&mut pool, 256);
    g.rng = ChaChaRng::from_seed(&pool.finish());
    g.source = source;
    source
}

/// The source the generator was seeded from.
pub fn source() -> Source {
    // SAFETY: single vCPU; a plain read of a Copy field.
    unsafe { (*GLOBAL.get()).source }
}

/// Fills `buf` with random bytes (seeding first if needed).
pub fn fill(buf: &mut [u8]) {
    if source() == Source::None {
        init();
    }
    // SAFETY: single vCPU, no interrupts, and `fill` does not re-enter itself.
    unsafe { (*GLOBAL.get()).rng.fill(buf) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8439_block() {
        // RFC 8439 §2.3.2 test vector.
        let mut key = [0u8; 32];
        for (i, k) in key.iter_mut().enumerate() {
            *k = i as u8;
        }
        let out = chacha20_block(&words_le(&key), 1, [0x0900_0000, 0x4a00_0000, 0]);
        assert_eq!(out[0], 0xe4e7_f110);
        assert_eq!(out[1], 0x1559_3bd1);
        assert_eq!(out[15], 0x4e3c_50a2);
    }

    #[test]
    fn rng_rekeys_and_differs() {
        let mut r = ChaChaRng::from_seed(&[7; 32]);
        let mut a = [0u8; 100];
        let mut b = [0u8; 100];
        r.fill(&mut a);
        r.fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0; 100]);
        let mut r2 = ChaChaRng::from_seed(&[7; 32]);
        let mut c = [0u8; 100];
        r2.fill(&mut c);
        assert_eq!(a, c);
    }

    #[test]
    fn pool_depends_on_every_byte() {
        let mut p = SeedPool::new();
        p.update(&[1; 40]);
        let x = p.finish();
        let mut p = SeedPool::new();
        p.update(&[1; 39]);
        p.update(&[2]);
        assert_ne!(x, p.finish());
        let mut p = SeedPool::new();
        p.update(&[1; 39]);
        assert_ne!(x, p.finish());
    }
}
