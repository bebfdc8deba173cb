//! End-to-end scenarios for the DNS appliance with real tools: `git daemon` and the
//! smart-HTTP server of `platform/git/tests/support` serve the zone repository,
//! `dig`/`kdig`/`nsupdate` ask, NSD is secondary (and primary). Debian packages:
//! `git bind9-dnsutils knot-dnsutils nsd iproute2 python3`; needs root.
//!
//! Topology, in one namespace each test makes (test traffic never leaves it):
//! the appliance on tap `tap0` (netstack, [`SERVER`]), joined by bridge `br0`
//! ([`HOST`]) where git servers, NSD and the clients run. The same scenarios run
//! against the unix binary (`tests/e2e.rs`) and the hvt image (`tests/hvt.rs`).
//! Waits poll for lines, ports or answers with a deadline, never a fixed sleep.

#![allow(dead_code)]

#[path = "../../../../platform/git/tests/support/mod.rs"]
pub mod git_support;
pub mod scenarios;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use platform_unix::testnet::NetNs;

pub const WAIT: Duration = Duration::from_secs(40);
/// The appliance.
pub const SERVER: &str = "10.53.0.2";
/// The test's side of the link: git servers, NSD, clients.
pub const HOST: &str = "10.53.0.1";

/// HMAC-SHA256 secrets (base64) of the test keys.
pub const UPDATE_KEY: (&str, &str) = ("upd._update.example.org", "dXBkYXRlLXNlY3JldC11cGRhdGUtc2VjcmV0LTAwMDA=");
pub const NOTIFY_KEY: (&str, &str) = ("ntf._notify.example.org", "bm90aWZ5LXNlY3JldC1ub3RpZnktc2VjcmV0LTAwMDA=");
/// Names NSD (at HOST) as our secondary for example.org.
pub const TRANSFER_KEY: (&str, &str) =
    ("10.53.0.2.10.53.0.1._transfer.example.org", "dHJhbnNmZXItc2VjcmV0LXRyYW5zZmVyLTAwMDAwMA==");

pub const EXAMPLE_ORG: &str = "$ORIGIN example.org.
$TTL 300
@        IN SOA ns1.example.org. hostmaster.example.org. 1 3600 900 604800 300
@        NS   ns1
@        NS   ns2
@        MX   10 mail
ns1      A    10.53.0.2
ns2      A    10.53.0.1
www      A    192.0.2.1
www      AAAA 2001:db8::1
mail     A    192.0.2.25
alias    CNAME www
chain    CNAME alias
*.wild   TXT  \"wildcard\"
sub      NS   ns.sub
ns.sub   A    192.0.2.53
MixedCase A   192.0.2.7
";

pub const OTHER_NET: &str = "$TTL 60
other.net. IN SOA ns.other.net. admin.other.net. 7 3600 900 604800 60
other.net. NS ns.other.net.
ns.other.net. A 192.0.2.99
";

/// Eight TXT records of 100 bytes: more than 512 bytes, less than our EDNS size (1232).
pub fn big_txt() -> String {
    (0..8).map(|i| format!("big.example.org. 300 IN TXT \"{i:02}{}\"\n", "x".repeat(98))).collect()
}

pub fn keys_file() -> String {
    [UPDATE_KEY, NOTIFY_KEY, TRANSFER_KEY].iter().map(|(n, s)| format!("{n}. DNSKEY 0 3 163 {s}\n")).collect()
}

pub fn require(tool: &str, args: &[&str], package: &str) {
    let ok = Command::new(tool).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        ok.is_ok(),
        "the DNS end-to-end tests need `{tool}` (Debian package {package}): apt-get install -y {package}"
    );
}

/// Where the appliance runs.
#[derive(Clone, Debug)]
pub enum Backend {
    Unix,
    Hvt { tender: PathBuf, image: PathBuf },
}

impl Backend {
    pub fn hvt() -> Backend {
        let image = platform_unix::testnet::hvt::image("dns", "HVT_DNS_IMAGE");
        Backend::Hvt { tender: platform_unix::testnet::hvt::tender(), image }
    }

    fn command(&self, args: &[&str]) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        match self {
            Backend::Unix => out.push(env!("CARGO_BIN_EXE_dns").into()),
            Backend::Hvt { tender, .. } => {
                out.push(tender.into());
                out.push("--engine=process".into());
            }
        }
        out.push("--net:service=tap0".into());
        if let Backend::Hvt { image, .. } = self {
            out.push("--".into());
            out.push(image.into());
        }
        out.push(format!("--ipv4={SERVER}/24").into());
        out.extend(args.iter().map(OsString::from));
        out
    }
}

