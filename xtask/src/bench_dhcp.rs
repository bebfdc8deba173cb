//! `cargo xtask bench dhcp [--smoke] [--seconds N] [--rounds N] [--rate N] [--leases N]`:
//! leases per second of our DHCP server (`dhcp`, unix backend, netstack on a tap, every
//! lease flushed to its block file before the ACK) against Kea's DHCPv4 server
//! (`kea-dhcp4`, memfile lease database with `persist: true`), same machine, same load
//! tool, one run, measured alternately round after round; plus the peak resident memory
//! (VmHWM) of each server holding `--leases` leases (default 100,000).
//!
//! Load: ISC `perfdhcp` (Debian package `kea-admin`) doing 4-way exchanges
//! (DISCOVER/OFFER/REQUEST/ACK) from up to 16,777,216 simulated clients (`-R`), at an
//! offered rate (`-r`, default 20,000 exchanges/s, above what either server sustains here)
//! for `--seconds`; the figure is the ACKs perfdhcp received divided by the period. Beside
//! it, the server's CPU time (user + system, `/proc/PID/stat`) over the run divided by
//! those ACKs: CPU per lease, which a busy shared machine disturbs far less than the rate.
//! perfdhcp acts as a relay (`giaddr` = its own address, port 67), in a namespace of its
//! own:
//! - ours: namespace `xb-dhcp-s` holds tap `tap0` (the server's device) and bridge `br0`
//!   joining it to veth `vo0`, whose peer `vc0` is in `xb-dhcp-c` with perfdhcp;
//! - Kea: `kea-dhcp4` listens on veth `vk0` in `xb-kea-s`; its peer `vc0` is in
//!   `xb-kea-c` with perfdhcp.
//!
//! Both serve 10.64.0.0/12 from 10.64.0.1 with the pool 10.64.1.0–10.79.255.254 and one-hour
//! leases, start from empty storage in the same directory (`<target>/bench-dhcp`, so the
//! same file system) for every measurement, and log to a file: ours one line per lease
//! granted, Kea its default INFO level except the per-lease lines (`kea-dhcp4.leases` at
//! WARN: two lines per lease otherwise), which favours Kea. Ours writes and flushes
//! (fdatasync) its lease log before each ACK (group commit); Kea's memfile appends each
//! lease to its CSV file without an fsync.
//!
//! Needs root, iproute2, `perfdhcp` and `kea-dhcp4`. When the last two are missing and
//! `apt-get` is there, the bench installs `kea-dhcp4-server kea-admin` itself (about
//! 20 MB; they are deliberately not in `cargo xtask setup`'s list, which only holds what
//! the tests need). `XTASK_DHCP_SERVER=PATH` uses a prebuilt `dhcp` binary instead of
//! building one (release; `--smoke` uses the dev build). `--smoke` is one very short round
//! and 1,000 leases: it proves the bench works and checks nothing about speed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_LIMIT: Duration = Duration::from_secs(60);
const SERVER_IP: &str = "10.64.0.1";
const CLIENT_IP: &str = "10.64.0.2";
const PREFIX: &str = "12";
const POOL_START: &str = "10.64.1.0";
const POOL_END: &str = "10.79.255.254";
/// perfdhcp's largest client range (three random MAC bytes).
const CLIENTS: &str = "16777216";

struct Options {
    smoke: bool,
    seconds: u32,
    rounds: usize,
    rate: u32,
    leases: usize,
    mem_rate: u32,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { smoke: false, seconds: 10, rounds: 3, rate: 20_000, leases: 100_000, mem_rate: 3_000 };
    let (mut seconds, mut rounds, mut leases) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        let num = |name: &str, v: String| v.parse::<u64>().map_err(|e| format!("{name} `{v}`: {e}"));
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--seconds" => seconds = Some(num("--seconds", value("--seconds")?)? as u32),
            "--rounds" => rounds = Some(num("--rounds", value("--rounds")?)? as usize),
            "--rate" => o.rate = num("--rate", value("--rate")?)? as u32,
            "--leases" => leases = Some(num("--leases", value("--leases")?)? as usize),
            other => {
                return Err(format!(
                    "unknown argument `{other}` (bench dhcp [--smoke] [--seconds N] [--rounds N] [--rate N] [--leases N])"
                ));
            }
        }
    }
    if o.smoke {
        (o.seconds, o.rounds, o.leases, o.rate, o.mem_rate) = (1, 1, 1_000, 2_000, 2_000);
    }
    o.seconds = seconds.unwrap_or(o.seconds).max(1);
    o.rounds = rounds.unwrap_or(o.rounds).max(1);
    o.leases = leases.unwrap_or(o.leases).max(1);
    Ok(o)
}

