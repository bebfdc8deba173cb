//! The one loop that drives every sans-IO core of the appliance (`Notifier`,
//! `Secondary`), in the verbs of crate `sansio`: wait for input or the core's
//! deadline, let the core handle the timeout, drain its transmits.
//!
//! Inputs reach a core from other tasks (replies on the UDP socket, finished
//! transfers), which call its `handle_*` method and then raise the core's
//! [`Signal`] so this loop looks again at its transmits and deadline.

use std::cell::RefCell;
use std::future::Future;

use platform::time::{self, Duration, Instant};
use sansio::Driver;

use crate::sync::Signal;

/// The shortest wait after a round that sent nothing: a deadline that stays due
/// (work waiting on a transfer in flight) must not spin the single-threaded executor.
const MIN_WAIT: Duration = Duration::from_millis(50);

/// Drives `core` forever; `act` carries out each transmit (borrows of `core` never
/// span an await, so `act` and other tasks may borrow it).
pub async fn drive<D, F, Fut>(core: &RefCell<D>, wake: &Signal, mut act: F)
where
    D: Driver,
    F: FnMut(D::Transmit) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        // Early calls are harmless (`Driver::handle_timeout`): after a wake-up the
        // core decides itself whether anything is due.
        core.borrow_mut().handle_timeout(time::now());
        let mut sent = false;
        loop {
            let next = core.borrow_mut().poll_transmit();
            let Some(transmit) = next else { break };
            act(transmit).await;
            sent = true;
        }
        let deadline = core.borrow().poll_timeout();
        match deadline {
            Some(at) => {
                let floor = if sent { Instant::ZERO } else { time::now() + MIN_WAIT };
                let _ = time::timeout_at(at.max(floor), wake.wait()).await;
            }
            None => wake.wait().await,
        }
    }
}
