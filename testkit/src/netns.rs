//! Network namespaces for tests that need real interfaces (taps, bridges).
//!
//! Test traffic may only go to loopback or into namespaces the test made
//! itself: [`NetNs::create`] makes one with `ip netns add` and deletes it on
//! drop; [`NetNs::in_ns`] runs code on a thread inside it and [`NetNs::cmd`]
//! a program inside it.
//!
//! Needs root and iproute2's `ip`; without them every call fails with an
//! error saying so (tests must fail, never pass silently).

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

/// A network namespace made with `ip netns add`, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

fn prerequisites() -> io::Result<()> {
    // /proc/self belongs to the process's effective user.
    if std::fs::metadata("/proc/self")?.uid() != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "network-namespace tests must run as root (they create namespaces and tap devices)",
        ));
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(io::Error::other(format!("`ip -V` failed: {}", String::from_utf8_lossy(&o.stderr).trim()))),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("the `ip` command (iproute2) is missing: {e}; install it with apt-get install -y iproute2"),
        )),
    }
}

fn run_ip(args: &[&str]) -> io::Result<String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        io::Error::new(e.kind(), format!("cannot run ip {}: {e} (is iproute2 installed?)", args.join(" ")))
    })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ip {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl NetNs {
    /// Creates the namespace `name` (it must not exist).
    pub fn create(name: &str) -> io::Result<NetNs> {
        prerequisites()?;
        run_ip(&["netns", "add", name])?;
        Ok(NetNs { name: name.to_string() })
    }

    /// Creates a namespace with a name unique to this process: `prefix`,
    /// the process id and a counter.
    pub fn unique(prefix: &str) -> io::Result<NetNs> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        NetNs::create(&format!("{prefix}-{}-{n}", std::process::id()))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves the calling thread (only it) into this namespace; sockets and
    /// taps it creates afterwards live there. The move cannot be undone:
    /// do it on a thread made for the purpose (or use [`NetNs::in_ns`]).
    pub fn enter_current_thread(&self) -> io::Result<()> {
        let path = format!("/var/run/netns/{}", self.name);
        let file = File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("cannot open {path}: {e}")))?;
        platform_unix::enter_net_namespace(&file)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot enter network namespace {}: {e}", self.name)))
    }

    /// Runs `f` on a fresh thread inside this namespace and returns its result
    /// (a panic in `f` fails the caller).
    pub fn in_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|s| {
            let inside = s.spawn(|| {
                self.enter_current_thread().unwrap_or_else(|e| panic!("{e}"));
                f()
            });
            inside.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// A command running `program` inside this namespace (`ip netns exec`).
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `ip -n NAME ARGS...` and returns its output.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }

    /// Adds tap `tap` and bridge `bridge` (holding `addr`, a CIDR) joined
    /// together, with them and loopback up: an appliance on the tap and the
    /// test's programs on the bridge share one link.
    pub fn tap_on_bridge(&self, tap: &str, bridge: &str, addr: &str) -> io::Result<()> {
        self.ip(&["link", "set", "lo", "up"])?;
        self.ip(&["tuntap", "add", "dev", tap, "mode", "tap"])?;
        self.ip(&["link", "add", bridge, "type", "bridge"])?;
        self.ip(&["link", "set", tap, "master", bridge])?;
        self.ip(&["addr", "add", addr, "dev", bridge])?;
        self.ip(&["link", "set", tap, "up"])?;
        self.ip(&["link", "set", bridge, "up"])?;
        Ok(())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "del", &self.name]) {
            eprintln!("warning: cannot delete network namespace {}: {e}", self.name);
        }
    }
}
