//! `cargo xtask publish [--out DIR] [--key FILE] [--prebuilt]`: the catalogue.
//!
//! For every appliance image of [`crate::image::IMAGES`] (the platform's test
//! programs excluded) it builds the image reproducibly (or, with `--prebuilt`,
//! takes the one in `dist/`), checks it, reads its boot arguments and one-line
//! purpose from the appliance's own `--help`, and writes
//! `DIR/images/NAME-VERSION.hvt` and `DIR/catalogue.json` (format: catalogue/src/lib.rs).
//! The `appliance-sign` binary of the catalogue crate then checks the directory
//! and signs it with Ed25519 (`DIR/catalogue.json.sig`); the signing code lives
//! there so that xtask keeps no dependencies.
//!
//! The key: `--key FILE` (PKCS#8), else `$APPLIANCE_PUBLISH_KEY`, else a local
//! publisher key made once in `$XDG_CONFIG_HOME/appliance/publisher.pk8`. The
//! catalogue has no timestamp, so publishing one commit twice gives the same bytes.

use std::path::{Path, PathBuf};

use crate::image::{self, IMAGES};
use crate::util::{self, Context as _, Error, Result};

/// Packages in IMAGES that are the platform's test programs, not appliances.
const NOT_APPLIANCES: &[&str] = &["platform-contract"];

pub fn main(args: &[String]) -> Result {
    let root = util::workspace_root();
    let mut out = root.join("dist/catalogue");
    let mut key = None;
    let mut prebuilt = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(it.next().ok_or_else(|| Error::usage("--out needs a directory"))?),
            "--key" => key = Some(PathBuf::from(it.next().ok_or_else(|| Error::usage("--key needs a file"))?)),
            "--prebuilt" => prebuilt = true,
            other => return Err(Error::usage(format!("unknown option `{other}` for publish"))),
        }
    }
    let key = key.or_else(|| std::env::var_os("APPLIANCE_PUBLISH_KEY").map(PathBuf::from)).unwrap_or_else(default_key);
    let public_key = publish(&root, &out, &key, prebuilt)?;
    println!("published {} (signed with {})", out.display(), key.display());
    println!("public key: {public_key}");
    println!("to use it:  export APPLIANCE_PUBLIC_KEY={public_key}");
    println!(
        "            python3 -m http.server --directory {} 8417 &   # the tool's default catalogue",
        out.display()
    );
    println!("            appliance list");
    Ok(())
}

fn default_key() -> PathBuf {
    let config = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".config"),
    };
    config.join("appliance/publisher.pk8")
}

