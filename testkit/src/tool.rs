//! Free ports, the tools a test needs, and running a program with a time limit.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::Lines;

/// A TCP port of 127.0.0.1 that was free a moment ago (for servers that
/// cannot report the port they picked).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// Panics unless `tool` runs (`tool args...` starts; its exit status is not
/// judged, as some tools exit non-zero for `--help`). The message names the
/// tool and the Debian `package` that has it. A test that lacks a tool fails,
/// never passes silently: in CI (`CI` set) and outside it alike.
pub fn require_tool(tool: &str, args: &[&str], package: &str) {
    let started =
        Command::new(tool).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if let Err(e) = started {
        let place = if std::env::var_os("CI").is_some() { "the CI image" } else { "this machine" };
        panic!("this test needs `{tool}`, which cannot run on {place} ({e}): apt-get install -y {package}");
    }
}

/// Panics unless the test runs as root (it makes namespaces, taps, bridges).
pub fn require_root(what: &str) {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    let euid = std::fs::metadata("/proc/self").map(|m| m.uid()).expect("/proc is mounted");
    assert_eq!(euid, 0, "{what} must run as root");
}

/// `program`, run inside the network namespace `ns` (`ip netns exec`) if given.
pub fn in_ns(ns: Option<&str>, program: &str) -> Command {
    match ns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns, program]);
            cmd
        }
        None => Command::new(program),
    }
}

/// Runs `cmd` to completion within `limit`; its stdout and stderr, joined by a
/// newline. Panics, with what it printed, when it runs longer.
pub fn run_output(cmd: &mut Command, limit: Duration) -> String {
    let mut child = crate::proc::spawn_piped(cmd);
    let out = Lines::collect(child.stdout.take().expect("piped stdout"));
    let err = Lines::collect(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait for the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}:\n{}\n{}", out.text(), err.text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    out.wait_eof(limit);
    err.wait_eof(limit);
    format!("{}\n{}", out.text(), err.text())
}
