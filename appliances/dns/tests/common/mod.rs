//! End-to-end scenarios for the DNS appliance with real tools: `git daemon` and the
//! smart-HTTP server of `testkit::git` serve the zone repository,
//! `dig`/`kdig`/`nsupdate` ask, NSD is secondary (and primary). Debian packages:
//! `git bind9-dnsutils knot-dnsutils nsd iproute2 python3`; needs root.
//!
//! Topology, in one namespace each test makes (test traffic never leaves it):
//! the appliance on tap `tap0` (netstack, [`SERVER`]), joined by bridge `br0`
//! ([`HOST`]) where git servers, NSD and the clients run. The same scenarios run
//! against the unix binary (`tests/e2e.rs`) and the hvt image (`tests/hvt.rs`).
//! Waits poll for lines, ports or answers with a deadline, never a fixed sleep.

#[macro_use]
pub mod scenarios;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use testkit::git as git_support;
pub use testkit::tool::require_tool as require;
pub use testkit::{Appliance as Server, Backend, NetNs, Proc, TempDir, until};
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

/// The network namespace of one test, its scratch directory and the bare repository.
pub struct Lab {
    pub backend: Backend,
    pub ns: NetNs,
    pub dir: TempDir,
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
        ns.tap_on_bridge("tap0", "br0", &format!("{HOST}/24")).unwrap();
        let dir = TempDir::new(&format!("dns-{tag}"));
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
        self.ns.cmd(program)
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn in_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.ns.in_ns(f)
    }

    /// `git daemon` on HOST:9418 exporting the lab directory (push enabled).
    pub fn git_daemon(&self) -> git_support::GitServer {
        git_support::git_daemon_at(Some(&self.ns), HOST, 9418, &self.dir.0)
    }

    /// The smart-HTTP server on HOST; returns it and its port.
    pub fn http_server(&self) -> (git_support::GitServer, u16) {
        self.http_server_tls(None)
    }

    /// A self-signed certificate for HOST; returns (cert.pem, key.pem, the
    /// SHA-256 of its DER in hex).
    pub fn host_cert(&self) -> (PathBuf, PathBuf, String) {
        let c = testkit::certs::ip_server_cert(&self.dir, HOST.parse().unwrap());
        let fp = c.sha256_hex();
        (c.cert, c.key, fp)
    }

    /// The smart-HTTP(S) server on HOST; returns it and its port.
    pub fn http_server_tls(&self, tls: Option<(&Path, &Path)>) -> (git_support::GitServer, u16) {
        let server = git_support::http_server_at(Some(&self.ns), HOST, &self.dir.0, tls);
        let port = server.port;
        (server, port)
    }

    pub fn git_remote(&self) -> String {
        format!("--remote=git://{HOST}/zones.git#main")
    }

    /// The appliance's command line inside the namespace.
    fn appliance(&self, args: &[&str]) -> Command {
        let ipv4 = format!("--ipv4={SERVER}/24");
        let args: Vec<&str> = [ipv4.as_str()].into_iter().chain(args.iter().copied()).collect();
        self.backend.command(Some(&self.ns), &[], &["--net:service=tap0"], &args)
    }

    /// Starts the appliance and waits for its readiness line.
    pub fn start(&self, args: &[&str]) -> Server {
        Server::boot(&self.backend, self.appliance(args), "dns", "the readiness line", |l| {
            l.contains("dns: serving") || l.contains("dns: secondary for")
        })
    }

    /// Runs the appliance to its end (a boot that must fail); stdout and stderr.
    pub fn cmd_output(&self, args: &[&str]) -> String {
        let out = self.appliance(args).stdin(Stdio::null()).output().expect("run the appliance");
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
