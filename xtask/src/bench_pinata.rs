//! `cargo xtask bench pinata [--smoke] [--seconds N] [--rounds N] [--workers N] [--no-hvt]`:
//! full TLS 1.3 handshakes per second on the Piñata's bounty port (10000)
//! against `openssl s_server -Verify 1 -verify_return_error`, same machine,
//! same key type (ECDSA P-256 server and client certificates), same load tool
//! (`pinata-load`, rustls client threads presenting a client certificate).
//!
//! Two cases, each server measured alternately round after round:
//! - **refused**: the client certificate, signed by the Piñata's fixed test
//!   CA, is refused — by the Piñata in normal mode (it trusts only its fresh
//!   CA) and by `s_server` given another CA as `-CAfile`;
//! - **accepted**: the same certificate is accepted — by the Piñata in `--test`
//!   mode (it then writes its secret) and by `s_server` with the test CA as
//!   `-CAfile` (it then sends its session ticket).
//!
//! Besides rates (medians) and the ratio Piñata/OpenSSL it reports the server
//! CPU time per handshake, the peak resident memory (VmHWM) of each server
//! process under load, the boot-to-ready time (process start to the `ready`
//! log line) on unix, and — as root, with `dist/pinata.hvt` and the tender — the
//! same load against the hvt image under the tender's process engine with
//! `--mem=32`, behind a tap in a namespace of its own: rates, boot-to-ready,
//! the tender's VmHWM and the image size. `--smoke` is a very short run (CI);
//! it proves the bench works and checks nothing about speed.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to get ready.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux/x86_64).
const TICKS_PER_SECOND: f64 = 100.0;
/// Network of the hvt part.
const HVT_HOST: &str = "10.203.0.1";
const HVT_GUEST: &str = "10.203.0.2";

struct Options {
    smoke: bool,
    seconds: f64,
    rounds: usize,
    workers: usize,
    hvt: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { smoke: false, seconds: 5.0, rounds: 3, workers: 4, hvt: true };
    let (mut seconds, mut rounds) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--no-hvt" => o.hvt = false,
            "--seconds" => seconds = Some(value("--seconds")?.parse::<f64>().map_err(|e| format!("--seconds: {e}"))?),
            "--rounds" => rounds = Some(value("--rounds")?.parse::<usize>().map_err(|e| format!("--rounds: {e}"))?),
            "--workers" => o.workers = value("--workers")?.parse().map_err(|e| format!("--workers: {e}"))?,
            other => {
                return Err(format!(
                    "unknown option `{other}` to `bench pinata` \
                     ([--smoke] [--seconds N] [--rounds N] [--workers N] [--no-hvt])"
                ));
            }
        }
    }
    if o.smoke {
        (o.seconds, o.rounds) = (0.5, 1);
    }
    o.seconds = seconds.unwrap_or(o.seconds);
    o.rounds = rounds.unwrap_or(o.rounds);
    if o.seconds <= 0.0 || o.rounds == 0 || o.workers == 0 {
        return Err("--seconds, --rounds and --workers must be positive".into());
    }
    Ok(o)
}

/// Which server, in which case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    PinataUnix,
    OpenSsl,
    PinataHvt,
}

impl Server {
    fn label(self) -> &'static str {
        match self {
            Server::PinataUnix => "Piñata (unix)",
            Server::OpenSsl => "openssl s_server",
            Server::PinataHvt => "Piñata (hvt, process engine, --mem=32)",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Refused,
    Accepted,
}

impl Case {
    fn expect(self) -> &'static str {
        match self {
            Case::Refused => "refused",
            Case::Accepted => "accepted",
        }
    }
}

/// One measurement.
#[derive(Clone, Debug)]
struct Sample {
    server: Server,
    case: Case,
    rate: f64,
    handshakes: u64,
    failed: u64,
    cpu_seconds: f64,
    hwm_kib: u64,
    ready: Option<Duration>,
}

