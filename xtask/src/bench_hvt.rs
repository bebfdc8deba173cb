//! `cargo xtask bench hvt`: what running as an hvt image costs at start-up.
//!
//! The `hello` appliance (platform/contract/src/bin/hello.rs: one log line, then exit)
//! runs alternately as an image under the tender's process engine and as a plain unix
//! process, and we time from spawn to its first console line and to its exit. Then the
//! size of every appliance image. Runs alternate A B A B so that drift in the machine's
//! speed hits both alike; medians are quoted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::image;

struct Options {
    runs: usize,
    all_images: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { runs: 50, all_images: true };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => {
                o.runs = 3;
                o.all_images = false;
            }
            "--runs" => {
                let v = it.next().ok_or("--runs needs a number")?;
                o.runs = v.parse().map_err(|_| format!("--runs: `{v}` is not a number"))?;
            }
            other => return Err(format!("unknown option `{other}` for bench hvt (--smoke, --runs N)")),
        }
    }
    if o.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(o)
}

/// One run: time to the first line on stdout, and to exit.
fn time_once(cmd: &mut Command) -> Result<(Duration, Duration), String> {
    let start = Instant::now();
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line).map_err(|e| e.to_string())?;
    let first = start.elapsed();
    std::io::copy(&mut out, &mut std::io::sink()).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let exit = start.elapsed();
    if !status.success() || line.is_empty() {
        return Err(format!("{cmd:?} failed ({status}); first line {line:?}"));
    }
    Ok((first, exit))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn release_binary(root: &Path, pkg: &str, bin: &str) -> Result<PathBuf, String> {
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["build", "--release", "-p", pkg, "--bin", bin])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building {bin} failed ({status})"));
    }
    Ok(crate::util::target_dir().join("release").join(bin))
}

pub fn bench_hvt(root: &Path, args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let tender = release_binary(root, "tender", "tender")?;
    let unix_hello = release_binary(root, "platform-contract", "hello")?;
    let hvt_hello = image::build_image(root, "platform-contract", "hello", "hello")?;
    let mut hvt = (Vec::new(), Vec::new());
    let mut unix = (Vec::new(), Vec::new());
    for _ in 0..o.runs {
        let (f, e) = time_once(Command::new(&tender).args(["--engine=process", "--"]).arg(&hvt_hello))?;
        hvt.0.push(f);
        hvt.1.push(e);
        let (f, e) = time_once(&mut Command::new(&unix_hello))?;
        unix.0.push(f);
        unix.1.push(e);
    }
    let (hf, he) = (median(&mut hvt.0), median(&mut hvt.1));
    let (uf, ue) = (median(&mut unix.0), median(&mut unix.1));
    println!("\nbench hvt: hello, {} alternating runs each (medians)", o.runs);
    println!("  {:<38} {:>16} {:>14}", "", "to first line", "to exit");
    println!("  {:<38} {:>16} {:>14}", "hvt image, tender --engine=process", ms(hf), ms(he));
    println!("  {:<38} {:>16} {:>14}", "unix process", ms(uf), ms(ue));
    println!(
        "  {:<38} {:>16} {:>14}",
        "ratio hvt / unix",
        format!("{:.2}", hf.as_secs_f64() / uf.as_secs_f64()),
        format!("{:.2}", he.as_secs_f64() / ue.as_secs_f64())
    );
    if o.all_images {
        for (name, pkg, bin) in image::IMAGES {
            image::build_image(root, pkg, bin, name)?;
        }
    }
    println!("\nimage sizes (dist/):");
    let mut entries: Vec<_> = std::fs::read_dir(root.join("dist"))
        .map_err(|e| format!("dist/: {e}"))?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "hvt"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let size = e.metadata().map_err(|e| e.to_string())?.len();
        println!("  {:<20} {:>10} bytes ({:.2} MB)", e.file_name().to_string_lossy(), size, size as f64 / 1e6);
    }
    Ok(())
}