/// Writes and signs the catalogue in `out`; returns the public key (base64).
pub fn publish(root: &Path, out: &Path, key: &Path, prebuilt: bool) -> Result<String> {
    let version = workspace_version(root)?;
    let commit = util::output(git(root).args(["rev-parse", "HEAD"]))?.trim().to_string();
    let dirty = !util::output(git(root).args(["status", "--porcelain", "--untracked-files=no"]))?.trim().is_empty();
    let lock = image::sha256_hex(&std::fs::read(root.join("Cargo.lock")).context("Cargo.lock")?);
    if out.exists() {
        std::fs::remove_dir_all(out).context(format!("cannot clear {}", out.display()))?;
    }
    std::fs::create_dir_all(out.join("images"))?;
    let mut entries = Vec::new();
    for &(name, pkg, bin) in IMAGES.iter().filter(|(_, pkg, _)| !NOT_APPLIANCES.contains(pkg)) {
        let path = if prebuilt {
            let p = root.join("dist").join(format!("{name}.hvt"));
            if !p.is_file() {
                return Err(Error::msg(format!("--prebuilt: {} is missing; run `cargo xtask image`", p.display())));
            }
            p
        } else {
            image::build_image(root, pkg, bin, name).map_err(Error::msg)?
        };
        let report = image::check_image(&path).map_err(Error::msg)?;
        let (purpose, args) = describe(pkg, bin, name)?;
        let file = format!("images/{name}-{version}.hvt");
        std::fs::copy(&path, out.join(&file)).context(format!("cannot copy {}", path.display()))?;
        let devices: Vec<String> = report
            .devices
            .iter()
            .map(|(n, t)| {
                format!("{{\"name\": {}, \"kind\": {}}}", json(n), json(if *t == 1 { "block" } else { "net" }))
            })
            .collect();
        entries.push(format!(
            "    {{\n      \"name\": {},\n      \"version\": {},\n      \"purpose\": {},\n      \"image\": {},\n      \
             \"sha256\": {},\n      \"size\": {},\n      \"source_commit\": {},\n      \"source_dirty\": {dirty},\n      \
             \"cargo_lock_sha256\": {},\n      \"devices\": [{}],\n      \"args\": [\n{}\n      ],\n      \
             \"targets\": [\"hvt\", \"unix\"]\n    }}",
            json(name),
            json(&version),
            json(&purpose),
            json(&file),
            json(&report.sha256),
            report.size,
            json(&commit),
            json(&lock),
            devices.join(", "),
            args.join(",\n"),
        ));
        println!("{}", report.summary());
    }
    let catalogue = format!("{{\n  \"format\": 1,\n  \"appliances\": [\n{}\n  ]\n}}\n", entries.join(",\n"));
    std::fs::write(out.join("catalogue.json"), catalogue)?;
    let signer =
        util::output(util::cargo().args(["run", "-q", "-p", "appliance", "--bin", "appliance-sign", "--"]).args([
            "--generate".as_ref(),
            "--key".as_ref(),
            key.as_os_str(),
            out.as_os_str(),
        ]))?;
    Ok(signer.trim().to_string())
}

fn git(root: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(root);
    cmd
}

/// `[workspace.package] version` of the root Cargo.toml.
fn workspace_version(root: &Path) -> Result<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package && let Some(v) = line.strip_prefix("version") {
            return Ok(v.trim_start_matches([' ', '=']).trim_matches('"').to_string());
        }
    }
    Err(Error::msg("no version in [workspace.package] of Cargo.toml"))
}

/// The appliance's purpose and its argument table (as JSON objects), from the
/// `--help` of its unix build: the same descriptor the image was built from.
fn describe(pkg: &str, bin: &str, name: &str) -> Result<(String, Vec<String>)> {
    util::run(util::cargo().args(["build", "-q", "-p", pkg, "--bin", bin]))?;
    let exe = util::target_dir().join("debug").join(bin);
    let help = util::output(std::process::Command::new(&exe).arg("--help"))?;
    let purpose = help
        .lines()
        .next()
        .and_then(|l| l.split_once(" — "))
        .map(|(_, p)| p.trim().to_string())
        .ok_or_else(|| Error::msg(format!("{name} --help does not start with `NAME — purpose`")))?;
    let mut args = Vec::new();
    let mut in_table = false;
    for line in help.lines() {
        if line.trim() == "arguments:" {
            in_table = true;
        } else if in_table && line.trim_start().starts_with('-') {
            // platform::args::help_text: `[-X, ]--name[=METAVAR]`, padding, the help.
            let line = line.trim();
            let short = if line.as_bytes().get(2..4) == Some(b", ") { 4 } else { 0 };
            let end = line[short..].find(' ').map_or(line.len(), |i| i + short);
            let (usage, text) = line.split_at(end);
            args.push(format!("        {{\"usage\": {}, \"help\": {}}}", json(usage.trim()), json(text.trim())));
        }
    }
    if args.is_empty() {
        return Err(Error::msg(format!("{name} --help lists no arguments")));
    }
    Ok((purpose, args))
}

/// A JSON string literal.
fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(super::json("a \"b\" \\ c\n\u{1}é"), "\"a \\\"b\\\" \\\\ c\\n\\u0001é\"");
    }
}
