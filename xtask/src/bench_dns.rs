//! `cargo xtask bench dns [--smoke] [--seconds N] [--rounds N] [--records N] [--pushes N]`:
//! our DNS appliance (`dns`, unix build) against NSD 4 on the same machine, one run:
//!
//! 1. queries/s with `dnsperf` over UDP and over TCP (`-m tcp`), the same zone (10,000
//!    names of mixed types) and the same query file (answers, CNAME chains, wildcards,
//!    NODATA and NXDOMAIN) for every server, measured in alternating rounds, medians and
//!    the ratio to NSD printed. Ours runs twice: with netstack on a tap (`--net:service`,
//!    the configuration an hvt image has) and with host sockets (the kernel's UDP/TCP,
//!    like NSD). Each server is pinned to core 1 (`taskset -c 1`), dnsperf to core 0 in a
//!    namespace of its own;
//! 2. resident memory (VmHWM, and the proportional set size of the whole process tree:
//!    NSD forks a server and a transfer process) and load time (start to readiness line)
//!    with a zone of `--records` records (default 1,000,000); ours loads it from a local
//!    `git daemon` (it only loads zones from git), NSD from its zone file;
//! 3. time from `git push` of a changed zone (git CLI, over git://) + a TSIG-signed NOTIFY
//!    (dns-core's `notify` example, key from the repository's `_keys`) to the first `dig`
//!    that sees the new answer; median of `--pushes`.
//!
//! Topology: `xb-dns-s` holds tap `tap0` (our netstack server, 10.53.0.2) bridged by
//! `br0` (10.53.0.1, its git daemon) to veth `vo0`, whose peer `vc0` (10.53.0.10) is in
//! `xb-dns-c` with dnsperf; `xb-dns-k` holds veth `vk0` (10.53.1.2: NSD, or ours on host
//! sockets with a git daemon on 127.0.0.1), peer `vc0` (10.53.1.10) in `xb-dns-kc`.
//!
//! Needs root, iproute2, git, `nsd`, `dnsperf`, `dig`, `taskset`. `XTASK_DNS_SERVER=PATH`
//! uses a prebuilt `dns` binary. `--smoke` (CI): one round of 2 s, 10,000 records for the
//! memory part, two pushes (a running server must follow more than one change); proves
//! the bench works and says nothing about speed. A push whose answer never changes fails
//! the bench (after the report).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{self, Netns, median};

const READY_LIMIT: Duration = Duration::from_secs(600);
const ZONE: &str = "bench.test";
/// A notify key under the root covers every zone (see dns-core's keys.rs).
const NOTIFY_KEY: &str = "bench._notify.";
const NOTIFY_SECRET: &str = "YmVuY2gtbm90aWZ5LXNlY3JldC1iZW5jaC1ub3RpZnk=";
const QPS_NAMES: usize = 10_000;

struct Options {
    smoke: bool,
    seconds: u32,
    rounds: usize,
    records: usize,
    pushes: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { smoke: false, seconds: 10, rounds: 3, records: 1_000_000, pushes: 5 };
    let (mut seconds, mut rounds, mut records, mut pushes) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|e| format!("{name} `{v}`: {e}"))
        };
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--seconds" => seconds = Some(num("--seconds")? as u32),
            "--rounds" => rounds = Some(num("--rounds")?),
            "--records" => records = Some(num("--records")?),
            "--pushes" => pushes = Some(num("--pushes")?),
            other => {
                return Err(format!(
                    "unknown argument `{other}` (bench dns [--smoke] [--seconds N] [--rounds N] [--records N] [--pushes N])"
                ));
            }
        }
    }
    if o.smoke {
        (o.seconds, o.rounds, o.records, o.pushes) = (2, 1, 10_000, 2);
    }
    o.seconds = seconds.unwrap_or(o.seconds).max(1);
    o.rounds = rounds.unwrap_or(o.rounds).max(1);
    o.records = records.unwrap_or(o.records).max(10);
    o.pushes = pushes.unwrap_or(o.pushes).max(1);
    Ok(o)
}

