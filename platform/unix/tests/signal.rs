//! SIGTERM stops a running appliance with the failure status. In its own
//! test binary: the handler tokio installs stays for the whole process.

use platform::appliance::{AppResult, Env, FAILURE_EXIT};
use platform::rt::{self, LocalBoxFuture};
use platform::{Appliance, Device};
use platform_unix::run_with_args;

#[allow(unsafe_code)] // raise(3)
fn wait_forever(_env: Env) -> LocalBoxFuture<'static, AppResult> {
    Box::pin(async {
        // Let the runner install its signal handlers (on its first poll), then
        // signal ourselves and wait; only the signal can end this run.
        for _ in 0..3 {
            rt::yield_now().await;
        }
        // SAFETY: raise has no preconditions; SIGTERM is handled by the runner.
        unsafe { libc::raise(libc::SIGTERM) };
        std::future::pending::<()>().await;
        Ok(())
    })
}

static FOREVER: Appliance = Appliance {
    name: "forever",
    summary: "waits until stopped",
    version: "0.0.1",
    devices: &[Device::net("service")],
    args: &[],
    main: wait_forever,
};

#[test]
fn sigterm_stops_the_appliance_with_failure() {
    assert_eq!(run_with_args(&FOREVER, Vec::new()), FAILURE_EXIT);
}