/// Runs a command, failing with its output when it fails.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() { Ok(text) } else { Err(format!("{cmd:?} failed ({}):\n{text}", out.status)) }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").args(args)).map(drop)
}

fn have(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        || ["/usr/sbin", "/sbin"].iter().any(|d| Path::new(d).join(program).is_file())
}

fn program(name: &str) -> PathBuf {
    for d in ["/usr/sbin", "/sbin", "/usr/bin"] {
        let p = Path::new(d).join(name);
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// perfdhcp and kea-dhcp4, installed with apt-get when missing.
fn ensure_kea() -> Result<(), String> {
    if have("perfdhcp") && have("kea-dhcp4") {
        return Ok(());
    }
    if !have("apt-get") {
        return Err("bench dhcp needs `perfdhcp` and `kea-dhcp4` (Debian packages kea-admin and \
                    kea-dhcp4-server) and there is no apt-get to install them"
            .into());
    }
    println!(
        "bench dhcp: perfdhcp or kea-dhcp4 missing; installing the Debian packages kea-admin \
         (perfdhcp) and kea-dhcp4-server (about 20 MB, not part of `cargo xtask setup`)"
    );
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "kea-dhcp4-server", "kea-admin"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if have("perfdhcp") && have("kea-dhcp4") {
        Ok(())
    } else {
        Err("apt-get installed kea-admin and kea-dhcp4-server but perfdhcp or kea-dhcp4 is still missing".into())
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

/// Our server binary: `XTASK_DHCP_SERVER`, else built (release, or dev for `--smoke`).
fn our_server(root: &Path, smoke: bool) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("XTASK_DHCP_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "-p", "dhcp", "--bin", "dhcp"]);
    if !smoke {
        cmd.arg("--release");
    }
    println!("bench dhcp: building the server ({})", if smoke { "dev" } else { "release" });
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the dhcp server failed".into());
    }
    Ok(target_dir(root).join(if smoke { "debug" } else { "release" }).join("dhcp"))
}

/// The namespaces of the bench, deleted on drop.
struct Namespaces(Vec<&'static str>);

impl Namespaces {
    fn create(names: &[&'static str]) -> Result<Namespaces, String> {
        for n in names {
            let _ = Command::new("ip").args(["netns", "del", n]).stderr(Stdio::null()).status();
        }
        let mut made = Namespaces(Vec::new());
        for n in names {
            ip(&["netns", "add", n])?;
            made.0.push(n);
            ip(&["-n", n, "link", "set", "lo", "up"])?;
        }
        Ok(made)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn topology() -> Result<Namespaces, String> {
    let ns = Namespaces::create(&["xb-dhcp-s", "xb-dhcp-c", "xb-kea-s", "xb-kea-c"])?;
    let client = format!("{CLIENT_IP}/{PREFIX}");
    // Ours: tap0 + vo0 bridged in xb-dhcp-s, vc0 in xb-dhcp-c.
    ip(&["-n", "xb-dhcp-s", "tuntap", "add", "dev", "tap0", "mode", "tap"])?;
    ip(&["-n", "xb-dhcp-s", "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", "xb-dhcp-s", "link", "add", "vo0", "type", "veth", "peer", "name", "vc0"])?;
    ip(&["-n", "xb-dhcp-s", "link", "set", "vc0", "netns", "xb-dhcp-c"])?;
    for l in ["tap0", "vo0"] {
        ip(&["-n", "xb-dhcp-s", "link", "set", l, "master", "br0"])?;
    }
    for l in ["tap0", "vo0", "br0"] {
        ip(&["-n", "xb-dhcp-s", "link", "set", l, "up"])?;
    }
    ip(&["-n", "xb-dhcp-c", "addr", "add", &client, "dev", "vc0"])?;
    ip(&["-n", "xb-dhcp-c", "link", "set", "vc0", "up"])?;
    // Kea: vk0 in xb-kea-s, vc0 in xb-kea-c.
    ip(&["-n", "xb-kea-s", "link", "add", "vk0", "type", "veth", "peer", "name", "vc0"])?;
    ip(&["-n", "xb-kea-s", "link", "set", "vc0", "netns", "xb-kea-c"])?;
    ip(&["-n", "xb-kea-s", "addr", "add", &format!("{SERVER_IP}/{PREFIX}"), "dev", "vk0"])?;
    ip(&["-n", "xb-kea-s", "link", "set", "vk0", "up"])?;
    ip(&["-n", "xb-kea-c", "addr", "add", &client, "dev", "vc0"])?;
    ip(&["-n", "xb-kea-c", "link", "set", "vc0", "up"])?;
    Ok(ns)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Ours,
    Kea,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Ours => "dhcp (ours)",
            Which::Kea => "Kea",
        }
    }
    fn client_ns(self) -> &'static str {
        match self {
            Which::Ours => "xb-dhcp-c",
            Which::Kea => "xb-kea-c",
        }
    }
}

/// A running server with fresh storage; killed on drop.
struct Server {
    child: Child,
    log: PathBuf,
    which: Which,
    leases: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(which: Which, ours: &Path, dir: &Path) -> Result<Server, String> {
        let log = dir.join(match which {
            Which::Ours => "dhcp.log",
            Which::Kea => "kea.log",
        });
        let out = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let (mut cmd, leases, ready) = match which {
            Which::Ours => {
                let img = dir.join("leases.img");
                let _ = fs::remove_file(&img);
                let f = fs::File::create(&img).map_err(|e| format!("{}: {e}", img.display()))?;
                f.set_len(256 << 20).map_err(|e| e.to_string())?;
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", "xb-dhcp-s"]).arg(ours).args([
                    "--net:service=tap0".to_string(),
                    format!("--ipv4={SERVER_IP}/{PREFIX}"),
                    format!("--block:storage={}", img.display()),
                    format!("--range={POOL_START},{POOL_END},1h"),
                    format!("--option=router,{SERVER_IP}"),
                    "--status-port=0".to_string(),
                ]);
                (cmd, img, "; ready")
            }
            Which::Kea => {
                let csv = dir.join("kea-leases4.csv");
                for f in ["kea-leases4.csv", "kea-leases4.csv.2", "kea-dhcp4.pid", "kea-leases4.csv.completed"] {
                    let _ = fs::remove_file(dir.join(f));
                }
                let conf = dir.join("kea-dhcp4.json");
                fs::write(&conf, kea_config(&csv)).map_err(|e| e.to_string())?;
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", "xb-kea-s"]).arg(program("kea-dhcp4")).arg("-c").arg(&conf);
                cmd.env("KEA_PIDFILE_DIR", dir).env("KEA_LOCKFILE_DIR", dir);
                (cmd, csv, "DHCP4_STARTED")
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", which.name()))?;
        // Our server's MAC is new at every start: forget the previous one's.
        let _ = run(Command::new("ip").args(["-n", which.client_ns(), "neigh", "flush", "all"]));
        let mut s = Server { child, log, which, leases };
        let started = Instant::now();
        loop {
            let text = fs::read_to_string(&s.log).unwrap_or_default();
            if text.contains(ready) {
                return Ok(s);
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                return Err(format!("{} exited ({status}) before it was ready:\n{text}", which.name()));
            }
            if started.elapsed() > READY_LIMIT {
                return Err(format!("{} not ready within {READY_LIMIT:?}:\n{text}", which.name()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU time the server has used so far, user plus system, all its threads
    /// (fields 14 and 15 of `/proc/PID/stat`, proc(5)), in seconds. The
    /// child is the server itself: `ip netns exec` execs it without a fork.
    fn cpu_seconds(&self) -> Result<f64, String> {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        // The command name (field 2) may hold spaces: count fields after its ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or(format!("{path}: no ')'"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or(format!("{path}: field"));
        // Field 3 (state) is fields[0], so utime (14) is fields[11], stime (15) fields[12].
        Ok((ticks(11)? + ticks(12)?) as f64 / clock_ticks_per_second())
    }

    fn vm_hwm_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Distinct addresses the server has leased so far (from its lease log / CSV).
    fn leased(&self) -> usize {
        let mut addrs: Vec<String> = match self.which {
            Which::Ours => fs::read_to_string(&self.log)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    l.split_once("lease ").and_then(|(_, r)| r.split_once(" granted")).map(|(a, _)| a.into())
                })
                .collect(),
            Which::Kea => fs::read_to_string(&self.leases)
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| l.split(',').next().map(str::to_string))
                .collect(),
        };
        addrs.sort();
        addrs.dedup();
        addrs.len()
    }
}

fn kea_config(csv: &Path) -> String {
    format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": [ "vk0" ] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}", "lfc-interval": 0 }},
  "valid-lifetime": 3600, "renew-timer": 1800, "rebind-timer": 3150,
  "subnet4": [ {{ "id": 1, "subnet": "10.64.0.0/{PREFIX}",
                 "pools": [ {{ "pool": "{POOL_START} - {POOL_END}" }} ],
                 "option-data": [ {{ "name": "routers", "data": "{SERVER_IP}" }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "output_options": [ {{ "output": "stdout" }} ], "severity": "INFO" }},
               {{ "name": "kea-dhcp4.leases", "output_options": [ {{ "output": "stdout" }} ], "severity": "WARN" }} ]
}} }}
"#,
        csv.display()
    )
}

/// What one perfdhcp run saw.
struct Load {
    acks: u64,
    requests: u64,
    discovers: u64,
    offers: u64,
}

fn stat(section: &str, text: &str, what: &str) -> u64 {
    text.split("***Statistics for: ")
        .find(|s| s.starts_with(section))
        .and_then(|s| s.lines().find_map(|l| l.trim().strip_prefix(what)))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// perfdhcp in the server's client namespace: `-r rate` 4-way exchanges, for `-p seconds`
/// or `-n count` exchanges.
/// perfdhcp numbers its clients up from the base MAC, so `base` (its fourth byte) keeps
/// the clients of one run apart from another's.
fn perfdhcp(which: Which, rate: u32, limit: (&str, String), base: u8) -> Result<Load, String> {
    let text = run(Command::new("ip").args(["netns", "exec", which.client_ns()]).arg(program("perfdhcp")).args([
        "-4".to_string(),
        "-r".to_string(),
        rate.to_string(),
        "-R".to_string(),
        CLIENTS.to_string(),
        "-b".to_string(),
        format!("mac=02:0c:{base:02x}:00:00:00"),
        limit.0.to_string(),
        limit.1,
        "-W".to_string(),
        "500000".to_string(),
        "-l".to_string(),
        "vc0".to_string(),
        SERVER_IP.to_string(),
    ]))
    // perfdhcp exits 3 when some packets were dropped: that is part of the measurement.
    .or_else(|e| if e.contains("Statistics for: REQUEST-ACK") { Ok(e) } else { Err(e) })?;
    Ok(Load {
        discovers: stat("DISCOVER-OFFER", &text, "sent packets:"),
        offers: stat("DISCOVER-OFFER", &text, "received packets:"),
        requests: stat("REQUEST-ACK", &text, "sent packets:"),
        acks: stat("REQUEST-ACK", &text, "received packets:"),
    })
}

/// `sysconf(_SC_CLK_TCK)`, the unit of the times in `/proc/PID/stat`, through getconf
/// (xtask has no libc binding); 100 on every Linux port that matters.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        run(Command::new("getconf").arg("CLK_TCK")).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(100.0)
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

pub fn bench_dhcp(root: &Path, args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let is_root = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|u| u.split_whitespace().next() == Some("0")))
        .unwrap_or(false);
    if !is_root {
        return Err("bench dhcp needs root (network namespaces, a tap)".into());
    }
    if !have("ip") {
        return Err("bench dhcp needs `ip` (Debian package iproute2)".into());
    }
    ensure_kea()?;
    let ours = our_server(root, o.smoke)?;
    let dir = target_dir(root).join("bench-dhcp");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _ns = topology()?;
    let fs_type = run(Command::new("stat").args(["-f", "-c", "%T"]).arg(&dir)).unwrap_or_default();
    println!(
        "bench dhcp: {} round(s) of {} s at an offered {} exchanges/s, {} simulated clients; storage in {} ({})",
        o.rounds,
        o.seconds,
        o.rate,
        CLIENTS,
        dir.display(),
        fs_type.trim()
    );

    let mut rates = [Vec::new(), Vec::new()];
    // Server CPU-seconds per lease: unlike the rate, this hardly depends on what else the
    // shared machine runs meanwhile.
    let mut cpu = [Vec::new(), Vec::new()];
    for round in 0..o.rounds {
        let order = if round % 2 == 0 { [Which::Ours, Which::Kea] } else { [Which::Kea, Which::Ours] };
        for which in order {
            let server = Server::start(which, &ours, &dir)?;
            let before = server.cpu_seconds()?;
            let load = perfdhcp(which, o.rate, ("-p", o.seconds.to_string()), 0)?;
            let used = server.cpu_seconds()? - before;
            let rate = load.acks as f64 / f64::from(o.seconds);
            let per_lease = used / load.acks.max(1) as f64;
            println!(
                "round {}: {:<12} {:>9.0} leases/s, {:>6.1} µs CPU/lease ({:.2} s CPU)  (DISCOVER {} → OFFER {}, \
                 REQUEST {} → ACK {}; VmHWM {} KiB)",
                round + 1,
                which.name(),
                rate,
                per_lease * 1e6,
                used,
                load.discovers,
                load.offers,
                load.requests,
                load.acks,
                server.vm_hwm_kib().unwrap_or(0)
            );
            rates[usize::from(which == Which::Kea)].push(rate);
            cpu[usize::from(which == Which::Kea)].push(per_lease);
            drop(server);
        }
    }
    let (ours_rate, kea_rate) = (median(rates[0].clone()), median(rates[1].clone()));
    let (ours_cpu, kea_cpu) = (median(cpu[0].clone()) * 1e6, median(cpu[1].clone()) * 1e6);

    // Memory with `o.leases` leases: fresh servers, perfdhcp until that many are held.
    let mut memory = Vec::new();
    for which in [Which::Ours, Which::Kea] {
        let server = Server::start(which, &ours, &dir)?;
        let started = Instant::now();
        let (mut attempt, mut stuck) = (0u64, 0);
        while attempt < 30 && stuck < 3 {
            let have = server.leased();
            if have >= o.leases {
                break;
            }
            // A few percent more than missing (some exchanges are dropped), new clients each run.
            let n = (o.leases - have) + (o.leases - have) / 50 + 10;
            perfdhcp(which, o.mem_rate, ("-n", n.to_string()), attempt as u8 + 1)?;
            attempt += 1;
            stuck = if server.leased() > have { 0 } else { stuck + 1 };
        }
        let held = server.leased();
        if held < o.leases {
            return Err(format!(
                "{} holds only {held} of {} leases after {attempt} perfdhcp runs",
                which.name(),
                o.leases
            ));
        }
        let hwm = server.vm_hwm_kib().unwrap_or(0);
        println!(
            "memory: {:<12} VmHWM {:>7} KiB holding {held} leases (filled in {:.1} s)",
            which.name(),
            hwm,
            started.elapsed().as_secs_f64()
        );
        memory.push((held, hwm));
        drop(server);
    }

    println!();
    println!(
        "| server | leases/s (median of {0}) | server CPU µs per lease (median of {0}) | VmHWM with leases |",
        o.rounds
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| dhcp (ours), fdatasync before each ACK batch | {ours_rate:.0} | {ours_cpu:.1} | {} KiB ({} leases) |",
        memory[0].1, memory[0].0
    );
    println!(
        "| Kea memfile, persist on | {kea_rate:.0} | {kea_cpu:.1} | {} KiB ({} leases) |",
        memory[1].1, memory[1].0
    );
    let ratio = if kea_rate > 0.0 { ours_rate / kea_rate } else { 0.0 };
    let cpu_ratio = if kea_cpu > 0.0 { ours_cpu / kea_cpu } else { 0.0 };
    println!(
        "ratio ours/Kea: {ratio:.2}× leases/s; {cpu_ratio:.2}× CPU per lease; memory {:.2}×",
        memory[0].1 as f64 / memory[1].1.max(1) as f64
    );
    if o.smoke {
        println!("(smoke run: proves the bench works, says nothing about speed)");
    }
    Ok(())
}
