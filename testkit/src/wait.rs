//! Waiting for something to become true, with a deadline and a message that
//! names what was awaited. Polls; never a fixed sleep standing in for readiness.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// The default limit of one wait: a hung program fails the test, never hangs it.
pub const WAIT: Duration = Duration::from_secs(40);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(50);

/// Polls `f` until it gives a value, for at most [`WAIT`].
pub fn until<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    until_within(what, WAIT, String::new, f)
}

/// Like [`until`]; `ctx` says what was seen when it times out.
pub fn until_ctx<T>(what: &str, ctx: impl Fn() -> String, f: impl FnMut() -> Option<T>) -> T {
    until_within(what, WAIT, ctx, f)
}

/// Polls `f` until it gives a value, for at most `limit`; on time-out panics
/// naming `what` and showing `ctx()` (what was seen meanwhile).
pub fn until_within<T>(what: &str, limit: Duration, ctx: impl Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            let seen = ctx();
            let seen = if seen.is_empty() { String::new() } else { format!("; seen:\n{seen}") };
            panic!("timed out after {limit:?} waiting for {what}{seen}");
        }
        thread::sleep(POLL);
    }
}

/// Waits until `addr` accepts TCP connections (from the calling thread's
/// network namespace), for at most [`WAIT`].
pub fn tcp_port(what: &str, addr: SocketAddr) {
    until(&format!("{what} to accept connections on {addr}"), || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok().map(drop)
    })
}
