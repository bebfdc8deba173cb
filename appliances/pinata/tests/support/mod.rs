//! Helpers of the end-to-end tests: run the built `pinata` binary on free
//! unprivileged ports of 127.0.0.1, wait for its readiness line, drive it
//! with real `openssl` and `curl`, and make certificates with rcgen. The
//! clients can also run inside a network namespace (`ip netns exec`), for the
//! hvt tests whose Piñata sits behind a tap.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use rcgen::{Issuer, KeyPair};
use testkit::certs::CertFiles;
pub use testkit::{Lines, free_port};

/// Limit on any single wait of a test (a hung appliance fails, never hangs).
pub const WAIT: Duration = Duration::from_secs(30);

/// Fails with a clear message when a tool the tests need is missing.
pub fn require_tools() {
    for (tool, arg) in [("openssl", "version"), ("curl", "--version")] {
        let ok = Command::new(tool).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "the end-to-end tests need `{tool}` (Debian packages: openssl curl); install it first"
        );
    }
}

/// Log lines of a refused handshake on `port`.
pub fn handshake_failed_on(port: u16) -> impl Fn(&str) -> bool {
    let needle = format!("port {port} peer ");
    move |l: &str| l.contains(&needle) && l.contains("handshake failed")
}

/// Log lines of a secret delivered on `port`.
pub fn secret_sent_on(port: u16) -> impl Fn(&str) -> bool {
    let needle = format!("port {port} peer ");
    move |l: &str| l.contains(&needle) && l.contains("secret sent")
}

/// The ports of a running Piñata.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub server: u16,
    pub connect_back: u16,
    pub client: u16,
    pub http: u16,
    pub https: u16,
    pub target: u16,
}

/// A running `pinata` process.
pub struct Pinata {
    child: Child,
    pub log: Lines,
    pub ports: Ports,
    pub secret: String,
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A secret unique to this run, easy to grep for.
pub fn unique_secret() -> String {
    format!("BOUNTY-{}-{}-7f3a9c", std::process::id(), UNIQUE.fetch_add(1, Ordering::Relaxed))
}

impl Pinata {
    /// Starts the Piñata (with `--test` if `test`) and waits for its ready line.
    pub fn start(test: bool) -> Pinata {
        Pinata::start_with(test, free_port(), &[])
    }

    /// Same, with the connect-back target port and extra arguments.
    pub fn start_with(test: bool, target: u16, extra: &[&str]) -> Pinata {
        require_tools();
        let ports = Ports {
            server: free_port(),
            connect_back: free_port(),
            client: free_port(),
            http: free_port(),
            https: free_port(),
            target,
        };
        let secret = unique_secret();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinata"));
        cmd.arg(format!("--secret={secret}"))
            .arg(format!("--server-port={}", ports.server))
            .arg(format!("--connect-back-port={}", ports.connect_back))
            .arg(format!("--client-port={}", ports.client))
            .arg(format!("--http-port={}", ports.http))
            .arg(format!("--https-port={}", ports.https))
            .arg(format!("--connect-back-target-port={}", ports.target))
            .args(extra);
        if test {
            cmd.arg("--test");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null()).spawn().unwrap();
        let log = Lines::collect(child.stdout.take().unwrap());
        let errors = Lines::collect(child.stderr.take().unwrap());
        if let Err(why) = log.try_wait_for_nth(1, WAIT, |l| l.contains(" ready: ")) {
            let _ = child.kill();
            panic!("pinata not ready ({why}):\n{}\n{}", log.text(), errors.text());
        }
        Pinata { child, log, ports, secret }
    }

    /// Asserts the process still runs and the secret never reached its log.
    pub fn check(&mut self) {
        assert!(self.child.try_wait().unwrap().is_none(), "pinata exited:\n{}", self.log.text());
        self.assert_secret_not_logged();
    }

    /// Resident memory of the process, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/PID/status");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    pub fn assert_secret_not_logged(&self) {
        let log = self.log.text();
        assert!(!log.contains(&self.secret), "the secret appeared in the log:\n{log}");
    }
}