fn sh(cmd: &mut Command) -> Result<String, String> {
    util::output(cmd).map_err(|e| e.message)
}

fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]).map(|d| d.join(name)).find(|p| p.is_file())
}

fn check_tools() -> Result<(), String> {
    if !util::is_root() {
        return Err("bench dns needs root (network namespaces, a tap, port 53)".into());
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("git", "git"),
        ("nsd", "nsd"),
        ("dnsperf", "dnsperf"),
        ("dig", "bind9-dnsutils"),
        ("taskset", "util-linux"),
    ] {
        if program(tool).is_none() {
            return Err(format!("bench dns needs `{tool}` (Debian package {package})"));
        }
    }
    Ok(())
}

/// Builds (release; dev for `--smoke`) our server and dns-core's `notify` example.
fn binaries(smoke: bool) -> Result<(PathBuf, PathBuf), String> {
    let profile = if smoke { "debug" } else { "release" };
    let mut cmd = util::cargo();
    cmd.args(["build", "-p", "dns-core", "--example", "notify"]);
    if std::env::var_os("XTASK_DNS_SERVER").is_none() {
        cmd.args(["-p", "dns", "--bin", "dns"]);
    }
    if !smoke {
        cmd.arg("--release");
    }
    util::run(&mut cmd).map_err(|e| e.message)?;
    let dir = util::target_dir().join(profile);
    let server = std::env::var_os("XTASK_DNS_SERVER").map(PathBuf::from).unwrap_or_else(|| dir.join("dns"));
    Ok((server, dir.join("examples").join("notify")))
}

fn topology() -> Result<Netns, String> {
    let ns = Netns::create(&["xb-dns-s", "xb-dns-c", "xb-dns-k", "xb-dns-kc"]).map_err(|e| e.message)?;
    let ip = |n: &str, a: &[&str]| ns.ip(n, a).map_err(|e| e.message);
    ip("xb-dns-s", &["tuntap", "add", "dev", "tap0", "mode", "tap"])?;
    ip("xb-dns-s", &["link", "add", "br0", "type", "bridge"])?;
    ip("xb-dns-s", &["link", "add", "vo0", "type", "veth", "peer", "name", "vc0"])?;
    ip("xb-dns-s", &["link", "set", "vc0", "netns", "xb-dns-c"])?;
    for l in ["tap0", "vo0"] {
        ip("xb-dns-s", &["link", "set", l, "master", "br0"])?;
    }
    ip("xb-dns-s", &["addr", "add", "10.53.0.1/24", "dev", "br0"])?;
    for l in ["tap0", "vo0", "br0"] {
        ip("xb-dns-s", &["link", "set", l, "up"])?;
    }
    ip("xb-dns-c", &["addr", "add", "10.53.0.10/24", "dev", "vc0"])?;
    ip("xb-dns-c", &["link", "set", "vc0", "up"])?;
    ip("xb-dns-k", &["link", "add", "vk0", "type", "veth", "peer", "name", "vc0"])?;
    ip("xb-dns-k", &["link", "set", "vc0", "netns", "xb-dns-kc"])?;
    ip("xb-dns-k", &["addr", "add", "10.53.1.2/24", "dev", "vk0"])?;
    ip("xb-dns-k", &["link", "set", "vk0", "up"])?;
    ip("xb-dns-kc", &["addr", "add", "10.53.1.10/24", "dev", "vc0"])?;
    ip("xb-dns-kc", &["link", "set", "vc0", "up"])?;
    Ok(ns)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Netstack,
    HostSockets,
    Nsd,
}

impl Which {
    const ALL: [Which; 3] = [Which::Netstack, Which::HostSockets, Which::Nsd];

