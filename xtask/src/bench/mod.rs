//! `cargo xtask bench netstack`: TCP bulk throughput and connection rate
//! through `netstack` on a tap device, against the Linux kernel's TCP over a
//! veth pair, on the same machine, with the same client, in one run.
//!
//! Both sides run the platform contract server (`contract-server`):
//!
//! ```text
//! kernel:   [ns xb-k-cli] client 10.201.1.1 --veth-- 10.201.1.2 contract-server, host sockets [ns xb-k-srv]
//! netstack: [ns xb-n]     client 10.201.2.1 --tap0-- 10.201.2.2 contract-server --net:service=tap0 (netstack)
//! ```
//!
//! The client is this binary (`xtask bench-client`, kernel sockets, std
//! threads), re-executed inside the client's namespace with `ip netns exec`.
//! Kernel and netstack are measured alternately, round after round; the report
//! gives medians and the ratio netstack/kernel for each MTU.

pub mod client;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::run;
use crate::util::{self, Context, Error, Result};

/// Namespaces, interfaces and addresses of the bench.
const K_SRV_NS: &str = "xb-k-srv";
const K_CLI_NS: &str = "xb-k-cli";
const N_NS: &str = "xb-n";
const VETH_SRV: &str = "xb-ks";
const VETH_CLI: &str = "xb-kc";
const TAP: &str = "tap0";
const K_SRV_IP: &str = "10.201.1.2";
const K_CLI_IP: &str = "10.201.1.1";
const TAP_HOST_IP: &str = "10.201.2.1";
const NETSTACK_IP: &str = "10.201.2.2";
/// The contract server's default ports.
const ECHO_PORT: u16 = 7;
const DISCARD_PORT: u16 = 9;
const SOURCE_PORT: u16 = 19;
/// How long a server may take to log its `ready` line.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Environment variable naming a prebuilt contract server to use instead of building one.
const SERVER_ENV: &str = "XTASK_CONTRACT_SERVER";

/// What to run.
pub struct Options {
    pub smoke: bool,
    /// Duration of the send and connection-rate measurements.
    pub seconds: f64,
    pub rounds: usize,
    pub mtus: Vec<u32>,
    pub workers: usize,
    pub release: bool,
}

impl Options {
    fn full() -> Options {
        Options { smoke: false, seconds: 3.0, rounds: 3, mtus: vec![1500, 9000], workers: 4, release: true }
    }

    /// A very short run proving the bench works (CI): one round, MTU 1500, the
    /// dev build that `cargo test` already made; no timing thresholds.
    pub fn smoke() -> Options {
        Options { smoke: true, seconds: 0.5, rounds: 1, mtus: vec![1500], workers: 2, release: false }
    }

    /// The command line that runs with these options, for the report.
    fn command_line(&self) -> String {
        let base = if self.smoke { Options::smoke() } else { Options::full() };
        let mut s = String::from("cargo xtask bench netstack");
        if self.smoke {
            s.push_str(" --smoke");
        }
        if self.seconds != base.seconds {
            s.push_str(&format!(" --seconds {}", self.seconds));
        }
        if self.rounds != base.rounds {
            s.push_str(&format!(" --rounds {}", self.rounds));
        }
        if self.mtus != base.mtus {
            let mtus: Vec<String> = self.mtus.iter().map(u32::to_string).collect();
            s.push_str(&format!(" --mtu {}", mtus.join(",")));
        }
        if self.workers != base.workers {
            s.push_str(&format!(" --workers {}", self.workers));
        }
        if self.release != base.release {
            s.push_str(if self.release { " --release" } else { " --dev" });
        }
        s
    }
}