impl Drop for Pinata {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !thread::panicking() {
            self.assert_secret_not_logged();
        }
    }
}

pub fn test_ca() -> Issuer<'static, KeyPair> {
    let (nb, na) = pinata_core::pki::test_ca_validity();
    Issuer::new(pinata_core::pki::ca_params(nb, na), KeyPair::from_pem(pinata_core::pki::TEST_CA_KEY_PEM).unwrap())
}

/// Runs a command to completion with [`WAIT`] as limit; stdout and stderr together.
pub fn run_output(cmd: &mut Command) -> String {
    testkit::tool::run_output(cmd, WAIT)
}

pub use testkit::tool::in_ns as tool;

/// `openssl s_client` to 127.0.0.1:`port`, waiting for the server to close.
pub fn s_client(port: u16, cert: Option<&CertFiles>, extra: &[&str]) -> String {
    s_client_to(None, "127.0.0.1", port, cert, extra)
}

/// `openssl s_client` to `host`:`port` (from inside `ns`, if given).
pub fn s_client_to(ns: Option<&str>, host: &str, port: u16, cert: Option<&CertFiles>, extra: &[&str]) -> String {
    let mut cmd = tool(ns, "openssl");
    cmd.args(["s_client", "-connect", &format!("{host}:{port}"), "-ign_eof"]);
    if let Some(c) = cert {
        cmd.arg("-cert").arg(&c.cert).arg("-key").arg(&c.key);
    }
    cmd.args(extra);
    run_output(&mut cmd)
}

/// `curl` with the given arguments; the body (and errors).
pub fn curl(args: &[&str]) -> String {
    curl_in(None, args)
}

/// `curl` (from inside `ns`, if given).
pub fn curl_in(ns: Option<&str>, args: &[&str]) -> String {
    run_output(tool(ns, "curl").args(["-sS", "--max-time", "20"]).args(args))
}

/// A running `openssl s_server` on 127.0.0.1, serving one connection.
pub struct SServer {
    child: Child,
    /// Keeps s_server's stdin open (at EOF it would end the session).
    _stdin: std::process::ChildStdin,
    pub out: Lines,
    pub port: u16,
}

impl SServer {
    pub fn start(port: u16, cert: &CertFiles) -> SServer {
        SServer::start_at(None, "127.0.0.1", port, cert)
    }

    /// Listening on `host`:`port` (inside `ns`, if given).
    pub fn start_at(ns: Option<&str>, host: &str, port: u16, cert: &CertFiles) -> SServer {
        let mut child = tool(ns, "openssl")
            .args(["s_server", "-accept", &format!("{host}:{port}"), "-naccept", "1"])
            .arg("-cert")
            .arg(&cert.cert)
            .arg("-key")
            .arg(&cert.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Lines::collect(child.stdout.take().unwrap());
        let _err = Lines::collect(child.stderr.take().unwrap());
        let stdin = child.stdin.take().unwrap();
        out.wait_for("s_server to listen", |l| l.contains("ACCEPT"));
        SServer { child, _stdin: stdin, out, port }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects to `a` and `b` and copies bytes both ways until either closes.
pub fn relay(a: u16, b: u16) -> thread::JoinHandle<()> {
    relay_addrs(SocketAddr::from(([127, 0, 0, 1], a)), SocketAddr::from(([127, 0, 0, 1], b)))
}

/// Connects to `a` and `b` (from the calling thread's network namespace) and
/// copies bytes both ways until either closes.
pub fn relay_addrs(a: SocketAddr, b: SocketAddr) -> thread::JoinHandle<()> {
    let left = TcpStream::connect_timeout(&a, WAIT).unwrap();
    let right = TcpStream::connect_timeout(&b, WAIT).unwrap();
    let pump = |mut from: TcpStream, mut to: TcpStream| {
        thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            from.set_read_timeout(Some(WAIT)).unwrap();
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let t1 = pump(left.try_clone().unwrap(), right.try_clone().unwrap());
    let t2 = pump(right, left);
    thread::spawn(move || {
        let _ = t1.join();
        let _ = t2.join();
    })
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