    fn name(self) -> &'static str {
        match self {
            Which::Netstack => "dns (ours), netstack on a tap",
            Which::HostSockets => "dns (ours), host sockets",
            Which::Nsd => "NSD 4",
        }
    }
    fn server_ns(self) -> &'static str {
        if self == Which::Netstack { "xb-dns-s" } else { "xb-dns-k" }
    }
    fn client_ns(self) -> &'static str {
        if self == Which::Netstack { "xb-dns-c" } else { "xb-dns-kc" }
    }
    fn ip(self) -> &'static str {
        if self == Which::Netstack { "10.53.0.2" } else { "10.53.1.2" }
    }
    /// Where the git daemon serving this setup listens, seen from the server.
    fn git_ip(self) -> &'static str {
        if self == Which::Netstack { "10.53.0.1" } else { "127.0.0.1" }
    }
}

/// A zone data set: a git work tree (also NSD's zonesdir) and its bare clone, served
/// by the git daemons as `git://IP/<name>/zones.git`.
struct DataSet {
    name: &'static str,
    work: PathBuf,
    serial: u32,
}

fn git(work: &Path, args: &[&str]) -> Result<String, String> {
    sh(Command::new("git")
        .arg("-C")
        .arg(work)
        .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
        .args(args))
}

impl DataSet {
    fn create(root: &Path, name: &'static str, body: &str) -> Result<DataSet, String> {
        let dir = root.join(name);
        let _ = fs::remove_dir_all(&dir);
        let work = dir.join("work");
        fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let set = DataSet { name, work, serial: 1 };
        set.write_zone(body)?;
        let keys = format!("{NOTIFY_KEY} DNSKEY 0 3 163 {NOTIFY_SECRET}\n");
        fs::write(set.work.join("_keys"), keys).map_err(|e| e.to_string())?;
        git(&set.work, &["init", "-q", "-b", "main"])?;
        git(&set.work, &["add", "-A"])?;
        git(&set.work, &["commit", "-q", "-m", "bench zone"])?;
        sh(Command::new("git").args(["clone", "-q", "--bare"]).arg(&set.work).arg(dir.join("zones.git")))?;
        Ok(set)
    }

    fn write_zone(&self, body: &str) -> Result<(), String> {
        let text = format!(
            "{ZONE}. 3600 IN SOA ns.{ZONE}. hostmaster.{ZONE}. {} 3600 900 604800 300\n\
             {ZONE}. 3600 IN NS ns.{ZONE}.\nns.{ZONE}. 3600 IN A 10.53.0.2\n{body}",
            self.serial
        );
        fs::write(self.work.join(ZONE), text).map_err(|e| e.to_string())
    }

    fn remote(&self, which: Which) -> String {
        format!("--remote=git://{}/{}/zones.git#main", which.git_ip(), self.name)
    }
}

/// The zone of the query benchmark: `QPS_NAMES` names of mixed types, and the query file
/// that asks each name for its type plus wildcard, NODATA and NXDOMAIN queries.
fn qps_zone() -> (String, String) {
    let (mut zone, mut queries) = (String::new(), String::new());
    let _ = writeln!(zone, "*.wild.{ZONE}. 300 IN A 192.0.2.200");
    let _ = writeln!(zone, "push.{ZONE}. 60 IN TXT \"v0\"");
    for i in 0..QPS_NAMES {
        let name = format!("h{i}.{ZONE}.");
        let (a, b) = (i / 250 % 250, i % 250);
        let qtype = match i % 10 {
            0..=4 => {
                let _ = writeln!(zone, "{name} 300 IN A 198.51.{a}.{b}");
                "A"
            }
            5 => {
                let _ = writeln!(zone, "{name} 300 IN AAAA 2001:db8::1:{i:x}");
                "AAAA"
            }
            6 => {
                let _ = writeln!(zone, "{name} 300 IN MX 10 h{}.{ZONE}.", i - 6);
                "MX"
            }
            7 => {
                let _ = writeln!(zone, "{name} 300 IN TXT \"bench record {i}\"");
                "TXT"
            }
            8 => {
                // A chain inside the zone: the answer holds the CNAME and h{i-8}'s A.
                let _ = writeln!(zone, "{name} 300 IN CNAME h{}.{ZONE}.", i - 8);
                "A"
            }
            _ => {
                let _ = writeln!(zone, "{name} 300 IN A 198.51.{a}.{b}\n{name} 300 IN AAAA 2001:db8::1:{i:x}");
                "AAAA"
            }
        };
        let _ = writeln!(queries, "h{i}.{ZONE} {qtype}");
        match i % 8 {
            0 => writeln!(queries, "nx{i}.{ZONE} A"),
            3 => writeln!(queries, "h{}.{ZONE} TXT", i - i % 10),
            5 => writeln!(queries, "w{i}.wild.{ZONE} A"),
            _ => Ok(()),
        }
        .expect("writing to a String");
    }
    (zone, queries)
}

