//! Clocks and timers.
//!
//! The monotonic clock is [`Instant`]: nanoseconds since an unspecified point
//! (the start of the runtime on unix, boot on hvt, zero on the simulator).
//! Appliances must take time only from here, never from `std::time::Instant`,
//! so that the simulator's virtual clock governs them. The wall clock
//! ([`wall`]) is for certificates, logs and protocol timestamps only; it may
//! jump.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
pub use std::time::Duration;
use std::time::SystemTime;

/// The monotonic clock's type lives in the dependency-free `sansio` crate, so
/// that sans-IO cores and the wiring around them name one type.
pub use sansio::{Instant, UnixTime};

use crate::rt;

/// The current monotonic time of the running appliance.
pub fn now() -> Instant {
    rt::with(|cx| cx.runtime.now())
}

/// The current wall-clock time (UTC).
pub fn wall() -> SystemTime {
    rt::with(|cx| cx.runtime.wall())
}

/// The time as sans-IO cores take it: both clocks, read once.
pub fn sansio_now() -> sansio::Now {
    let secs = wall().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    sansio::Now { mono: now(), wall: UnixTime::from_secs(secs) }
}

/// Like [`wall`], but `None` outside a runtime (for libraries such as TLS
/// time providers that may be called from anywhere).
pub fn try_wall() -> Option<SystemTime> {
    rt::try_with(|cx| cx.runtime.wall())
}

/// Completes once the monotonic clock reaches `deadline`.
///
/// `Sleep` holds no reference to the runtime (only the deadline and a timer
/// key), so it is `Send + Sync + Unpin`, as hyper's timer interface requires;
/// it must still be polled on the runtime's thread.
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    key: Option<u64>,
}

/// Sleeps for `d`.
pub fn sleep(d: Duration) -> Sleep {
    sleep_until(now() + d)
}

/// Sleeps until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, key: None }
}

impl Sleep {
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
    /// Moves the deadline (the timer is re-armed on the next poll).
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }
    fn cancel(&mut self) {
        if let Some(key) = self.key.take() {
            rt::try_with(|cx| cx.timers.borrow_mut().cancel(key));
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let key = self.key.take();
        let (ready, key) = rt::with(|rcx| {
            if rcx.runtime.now() >= deadline {
                if let Some(key) = key {
                    rcx.timers.borrow_mut().cancel(key);
                }
                return (true, None);
            }
            let mut timers = rcx.timers.borrow_mut();
            let key = match key {
                Some(key) => {
                    timers.update_waker(key, cx.waker());
                    key
                }
                None => {
                    let earliest_before = timers.next_deadline();
                    let key = timers.insert(deadline, cx.waker().clone());
                    drop(timers);
                    if earliest_before.is_none_or(|e| deadline < e) {
                        rcx.runtime.timer_armed(deadline);
                    }
                    key
                }
            };
            (false, Some(key))
        });
        self.key = key;
        if ready { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}
impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out")
    }
}

/// Runs `fut` until it completes or `d` elapses.
pub async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let deadline = now() + d;
    timeout_at(deadline, fut).await
}

/// Runs `fut` until it completes or the clock reaches `deadline`.
pub async fn timeout_at<F: Future>(deadline: Instant, fut: F) -> Result<F::Output, Elapsed> {
    futures_lite::future::or(async { Ok(fut.await) }, async {
        sleep_until(deadline).await;
        Err(Elapsed)
    })
    .await
}
