//! Real git servers for tests: a bare repository made with the git CLI,
//! `git daemon` (git://, push enabled) and `git_http_server.py` (smart
//! HTTP(S) via `git http-backend`), on 127.0.0.1 or inside a [`NetNs`].
//! Both servers are killed on drop and waited for by a readiness signal (a
//! port accepting, a line), never a sleep. Needs the Debian packages `git`
//! and `python3`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::netns::NetNs;
use crate::proc::Proc;
use crate::tool::{free_port, require_tool};
use crate::wait::until;

/// Runs git with `args` in `dir` and returns trimmed stdout; panics with
/// stderr on failure. Identity and configuration are fixed, so that the
/// host's do not leak in.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "tester@example.org")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "tester@example.org")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write_files(work: &Path, files: &[(&str, &[u8])]) {
    for (path, content) in files {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().expect("a file has a parent")).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

fn utf8(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Creates `<root>/<name>` as a bare repository whose branch `branch`
/// holds `files` (path → content) in one commit, made by the git CLI.
/// Returns the bare repository's path.
pub fn make_bare_repo(root: &Path, name: &str, branch: &str, files: &[(&str, &[u8])]) -> PathBuf {
    require_tool("git", &["--version"], "git");
    let work = root.join(format!("{name}.work"));
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", branch]);
    write_files(&work, files);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    let bare = root.join(name);
    git(root, &["clone", "-q", "--bare", utf8(&work), utf8(&bare)]);
    git(&bare, &["config", "http.receivepack", "true"]);
    std::fs::remove_dir_all(&work).unwrap();
    bare
}

/// Commits `files` to `branch` of the bare repository with the git CLI
/// (through a temporary clone and `git push`), as "someone else" would.
/// Returns the new commit.
pub fn push_with_git_cli(bare: &Path, branch: &str, files: &[(&str, &[u8])], message: &str) -> String {
    let work = bare.with_extension("cli-work");
    let _ = std::fs::remove_dir_all(&work);
    git(bare.parent().expect("a repository has a parent"), &["clone", "-q", "-b", branch, utf8(bare), utf8(&work)]);
    write_files(&work, files);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", message]);
    git(&work, &["push", "-q", "origin", branch]);
    let head = git(&work, &["rev-parse", "HEAD"]);
    std::fs::remove_dir_all(&work).unwrap();
    head
}

/// A running git server; killed on drop.
pub struct GitServer {
    pub proc: Proc,
    pub port: u16,
}

/// `program` on the host, or inside `ns`.
fn command(ns: Option<&NetNs>, program: &Path) -> Command {
    match ns {
        Some(ns) => ns.cmd(program),
        None => Command::new(program),
    }
}

/// Starts `git daemon` exporting every repository under `base`, with
/// receive-pack enabled, on 127.0.0.1; returns once it accepts connections.
pub fn git_daemon(base: &Path) -> GitServer {
    git_daemon_at(None, "127.0.0.1", free_port(), base)
}

/// Starts `git daemon` for `base` on `host`:`port` (inside `ns`, if given);
/// returns once it accepts connections there.
pub fn git_daemon_at(ns: Option<&NetNs>, host: &str, port: u16, base: &Path) -> GitServer {
    require_tool("git", &["--version"], "git");
    // git-daemon itself, not the `git` wrapper: killing the wrapper would
    // leave the daemon running.
    let exec_path = git(base, &["--exec-path"]);
    let daemon = Path::new(&exec_path).join("git-daemon");
    let mut cmd = command(ns, &daemon);
    cmd.args(["--reuseaddr", "--export-all", "--enable=receive-pack"])
        .arg(format!("--listen={host}"))
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base);
    let mut server = GitServer { proc: Proc::spawn(&mut cmd, "git-daemon"), port };
    let addr: SocketAddr = format!("{host}:{port}").parse().expect("host is an IP address");
    // git daemon prints nothing when ready: poll its port, from where it listens.
    let mut ready = || {
        until("git daemon to accept connections", || {
            if let Some(status) = server.proc.exit_status() {
                panic!("git daemon exited ({status}):\n{}", server.proc.output());
            }
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)).ok().map(drop)
        })
    };
    match ns {
        Some(ns) => ns.in_ns(ready),
        None => ready(),
    }
    server
}

/// Path of `git_http_server.py`.
pub fn http_server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/git_http_server.py")
}

/// Starts the smart-HTTP server (HTTPS when `tls` gives cert and key PEM
/// paths) over `root` on 127.0.0.1; returns after its "ready <port>" line.
pub fn http_server(root: &Path, tls: Option<(&Path, &Path)>) -> GitServer {
    http_server_at(None, "127.0.0.1", root, tls)
}

/// The same on `host` (inside `ns`, if given), on a port it picks.
pub fn http_server_at(ns: Option<&NetNs>, host: &str, root: &Path, tls: Option<(&Path, &Path)>) -> GitServer {
    require_tool("python3", &["-V"], "python3");
    let mut cmd = command(ns, Path::new("python3"));
    cmd.arg(http_server_script()).arg("--root").arg(root).args(["--listen", host]);
    if let Some((cert, key)) = tls {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let mut proc = Proc::spawn(&mut cmd, "git-http");
    let line = proc.wait_for("git_http_server.py's ready line", |l| l.starts_with("ready "));
    let port = line.trim().strip_prefix("ready ").and_then(|p| p.parse().ok());
    let port = port.unwrap_or_else(|| panic!("git_http_server.py did not get ready: {line:?}"));
    GitServer { proc, port }
}