/// Files and programs of the run.
struct Setup {
    dir: PathBuf,
    pinata: PathBuf,
    load: PathBuf,
    test_ca: PathBuf,
    other_ca: PathBuf,
    client: (PathBuf, PathBuf),
    server: (PathBuf, PathBuf),
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() { d } else { root.join(d) }
        }
        _ => root.join("target"),
    }
}

fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let line = show(cmd);
    let out = cmd.output().map_err(|e| format!("cannot run `{line}`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{line}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// Builds the Piñata and the load tool; release unless smoke.
fn build(root: &Path, smoke: bool) -> Result<(PathBuf, PathBuf), String> {
    let mut cmd = cargo(root);
    cmd.args(["build", "-p", "pinata", "--bin", "pinata", "--bin", "pinata-load"]);
    if !smoke {
        cmd.arg("--release");
    }
    println!("$ {}", show(&cmd));
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the Piñata failed ({status})"));
    }
    let dir = target_dir(root).join(if smoke { "debug" } else { "release" });
    Ok((dir.join("pinata"), dir.join("pinata-load")))
}

/// Key and certificate signed by `ca` with the extensions in `ext`, via openssl.
fn openssl_leaf(dir: &Path, name: &str, ca: (&Path, &Path), ext: &str) -> Result<(PathBuf, PathBuf), String> {
    let (key, csr, crt, extfile) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.csr")),
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.ext")),
    );
    std::fs::write(&extfile, ext).map_err(|e| e.to_string())?;
    run(Command::new("openssl")
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout"])
        .arg(&key)
        .args(["-subj", &format!("/CN=bench {name}"), "-out"])
        .arg(&csr))?;
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "30", "-set_serial", "7", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(ca.0)
        .arg("-CAkey")
        .arg(ca.1)
        .arg("-extfile")
        .arg(&extfile)
        .arg("-out")
        .arg(&crt))?;
    Ok((crt, key))
}

