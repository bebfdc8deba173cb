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

/// What a query came over, to a [`DnsBridge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    Udp,
    Tcp,
}

/// The relay of [`DnsBridge`]. Pipe framing (binary, both ways): a query is `U` or `T`,
/// a 2-byte big-endian length and the message; the answer is a 2-byte count, then each
/// message with a 2-byte length. On TCP every message carries DNS's 2-byte length
/// prefix (RFC 1035 §4.2.2); a UDP query answered by none gets no datagram.
const BRIDGE: &str = r#"
import select, socket, struct, sys
port = int(sys.argv[1])
inp, out = sys.stdin.buffer, sys.stdout.buffer
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", port))
t.listen(8)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", port))
out.write(b"ready\n"); out.flush()
def ask(kind, q):
    out.write(kind + struct.pack(">H", len(q)) + q); out.flush()
    n = struct.unpack(">H", inp.read(2))[0]
    return [inp.read(struct.unpack(">H", inp.read(2))[0]) for _ in range(n)]
def exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b
conns = []
while True:
    ready, _, _ = select.select([t, u] + conns, [], [])
    for s in ready:
        if s is t:
            conns.append(t.accept()[0])
        elif s is u:
            q, peer = u.recvfrom(65535)
            for r in ask(b"U", q):
                u.sendto(r, peer)
        else:
            h = exact(s, 2)
            q = h and exact(s, struct.unpack(">H", h)[0])
            if not q:
                conns.remove(s)
                s.close()
                continue
            for r in ask(b"T", q):
                s.sendall(struct.pack(">H", len(r)) + r)
"#;

/// A DNS server on 127.0.0.1:`port` (UDP and TCP) inside a namespace, played by a
/// python relay that hands each query to a function of the test and sends back the
/// messages it returns, in order: none for no reply, several for an AXFR/IXFR stream.
/// So sans-IO server code meets real clients (dig, nsupdate, NSD as a secondary) without
/// a socket layer of its own. The relay is killed on drop.
pub struct DnsBridge(Child);

impl DnsBridge {
    /// Starts the relay in `ns` and returns once it listens; `answer` runs on a thread
    /// of this process for each query.
    pub fn start(ns: &str, port: u16, mut answer: impl FnMut(Over, &[u8]) -> Vec<Vec<u8>> + Send + 'static) -> Self {
        use std::io::{Read, Write};
        let mut child = crate::tool::in_ns(Some(ns), "python3")
            .args(["-c", BRIDGE, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the DNS bridge (python3)");
        let mut tx = child.stdin.take().expect("piped stdin");
        let mut rx = child.stdout.take().expect("piped stdout");
        let mut ready = [0u8; 6];
        rx.read_exact(&mut ready).expect("the DNS bridge did not start");
        assert_eq!(&ready, b"ready\n");
        std::thread::spawn(move || {
            loop {
                let mut head = [0u8; 3];
                if rx.read_exact(&mut head).is_err() {
                    return;
                }
                let over = if head[0] == b'T' { Over::Tcp } else { Over::Udp };
                let mut query = vec![0u8; usize::from(u16::from_be_bytes([head[1], head[2]]))];
                if rx.read_exact(&mut query).is_err() {
                    return;
                }
                let replies = answer(over, &query);
                let mut framed = (replies.len() as u16).to_be_bytes().to_vec();
                for r in &replies {
                    framed.extend_from_slice(&(r.len() as u16).to_be_bytes());
                    framed.extend_from_slice(r);
                }
                if tx.write_all(&framed).and_then(|()| tx.flush()).is_err() {
                    return;
                }
            }
        });
        DnsBridge(child)
    }
}

impl Drop for DnsBridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
