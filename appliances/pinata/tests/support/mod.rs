//! What every Piñata process test (`e2e`, `soak`, `hvt`) shares: the tools they need,
//! a secret unique to the run, and running clients (`curl`, `openssl`) with a time
//! limit, inside a network namespace when given (the hvt Piñata sits behind a tap).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use testkit::Lines;
pub use testkit::tool::in_ns as tool;

/// Limit on any single wait of a test (a hung appliance fails, never hangs).
pub const WAIT: Duration = Duration::from_secs(30);

/// Fails with a clear message when a tool the tests need is missing.
pub fn require_tools() {
    testkit::require_tool("openssl", &["version"], "openssl");
    testkit::require_tool("curl", &["--version"], "curl");
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A secret unique to this run, easy to grep for.
pub fn unique_secret() -> String {
    format!("BOUNTY-{}-{}-7f3a9c", std::process::id(), UNIQUE.fetch_add(1, Ordering::Relaxed))
}

/// Runs a command to completion with [`WAIT`] as limit; stdout and stderr together.
pub fn run_output(cmd: &mut Command) -> String {
    testkit::tool::run_output(cmd, WAIT)
}

/// `curl` (from inside `ns`, if given) with the given arguments; the body (and errors).
pub fn curl_in(ns: Option<&str>, args: &[&str]) -> String {
    run_output(tool(ns, "curl").args(["-sS", "--max-time", "20"]).args(args))
}
