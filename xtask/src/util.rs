//! Small helpers shared by the commands: errors, paths, running processes.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A failure of an xtask command: a message for the user and the exit code.
#[derive(Debug)]
pub struct Error {
    pub message: String,
    pub code: u8,
    pub show_usage: bool,
}

impl Error {
    /// A failure (exit code 1).
    pub fn msg(message: impl Display) -> Error {
        Error { message: message.to_string(), code: 1, show_usage: false }
    }
    /// A wrong command line (exit code 2, usage printed).
    pub fn usage(message: impl Display) -> Error {
        Error { message: message.to_string(), code: 2, show_usage: true }
    }
    /// Something that is not available yet (exit code 2, no usage).
    pub fn unavailable(message: impl Display) -> Error {
        Error { message: message.to_string(), code: 2, show_usage: false }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::msg(e)
    }
}

pub type Result<T = ()> = std::result::Result<T, Error>;

/// Adds context to errors.
pub trait Context<T> {
    fn context(self, what: impl Display) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| Error::msg(format!("{what}: {e}")))
    }
}

/// The root of the checkout (the workspace directory).
pub fn workspace_root() -> PathBuf {
    // xtask/ sits directly in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask has a parent directory").to_path_buf()
}

/// Cargo's target directory for this checkout: `$CARGO_TARGET_DIR` or `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { workspace_root().join(dir) }
        }
        _ => workspace_root().join("target"),
    }
}

/// A `cargo` command run from the workspace root, with the same cargo that runs us.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    // A CI clone is built once and thrown away: incremental caches only cost disk
    // (several GB over the test and hvt stages).
    if std::env::var_os("CI").is_some() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

/// Renders a command line for messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    if s.ends_with("/cargo") {
        s = "cargo".into();
    }
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(' ') {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// Runs a command with inherited stdio, echoing it first; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result {
    let line = show(cmd);
    println!("$ {line}");
    let status = cmd.status().context(format!("cannot start `{line}`"))?;
    if status.success() { Ok(()) } else { Err(Error::msg(format!("`{line}` failed ({status})"))) }
}

/// Runs a command quietly and returns its stdout; fails (with its stderr) on a non-zero exit.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = show(cmd);
    let out = cmd.output().context(format!("cannot start `{line}`"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::msg(format!("`{line}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// True when a program is on `PATH`.
pub fn have_program(name: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|dir| dir.join(name).is_file())
}

/// True when the process runs as root (effective uid 0), read from /proc without libc.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            // Uid: real effective saved fs
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// `1m05.3s` / `4.2s` style durations.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 { format!("{}m{:04.1}s", (s / 60.0) as u64, s % 60.0) } else { format!("{s:.1}s") }
}

/// Network namespaces made by a bench, deleted (with what is in them) on drop.
pub struct Netns(Vec<String>);

impl Netns {
    /// Creates `names` afresh (deleting leftovers of an interrupted run) with `lo` up.
    pub fn create(names: &[&str]) -> Result<Netns> {
        for n in names {
            let _ = Command::new("ip").args(["netns", "del", n]).stderr(std::process::Stdio::null()).status();
        }
        let mut made = Netns(Vec::new());
        for n in names {
            output(Command::new("ip").args(["netns", "add", n]))?;
            made.0.push(n.to_string());
            output(Command::new("ip").args(["-n", n, "link", "set", "lo", "up"]))?;
        }
        Ok(made)
    }

    /// `ip -n NS ARGS…`.
    pub fn ip(&self, ns: &str, args: &[&str]) -> Result {
        output(Command::new("ip").args(["-n", ns]).args(args)).map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// The median of samples (the upper one of an even count); 0 for none.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
