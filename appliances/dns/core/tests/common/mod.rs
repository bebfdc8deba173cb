//! Scaffolding of the tests that run real DNS tools (NSD, dig, nsupdate) against
//! the core: a network namespace with a scratch directory, the skip check, and
//! NSD started from a config and stopped on drop. Everything is cleaned up on
//! drop, so a failing assertion needs no catch_unwind to tidy up.
#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A network namespace (loopback up) and a scratch directory; both removed on drop.
pub struct Lab {
    pub ns: String,
    pub dir: PathBuf,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let name = format!("{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab { ns: name, dir };
        assert!(Command::new("ip").args(["netns", "add", &lab.ns]).status().unwrap().success());
        let up = Command::new("ip").args(["netns", "exec", &lab.ns, "ip", "link", "set", "lo", "up"]).status();
        assert!(up.unwrap().success());
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why the test can't run here (not root, a tool missing), if so. `tools` are
/// `(program, an argument that makes it print its version)`.
pub fn skip_reason(tools: &[(&str, &str)]) -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    for (tool, arg) in tools.iter().chain(&[("ip", "-V"), ("python3", "-V")]) {
        if Command::new(tool).arg(arg).output().is_err() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// The `server:` clause of an nsd.conf listening on 127.0.0.1:`port`, with its
/// files in `dir`, one server process, and `extra` lines (indented) appended.
pub fn nsd_server_conf(dir: &Path, port: u16, extra: &str) -> String {
    format!(
        "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  \
         xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  database: \"\"\n  username: \"\"\n  \
         server-count: 1\n{extra}",
        d = dir.display()
    )
}

/// NSD running in a namespace; stopped with SIGTERM (which stops its server
/// processes too) on drop.
pub struct Nsd(Child);

impl Nsd {
    /// Writes `conf` to `dir/nsd.conf`, starts NSD and waits for "nsd started".
    pub fn start(ns: &str, dir: &Path, conf: &str) -> Nsd {
        let path = dir.join("nsd.conf");
        std::fs::write(&path, conf).unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nsd", "-d", "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nsd");
        let stderr = child.stderr.take().unwrap();
        let nsd = Nsd(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains("nsd started") => break,
                Ok(_) => {}
                Err(e) => panic!("nsd did not start: {e}"),
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        nsd
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}
