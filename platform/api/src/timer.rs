//! The timer wheel shared by every backend.
//!
//! [`crate::time::Sleep`] registers its deadline and waker here; a backend
//! asks for [`TimerWheel::next_deadline`] before it blocks and calls
//! [`TimerWheel::fire`] when time has advanced.

use std::collections::BTreeMap;
use std::task::Waker;

use crate::time::Instant;

#[derive(Default)]
pub struct TimerWheel {
    by_deadline: BTreeMap<(Instant, u64), Waker>,
    deadline_of: BTreeMap<u64, Instant>,
    next_key: u64,
}

impl TimerWheel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `waker` to be woken at `deadline`; returns the timer's key.
    pub fn insert(&mut self, deadline: Instant, waker: Waker) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.by_deadline.insert((deadline, key), waker);
        self.deadline_of.insert(key, deadline);
        key
    }

    /// Replaces the waker of a pending timer (a future may move between tasks).
    pub fn update_waker(&mut self, key: u64, waker: &Waker) {
        if let Some(deadline) = self.deadline_of.get(&key)
            && let Some(w) = self.by_deadline.get_mut(&(*deadline, key))
            && !w.will_wake(waker)
        {
            *w = waker.clone();
        }
    }

    /// Removes a timer; unknown keys (already fired) are ignored.
    pub fn cancel(&mut self, key: u64) {
        if let Some(deadline) = self.deadline_of.remove(&key) {
            self.by_deadline.remove(&(deadline, key));
        }
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.keys().next().map(|(d, _)| *d)
    }

    /// Removes every timer due at `now` and returns their wakers, earliest
    /// first (ties in registration order, so runs are deterministic).
    pub fn fire(&mut self, now: Instant) -> Vec<Waker> {
        let mut woken = Vec::new();
        while let Some(entry) = self.by_deadline.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, key), waker) = entry.remove_entry();
            self.deadline_of.remove(&key);
            woken.push(waker);
        }
        woken
    }

    pub fn len(&self) -> usize {
        self.by_deadline.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_deadline.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fires_in_deadline_order_and_skips_cancelled() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut wheel = TimerWheel::new();
        let a = wheel.insert(Instant::from_nanos(30), waker.clone());
        let _b = wheel.insert(Instant::from_nanos(10), waker.clone());
        let _c = wheel.insert(Instant::from_nanos(20), waker.clone());
        wheel.cancel(a);
        assert_eq!(wheel.next_deadline(), Some(Instant::from_nanos(10)));
        let fired = wheel.fire(Instant::from_nanos(25));
        assert_eq!(fired.len(), 2);
        fired.into_iter().for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(wheel.is_empty());
    }
}