pub fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The network namespace of one test, its scratch directory and the bare repository.
pub struct Lab {
    pub backend: Backend,
    pub ns: NetNs,
    pub dir: git_support::TempDir,
    pub repo: PathBuf,
}

impl Lab {
    /// A namespace with tap0 and br0, and a bare repository `zones.git` (branch main)
    /// holding `files`.
    pub fn new(backend: &Backend, tag: &str, files: &[(&str, &[u8])]) -> Lab {
        require("dig", &["-v"], "bind9-dnsutils");
        require("kdig", &["-V"], "knot-dnsutils");
        require("git", &["--version"], "git");
        let ns = NetNs::unique(&format!("dns-{tag}")).expect("the DNS e2e tests need root and iproute2");
        ns.ip(&["link", "set", "lo", "up"]).unwrap();
        ns.ip(&["tuntap", "add", "dev", "tap0", "mode", "tap"]).unwrap();
        ns.ip(&["link", "add", "br0", "type", "bridge"]).unwrap();
        ns.ip(&["link", "set", "tap0", "master", "br0"]).unwrap();
        ns.ip(&["addr", "add", &format!("{HOST}/24"), "dev", "br0"]).unwrap();
        ns.ip(&["link", "set", "tap0", "up"]).unwrap();
        ns.ip(&["link", "set", "br0", "up"]).unwrap();
        let dir = git_support::TempDir::new(&format!("dns-{tag}"));
        let repo = git_support::make_bare_repo(&dir.0, "zones.git", "main", files);
        Lab { backend: backend.clone(), ns, dir, repo }
    }

    /// The standard repository: example.org, other.net, big TXT, keys.
    pub fn standard(backend: &Backend, tag: &str) -> Lab {
        let example = format!("{EXAMPLE_ORG}{}", big_txt());
        let keys = keys_file();
        Lab::new(
            backend,
            tag,
            &[("example.org", example.as_bytes()), ("other.net", OTHER_NET.as_bytes()), ("_keys", keys.as_bytes())],
        )
    }

