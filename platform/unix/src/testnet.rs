//! Network namespaces for tests that need real interfaces (taps).
//!
//! Test traffic may only go to loopback or into namespaces the test made
//! itself: [`NetNs::create`] makes one with `ip netns add`, deletes it on
//! drop, and [`NetNs::enter_current_thread`] moves only the calling thread
//! into it (run the test body on a fresh `std::thread`).
//!
//! Needs root and iproute2's `ip`; without them every call fails with an
//! error saying so (tests must fail, never pass silently).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace made with `ip netns add`, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

fn prerequisites() -> io::Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
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
    /// do it on a thread made for the purpose.
    pub fn enter_current_thread(&self) -> io::Result<()> {
        let path = format!("/var/run/netns/{}", self.name);
        let file = File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("cannot open {path}: {e}")))?;
        // SAFETY: setns with a valid namespace descriptor; it changes only the
        // calling thread's network namespace.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("cannot enter network namespace {}: {e}", self.name)));
        }
        Ok(())
    }

    /// Runs `ip -n NAME ARGS...` and returns its output.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "del", &self.name]) {
            eprintln!("warning: cannot delete network namespace {}: {e}", self.name);
        }
    }
}

/// Where the hvt end-to-end tests find what they boot: an appliance image and
/// the tender. Both must be built first (the test command's hvt stage does);
/// a missing one fails the test with the command that builds it.
pub mod hvt {
    use std::path::{Path, PathBuf};

    /// The checkout this crate was built from.
    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
    }

    /// `$ENV_VAR`, else `dist/NAME.hvt` of the checkout.
    pub fn image(name: &str, env_var: &str) -> PathBuf {
        let path = std::env::var_os(env_var)
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("dist").join(format!("{name}.hvt")));
        assert!(
            path.is_file(),
            "{} is missing: build it with `cargo xtask image {name}` (or set {env_var})",
            path.display()
        );
        path
    }

    /// `$HVT_TENDER`, else a tender built in the checkout's target directory
    /// (or `$CARGO_TARGET_DIR`), else one on `PATH`.
    pub fn tender() -> PathBuf {
        if let Some(p) = std::env::var_os("HVT_TENDER") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "HVT_TENDER={} is not a file", p.display());
            return p;
        }
        let mut candidates = Vec::new();
        for profile in ["release", "debug"] {
            candidates.push(root().join("target").join(profile).join("tender"));
            if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
                candidates.push(PathBuf::from(&t).join(profile).join("tender"));
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|d| d.join("tender")));
        }
        candidates
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no tender binary: build it (cargo build -p tender) or set HVT_TENDER"))
    }
}
