//! Helpers of the end-to-end tests: run the built `pinata` binary on free
//! unprivileged ports of 127.0.0.1, wait for its readiness line, drive it
//! with real `openssl` and `curl`, and make certificates with rcgen. The
//! clients can also run inside a network namespace (`ip netns exec`), for the
//! hvt tests whose Piñata sits behind a tap.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

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

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Lines an output stream produced so far, with a way to wait for more.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<LinesState>, Condvar)>);

/// The lines so far, and whether the stream ended.
type LinesState = (Vec<String>, bool);

impl Lines {
    pub fn collect(stream: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => sink.push(Some(String::from_utf8_lossy(&buf).trim_end_matches('\n').to_string())),
                }
            }
            sink.push(None);
        });
        lines
    }

    /// A line, or `None` at end of stream.
    fn push(&self, line: Option<String>) {
        let (m, cv) = &*self.0;
        let mut st = m.lock().unwrap();
        match line {
            Some(l) => st.0.push(l),
            None => st.1 = true,
        }
        cv.notify_all();
    }

    pub fn all(&self) -> Vec<String> {
        self.0.0.lock().unwrap().0.clone()
    }

    pub fn text(&self) -> String {
        self.all().join("\n")
    }

    /// Waits for a line satisfying `pred`; the first such line. Panics after
    /// [`WAIT`] or at end of stream.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_nth(what, 1, pred)
    }

    /// Waits until `n` lines satisfy `pred`; the `n`th of them.
    pub fn wait_for_nth(&self, what: &str, n: usize, pred: impl Fn(&str) -> bool) -> String {
        match self.try_wait_for_nth(n, pred) {
            Ok(line) => line,
            Err(why) => panic!("{why} waiting for {what}; output so far:\n{}", self.text()),
        }
    }

    /// Like [`Lines::wait_for_nth`], but end of stream or the time limit is an `Err`.
    pub fn try_wait_for_nth(&self, n: usize, pred: impl Fn(&str) -> bool) -> Result<String, &'static str> {
        let (m, cv) = &*self.0;
        let deadline = Instant::now() + WAIT;
        let mut st = m.lock().unwrap();
        loop {
            if let Some(l) = st.0.iter().filter(|l| pred(l)).nth(n - 1) {
                return Ok(l.clone());
            }
            if st.1 {
                return Err("end of stream");
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("timed out");
            }
            st = cv.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// Waits for the end of the stream (bounded by [`WAIT`]).
    pub fn wait_eof(&self) {
        let (m, cv) = &*self.0;
        let deadline = Instant::now() + WAIT;
        let mut st = m.lock().unwrap();
        while !st.1 && Instant::now() < deadline {
            st = cv.wait_timeout(st, deadline - Instant::now()).unwrap().0;
        }
    }

    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.all().iter().filter(|l| pred(l)).count()
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
        if let Err(why) = log.try_wait_for_nth(1, |l| l.contains(" ready: ")) {
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

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pinata-e2e-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate and key written as PEM files.
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn test_ca() -> Issuer<'static, KeyPair> {
    let (nb, na) = pinata_core::pki::test_ca_validity();
    Issuer::new(pinata_core::pki::ca_params(nb, na), KeyPair::from_pem(pinata_core::pki::TEST_CA_KEY_PEM).unwrap())
}

/// A CA with a fresh key; with `pinata_core::pki::CA_NAME` it claims the Piñata CA's name.
pub fn other_ca(name: &str) -> Issuer<'static, KeyPair> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Issuer::new(p, KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap())
}

pub const VALID: (i64, i64) = (-3600, 30 * 86400);
pub const EXPIRED: (i64, i64) = (-60 * 86400, -86400);

fn params(cn: &str, usage: ExtendedKeyUsagePurpose, valid: (i64, i64)) -> CertificateParams {
    let now = time::OffsetDateTime::now_utc();
    let mut p = CertificateParams::new(vec!["peer.example".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![usage];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now + time::Duration::seconds(valid.0);
    p.not_after = now + time::Duration::seconds(valid.1);
    p
}

fn write(dir: &TempDir, name: &str, cert_pem: String, key: &KeyPair) -> CertFiles {
    let files = CertFiles { cert: dir.path(&format!("{name}.crt")), key: dir.path(&format!("{name}.key")) };
    std::fs::write(&files.cert, cert_pem).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

/// A leaf signed by `issuer`.
pub fn signed_cert(
    dir: &TempDir,
    name: &str,
    issuer: &Issuer<'_, KeyPair>,
    usage: ExtendedKeyUsagePurpose,
    valid: (i64, i64),
) -> CertFiles {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params(name, usage, valid).signed_by(&key, issuer).unwrap();
    write(dir, name, cert.pem(), &key)
}

/// A self-signed leaf.
pub fn self_signed_cert(dir: &TempDir, name: &str, usage: ExtendedKeyUsagePurpose) -> CertFiles {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params(name, usage, VALID).self_signed(&key).unwrap();
    write(dir, name, cert.pem(), &key)
}

/// Runs a command to completion with [`WAIT`] as limit; stdout and stderr together.
pub fn run_output(cmd: &mut Command) -> String {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = Lines::collect(child.stdout.take().unwrap());
    let err = Lines::collect(child.stderr.take().unwrap());
    let deadline = Instant::now() + WAIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {WAIT:?}:\n{}\n{}", out.text(), err.text());
        }
        thread::sleep(Duration::from_millis(20));
    }
    out.wait_eof();
    err.wait_eof();
    format!("{}\n{}", out.text(), err.text())
}

/// `program`, run inside the network namespace `ns` (`ip netns exec`) if given.
pub fn tool(ns: Option<&str>, program: &str) -> Command {
    match ns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns, program]);
            cmd
        }
        None => Command::new(program),
    }
}

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