pub fn main(args: &[String]) -> Result {
    let Some((name, rest)) = args.split_first() else {
        return Err(Error::usage("`bench` needs a benchmark name: netstack, tender, hvt, pinata, dhcp or dns"));
    };
    match name.as_str() {
        "netstack" => {}
        "tender" => return crate::bench_tender::bench_tender(&util::workspace_root(), rest).map_err(Error::msg),
        "hvt" => return crate::bench_hvt::bench_hvt(&util::workspace_root(), rest).map_err(Error::msg),
        "pinata" => return crate::bench_pinata::bench_pinata(&util::workspace_root(), rest).map_err(Error::msg),
        "dhcp" => return crate::bench_dhcp::bench_dhcp(&util::workspace_root(), rest).map_err(Error::msg),
        "dns" => return crate::bench_dns::bench_dns(&util::workspace_root(), rest).map_err(Error::msg),
        _ => {
            return Err(Error::usage(format!(
                "unknown benchmark `{name}`; benchmarks: netstack, tender, hvt, pinata, dhcp, dns"
            )));
        }
    }
    let smoke = rest.iter().any(|a| a == "--smoke");
    let mut opts = if smoke { Options::smoke() } else { Options::full() };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| Error::usage(format!("{a} needs a value")));
        match a.as_str() {
            "--smoke" => {}
            "--seconds" => opts.seconds = value()?.parse().context("--seconds")?,
            "--rounds" => opts.rounds = value()?.parse().context("--rounds")?,
            "--workers" => opts.workers = value()?.parse().context("--workers")?,
            "--mtu" => {
                opts.mtus = value()?.split(',').map(|m| m.trim().parse().context("--mtu")).collect::<Result<_>>()?
            }
            "--release" => opts.release = true,
            "--dev" => opts.release = false,
            other => return Err(Error::usage(format!("unknown option to `bench netstack`: `{other}`"))),
        }
    }
    if opts.seconds.is_nan() || opts.seconds <= 0.0 || opts.rounds == 0 || opts.mtus.is_empty() || opts.workers == 0 {
        return Err(Error::usage("--seconds, --rounds, --workers and --mtu must be positive"));
    }
    if let Some(m) = opts.mtus.iter().find(|m| !(576..=65535).contains(*m)) {
        return Err(Error::usage(format!("MTU {m} is outside 576..=65535")));
    }
    netstack(&opts)
}

/// One measured path: where its client runs and which server it talks to.
struct Route {
    label: &'static str,
    client_ns: &'static str,
    server_ip: &'static str,
}

const KERNEL: Route = Route { label: "kernel TCP over veth", client_ns: K_CLI_NS, server_ip: K_SRV_IP };
const NETSTACK: Route = Route { label: "netstack on tap", client_ns: N_NS, server_ip: NETSTACK_IP };

#[derive(Default)]
struct Samples {
    send: Vec<f64>,
    recv: Vec<f64>,
    conns: Vec<f64>,
    conn_errors: u64,
}

/// Runs the netstack benchmark and prints its report.
pub fn netstack(opts: &Options) -> Result {
    if !util::is_root() {
        return Err(Error::msg("bench netstack needs root (network namespaces, veth and tap devices)"));
    }
    if !util::have_program("ip") {
        return Err(Error::msg("`ip` is missing: run `cargo xtask setup` (installs iproute2)"));
    }
    let server = server_binary(opts.release)?;
    let me = std::env::current_exe().context("cannot find the xtask binary")?;
    println!(
        "bench netstack: {} round(s) per MTU, {}s per measurement, {} connection workers, server {}",
        opts.rounds,
        opts.seconds,
        opts.workers,
        server.display()
    );

    let net = Namespaces::create(&me)?;
    let mut results: Vec<(u32, Samples, Samples)> = Vec::new();
    for &mtu in &opts.mtus {
        net.set_mtu(mtu)?;
        println!("\n-- MTU {mtu} (veth pair and tap0) --");
        // The netstack reads the tap's MTU when it opens it: start after set_mtu.
        let mut kernel_srv = Server::start("kernel", K_SRV_NS, &server, &[])?;
        let mut netstack_srv = Server::start(
            "netstack",
            N_NS,
            &server,
            &[format!("--net:service={TAP}"), format!("--ipv4={NETSTACK_IP}/24")],
        )?;
        for line in netstack_srv.log_lines_containing("mtu") {
            println!("netstack server: {line}");
        }
        let (mut k, mut n) = (Samples::default(), Samples::default());
        for round in 1..=opts.rounds {
            for (path, srv, samples) in [(&KERNEL, &mut kernel_srv, &mut k), (&NETSTACK, &mut netstack_srv, &mut n)] {
                measure(path, srv, samples, &me, opts).map_err(|e| {
                    Error::msg(format!("{} (MTU {mtu}, round {round}): {}{}", path.label, e.message, srv.log_tail()))
                })?;
                let last = |v: &Vec<f64>| v.last().copied().unwrap_or(0.0);
                println!(
                    "round {round}  {:<22} send {:>9.1} MB/s  recv {:>9.1} MB/s  {:>8.0} conn/s",
                    path.label,
                    last(&samples.send),
                    last(&samples.recv),
                    last(&samples.conns)
                );
            }
        }
        results.push((mtu, k, n));
    }
    drop(net);

    report(&results, opts);
    let errors: u64 = results.iter().map(|(_, k, n)| k.conn_errors + n.conn_errors).sum();
    if opts.smoke && errors > 0 {
        return Err(Error::msg(format!("{errors} connections failed during the connection-rate test")));
    }
    Ok(())
}

