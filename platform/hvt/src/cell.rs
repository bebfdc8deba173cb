//! A cell for global state of a single-vCPU guest without interrupts.

use core::cell::UnsafeCell;

/// Interior-mutable global. The guest has exactly one vCPU, runs with interrupts off for
/// its whole life and has no threads, so there is never concurrent access; callers must
/// still not hold two overlapping references obtained through [`RacyCell::get`].
#[repr(transparent)]
pub(crate) struct RacyCell<T>(UnsafeCell<T>);

// SAFETY: the hvt guest is single-threaded (one vCPU, no interrupts are ever delivered),
// so a `RacyCell` is never accessed from two contexts at once. The trap handler, the only
// asynchronous context, touches just its own cells and never returns.
unsafe impl<T> Sync for RacyCell<T> {}

impl<T> RacyCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
    }

    /// Raw pointer to the contents; dereferencing it is the caller's responsibility.
    pub(crate) const fn get(&self) -> *mut T {
        self.0.get()
    }
}
