//! The vocabulary of every sans-IO core.
//!
//! A `*-core` crate holds protocol state and nothing else: no sockets, no
//! clock reads, no tasks. The wiring around it (the appliance crate) owns the
//! I/O and the time and drives the core with the same four verbs everywhere,
//! after quinn-proto's `Connection`:
//!
//! * `handle_*(now, input)` — one method per kind of input (a datagram, a
//!   reply to something the core sent, a finished transfer, ...);
//! * [`Driver::handle_timeout`]`(now)` — the deadline of
//!   [`Driver::poll_timeout`] has passed;
//! * [`Driver::poll_timeout`]`()` — when the core next wants
//!   `handle_timeout`, or `None` when it waits only for input;
//! * [`Driver::poll_transmit`]`()` — the next thing the core wants sent;
//!   the wiring drains it after every `handle*` call.
//!
//! So every appliance's wiring is the same loop: wait for input or for the
//! deadline, call `handle*`, drain `poll_transmit`, re-read `poll_timeout`.
//!
//! Time comes in two kinds. [`Instant`] is monotonic (nanoseconds from an
//! unspecified origin: runtime start on unix, boot on hvt, zero on the
//! simulator) and is what timers and rate limits use. [`UnixTime`] is the
//! wall clock, passed explicitly only to protocols that put it on the wire
//! or compare it with a peer's (TSIG, lease expiry written to disk,
//! certificate validity); it may jump.
//!
//! This crate has no dependencies; `platform` re-exports [`Instant`] as
//! `platform::time::Instant`, so the wiring and the core name one type.

use core::fmt;
use core::net::SocketAddr;
use core::ops::{Add, Sub};
pub use core::time::Duration;

/// A point on the monotonic clock, in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the monotonic clock.
    pub const ZERO: Instant = Instant(0);
    /// A point later than every deadline an appliance can reach.
    pub const FAR_FUTURE: Instant = Instant(u64::MAX);

    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }
    pub const fn from_millis(millis: u64) -> Instant {
        Instant(millis.saturating_mul(1_000_000))
    }
    pub const fn from_secs(secs: u64) -> Instant {
        Instant(secs.saturating_mul(1_000_000_000))
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub const fn as_micros(self) -> u64 {
        self.0 / 1_000
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
    /// Time from `now` until this instant; zero if it has passed.
    pub fn duration_until(self, now: Instant) -> Duration {
        self.saturating_duration_since(now)
    }
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let nanos = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(nanos).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::FAR_FUTURE`].
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant::FAR_FUTURE)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}s", self.0 / 1_000_000_000, self.0 % 1_000_000_000)
    }
}

/// A wall-clock time: whole seconds since 1970-01-01T00:00:00Z.
///
/// Passed explicitly to the protocols that need one (see the crate docs);
/// never used for timers, because it may jump.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct UnixTime(u64);

impl UnixTime {
    pub const EPOCH: UnixTime = UnixTime(0);

    pub const fn from_secs(secs: u64) -> UnixTime {
        UnixTime(secs)
    }
    pub const fn as_secs(self) -> u64 {
        self.0
    }
}

/// The time a core is handed with each input: the monotonic clock always,
/// the wall clock for the protocols that need it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Now {
    pub mono: Instant,
    pub wall: UnixTime,
}

/// The driving verbs every sans-IO core implements (see the crate docs).
/// Input methods (`handle_*`) differ per core and are not part of the trait.
pub trait Driver {
    /// What the core asks the wiring to send.
    type Transmit;

    /// The deadline of [`poll_timeout`](Driver::poll_timeout) has passed.
    /// Calling it early, or twice, is harmless.
    fn handle_timeout(&mut self, now: Instant);

    /// When the core next needs [`handle_timeout`](Driver::handle_timeout);
    /// `None` when it waits only for input.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The next thing to send, oldest first; `None` when there is nothing.
    fn poll_transmit(&mut self) -> Option<Self::Transmit>;
}

/// A UDP datagram to send: the [`Driver::Transmit`] of cores that speak UDP.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Datagram {
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_secs(2);
        assert_eq!(t - Instant::from_secs(3), Duration::ZERO);
        assert_eq!(t - Instant::from_millis(500), Duration::from_millis(1500));
        assert_eq!(Instant::FAR_FUTURE + Duration::from_secs(1), Instant::FAR_FUTURE);
        assert_eq!(format!("{:?}", Instant::from_millis(1_250)), "1.250000000s");
    }

    #[test]
    fn unix_time_orders_by_seconds() {
        assert!(UnixTime::from_secs(10) > UnixTime::EPOCH);
        assert_eq!(UnixTime::from_secs(7).as_secs(), 7);
    }
}
