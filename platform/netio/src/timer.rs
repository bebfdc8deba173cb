//! hyper's `rt::Timer` over the platform's timers.
//!
//! hyper speaks `std::time::Instant`; the platform clock is
//! [`platform::time::Instant`]. [`PlatformTimer`] anchors the two once, when
//! it is created, and from then on answers hyper's `now()` from the platform
//! clock, so hyper's timeouts follow the backend's clock (the simulator's
//! virtual one included).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use platform::time::{self as ptime, Instant};

/// hyper's timer on the platform clock. Create it inside a platform runtime.
#[derive(Clone, Copy, Debug)]
pub struct PlatformTimer {
    std_anchor: std::time::Instant,
    anchor: Instant,
}

impl PlatformTimer {
    /// # Panics
    /// Outside a platform runtime.
    pub fn new() -> PlatformTimer {
        PlatformTimer { std_anchor: std::time::Instant::now(), anchor: ptime::now() }
    }

    fn platform_deadline(self, deadline: std::time::Instant) -> Instant {
        match deadline.checked_duration_since(self.std_anchor) {
            Some(after) => self.anchor + after,
            None => {
                let before = self.std_anchor.saturating_duration_since(deadline);
                let before = u64::try_from(before.as_nanos()).unwrap_or(u64::MAX);
                Instant::from_nanos(self.anchor.as_nanos().saturating_sub(before))
            }
        }
    }
}

impl Default for PlatformTimer {
    fn default() -> Self {
        PlatformTimer::new()
    }
}

/// A platform [`ptime::Sleep`] as a hyper `Sleep`.
struct HyperSleep(ptime::Sleep);

impl Future for HyperSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl hyper::rt::Timer for PlatformTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(ptime::sleep(duration)))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(ptime::sleep_until(self.platform_deadline(deadline))))
    }

    fn now(&self) -> std::time::Instant {
        self.std_anchor + (ptime::now() - self.anchor)
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        let deadline = self.platform_deadline(new_deadline);
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(s) => s.get_mut().0.reset(deadline),
            None => *sleep = Box::pin(HyperSleep(ptime::sleep_until(deadline))),
        }
    }
}