fn prepare(root: &Path, smoke: bool) -> Result<Setup, String> {
    if Command::new("openssl").arg("version").output().is_err() {
        return Err("`bench pinata` needs openssl (Debian package openssl)".into());
    }
    let (pinata, load) = build(root, smoke)?;
    let dir = std::env::temp_dir().join(format!("xtask-bench-pinata-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let testdata = root.join("appliances/pinata/core/testdata");
    let test_ca = testdata.join("test-ca.cert.pem");
    let test_ca_key = testdata.join("test-ca.key.pem");
    let client = openssl_leaf(
        &dir,
        "client",
        (&test_ca, &test_ca_key),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )?;
    let server = openssl_leaf(
        &dir,
        "server",
        (&test_ca, &test_ca_key),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:pinata.local\n",
    )?;
    let other_ca = dir.join("other-ca.crt");
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30"])
        .arg("-keyout")
        .arg(dir.join("other-ca.key"))
        .args(["-subj", "/CN=Another CA", "-out"])
        .arg(&other_ca))?;
    Ok(Setup { dir, pinata, load, test_ca, other_ca, client, server })
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// A server process under test; killed on drop.
struct Running {
    child: Child,
    ready: Option<Duration>,
    /// Console lines (the Piñata's log), drained so the server never blocks.
    lines: Option<mpsc::Receiver<String>>,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a console line containing `what`.
    fn wait_for(&mut self, what: &str, started: Instant) -> Result<(), String> {
        let lines = self.lines.as_ref().expect("a console");
        let mut seen = Vec::new();
        loop {
            let left = READY_LIMIT.saturating_sub(started.elapsed());
            match lines.recv_timeout(left) {
                Ok(l) if l.contains(what) => {
                    self.ready = Some(started.elapsed());
                    return Ok(());
                }
                Ok(l) => seen.push(l),
                Err(_) => {
                    return Err(format!("no `{what}` line within {READY_LIMIT:?}; output:\n{}", seen.join("\n")));
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` with its stdout read line by line into a channel (kept
/// draining for the process' lifetime).
fn spawn_logged(cmd: &mut Command) -> Result<Running, String> {
    let line = show(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `{line}`: {e}"))?;
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            // Once the receiver is gone, keep draining.
            let _ = tx.send(l);
        }
    });
    Ok(Running { child, ready: None, lines: Some(rx) })
}

fn start_pinata_unix(s: &Setup, case: Case, port: u16) -> Result<Running, String> {
    let mut ports = Vec::new();
    for _ in 0..4 {
        ports.push(free_port()?);
    }
    let mut cmd = Command::new(&s.pinata);
    cmd.arg(format!("--server-port={port}"))
        .arg(format!("--connect-back-port={}", ports[0]))
        .arg(format!("--client-port={}", ports[1]))
        .arg(format!("--http-port={}", ports[2]))
        .arg(format!("--https-port={}", ports[3]));
    match case {
        Case::Refused => cmd.arg("--secret=bench-secret-nobody-wins"),
        Case::Accepted => cmd.arg("--test"),
    };
    let started = Instant::now();
    let mut r = spawn_logged(&mut cmd)?;
    r.wait_for(" ready: ", started)?;
    Ok(r)
}

/// True when 127.0.0.1:`port` is in LISTEN state (from /proc/net/tcp).
fn listening(port: u16) -> bool {
    let needle = format!("0100007F:{port:04X} 00000000:0000 0A");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.contains(&needle))
}

fn start_openssl(s: &Setup, case: Case, port: u16) -> Result<Running, String> {
    let ca = match case {
        Case::Refused => &s.other_ca,
        Case::Accepted => &s.test_ca,
    };
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-quiet", "-accept", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(&s.server.0)
        .arg("-key")
        .arg(&s.server.1)
        .args(["-Verify", "1", "-verify_return_error", "-CAfile"])
        .arg(ca);
    let line = show(&cmd);
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `{line}`: {e}"))?;
    let mut r = Running { child, ready: None, lines: None };
    // s_server -quiet prints nothing: its listening socket is the readiness signal.
    while !listening(port) {
        if started.elapsed() > READY_LIMIT || r.child.try_wait().map_err(|e| e.to_string())?.is_some() {
            return Err(format!("`{line}` did not listen on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    r.ready = Some(started.elapsed());
    Ok(r)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command name (which may contain spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

/// VmHWM of a process, in KiB.
fn hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            l.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Runs the load tool (inside `ns` if given) against `addr` and measures `server`.
fn load(
    s: &Setup,
    o: &Options,
    ns: Option<&str>,
    addr: &str,
    case: Case,
    server: &Running,
    which: Server,
) -> Result<Sample, String> {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(&s.load);
            c
        }
        None => Command::new(&s.load),
    };
    cmd.args(["--connect", addr])
        .arg("--cert")
        .arg(&s.client.0)
        .arg("--key")
        .arg(&s.client.1)
        .args(["--workers", &o.workers.to_string(), "--seconds", &o.seconds.to_string()])
        .args(["--expect", case.expect()]);
    let cpu_before = cpu_seconds(server.pid());
    let line = show(&cmd);
    let out = cmd.output().map_err(|e| format!("cannot run `{line}`: {e}"))?;
    let cpu = cpu_seconds(server.pid()) - cpu_before;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout.lines().find(|l| l.starts_with("pinata-load:")).unwrap_or("");
    if !out.status.success() || result.is_empty() {
        return Err(format!(
            "{} {:?}: `{line}` failed ({}):\n{result}\n{}",
            which.label(),
            case,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let field = |name: &str| -> f64 {
        result.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok()).unwrap_or(0.0)
    };
    let handshakes = field(case.expect()) as u64;
    Ok(Sample {
        server: which,
        case,
        rate: field("rate"),
        handshakes,
        failed: field("failed") as u64,
        cpu_seconds: cpu,
        hwm_kib: hwm_kib(server.pid()),
        ready: server.ready,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// The hvt part: image, tender, a namespace with a tap.
struct Hvt {
    image: PathBuf,
    image_size: u64,
    tender: PathBuf,
    ns: String,
}

impl Hvt {
    fn prepare(root: &Path, smoke: bool) -> Result<Hvt, String> {
        let dist = root.join("dist/pinata.hvt");
        let image =
            if smoke && dist.is_file() { dist } else { crate::image::build_image(root, "pinata", "pinata", "pinata")? };
        let image_size = std::fs::metadata(&image).map_err(|e| format!("{}: {e}", image.display()))?.len();
        let mut cmd = cargo(root);
        cmd.args(["build", "--release", "-p", "tender"]);
        println!("$ {}", show(&cmd));
        if !cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?.success() {
            return Err("building the tender failed".into());
        }
        let tender = target_dir(root).join("release/tender");
        let ns = format!("xb-pinata-{}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &ns]))?;
        let hvt = Hvt { image, image_size, tender, ns };
        for args in [
            &["tuntap", "add", "tap0", "mode", "tap"][..],
            &["addr", "add", &format!("{HVT_HOST}/24"), "dev", "tap0"],
            &["link", "set", "tap0", "up"],
            &["link", "set", "lo", "up"],
        ] {
            run(Command::new("ip").args(["-n", &hvt.ns]).args(args))?;
        }
        Ok(hvt)
    }

    fn boot(&self, case: Case) -> Result<Running, String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(&self.tender)
            .args(["--engine=process", "--mem=32", "--net:service=tap0", "--"])
            .arg(&self.image)
            .arg(format!("--ipv4={HVT_GUEST}/24"));
        match case {
            Case::Refused => cmd.arg("--secret=bench-secret-nobody-wins"),
            Case::Accepted => cmd.arg("--test"),
        };
        let started = Instant::now();
        let mut r = spawn_logged(&mut cmd)?;
        r.wait_for(" ready: ", started)?;
        Ok(r)
    }
}

impl Drop for Hvt {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

fn measure(
    s: &Setup,
    o: &Options,
    hvt: Option<&Hvt>,
    which: Server,
    case: Case,
    samples: &mut Vec<Sample>,
) -> Result<(), String> {
    let sample = match which {
        Server::PinataUnix | Server::OpenSsl => {
            let port = free_port()?;
            let server = if which == Server::OpenSsl {
                start_openssl(s, case, port)?
            } else {
                start_pinata_unix(s, case, port)?
            };
            load(s, o, None, &format!("127.0.0.1:{port}"), case, &server, which)?
        }
        Server::PinataHvt => {
            let hvt = hvt.expect("hvt prepared");
            let server = hvt.boot(case)?;
            load(s, o, Some(&hvt.ns), &format!("{HVT_GUEST}:10000"), case, &server, which)?
        }
    };
    println!(
        "  {:<40} {:<8} {:>9.1} handshakes/s ({} in {} s, {} failed), server CPU {:.0} µs/handshake, VmHWM {:.1} MiB",
        which.label(),
        case.expect(),
        sample.rate,
        sample.handshakes,
        o.seconds,
        sample.failed,
        1e6 * sample.cpu_seconds / sample.handshakes.max(1) as f64,
        sample.hwm_kib as f64 / 1024.0
    );
    samples.push(sample);
    Ok(())
}

fn command_line(o: &Options, args: &[String]) -> String {
    let _ = o;
    let mut s = String::from("cargo xtask bench pinata");
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// `cargo xtask bench pinata ...`; `root` is the checkout.
pub fn bench_pinata(root: &Path, args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let setup = prepare(root, o.smoke)?;
    let hvt = if !o.hvt {
        println!("hvt part: skipped (--no-hvt)");
        None
    } else if !is_root() {
        println!("hvt part: skipped (needs root for the namespace and the tap; run as root or pass --no-hvt)");
        None
    } else {
        Some(Hvt::prepare(root, o.smoke)?)
    };
    println!(
        "TLS 1.3 full handshakes on the bounty port, ECDSA P-256 certificates, client certificate presented; \
         {} workers × {} s, {} round(s)",
        o.workers, o.seconds, o.rounds
    );
    let mut samples = Vec::new();
    for round in 0..o.rounds {
        println!("round {}/{}", round + 1, o.rounds);
        let order =
            if round % 2 == 0 { [Server::PinataUnix, Server::OpenSsl] } else { [Server::OpenSsl, Server::PinataUnix] };
        for case in [Case::Refused, Case::Accepted] {
            for which in order {
                measure(&setup, &o, None, which, case, &mut samples)?;
            }
            if let Some(h) = &hvt {
                measure(&setup, &o, Some(h), Server::PinataHvt, case, &mut samples)?;
            }
        }
    }
    report(&o, args, &samples, hvt.as_ref());
    Ok(())
}

fn report(o: &Options, args: &[String], samples: &[Sample], hvt: Option<&Hvt>) {
    let of = |server: Server, case: Case| samples.iter().filter(move |s| s.server == server && s.case == case);
    let rate = |server, case| median(of(server, case).map(|s| s.rate).collect());
    let cpu_us =
        |server, case| median(of(server, case).map(|s| 1e6 * s.cpu_seconds / s.handshakes.max(1) as f64).collect());
    let hwm = |server: Server| {
        samples.iter().filter(|s| s.server == server).map(|s| s.hwm_kib).max().unwrap_or(0) as f64 / 1024.0
    };
    let ready_ms = |server: Server| {
        median(
            samples
                .iter()
                .filter(|s| s.server == server)
                .filter_map(|s| s.ready)
                .map(|d| d.as_secs_f64() * 1e3)
                .collect(),
        )
    };
    println!();
    println!("## Piñata vs openssl s_server — `{}`", command_line(o, args));
    println!();
    println!(
        "| server | refused: handshakes/s | CPU µs/hs | accepted: handshakes/s | CPU µs/hs | VmHWM MiB | ready ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut servers = vec![Server::PinataUnix, Server::OpenSsl];
    if hvt.is_some() {
        servers.push(Server::PinataHvt);
    }
    for server in &servers {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
            server.label(),
            rate(*server, Case::Refused),
            cpu_us(*server, Case::Refused),
            rate(*server, Case::Accepted),
            cpu_us(*server, Case::Accepted),
            hwm(*server),
            ready_ms(*server)
        );
    }
    println!();
    let ratio = |case| rate(Server::PinataUnix, case) / rate(Server::OpenSsl, case);
    let (refused, accepted) = (ratio(Case::Refused), ratio(Case::Accepted));
    println!(
        "ratio Piñata (unix) / openssl, medians of handshakes/s: refused {refused:.2}×, accepted {accepted:.2}× \
         (goal ≥ 1.5×: {})",
        if refused >= 1.5 && accepted >= 1.5 { "met" } else { "NOT met" }
    );
    println!(
        "ratio of server CPU per handshake, openssl / Piñata (unix): refused {:.2}×, accepted {:.2}×",
        cpu_us(Server::OpenSsl, Case::Refused) / cpu_us(Server::PinataUnix, Case::Refused),
        cpu_us(Server::OpenSsl, Case::Accepted) / cpu_us(Server::PinataUnix, Case::Accepted)
    );
    if let Some(h) = hvt {
        println!(
            "image: {} bytes ({:.2} MB; goal ≤ 4 MB: {}); guest memory --mem=32 (goal ≤ 32 MB: {}); \
             tender VmHWM under load {:.1} MiB",
            h.image_size,
            h.image_size as f64 / 1e6,
            if h.image_size <= 4_000_000 { "met" } else { "NOT met" },
            if samples.iter().any(|s| s.server == Server::PinataHvt) { "met, served under load" } else { "not run" },
            hwm(Server::PinataHvt)
        );
    }
    if o.smoke {
        println!("(smoke run: proves the bench works; the figures mean nothing)");
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?.to_string();
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}
