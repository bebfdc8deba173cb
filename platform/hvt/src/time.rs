//! Clocks and sleeping.
//!
//! Monotonic time is computed in the guest from `rdtsc`, scaled by the TSC frequency the
//! tender reports (`BootInfo::cpu_cycle_freq`) with a precomputed 32.32 fixed-point
//! multiplier; integer arithmetic only. Wall time is the WALLTIME hypercall on every
//! call. Sleeping is POLL with a timeout: there are no timer interrupts.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::hypercall;

const NSEC_PER_SEC: u64 = 1_000_000_000;

static TSC_BASE: AtomicU64 = AtomicU64::new(0);
static TSC_MULT: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
#[inline(always)]
pub fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: `rdtsc` only reads the TSC into edx:eax; CR4.TSD is clear (the tender never
    // sets it), so it is allowed at CPL 0 in any case.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// 32.32 fixed-point nanoseconds per TSC tick for a TSC of `freq_hz`.
/// `1e9 << 32` fits in a u64, so the division is a plain 64-bit one.
pub const fn tsc_mult(freq_hz: u64) -> u64 {
    match (NSEC_PER_SEC << 32).checked_div(freq_hz) {
        Some(m) => m,
        None => 0,
    }
}

/// Nanoseconds for `ticks` TSC ticks with multiplier `mult` (96-bit intermediate, so
/// it cannot overflow before the result itself does).
pub const fn ticks_to_ns(ticks: u64, mult: u64) -> u64 {
    ((ticks as u128 * mult as u128) >> 32) as u64
}

/// Starts the monotonic clock (called once by the entry point).
pub(crate) fn init(freq_hz: u64) {
    TSC_MULT.store(tsc_mult(freq_hz), Relaxed);
    TSC_BASE.store(rdtsc(), Relaxed);
}

/// Monotonic nanoseconds since the guest started.
pub fn monotonic_ns() -> u64 {
    let ticks = rdtsc().wrapping_sub(TSC_BASE.load(Relaxed));
    ticks_to_ns(ticks, TSC_MULT.load(Relaxed))
}

/// Wall-clock nanoseconds since the UNIX epoch (UTC), from the host (one hypercall).
pub fn wall_ns() -> u64 {
    hypercall::walltime()
}

/// Waits until the monotonic clock reaches `deadline_ns` or a net device has input.
/// Returns the set of ready net handles (bit `h` = handle `h`), 0 on timeout.
pub fn yield_until(deadline_ns: u64) -> u64 {
    let timeout = deadline_ns.saturating_sub(monotonic_ns());
    hypercall::poll(timeout)
}

/// Waits up to `timeout_ns` for net input; returns the ready set (0 on timeout).
pub fn poll(timeout_ns: u64) -> u64 {
    hypercall::poll(timeout_ns)
}

/// Sleeps for at least `ns` nanoseconds: POLL until the deadline, ignoring net readiness.
pub fn sleep_ns(ns: u64) {
    let deadline = monotonic_ns().saturating_add(ns);
    loop {
        let now = monotonic_ns();
        if now >= deadline {
            return;
        }
        hypercall::poll(deadline - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling() {
        let m = tsc_mult(2_300_000_000);
        assert_eq!(ticks_to_ns(2_300_000_000, m) / 1000, 999_999); // within 1 µs of 1 s
        let m = tsc_mult(1_000_000_000);
        assert_eq!(ticks_to_ns(12345, m), 12345);
        let m = tsc_mult(3_000_000_000);
        // One hour of ticks.
        let one_hour = 3_000_000_000u64 * 3600;
        let ns = ticks_to_ns(one_hour, m);
        assert!(ns.abs_diff(3600 * NSEC_PER_SEC) < 3_000, "{ns}");
        assert_eq!(tsc_mult(0), 0);
    }
}
