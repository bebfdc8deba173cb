//! Real git servers for tests: a bare repository made with the git CLI,
//! `git daemon` (git://, push enabled) and `git_http_server.py` (smart
//! HTTP(S) via `git http-backend`).
//!
//! Reuse from another crate's tests with
//! `#[path = "../../../platform/git/tests/support/mod.rs"] mod git_support;`
//! (adjust the path). Both servers are killed when dropped; both are
//! waited for by a readiness signal, never a sleep.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gitstore-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs git with `args` and returns trimmed stdout; panics with stderr on failure.
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

/// Creates `<root>/<name>` as a bare repository whose branch `branch`
/// holds `files` (path → content) in one commit, made by the git CLI.
/// Returns the bare repository's path.
pub fn make_bare_repo(root: &Path, name: &str, branch: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let work = root.join(format!("{name}.work"));
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", branch]);
    for (path, content) in files {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    let bare = root.join(name);
    git(root, &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    git(&bare, &["config", "http.receivepack", "true"]);
    std::fs::remove_dir_all(&work).unwrap();
    bare
}

/// Commits `files` to `branch` of the bare repository with the git CLI
/// (through a temporary clone and `git push`), as "someone else" would.
pub fn push_with_git_cli(bare: &Path, branch: &str, files: &[(&str, &[u8])], message: &str) -> String {
    let work = bare.with_extension("cli-work");
    let _ = std::fs::remove_dir_all(&work);
    git(bare.parent().unwrap(), &["clone", "-q", "-b", branch, bare.to_str().unwrap(), work.to_str().unwrap()]);
    for (path, content) in files {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", message]);
    git(&work, &["push", "-q", "origin", branch]);
    let head = git(&work, &["rev-parse", "HEAD"]);
    std::fs::remove_dir_all(&work).unwrap();
    head
}

/// A child process killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free right now on 127.0.0.1 (git daemon cannot report the port
/// it picked, so we choose one).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `git daemon` exporting every repository under `base`, with
/// receive-pack enabled, on 127.0.0.1; returns once it accepts connections.
pub fn git_daemon(base: &Path) -> Server {
    let port = free_port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
            &base.display().to_string(),
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("git daemon starts");
    let mut server = Server { child, port };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Poll the port: git daemon prints nothing when ready.
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("git daemon exited: {status}");
        }
        assert!(Instant::now() < deadline, "git daemon did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Path of `git_http_server.py`.
pub fn http_server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/git_http_server.py")
}

/// Starts the smart-HTTP server (HTTPS when `tls` gives cert and key PEM
/// paths) over `root`; returns after its "ready <port>" line.
pub fn http_server(root: &Path, tls: Option<(&Path, &Path)>) -> Server {
    let mut cmd = Command::new("python3");
    cmd.arg(http_server_script()).arg("--root").arg(root).stdout(Stdio::piped()).stdin(Stdio::null());
    if let Some((cert, key)) = tls {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let mut child = cmd.spawn().expect("python3 starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("ready ").and_then(|p| p.parse().ok());
    let Some(port) = port else {
        let _ = child.kill();
        panic!("git_http_server.py did not get ready: {line:?}");
    };
    Server { child, port }
}

/// A self-signed certificate for 127.0.0.1 made with openssl; returns
/// (cert.pem, key.pem, cert DER).
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let (cert, key, der) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("cert.der"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        // An end-entity certificate: openssl marks self-signed ones CA:TRUE by
        // default, which webpki refuses as a server certificate.
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl req failed");
    let status = Command::new("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(&cert)
        .arg("-out")
        .arg(&der)
        .status()
        .unwrap();
    assert!(status.success());
    let der_bytes = std::fs::read(&der).unwrap();
    (cert, key, der_bytes)
}