fn server_binary(release: bool) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(SERVER_ENV) {
        let p = PathBuf::from(p);
        println!("using the contract server from ${SERVER_ENV}: {}", p.display());
        return Ok(p);
    }
    run::build(&run::contract_server(), release)
}

fn measure(path: &Route, srv: &mut Server, samples: &mut Samples, me: &Path, opts: &Options) -> Result {
    let secs = format!("{}", opts.seconds);
    let mb_per_s = |r: &HashMap<String, f64>| r["bytes"] / r["secs"] / 1e6;

    srv.check_alive()?;
    let r = bench_client(me, path.client_ns, &["send", "--seconds", &secs], path.server_ip, DISCARD_PORT)?;
    samples.send.push(mb_per_s(&r));

    srv.check_alive()?;
    let r = bench_client(me, path.client_ns, &["recv", "--seconds", &secs], path.server_ip, SOURCE_PORT)?;
    samples.recv.push(mb_per_s(&r));

    srv.check_alive()?;
    let workers = opts.workers.to_string();
    let r = bench_client(
        me,
        path.client_ns,
        &["connrate", "--seconds", &secs, "--workers", &workers],
        path.server_ip,
        ECHO_PORT,
    )?;
    samples.conns.push(r["connections"] / r["secs"]);
    samples.conn_errors += r["errors"] as u64;
    srv.check_alive()
}

