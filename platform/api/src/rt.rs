//! The task runtime of the running appliance.
//!
//! One runtime per thread, installed by the backend with [`enter`]. Appliance
//! code reaches it through free functions — [`spawn`], [`crate::time::now`],
//! [`crate::time::sleep`] — so that it never names a backend.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::SystemTime;

use crate::time::Instant;
use crate::timer::TimerWheel;

/// A boxed `!Send` future, the unit of work of a single-threaded runtime.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What a backend provides to run tasks and tell time.
pub trait Runtime {
    /// The monotonic clock.
    fn now(&self) -> Instant;
    /// The wall clock.
    fn wall(&self) -> SystemTime;
    /// Runs `task` concurrently with the caller until it completes.
    fn spawn(&self, task: LocalBoxFuture<'static, ()>);
    /// A timer was armed that is earlier than every other pending timer.
    /// A backend that is blocked waiting must wake up by `deadline`; one that
    /// consults [`TimerWheel::next_deadline`] before blocking may ignore this.
    fn timer_armed(&self, deadline: Instant);
}

/// The per-thread state: the backend's runtime and the shared timer wheel.
pub struct RuntimeContext {
    pub runtime: Rc<dyn Runtime>,
    pub timers: RefCell<TimerWheel>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<RuntimeContext>>> = const { RefCell::new(None) };
}

/// Installs `runtime` as this thread's runtime while `f` runs.
pub fn enter<R>(runtime: Rc<dyn Runtime>, f: impl FnOnce() -> R) -> R {
    let cx = Rc::new(RuntimeContext { runtime, timers: RefCell::new(TimerWheel::new()) });
    let previous = CURRENT.with(|c| c.replace(Some(cx)));
    struct Restore(Option<Rc<RuntimeContext>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Calls `f` with this thread's runtime context.
///
/// # Panics
/// When no runtime is installed: platform functions were called outside an
/// appliance (a programming error, not an input error).
pub fn with<R>(f: impl FnOnce(&RuntimeContext) -> R) -> R {
    try_with(f).expect("no platform runtime on this thread: call through a backend's run function")
}

/// Like [`with`], but `None` when no runtime is installed.
pub fn try_with<R>(f: impl FnOnce(&RuntimeContext) -> R) -> Option<R> {
    let cx = CURRENT.with(|c| c.borrow().clone())?;
    Some(f(&cx))
}

/// Spawns `fut` on the current runtime. Dropping the handle detaches the task.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let state = Rc::new(RefCell::new(JoinState { result: None, join_waker: None, task_waker: None, aborted: false }));
    let task_state = state.clone();
    let task = async move {
        let mut fut = std::pin::pin!(fut);
        let out = std::future::poll_fn(|cx| {
            let mut st = task_state.borrow_mut();
            if st.aborted {
                return Poll::Ready(None);
            }
            st.task_waker = Some(cx.waker().clone());
            drop(st);
            fut.as_mut().poll(cx).map(Some)
        })
        .await;
        let mut st = task_state.borrow_mut();
        st.result = out;
        st.task_waker = None;
        if let Some(w) = st.join_waker.take() {
            w.wake();
        }
    };
    with(|cx| cx.runtime.spawn(Box::pin(task)));
    JoinHandle { state }
}

struct JoinState<T> {
    result: Option<T>,
    join_waker: Option<Waker>,
    task_waker: Option<Waker>,
    aborted: bool,
}

/// Awaits the output of a spawned task.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> JoinHandle<T> {
    /// Stops the task at its next wake-up; awaiting the handle afterwards
    /// never completes unless the task had already finished.
    pub fn abort(&self) {
        let mut st = self.state.borrow_mut();
        st.aborted = true;
        if let Some(w) = st.task_waker.take() {
            w.wake();
        }
    }

    pub fn is_finished(&self) -> bool {
        self.state.borrow().result.is_some()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T> {
        let mut st = self.state.borrow_mut();
        match st.result.take() {
            Some(v) => Poll::Ready(v),
            None => {
                st.join_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Yields once to let other tasks run.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
