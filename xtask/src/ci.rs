//! `cargo xtask ci`: the test command. Stages run in order, each with a header
//! and its wall time; the first failure stops the run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::util::{self, Error, Result};
use crate::{bench, setup};

/// The stages, in the order they run.
const STAGES: &[(&str, &str)] = &[
    ("setup", "rustup targets and Debian packages the tests need"),
    ("fmt", "cargo fmt --all --check, and each fuzz crate's"),
    ("clippy", "cargo clippy --workspace --all-targets -- -D warnings"),
    ("test", "cargo test --workspace, and each fuzz crate's targets over its seeds (stable, no libFuzzer)"),
    ("hvt", "hvt test guests, reproducible appliance images, the contract on an image under the tender"),
    ("bench-smoke", "cargo xtask bench netstack|tender|hvt|pinata|dhcp|dns --smoke"),
];

enum Outcome {
    Passed,
    Skipped(String),
    Failed(String),
    NotRun,
}

pub fn main(args: &[String]) -> Result {
    let mut skip_setup = false;
    let mut only: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--skip-setup" => skip_setup = true,
            "--only" => {
                let v = it.next().ok_or_else(|| Error::usage("--only needs a stage name"))?;
                only.extend(v.split(',').map(str::to_owned));
            }
            s if s.starts_with("--only=") => only.extend(s["--only=".len()..].split(',').map(str::to_owned)),
            other => return Err(Error::usage(format!("unknown option to `ci`: `{other}`"))),
        }
    }
    for name in &only {
        if !STAGES.iter().any(|(n, _)| n == name) {
            let names: Vec<&str> = STAGES.iter().map(|(n, _)| *n).collect();
            return Err(Error::usage(format!("unknown stage `{name}`; stages are {}", names.join(", "))));
        }
    }
    let selected = |name: &str| {
        if only.is_empty() { !(skip_setup && name == "setup") } else { only.iter().any(|o| o == name) }
    };

    report_free_disk();
    let started = Instant::now();
    let mut outcomes: Vec<(&str, Outcome, f64)> = Vec::new();
    let mut failed = false;
    let total = STAGES.len();
    for (i, (name, what)) in STAGES.iter().enumerate() {
        if !selected(name) {
            outcomes.push((name, Outcome::Skipped("not selected".into()), 0.0));
            continue;
        }
        if failed {
            outcomes.push((name, Outcome::NotRun, 0.0));
            continue;
        }
        println!("\n==== [{}/{total}] {name}: {what} ====", i + 1);
        let t = Instant::now();
        let outcome = run_stage(name);
        let secs = t.elapsed().as_secs_f64();
        match &outcome {
            Outcome::Passed => println!("==== {name}: passed in {} ====", util::fmt_duration(t.elapsed())),
            Outcome::Skipped(why) => println!("==== {name}: skipped: {why} ===="),
            Outcome::Failed(why) => {
                println!("==== {name}: FAILED after {}: {why} ====", util::fmt_duration(t.elapsed()));
                failed = true;
            }
            Outcome::NotRun => {}
        }
        outcomes.push((name, outcome, secs));
    }

    println!("\n==== summary ====");
    let (mut passed, mut skipped, mut nfailed, mut not_run) = (0, 0, 0, 0);
    for (name, outcome, secs) in &outcomes {
        let time = util::fmt_duration(std::time::Duration::from_secs_f64(*secs));
        match outcome {
            Outcome::Passed => {
                passed += 1;
                println!("  {name:<12} passed   {time:>8}");
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                println!("  {name:<12} skipped  {:>8}  ({why})", "");
            }
            Outcome::Failed(why) => {
                nfailed += 1;
                println!("  {name:<12} FAILED   {time:>8}  ({why})");
            }
            Outcome::NotRun => {
                not_run += 1;
                println!("  {name:<12} not run (an earlier stage failed)");
            }
        }
    }
    let mut line = format!("ci: {passed} passed, {nfailed} failed, {skipped} skipped");
    if not_run > 0 {
        line.push_str(&format!(", {not_run} not run"));
    }
    println!("{line} (total {})", util::fmt_duration(started.elapsed()));
    if nfailed > 0 { Err(Error::msg("ci failed")) } else { Ok(()) }
}

/// A full run writes about 10 GB under `target/`; the disk of a shared machine can be
/// nearly full, and a link that fails with "No space left on device" reads like a
/// build bug. Say up front how much room there is.
fn report_free_disk() {
    const NEEDED_GB: u64 = 12;
    let root = util::workspace_root();
    let Ok(df) = util::output(Command::new("df").args(["-Pk"]).arg(&root)) else { return };
    let Some(free_kb) = df.lines().nth(1).and_then(|l| l.split_whitespace().nth(3)).and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let free_gb = free_kb / (1024 * 1024);
    println!("ci: {free_gb} GB free on the disk holding {}", root.display());
    if free_gb < NEEDED_GB {
        println!(
            "ci: warning: a full run needs about {NEEDED_GB} GB; builds may fail with \"No space left on device\""
        );
    }
}

