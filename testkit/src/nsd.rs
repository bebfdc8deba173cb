//! Scaffolding of tests that run real DNS tools (NSD, dig, nsupdate): a network
//! namespace with a scratch directory, the check for the tools (a missing one
//! fails the test), and NSD started from a config and stopped on drop. Everything is cleaned up on
//! drop, so a failing assertion needs no catch_unwind to tidy up.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::netns::NetNs;
use crate::tmp::TempDir;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A network namespace (loopback up) and a scratch directory; both removed on drop.
pub struct Lab {
    /// The namespace's name, for `ip netns exec`.
    pub ns: String,
    pub dir: PathBuf,
    _netns: NetNs,
    _tmp: TempDir,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let netns = NetNs::unique(tag).expect("the DNS tool tests need root and iproute2");
        netns.ip(&["link", "set", "lo", "up"]).unwrap();
        let tmp = TempDir::new(tag);
        Lab { ns: netns.name().to_string(), dir: tmp.0.clone(), _netns: netns, _tmp: tmp }
    }
}

/// Panics unless the test can run here: root, and `tools` (`(program, an
/// argument that makes it print its version)`, each with its Debian package),
/// iproute2 and python3. A missing one fails the test, never skips it.
pub fn require_tools(tools: &[(&str, &str, &str)]) {
    crate::tool::require_root("the DNS tool tests");
    for (tool, arg, package) in tools.iter().chain(&[("ip", "-V", "iproute2"), ("python3", "-V", "python3")]) {
        crate::tool::require_tool(tool, &[arg], package);
    }
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
