//! Two tiny single-threaded synchronisation primitives for the appliance's tasks
//! (one executor thread, so `Cell`/`RefCell` suffice; nothing here blocks a thread).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// An async lock without data: held by one task at a time. Updates and git
/// fetches take it so that commits never race each other (a `Pending` update
/// replaces the zone version it was prepared against).
#[derive(Default)]
pub struct Gate {
    busy: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

/// Releases the [`Gate`] on drop.
pub struct GateGuard<'a>(&'a Gate);

impl Gate {
    pub async fn lock(&self) -> GateGuard<'_> {
        poll_fn(|cx| {
            if self.busy.get() {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            } else {
                self.busy.set(true);
                Poll::Ready(())
            }
        })
        .await;
        GateGuard(self)
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.0.busy.set(false);
        // Wake everyone: the first to run takes the gate, the others queue again.
        for w in self.0.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// A level-triggered wake-up for one waiting task: `raise` sets it, `wait`
/// returns once it is set and clears it.
#[derive(Default)]
pub struct Signal {
    raised: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.raised.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}