fn run_stage(name: &str) -> Outcome {
    let result = match name {
        "setup" => setup::setup(),
        "fmt" => fmt_stage(),
        "clippy" => util::run(util::cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])),
        "test" => test_stage(),
        "hvt" => return hvt_stage(),
        "bench-smoke" => bench::netstack(&bench::Options::smoke())
            .and_then(|()| bench::main(&["tender".to_string(), "--smoke".to_string()]))
            .and_then(|()| bench::main(&["hvt".to_string(), "--smoke".to_string()]))
            .and_then(|()| bench::main(&["pinata".to_string(), "--smoke".to_string()]))
            .and_then(|()| bench::main(&["dhcp".to_string(), "--smoke".to_string()]))
            .and_then(|()| bench::main(&["dns".to_string(), "--smoke".to_string()])),
        _ => unreachable!("stage names are checked"),
    };
    match result {
        Ok(()) => Outcome::Passed,
        Err(e) => Outcome::Failed(e.message),
    }
}

/// The fuzz crates: cargo workspaces of their own (cargo-fuzz builds their targets on
/// nightly), so `--workspace` misses them. Each target's body is a function of the
/// crate's library that `tests/seeds.rs` runs over `seeds/<target>/`; without the
/// default feature the crate builds on stable and never compiles libFuzzer.
const FUZZ_CRATES: &[&str] = &["tender/fuzz", "appliances/dhcp/fuzz", "appliances/dns/fuzz", "appliances/pinata/fuzz"];

fn fuzz_manifest(dir: &str) -> std::path::PathBuf {
    util::workspace_root().join(dir).join("Cargo.toml")
}

fn fmt_stage() -> Result {
    let hint = |e: Error| Error::msg(format!("{}; run `cargo fmt --all` (and in each fuzz crate) to fix", e.message));
    util::run(util::cargo().args(["fmt", "--all", "--check"])).map_err(hint)?;
    for dir in FUZZ_CRATES {
        util::run(util::cargo().args(["fmt", "--check", "--manifest-path"]).arg(fuzz_manifest(dir))).map_err(hint)?;
    }
    Ok(())
}

/// The workspace's tests, then the fuzz crates' seed tests, built into the same target
/// directory so that the dependencies they share with the workspace are reused.
fn test_stage() -> Result {
    util::run(util::cargo().args(["test", "--workspace"]))?;
    for dir in FUZZ_CRATES {
        let mut test = util::cargo();
        test.args(["test", "--no-default-features", "--manifest-path"])
            .arg(fuzz_manifest(dir))
            .arg("--target-dir")
            .arg(util::target_dir());
        util::run(&mut test)?;
    }
    Ok(())
}

/// The hvt stage: skipped while the hvt backend has no test guests yet.
fn hvt_stage() -> Outcome {
    let guests = util::workspace_root().join("platform/hvt/guests");
    if !guests.is_dir() {
        return Outcome::Skipped(
            "platform/hvt/guests does not exist yet (the hvt backend and the tender come with their own issue)".into(),
        );
    }
    match hvt_guests(&guests).and_then(|()| hvt_images()) {
        Ok(()) => Outcome::Passed,
        Err(e) => Outcome::Failed(e.message),
    }
}

/// Builds every appliance image (twice, from two directories, to prove the
/// build reproducible), then boots the contract server image under the
/// tender's process engine and runs the platform contract against it. The
/// tender binary is the one the `test` stage built.
fn hvt_images() -> Result {
    crate::image::main(&["--check-reproducible".to_string()])?;
    let root = util::workspace_root();
    let tender = util::target_dir().join("debug/tender");
    if !tender.is_file() {
        util::run(util::cargo().args(["build", "-p", "tender"]))?;
    }
    // Each appliance's end-to-end tests against its image (ignored in the `test` stage,
    // which runs before images exist).
    for (package, image_var, image) in [
        ("platform-contract", "HVT_CONTRACT_IMAGE", "contract"),
        ("pinata", "HVT_PINATA_IMAGE", "pinata"),
        ("dhcp", "HVT_DHCP_IMAGE", "dhcp"),
        ("dns", "HVT_DNS_IMAGE", "dns"),
    ] {
        let mut test = util::cargo();
        test.args(["test", "-p", package, "--test", "hvt", "--", "--ignored"])
            .env("HVT_TENDER", &tender)
            .env(image_var, root.join("dist").join(format!("{image}.hvt")));
        util::run(&mut test)?;
    }
    catalogue(&root, &tender)
}

