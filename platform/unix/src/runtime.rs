//! The task runtime: tokio `current_thread` with a `LocalSet`, implementing
//! [`platform::rt::Runtime`].
//!
//! Timers: `platform`'s [`TimerWheel`](platform::timer::TimerWheel) holds
//! every pending [`Sleep`](platform::time::Sleep); one driver task sleeps
//! (on tokio's timer) until the wheel's earliest deadline, fires the due
//! wakers, and is woken early through a [`Notify`] when
//! [`Runtime::timer_armed`] reports an earlier deadline.
//!
//! A panic in a spawned task is caught and re-raised from [`block_on`], so a
//! broken task fails the run instead of vanishing silently (tokio would
//! otherwise swallow it). Release builds abort on panic anyway.

use std::any::Any;
use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, SystemTime};

use platform::rt::{self, LocalBoxFuture, Runtime};
use platform::time::Instant;
use tokio::sync::Notify;

type PanicPayload = Box<dyn Any + Send + 'static>;

struct Shared {
    start: std::time::Instant,
    /// Wakes the timer driver when an earlier deadline is armed.
    timer_notify: Notify,
    /// The payload of the first panic of a spawned task, and the waker of
    /// `block_on`'s watcher.
    panic: RefCell<Option<PanicPayload>>,
    panic_waker: RefCell<Option<Waker>>,
}

/// The unix runtime. Only usable inside [`block_on`].
struct UnixRuntime {
    shared: Rc<Shared>,
}

impl Shared {
    fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// The tokio instant of a platform instant; `None` when unrepresentable.
    fn to_tokio(&self, at: Instant) -> Option<tokio::time::Instant> {
        self.start.checked_add(Duration::from_nanos(at.as_nanos())).map(tokio::time::Instant::from_std)
    }
}

impl Runtime for UnixRuntime {
    fn now(&self) -> Instant {
        self.shared.now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn spawn(&self, task: LocalBoxFuture<'static, ()>) {
        let shared = self.shared.clone();
        let mut task = task;
        let guarded = poll_fn(move |cx| match catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(payload) => {
                let mut slot = shared.panic.borrow_mut();
                if slot.is_none() {
                    *slot = Some(payload);
                }
                drop(slot);
                if let Some(w) = shared.panic_waker.borrow_mut().take() {
                    w.wake();
                }
                Poll::Ready(())
            }
        });
        tokio::task::spawn_local(guarded);
    }

    fn timer_armed(&self, _deadline: Instant) {
        self.shared.timer_notify.notify_one();
    }
}

/// Fires due timers forever; runs as a task of the `LocalSet`.
async fn drive_timers(shared: Rc<Shared>) {
    loop {
        let now = shared.now();
        let due = rt::with(|cx| cx.timers.borrow_mut().fire(now));
        due.into_iter().for_each(Waker::wake);
        let next = rt::with(|cx| cx.timers.borrow().next_deadline());
        match next.and_then(|d| shared.to_tokio(d)) {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = shared.timer_notify.notified() => {}
                }
            }
            None => shared.timer_notify.notified().await,
        }
    }
}

/// Completes with the payload of the first panic of a spawned task.
async fn task_panicked(shared: &Shared) -> PanicPayload {
    poll_fn(|cx| match shared.panic.borrow_mut().take() {
        Some(p) => Poll::Ready(p),
        None => {
            *shared.panic_waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await
}

/// Runs `f` on a fresh tokio `current_thread` runtime with the platform
/// runtime installed (so [`platform::rt::spawn`], [`platform::time::sleep`]
/// and the unix devices work inside it), and returns its output.
///
/// Tasks still running when `f` completes are dropped. A panic in a spawned
/// task is re-raised here.
///
/// # Panics
/// When tokio cannot create its runtime (out of file descriptors), when
/// called inside another `block_on` on the same thread, or when a spawned
/// task panicked.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let tokio_rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("cannot create the tokio runtime");
    let shared = Rc::new(Shared {
        start: std::time::Instant::now(),
        timer_notify: Notify::new(),
        panic: RefCell::new(None),
        panic_waker: RefCell::new(None),
    });
    let runtime: Rc<dyn Runtime> = Rc::new(UnixRuntime { shared: shared.clone() });
    rt::enter(runtime, || {
        // Created and dropped inside `enter`: tasks dropped with the set may
        // still cancel their timers through the platform context.
        let local = tokio::task::LocalSet::new();
        let out = local.block_on(&tokio_rt, async {
            let driver = tokio::task::spawn_local(drive_timers(shared.clone()));
            let f = pin!(f);
            let out = tokio::select! {
                biased;
                payload = task_panicked(&shared) => Err(payload),
                out = f => Ok(out),
            };
            driver.abort();
            out
        });
        drop(local);
        match out {
            Ok(out) => out,
            Err(payload) => resume_unwind(payload),
        }
    })
}
