//! A single-threaded executor for backends without a runtime of their own
//! (hvt and the simulator).
//!
//! It runs ready tasks, fires due timers, and when nothing is runnable asks
//! the backend's [`Park`] to block until the next deadline or device input.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::rt::{self, LocalBoxFuture};
use crate::time::Instant;

/// How the executor waits when no task is runnable.
pub trait Park {
    /// Blocks until the monotonic clock reaches `deadline` (`None`: no timer
    /// is pending) or until a device has input, waking the wakers of the
    /// devices that became ready. May return early; the executor re-checks.
    fn park(&mut self, deadline: Option<Instant>);
}

/// Task ids whose wakers fired, in wake order (FIFO keeps runs deterministic).
#[derive(Default)]
struct ReadyQueue {
    ids: Mutex<VecDeque<usize>>,
}

struct TaskWaker {
    id: usize,
    queued: AtomicBool,
    queue: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue.ids.lock().unwrap_or_else(|e| e.into_inner()).push_back(self.id);
        }
    }
}

struct Task {
    future: LocalBoxFuture<'static, ()>,
    waker: Arc<TaskWaker>,
}

/// The executor. Cheap to clone; clones share the task set.
#[derive(Clone, Default)]
pub struct Executor {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    queue: Arc<ReadyQueue>,
    tasks: RefCell<Vec<Option<Task>>>,
    free: RefCell<Vec<usize>>,
}

/// The main future's waker only raises a flag.
struct MainWaker(AtomicBool);
impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

impl Executor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a task; it first runs on the next turn of [`Executor::block_on`].
    pub fn spawn(&self, future: LocalBoxFuture<'static, ()>) {
        let id = match self.inner.free.borrow_mut().pop() {
            Some(id) => id,
            None => {
                let mut tasks = self.inner.tasks.borrow_mut();
                tasks.push(None);
                tasks.len() - 1
            }
        };
        let waker = Arc::new(TaskWaker { id, queued: AtomicBool::new(false), queue: self.inner.queue.clone() });
        waker.wake_by_ref();
        self.inner.tasks.borrow_mut()[id] = Some(Task { future, waker });
    }

    fn next_ready(&self) -> Option<usize> {
        self.inner.queue.ids.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    /// Polls one task; returns false when the id no longer names a task.
    fn run_task(&self, id: usize) {
        let task = self.inner.tasks.borrow_mut().get_mut(id).and_then(Option::take);
        let Some(mut task) = task else { return };
        task.waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(task.waker.clone());
        let mut cx = Context::from_waker(&waker);
        match task.future.as_mut().poll(&mut cx) {
            Poll::Ready(()) => self.inner.free.borrow_mut().push(id),
            Poll::Pending => self.inner.tasks.borrow_mut()[id] = Some(task),
        }
    }

    /// Runs `main` and every spawned task until `main` completes, parking in
    /// `park` whenever nothing is runnable. Must be called inside
    /// [`rt::enter`] with a runtime whose `spawn` forwards to this executor.
    pub fn block_on<F: Future>(&self, main: F, park: &mut dyn Park) -> F::Output {
        let mut main = pin!(main);
        let main_flag = Arc::new(MainWaker(AtomicBool::new(true)));
        let main_waker = Waker::from(main_flag.clone());
        loop {
            if main_flag.0.swap(false, Ordering::AcqRel)
                && let Poll::Ready(out) = main.as_mut().poll(&mut Context::from_waker(&main_waker))
            {
                return out;
            }
            // Run what is ready now; tasks woken meanwhile run in the next round,
            // so timers and devices are never starved.
            let ready = self.inner.queue.ids.lock().unwrap_or_else(|e| e.into_inner()).len();
            for _ in 0..ready {
                match self.next_ready() {
                    Some(id) => self.run_task(id),
                    None => break,
                }
            }
            let now = rt::with(|cx| cx.runtime.now());
            let due = rt::with(|cx| cx.timers.borrow_mut().fire(now));
            due.into_iter().for_each(Waker::wake);
            let runnable = main_flag.0.load(Ordering::Acquire)
                || !self.inner.queue.ids.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
            if !runnable {
                let deadline = rt::with(|cx| cx.timers.borrow().next_deadline());
                park.park(deadline);
            }
        }
    }
}