/// Runs one client measurement inside `ns` and parses its `RESULT` line.
fn bench_client(me: &Path, ns: &str, args: &[&str], ip: &str, port: u16) -> Result<HashMap<String, f64>> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(me).arg("bench-client").args(args);
    cmd.args(["--addr", ip, "--port", &port.to_string()]);
    let line = util::show(&cmd);
    let out = cmd.output().context(format!("cannot start `{line}`"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(Error::msg(format!("`{line}` failed ({}): {}", out.status, stderr.trim())));
    }
    if !stderr.trim().is_empty() {
        eprintln!("{}", stderr.trim());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| Error::msg(format!("`{line}` printed no RESULT line")))?;
    let mut map = HashMap::new();
    for kv in result.split_whitespace() {
        if let Some((k, v)) = kv.split_once('=') {
            map.insert(k.to_string(), v.parse().context(format!("RESULT value {kv}"))?);
        }
    }
    Ok(map)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn report(results: &[(u32, Samples, Samples)], opts: &Options) {
    println!(
        "\n== bench netstack: medians of {} round(s); MB = 10^6 bytes; {} connection workers ==",
        opts.rounds, opts.workers
    );
    println!("command: {}", opts.command_line());
    println!(
        "server: contract-server ({} build); client: xtask bench-client",
        if opts.release { "release" } else { "dev" }
    );
    println!("{:<6} {:<32} {:>12} {:>12} {:>10}", "MTU", "path", "send MB/s", "recv MB/s", "conn/s");
    for (mtu, k, n) in results {
        let row = |label: &str, s: &Samples| {
            let errs =
                if s.conn_errors > 0 { format!("  ({} failed connections)", s.conn_errors) } else { String::new() };
            println!(
                "{mtu:<6} {label:<32} {:>12.1} {:>12.1} {:>10.0}{errs}",
                median(&s.send),
                median(&s.recv),
                median(&s.conns)
            );
        };
        row(KERNEL.label, k);
        row(NETSTACK.label, n);
        println!(
            "{mtu:<6} {:<32} {:>12.2} {:>12.2} {:>10.2}",
            "ratio netstack/kernel",
            median(&n.send) / median(&k.send),
            median(&n.recv) / median(&k.recv),
            median(&n.conns) / median(&k.conns)
        );
    }
    if opts.smoke {
        println!("(smoke run: dev build, too short to mean anything; it only proves the bench works)");
    }
}

/// The bench's namespaces; deleted again when dropped (also on failure).
struct Namespaces;

impl Namespaces {
    fn create(me: &Path) -> Result<Namespaces> {
        // Leftovers of an interrupted run would make `ip netns add` fail.
        Self::delete();
        let net = Namespaces;
        let ip = |args: &[&str]| util::output(Command::new("ip").args(args)).map(drop);
        for ns in [K_SRV_NS, K_CLI_NS, N_NS] {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&["link", "add", VETH_SRV, "netns", K_SRV_NS, "type", "veth", "peer", "name", VETH_CLI, "netns", K_CLI_NS])?;
        ip(&["-n", K_SRV_NS, "addr", "add", &format!("{K_SRV_IP}/24"), "dev", VETH_SRV])?;
        ip(&["-n", K_CLI_NS, "addr", "add", &format!("{K_CLI_IP}/24"), "dev", VETH_CLI])?;
        ip(&["-n", K_SRV_NS, "link", "set", VETH_SRV, "up"])?;
        ip(&["-n", K_CLI_NS, "link", "set", VETH_CLI, "up"])?;
        ip(&["-n", N_NS, "tuntap", "add", "dev", TAP, "mode", "tap"])?;
        ip(&["-n", N_NS, "addr", "add", &format!("{TAP_HOST_IP}/24"), "dev", TAP])?;
        ip(&["-n", N_NS, "link", "set", TAP, "up"])?;
        for ns in [K_CLI_NS, N_NS] {
            util::output(Command::new("ip").args(["netns", "exec", ns]).arg(me).args(["bench-client", "tune"]))?;
        }
        println!(
            "namespaces: {K_SRV_NS} ({VETH_SRV} {K_SRV_IP}) <-veth-> {K_CLI_NS} ({VETH_CLI} {K_CLI_IP}); \
             {N_NS} ({TAP} {TAP_HOST_IP}, netstack {NETSTACK_IP})"
        );
        Ok(net)
    }

    fn set_mtu(&self, mtu: u32) -> Result {
        let mtu = mtu.to_string();
        for (ns, dev) in [(K_SRV_NS, VETH_SRV), (K_CLI_NS, VETH_CLI), (N_NS, TAP)] {
            util::output(Command::new("ip").args(["-n", ns, "link", "set", dev, "mtu", &mtu]))?;
        }
        Ok(())
    }

    fn delete() {
        for ns in [K_SRV_NS, K_CLI_NS, N_NS] {
            let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        Self::delete();
    }
}

/// A contract server running in a namespace; killed when dropped.
struct Server {
    label: &'static str,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the server and waits for its `ready` line.
    fn start(label: &'static str, ns: &str, exe: &Path, args: &[String]) -> Result<Server> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(exe).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let line = util::show(&cmd);
        println!("$ {line}");
        let mut child = cmd.spawn().context(format!("cannot start `{line}`"))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>);
        let stderr = child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>);
        for stream in [stdout, stderr].into_iter().flatten() {
            let (tx, log) = (tx.clone(), log.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let ready = line.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "ready");
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                    if ready {
                        let _ = tx.send(());
                    }
                }
            });
        }
        drop(tx);
        let mut server = Server { label, child, log };
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(()) => Ok(server),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::msg(format!(
                "{label} server logged no `ready` line within {}s{}",
                READY_TIMEOUT.as_secs(),
                server.log_tail()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(Error::msg(format!("{label} server exited before it was ready ({status}){}", server.log_tail())))
            }
        }
    }

    fn check_alive(&mut self) -> Result {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(Error::msg(format!("{} server exited ({status})", self.label))),
        }
    }

    /// The lines the server logged so far that contain `pattern`.
    fn log_lines_containing(&self, pattern: &str) -> Vec<String> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().filter(|l| l.contains(pattern)).cloned().collect()
    }

    /// The last lines the server logged, for error messages.
    fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.is_empty() {
            return String::new();
        }
        let tail = &log[log.len().saturating_sub(20)..];
        format!("\n--- last lines of the {} server's output ---\n{}", self.label, tail.join("\n"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