    /// Runs a command inside the namespace.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns.name(), program]);
        c
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn in_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|s| {
            s.spawn(|| {
                self.ns.enter_current_thread().unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// `git daemon` on HOST:9418 exporting the lab directory (push enabled).
    pub fn git_daemon(&self) -> Proc {
        // git-daemon itself, not the `git` wrapper: killing the wrapper would leave
        // the daemon running.
        let exec_path = Command::new("git").arg("--exec-path").output().expect("git runs").stdout;
        let daemon = format!("{}/git-daemon", String::from_utf8_lossy(&exec_path).trim());
        let child = self
            .cmd(&daemon)
            .args(["--reuseaddr", "--export-all", "--enable=receive-pack"])
            .arg(format!("--listen={HOST}"))
            .arg("--port=9418")
            .arg(format!("--base-path={}", self.dir.0.display()))
            .arg(&self.dir.0)
            .stdin(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let p = Proc::adopt(child, "git-daemon");
        self.wait_port(9418);
        p
    }

    /// The smart-HTTP server on HOST; returns it and its port.
    pub fn http_server(&self) -> (Proc, u16) {
        self.http_server_tls(None)
    }

    /// A self-signed certificate for HOST (openssl); returns (cert.pem, key.pem, the
    /// SHA-256 of its DER in hex).
    pub fn host_cert(&self) -> (PathBuf, PathBuf, String) {
        let (cert, key) = (self.dir.0.join("cert.pem"), self.dir.0.join("key.pem"));
        let ok = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "2", "-subj", &format!("/CN={HOST}"), "-addext", &format!("subjectAltName=IP:{HOST}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "openssl req failed");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("openssl x509 -in '{}' -outform der | sha256sum", cert.display()))
            .output()
            .unwrap();
        let fp = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string();
        (cert, key, fp)
    }

    /// The smart-HTTP(S) server on HOST; returns it and its port.
    pub fn http_server_tls(&self, tls: Option<(&Path, &Path)>) -> (Proc, u16) {
        let mut cmd = self.cmd("python3");
        // The script of platform/git (its helper resolves paths from its own crate).
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../platform/git/tests/support/git_http_server.py"));
        if let Some((cert, key)) = tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let mut child = cmd
            .arg("--root")
            .arg(&self.dir.0)
            .args(["--listen", HOST])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("ready ").and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| panic!("git_http_server.py did not get ready: {line:?}"));
        (Proc::adopt(child, "git-http"), port)
    }

    pub fn wait_port(&self, port: u16) {
        let addr: SocketAddr = format!("{HOST}:{port}").parse().unwrap();
        self.in_ns(|| until("a listening port", || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()));
    }

    pub fn git_remote(&self) -> String {
        format!("--remote=git://{HOST}/zones.git#main")
    }

    /// Starts the appliance and waits for its readiness line.
    pub fn start(&self, args: &[&str]) -> Server {
        let child = Command::new("ip")
            .args(["netns", "exec", self.ns.name()])
            .args(self.backend.command(args))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("start the appliance");
        let mut s = Server { proc: Proc::adopt(child, "dns") };
        s.wait_for("the readiness line", |l| l.contains("dns: serving") || l.contains("dns: secondary for"));
        if matches!(self.backend, Backend::Hvt { .. }) {
            s.wait_for("the hvt boot line", |l| l.contains("starting on hvt"));
        }
        s
    }

    /// Runs the appliance to its end (a boot that must fail); stdout and stderr.
    pub fn cmd_output(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", self.ns.name()])
            .args(self.backend.command(args))
            .stdin(Stdio::null())
            .output()
            .expect("run the appliance");
        assert!(!out.status.success(), "the appliance should have failed");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// `dig @SERVER` with `args`; the whole output.
    pub fn dig(&self, args: &[&str]) -> String {
        let out = self.cmd("dig").arg(format!("@{SERVER}")).args(["+tries=1", "+time=3"]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The answer section of `dig +short`.
    pub fn short(&self, name: &str, qtype: &str) -> String {
        self.dig(&["+short", name, qtype]).trim().to_string()
    }

    pub fn kdig(&self, args: &[&str]) -> String {
        let out =
            self.cmd("kdig").arg(format!("@{SERVER}")).args(["+retry=0", "+timeout=3"]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// `nsupdate` with `script` (server and send are added); the output.
    pub fn nsupdate(&self, key: Option<(&str, &str)>, script: &str) -> Output {
        let mut c = self.cmd("nsupdate");
        if let Some((name, secret)) = key {
            c.arg("-y").arg(format!("hmac-sha256:{name}:{secret}"));
        }
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let text = format!("server {SERVER}\n{script}\nsend\n");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    /// `nsupdate -v` (TCP) signed with `key`.
    pub fn nsupdate_tcp(&self, key: (&str, &str), script: &str) -> Output {
        let mut child = self
            .cmd("nsupdate")
            .arg("-v")
            .arg("-y")
            .arg(format!("hmac-sha256:{}:{}", key.0, key.1))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let text = format!("server {SERVER}\n{script}\nsend\n");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_support::git(&self.repo, args)
    }
}

/// A child process whose output lines are collected; killed on drop.
pub struct Proc {
    child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn adopt(mut child: Child, tag: &'static str) -> Proc {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams: Vec<Box<dyn Read + Send>> = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for stream in streams {
            let sink = lines.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[{tag}] {line}");
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Proc { child, lines }
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Server {
    pub proc: Proc,
}

impl Server {
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let lines = self.proc.lines.clone();
        let child = &mut self.proc.child;
        until(what, || {
            if let Some(l) = lines.lock().unwrap().iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            if let Ok(Some(status)) = child.try_wait() {
                let out = lines.lock().unwrap().join("\n");
                panic!("dns exited ({status}) while waiting for {what}:\n{out}");
            }
            None
        })
    }

    pub fn output(&self) -> String {
        self.proc.lines.lock().unwrap().join("\n")
    }
}

/// The field after `status: ` in dig's header line.
pub fn rcode(dig_out: &str) -> String {
    dig_out.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("").to_string()
}

/// The flags of dig's header line (`qr aa rd` …).
pub fn flags(dig_out: &str) -> String {
    dig_out.split("flags: ").nth(1).and_then(|s| s.split(';').next()).unwrap_or("").to_string()
}

/// The lines of one dig section (`ANSWER`, `AUTHORITY`, `ADDITIONAL`).
pub fn section(dig_out: &str, name: &str) -> Vec<String> {
    let head = format!(";; {name} SECTION:");
    let mut lines = dig_out.lines().skip_while(|l| !l.starts_with(&head)).skip(1);
    let mut out = Vec::new();
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
        out.push(l.to_string());
    }
    out
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