/// `records` records of A, AAAA, TXT and MX on distinct names, for the memory part.
fn big_zone(records: usize) -> String {
    let mut zone = String::with_capacity(records * 48);
    for i in 0..records {
        let (a, b, c) = (i >> 16 & 0xff, i >> 8 & 0xff, i & 0xff);
        let _ = match i % 4 {
            0 | 1 => writeln!(zone, "r{i}.{ZONE}. 300 IN A 10.{a}.{b}.{c}"),
            2 => writeln!(zone, "r{i}.{ZONE}. 300 IN AAAA 2001:db8::{:x}:{:x}", i >> 16, i & 0xffff),
            _ => writeln!(zone, "r{i}.{ZONE}. 300 IN TXT \"record {i}\""),
        };
    }
    zone
}

/// A git daemon exporting the data sets (push enabled), killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn git_daemon(ns: &str, listen: &str, base: &Path) -> Result<Daemon, String> {
    // `git daemon` forks `git-daemon` and would leave it behind when killed: run the
    // latter directly so that the process we kill is the daemon.
    let exec_path = sh(Command::new("git").arg("--exec-path"))?;
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(Path::new(exec_path.trim()).join("git-daemon"))
        .args(["--reuseaddr", "--export-all", "--enable=receive-pack"])
        .arg(format!("--listen={listen}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start git daemon: {e}"))?;
    let d = Daemon(child);
    // Readiness: the port accepts connections (probed from inside the namespace).
    let probe = format!("exec 3<>/dev/tcp/{listen}/9418");
    let started = Instant::now();
    let probe_ok = || {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, "bash", "-c", &probe]).stderr(Stdio::null());
        c.status().is_ok_and(|s| s.success())
    };
    while !probe_ok() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err(format!("git daemon in {ns} not listening on {listen}:9418"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(d)
}

/// A running server; killed on drop.
struct Server {
    child: Child,
    which: Which,
    log: PathBuf,
    load: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // NSD's forked children exit when their parent goes; wait for the port to free.
        if self.which == Which::Nsd {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) && !children(self.child.id()).is_empty() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn nsd_config(dir: &Path, set: &DataSet) -> Result<PathBuf, String> {
    let d = dir.display();
    let conf = format!(
        "server:\n  ip-address: {ip}\n  port: 53\n  zonesdir: \"{w}\"\n  pidfile: \"{d}/nsd.pid\"\n  \
         xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  database: \"\"\n  username: \"\"\n  \
         chroot: \"\"\n  server-count: 1\n  verbosity: 0\n  minimal-responses: yes\n  rrl-ratelimit: 0\n  \
         rrl-whitelist-ratelimit: 0\n  tcp-count: 1000\n\nremote-control:\n  control-enable: no\n\n\
         zone:\n  name: {ZONE}\n  zonefile: {ZONE}\n",
        ip = Which::Nsd.ip(),
        w = set.work.display(),
    );
    let path = dir.join("nsd.conf");
    fs::write(&path, conf).map_err(|e| e.to_string())?;
    for f in ["nsd.pid", "xfrd.state", "zone.list"] {
        let _ = fs::remove_file(dir.join(f));
    }
    Ok(path)
}

impl Server {
    /// Starts `which` pinned to core 1 serving `set`; returns once it is ready and
    /// answers the zone's SOA.
    fn start(which: Which, ours: &Path, dir: &Path, set: &DataSet) -> Result<Server, String> {
        let log = dir.join(format!("{}.log", if which == Which::Nsd { "nsd" } else { "dns" }));
        let out = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", which.server_ns(), "taskset", "-c", "1"]);
        let ready = match which {
            Which::Nsd => {
                cmd.arg(program("nsd").unwrap_or("nsd".into())).arg("-d").arg("-c").arg(nsd_config(dir, set)?);
                "nsd started"
            }
            Which::Netstack | Which::HostSockets => {
                cmd.arg(ours).arg(set.remote(which)).arg("--refresh=0");
                if which == Which::Netstack {
                    cmd.args(["--net:service=tap0", "--ipv4=10.53.0.2/24"]);
                }
                "dns: serving"
            }
        };
        let started = Instant::now();
        let child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().map_err(|e| e.to_string())?;
        let mut s = Server { child, which, log, load: Duration::ZERO };
        loop {
            let text = fs::read_to_string(&s.log).unwrap_or_default();
            if text.contains(ready) {
                s.load = started.elapsed();
                break;
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                return Err(format!("{} exited ({status}) before it was ready:\n{text}", which.name()));
            }
            if started.elapsed() > READY_LIMIT {
                return Err(format!("{} not ready within {READY_LIMIT:?}:\n{text}", which.name()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // A new netstack MAC at every start: forget the previous one's.
        let _ = sh(Command::new("ip").args(["-n", which.client_ns(), "neigh", "flush", "all"]));
        let soa = dig(which, &["+tries=3", "+time=2", ZONE, "SOA"])?;
        if !soa.contains(&format!("hostmaster.{ZONE}.")) {
            return Err(format!("{} is ready but does not answer {ZONE} SOA: {soa:?}", which.name()));
        }
        Ok(s)
    }

    /// Kilobytes: the largest VmHWM of the process and its children, and their summed Pss.
    fn memory(&self) -> (u64, u64) {
        let field = |pid: u32, file: &str, key: &str| -> u64 {
            fs::read_to_string(format!("/proc/{pid}/{file}"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        let pid = self.child.id();
        let mut procs = children(pid);
        procs.push(pid);
        let hwm = procs.iter().map(|&p| field(p, "status", "VmHWM:")).max().unwrap_or(0);
        (hwm, procs.iter().map(|&p| field(p, "smaps_rollup", "Pss:")).sum())
    }
}

/// Direct children of `pid`, found by scanning /proc (NSD forks its workers).
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let stat = fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
            stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
                == Some(pid)
        })
        .collect()
}

fn dig(which: Which, args: &[&str]) -> Result<String, String> {
    sh(Command::new("ip")
        .args(["netns", "exec", which.client_ns(), "dig", "+short"])
        .arg(format!("@{}", which.ip()))
        .args(args))
}

/// What one dnsperf run reported.
struct Perf {
    qps: f64,
    completed: String,
    lost: String,
    rcodes: String,
}

fn dnsperf(which: Which, queries: &Path, seconds: u32, tcp: bool) -> Result<Perf, String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", which.client_ns(), "taskset", "-c", "0", "dnsperf", "-s", which.ip()]);
    cmd.arg("-d").arg(queries).args(["-l", &seconds.to_string(), "-c", "8", "-q", "200", "-t", "2"]);
    if tcp {
        cmd.args(["-m", "tcp"]);
    }
    let text = sh(&mut cmd)?;
    let line = |key: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(key)).map(|v| v.trim().to_string()).unwrap_or_default()
    };
    let qps = line("Queries per second:")
        .parse()
        .map_err(|_| format!("no `Queries per second` in dnsperf's output:\n{text}"))?;
    Ok(Perf {
        qps,
        completed: line("Queries completed:"),
        lost: line("Queries lost:"),
        rcodes: line("Response codes:"),
    })
}

/// Pushes a changed zone (TXT `push` = `v{k}`, serial bumped) to the repository the
/// netstack server serves, sends a signed NOTIFY, and times until `dig` sees the new TXT.
fn push_once(set: &mut DataSet, body: &str, notify: &Path, k: usize) -> Result<Duration, String> {
    let which = Which::Netstack;
    let url = format!("git://{}/{}/zones.git", which.git_ip(), set.name);
    set.serial += 1;
    let tag = format!("v{k}");
    set.write_zone(&body.replace("\"v0\"", &format!("\"{tag}\"")))?;
    git(&set.work, &["commit", "-q", "-am", &format!("push {k}")])?;
    let started = Instant::now();
    sh(Command::new("ip").args(["netns", "exec", which.server_ns(), "git", "-C"]).arg(&set.work).args([
        "push",
        "-q",
        &url,
        "HEAD:main",
    ]))?;
    let pushed = started.elapsed();
    sh(Command::new("ip")
        .args(["netns", "exec", which.client_ns()])
        .arg(notify)
        .arg(format!("{}:53", which.ip()))
        .arg(ZONE)
        .arg(set.work.join("_keys"))
        .arg(NOTIFY_KEY))?;
    let notified = started.elapsed();
    let seen = loop {
        let txt = dig(which, &["+tries=1", "+time=1", &format!("push.{ZONE}"), "TXT"]).unwrap_or_default();
        if txt.contains(&tag) {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!("push {k}: no new answer after 30 s (still {:?})", txt.trim()));
        }
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "push {k}: git push done after {:.0} ms, NOTIFY acknowledged after {:.0} ms, new answer after {:.0} ms",
        ms(pushed),
        ms(notified),
        ms(seen)
    );
    Ok(seen)
}

/// `pushes` pushes against one running server; a failed push is reported with the
/// server's log, and the server restarted for the next.
fn push_to_answer(
    o: &Options,
    ours: &Path,
    dir: &Path,
    set: &mut DataSet,
    body: &str,
    notify: &Path,
) -> Result<(Vec<Duration>, Vec<String>), String> {
    let (mut times, mut failures) = (Vec::new(), Vec::new());
    let mut server = None;
    for k in 1..=o.pushes {
        if server.is_none() {
            server = Some(Server::start(Which::Netstack, ours, dir, set)?);
        }
        match push_once(set, body, notify, k) {
            Ok(d) => times.push(d),
            Err(e) => {
                let log = fs::read_to_string(dir.join("dns.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                println!("{e}; the server's last log lines (newest first):\n  {}", tail.join("\n  "));
                failures.push(e);
                server = None;
            }
        }
    }
    Ok((times, failures))
}

pub fn bench_dns(_root: &Path, args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    check_tools()?;
    let (ours, notify) = binaries(o.smoke)?;
    let dir = util::target_dir().join("bench-dns");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _ns = topology()?;
    let (zone, queries) = qps_zone();
    let mut qps_set = DataSet::create(&dir, "qps", &zone)?;
    let query_file = dir.join("queries.txt");
    fs::write(&query_file, &queries).map_err(|e| e.to_string())?;
    let _d1 = git_daemon("xb-dns-s", "10.53.0.1", &dir)?;
    let _d2 = git_daemon("xb-dns-k", "127.0.0.1", &dir)?;
    println!(
        "bench dns: {} round(s) of {} s per server and transport; zone of {QPS_NAMES} names, {} queries in the file; \
         servers on core 1, dnsperf (-c 8 -q 200) on core 0",
        o.rounds,
        o.seconds,
        queries.lines().count()
    );

    // [which][udp, tcp] → samples.
    let mut rates = vec![[Vec::new(), Vec::new()]; Which::ALL.len()];
    for round in 0..o.rounds {
        let mut order = Which::ALL.to_vec();
        if round % 2 == 1 {
            order.reverse();
        }
        for which in order {
            let server = Server::start(which, &ours, &dir, &qps_set)?;
            for (t, tcp) in [false, true].into_iter().enumerate() {
                let p = dnsperf(which, &query_file, o.seconds, tcp)?;
                println!(
                    "round {}: {:<30} {} {:>9.0} q/s  (completed {}; lost {}; {})",
                    round + 1,
                    which.name(),
                    if tcp { "TCP" } else { "UDP" },
                    p.qps,
                    p.completed,
                    p.lost,
                    p.rcodes
                );
                rates[which as usize][t].push(p.qps);
            }
            drop(server);
        }
    }

    let pushes = push_to_answer(&o, &ours, &dir, &mut qps_set, &zone, &notify)?;

    println!("bench dns: generating a zone of {} records", o.records);
    let mem_set = DataSet::create(&dir, "mem", &big_zone(o.records))?;
    let mut memory = Vec::new();
    for which in [Which::HostSockets, Which::Nsd] {
        let server = Server::start(which, &ours, &dir, &mem_set)?;
        let (hwm, pss) = server.memory();
        println!(
            "memory: {:<30} VmHWM {hwm:>8} KiB (largest process), Pss {pss:>8} KiB (all processes), loaded in {:.2} s",
            which.name(),
            server.load.as_secs_f64()
        );
        memory.push((hwm, pss, server.load));
    }

    report(&o, &rates, &memory, &pushes);
    if pushes.1.is_empty() {
        Ok(())
    } else {
        Err(format!("{} of {} pushes + NOTIFY did not change the answers (see above)", pushes.1.len(), o.pushes))
    }
}

fn report(
    o: &Options,
    rates: &[[Vec<f64>; 2]],
    memory: &[(u64, u64, Duration)],
    pushes: &(Vec<Duration>, Vec<String>),
) {
    let (pushes, failures) = pushes;
    let nsd = Which::Nsd as usize;
    println!();
    println!("| server (one core) | UDP q/s (median of {0}) | ×NSD | TCP q/s (median of {0}) | ×NSD |", o.rounds);
    println!("|---|---:|---:|---:|---:|");
    for which in Which::ALL {
        let w = which as usize;
        let (udp, tcp) = (median(&rates[w][0]), median(&rates[w][1]));
        let ratio = |v: f64, n: f64| if n > 0.0 { v / n } else { 0.0 };
        println!(
            "| {} | {udp:.0} | {:.2} | {tcp:.0} | {:.2} |",
            which.name(),
            ratio(udp, median(&rates[nsd][0])),
            ratio(tcp, median(&rates[nsd][1]))
        );
    }
    println!();
    println!("| {} records | VmHWM (largest process) | Pss (all processes) | load time |", o.records);
    println!("|---|---:|---:|---:|");
    for ((hwm, pss, load), name) in memory.iter().zip(["dns (ours), from git daemon", "NSD 4, from zone file"]) {
        println!("| {name} | {hwm} KiB | {pss} KiB | {:.2} s |", load.as_secs_f64());
    }
    let (ours, theirs) = (memory[0].1 as f64, memory[1].1.max(1) as f64);
    println!(
        "ratio ours/NSD: memory (Pss) {:.2}×, VmHWM {:.2}×",
        ours / theirs,
        memory[0].0 as f64 / memory[1].0.max(1) as f64
    );
    let ms: Vec<f64> = pushes.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    println!("git push + signed NOTIFY → new answer: median {:.0} ms of {} (all: {ms:.0?})", median(&ms), ms.len());
    if !failures.is_empty() {
        println!("{} of {} pushes never showed the new answer: {}", failures.len(), o.pushes, failures.join("; "));
    }
    if o.smoke {
        println!("(smoke run: proves the bench works, says nothing about speed)");
    }
}
