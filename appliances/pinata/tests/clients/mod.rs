//! The clients and log matchers the TLS tests of the Piñata use on unix and hvt alike
//! (`e2e`, `hvt`): `openssl s_client`/`s_server` (inside a network namespace when given),
//! a TCP relay, the test CA, and the log lines of refused and paid handshakes.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread;

use rcgen::{Issuer, KeyPair};
use testkit::certs::CertFiles;

use crate::support::{Lines, WAIT, run_output, tool};

/// Log lines of a refused handshake on `port`.
pub fn handshake_failed_on(port: u16) -> impl Fn(&str) -> bool {
    let needle = format!("port {port} peer ");
    move |l: &str| l.contains(&needle) && l.contains("handshake failed")
}

/// Log lines of a secret delivered on `port`.
pub fn secret_sent_on(port: u16) -> impl Fn(&str) -> bool {
    let needle = format!("port {port} peer ");
    move |l: &str| l.contains(&needle) && l.contains("secret sent")
}

pub fn test_ca() -> Issuer<'static, KeyPair> {
    let (nb, na) = pinata_core::pki::test_ca_validity();
    Issuer::new(pinata_core::pki::ca_params(nb, na), KeyPair::from_pem(pinata_core::pki::TEST_CA_KEY_PEM).unwrap())
}

/// `openssl s_client` to `host`:`port` (from inside `ns`, if given).
pub fn s_client_to(ns: Option<&str>, host: &str, port: u16, cert: Option<&CertFiles>, extra: &[&str]) -> String {
    let mut cmd = tool(ns, "openssl");
    cmd.args(["s_client", "-connect", &format!("{host}:{port}"), "-ign_eof"]);
    if let Some(c) = cert {
        cmd.arg("-cert").arg(&c.cert).arg("-key").arg(&c.key);
    }
    cmd.args(extra);
    run_output(&mut cmd)
}

/// A running `openssl s_server`, serving one connection.
pub struct SServer {
    child: Child,
    /// Keeps s_server's stdin open (at EOF it would end the session).
    _stdin: std::process::ChildStdin,
    pub out: Lines,
}

impl SServer {
    /// Listening on `host`:`port` (inside `ns`, if given).
    pub fn start_at(ns: Option<&str>, host: &str, port: u16, cert: &CertFiles) -> SServer {
        let mut child = tool(ns, "openssl")
            .args(["s_server", "-accept", &format!("{host}:{port}"), "-naccept", "1"])
            .arg("-cert")
            .arg(&cert.cert)
            .arg("-key")
            .arg(&cert.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Lines::collect(child.stdout.take().unwrap());
        let _err = Lines::collect(child.stderr.take().unwrap());
        let stdin = child.stdin.take().unwrap();
        out.wait_for("s_server to listen", |l| l.contains("ACCEPT"));
        SServer { child, _stdin: stdin, out }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects to `a` and `b` (from the calling thread's network namespace) and
/// copies bytes both ways until either closes.
pub fn relay_addrs(a: SocketAddr, b: SocketAddr) -> thread::JoinHandle<()> {
    let left = TcpStream::connect_timeout(&a, WAIT).unwrap();
    let right = TcpStream::connect_timeout(&b, WAIT).unwrap();
    let pump = |mut from: TcpStream, mut to: TcpStream| {
        thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            from.set_read_timeout(Some(WAIT)).unwrap();
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let t1 = pump(left.try_clone().unwrap(), right.try_clone().unwrap());
    let t2 = pump(right, left);
    thread::spawn(move || {
        let _ = t1.join();
        let _ = t2.join();
    })
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