/// Publishes the images just built into a catalogue twice (the two must be
/// byte-identical: no timestamps, deterministic signatures), then runs the
/// `appliance` tool's end-to-end tests against it.
fn catalogue(root: &Path, tender: &Path) -> Result {
    let dir = util::target_dir().join("ci-catalogue");
    let key = util::target_dir().join("ci-publisher.pk8");
    let (first, second) = (dir.join("a"), dir.join("b"));
    crate::publish::publish(root, &first, &key, true)?;
    crate::publish::publish(root, &second, &key, true)?;
    for f in ["catalogue.json", "catalogue.json.sig"] {
        if std::fs::read(first.join(f))? != std::fs::read(second.join(f))? {
            return Err(Error::msg(format!("two publishes of the same images gave different {f}")));
        }
    }
    println!("catalogue: two publishes gave identical catalogue.json and signature");
    let mut test = util::cargo();
    test.args(["test", "-p", "appliance", "--test", "e2e", "--", "--ignored"])
        .env("APPLIANCE_TEST_CATALOGUE", &first)
        .env("APPLIANCE_TEST_KEY", &key)
        .env("HVT_TENDER", tender);
    util::run(&mut test)
}

/// The hvt stage proper: the test guests are a cargo workspace of their own
/// (see platform/hvt/guests/README.md), so the workspace's fmt and clippy stages
/// don't see them. Lints and builds them into `<target>/hvt-test-guests`, the
/// directory the tender's tests build them into too (so the test stage's build
/// is reused), and checks that every image exists. (Not copied to `dist/`:
/// `dist/SHA256SUMS` covers every `dist/*.hvt`, and test guests are no release.)
///
/// The tender's own tests boot these guests; the tender is a workspace member,
/// so they run in the `test` stage.
fn hvt_guests(guests: &Path) -> Result {
    let target_dir = util::target_dir().join("hvt-test-guests");
    // Run in the guests' directory so that their .cargo/config.toml (target
    // x86_64-unknown-none, static relocation model) applies.
    let guest_cargo = |args: &[&str]| {
        let mut cmd = util::cargo();
        cmd.current_dir(guests).args(args);
        cmd
    };
    util::run(&mut guest_cargo(&["fmt", "--check"]))?;
    let mut clippy = guest_cargo(&["clippy", "--release", "--all-targets", "--target-dir"]);
    util::run(clippy.arg(&target_dir).args(["--", "-D", "warnings"]))?;
    util::run(guest_cargo(&["build", "--release", "--target-dir"]).arg(&target_dir))?;

    let images = target_dir.join("x86_64-unknown-none/release");
    let names = bin_names(&std::fs::read_to_string(guests.join("Cargo.toml"))?);
    if names.is_empty() {
        return Err(Error::msg(format!("no [[bin]] in {}", guests.join("Cargo.toml").display())));
    }
    for name in &names {
        let image = images.join(name);
        if !image.is_file() {
            return Err(Error::msg(format!("guest {name} was built but {} is missing", image.display())));
        }
    }
    println!("hvt test guests in {}: {}", images.display(), names.join(", "));
    Ok(())
}

/// The `name`s of the `[[bin]]` tables of a Cargo.toml.
fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin
            && let Some(rest) = line.strip_prefix("name")
            && let Some(value) = rest.trim_start().strip_prefix('=')
        {
            names.push(value.trim().trim_matches('"').to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::{FUZZ_CRATES, bin_names};
    use crate::util;

    #[test]
    fn bin_names_reads_only_bin_tables() {
        let manifest = "[package]\nname = \"pkg\"\n\n[[bin]]\nname = \"hello\"\npath = \"a.rs\"\n\n[[bin]]\n\
                        path = \"b.rs\"\nname=\"net\"\n\n[dependencies]\nname = \"x\"\n";
        assert_eq!(bin_names(manifest), ["hello", "net"]);
    }

    /// Every fuzz crate in the tree (a `fuzz/Cargo.toml` one or two levels down, as
    /// cargo-fuzz lays them out) is in `FUZZ_CRATES`, so a new one is not left out of CI.
    #[test]
    fn every_fuzz_crate_is_tested() {
        let root = util::workspace_root();
        let mut found = Vec::new();
        for top in ["appliances", "platform", "tender", "catalogue"] {
            let top_dir = root.join(top);
            let mut dirs = vec![top_dir.clone()];
            if let Ok(entries) = std::fs::read_dir(&top_dir) {
                dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
            for d in dirs {
                if d.join("fuzz/Cargo.toml").is_file() {
                    found.push(d.join("fuzz").strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = FUZZ_CRATES.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }
}
