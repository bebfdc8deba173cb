//! `cargo xtask bench tender [--smoke] [--runs N] [--peer PATH] [--tender PATH] [--guest PATH]`
//!
//! Boot-to-exit time of the `hello` test guest (platform/hvt/guests) under our tender's
//! `kvm` and `process` engines and, with `--peer PATH` (an upstream `solo5-hvt`), under
//! the peer on the same image. Runs alternate (kvm, process, peer, kvm, ...) so that drift
//! in the machine's load hits every contender alike; each time is spawn-to-reap of the
//! tender process, output discarded. Also prints each binary's size (as built and
//! stripped with `strip`) and peak RSS (`/usr/bin/time -f %M`, GNU time, when present).
//!
//! On this project's development machines KVM emulates every guest instruction, so the
//! `kvm` figures measure that emulator: compare them only with the peer's on the same
//! machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: cargo xtask bench tender [--smoke] [--runs N] [--peer PATH] [--tender PATH] [--guest PATH]";

struct Opts {
    runs: usize,
    rss_runs: usize,
    peer: Option<PathBuf>,
    tender: Option<PathBuf>,
    guest: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts { runs: 200, rss_runs: 5, peer: None, tender: None, guest: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match a.as_str() {
            "--smoke" => {
                o.runs = 3;
                o.rss_runs = 1;
            }
            "--runs" => {
                o.runs = value("--runs")?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--runs needs a positive number\n{USAGE}"))?;
            }
            "--peer" => o.peer = Some(PathBuf::from(value("--peer")?)),
            "--tender" => o.tender = Some(PathBuf::from(value("--tender")?)),
            "--guest" => o.guest = Some(PathBuf::from(value("--guest")?)),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    Ok(o)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<(), String> {
    let st = cmd.status().map_err(|e| format!("{what}: {e}"))?;
    if st.success() { Ok(()) } else { Err(format!("{what} failed: {st}")) }
}

/// Builds the tender (release) and returns its path.
fn build_tender(root: &Path) -> Result<PathBuf, String> {
    run_ok(
        cargo().current_dir(root).args(["build", "--release", "-p", "tender", "--bin", "tender"]),
        "building tender",
    )?;
    Ok(target_dir(root).join("release/tender"))
}

/// Builds the soft-float test guests and returns the `hello` image.
fn build_hello(root: &Path) -> Result<PathBuf, String> {
    let guests = root.join("platform/hvt/guests");
    let target = target_dir(root).join("hvt-test-guests");
    run_ok(
        cargo()
            .current_dir(&guests)
            .args(["build", "--release", "--bin", "hello", "--target", "x86_64-unknown-none"])
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
        "building the hvt test guests (needs `rustup target add x86_64-unknown-none`)",
    )?;
    Ok(target.join("x86_64-unknown-none/release/hello"))
}

struct Contender {
    label: &'static str,
    argv: Vec<String>,
    times: Vec<Duration>,
}

/// One boot-to-exit run: spawn, wait, check the guest said SUCCESS.
fn one_run(argv: &[String]) -> Result<Duration, String> {
    let t0 = Instant::now();
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    let dt = t0.elapsed();
    if !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("SUCCESS") {
        return Err(format!(
            "`{}` did not boot the guest: {}\n{}{}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(dt)
}

/// Peak RSS in KiB of one run, via GNU time; `None` when /usr/bin/time is missing.
fn peak_rss_kib(argv: &[String]) -> Result<Option<u64>, String> {
    if !Path::new("/usr/bin/time").exists() {
        return Ok(None);
    }
    let out = Command::new("/usr/bin/time")
        .args(["-f", "XTASK_MAXRSS=%M"])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("/usr/bin/time: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    let kib = err
        .lines()
        .find_map(|l| l.strip_prefix("XTASK_MAXRSS="))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no RSS figure from /usr/bin/time: {err}"))?;
    Ok(Some(kib))
}

/// Size of `path` as is and after `strip` (into a temporary copy), in bytes.
fn sizes(path: &Path) -> Result<(u64, Option<u64>), String> {
    let raw = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
    let tmp = std::env::temp_dir().join(format!("xtask-bench-strip-{}", std::process::id()));
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&tmp)
        .arg(path)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&tmp).ok())
        .map(|m| m.len());
    let _ = std::fs::remove_file(&tmp);
    Ok((raw, stripped))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2 }
}

/// `cargo xtask bench tender ...`
pub fn bench_tender(root: &Path, args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let tender = match &o.tender {
        Some(p) => p.clone(),
        None => build_tender(root)?,
    };
    let hello = match &o.guest {
        Some(p) => p.clone(),
        None => build_hello(root)?,
    };
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut cs = vec![
        Contender {
            label: "ours, engine kvm",
            argv: vec![s(&tender), "--engine=kvm".into(), s(&hello)],
            times: vec![],
        },
        Contender {
            label: "ours, engine process",
            argv: vec![s(&tender), "--engine=process".into(), s(&hello)],
            times: vec![],
        },
    ];
    if let Some(peer) = &o.peer {
        cs.push(Contender { label: "peer (upstream solo5-hvt)", argv: vec![s(peer), s(&hello)], times: vec![] });
    }
    // Warm-up (page cache, KVM module state), then alternate.
    for c in &cs {
        one_run(&c.argv)?;
    }
    for _ in 0..o.runs {
        for c in cs.iter_mut() {
            let t = one_run(&c.argv)?;
            c.times.push(t);
        }
    }
    println!("tender bench: boot-to-exit of {} ({} runs each, alternating)", hello.display(), o.runs);
    println!("{:<28} {:>10} {:>10} {:>10}", "", "median ms", "min ms", "max ms");
    let mut medians = Vec::new();
    for c in cs.iter_mut() {
        c.times.sort();
        let m = median(&c.times);
        medians.push(m);
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>10.3}",
            c.label,
            ms(m),
            ms(c.times[0]),
            ms(*c.times.last().expect("runs > 0"))
        );
    }
    if o.peer.is_some() {
        let ratio = medians[0].as_secs_f64() / medians[2].as_secs_f64();
        println!(
            "ratio ours kvm / peer (median): {ratio:.3} — goal <= 1: {}",
            if ratio <= 1.0 { "met" } else { "NOT met" }
        );
        println!("ratio ours process / peer (median): {:.3}", medians[1].as_secs_f64() / medians[2].as_secs_f64());
    }

    let (ours_raw, ours_stripped) = sizes(&tender)?;
    let fmt = |v: Option<u64>| v.map_or("n/a (no strip)".to_string(), |b| format!("{b} B"));
    println!("binary size: ours {ours_raw} B as built, {} stripped", fmt(ours_stripped));
    if let Some(peer) = &o.peer {
        let (peer_raw, peer_stripped) = sizes(peer)?;
        println!("binary size: peer {peer_raw} B as built, {} stripped", fmt(peer_stripped));
        if let (Some(a), Some(b)) = (ours_stripped, peer_stripped) {
            let r = a as f64 / b as f64;
            println!(
                "ratio ours / peer (both stripped): {r:.2} — goal <= 2: {}",
                if r <= 2.0 { "met" } else { "NOT met" }
            );
        }
    }

    for c in &cs {
        let mut peak = None;
        for _ in 0..o.rss_runs {
            match peak_rss_kib(&c.argv)? {
                Some(k) => peak = Some(peak.map_or(k, |p: u64| p.max(k))),
                None => break,
            }
        }
        match peak {
            Some(k) => println!("peak RSS {:<28} {k} KiB (max of {} runs)", c.label, o.rss_runs),
            None => println!("peak RSS {:<28} n/a (/usr/bin/time missing: install the `time` package)", c.label),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = parse(&a(&["--smoke", "--peer", "/x/solo5-hvt"])).unwrap();
        assert_eq!(o.runs, 3);
        assert_eq!(o.peer.as_deref(), Some(Path::new("/x/solo5-hvt")));
        assert_eq!(parse(&a(&["--runs", "50"])).unwrap().runs, 50);
        assert!(parse(&a(&["--runs", "0"])).is_err());
        assert!(parse(&a(&["--bogus"])).is_err());
        let d = [Duration::from_millis(3), Duration::from_millis(1), Duration::from_millis(2)];
        let mut d = d.to_vec();
        d.sort();
        assert_eq!(median(&d), Duration::from_millis(2));
    }

    /// Runs the real bench in smoke mode (builds the tender and the guests; needs /dev/kvm).
    /// `XTASK_BENCH_TENDER_PEER=PATH` adds an upstream solo5-hvt as the peer.
    #[test]
    #[ignore = "runs the real bench: cargo test -p xtask -- --ignored bench_tender"]
    fn smoke() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut args = vec!["--smoke".to_string()];
        if let Some(p) = std::env::var_os("XTASK_BENCH_TENDER_PEER") {
            args.extend(["--peer".to_string(), p.to_string_lossy().into_owned()]);
        }
        bench_tender(root, &args).unwrap();
    }
}
