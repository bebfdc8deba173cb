//! Network tests: the `net` test guest on a tap inside a network namespace that the test
//! creates (and deletes) itself. All traffic stays inside that namespace: 3 pings, one UDP
//! echo and two TCP echo connections (a short message, then 100 KB with a half-close),
//! under each engine. The UDP and TCP clients are this test binary, re-run inside the
//! namespace (`ip netns exec`) with a helper test selected.
//!
//! Needs root, `ip` (iproute2) and `ping` (iputils-ping); without them the tests fail with
//! a message saying so.

mod common;

const TENDER: &str = env!("CARGO_BIN_EXE_tender");

use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};
use testkit::NetNs;

/// A namespace of this test's own (deleted on drop) holding `tap0`, up, with 10.77.0.1/24.
fn namespace(tag: &str) -> NetNs {
    let ns = NetNs::unique(&format!("tndr{tag}")).unwrap_or_else(|e| panic!("{e}"));
    for args in [
        &["link", "set", "lo", "up"][..],
        &["tuntap", "add", "tap0", "mode", "tap"],
        &["link", "set", "tap0", "up"],
        &["addr", "add", "10.77.0.1/24", "dev", "tap0"],
    ] {
        ns.ip(args).unwrap_or_else(|e| panic!("{e}"));
    }
    ns
}

/// Requests the guest answers before it prints SUCCESS: 3 pings, 1 UDP echo, 2 TCP echoes.
const REQUESTS: u32 = 6;

/// Runs `tender_argv` (a tender and its options, without the image) on the `net` guest in
/// a fresh namespace and checks ping, UDP echo and TCP echo from the namespace.
pub fn net_echo(tag: &str, tender_argv: &[&str]) {
    let ns = namespace(tag);
    let image = guest("net");
    let mut child = ns
        .cmd(tender_argv[0])
        .args(&tender_argv[1..])
        .args(["--net:service=tap0", "--net-mac:service=02:00:00:00:77:02"])
        .arg(&image)
        .args(["--ipv4=10.77.0.2/24", &format!("--count={REQUESTS}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tender");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let start = Instant::now();
    let mut line = String::new();
    while !seen.contains("READY") {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 || start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
            panic!("the net guest did not print READY: {seen}\n--- stderr\n{err}");
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("mac 02:00:00:00:77:02"), "{seen}");
    assert!(seen.contains("mtu 1500"), "{seen}");
    let ping = ns
        .cmd("ping")
        .args(["-c", "3", "-i", "0.2", "-W", "5", "10.77.0.2"])
        .output()
        .expect("cannot run ping (install iputils-ping)");
    let ping_out = String::from_utf8_lossy(&ping.stdout);
    if !ping.status.success() {
        let _ = child.kill();
        panic!("ping failed: {ping_out}{}", String::from_utf8_lossy(&ping.stderr));
    }
    for (helper, target, ok) in
        [("udp_client_helper", "10.77.0.2:7", "UDP ECHO OK"), ("tcp_client_helper", "10.77.0.2:7", "TCP ECHO OK")]
    {
        let r = ns
            .cmd(std::env::current_exe().unwrap())
            .args(["--exact", helper, "--nocapture", "--include-ignored"])
            .env("TENDER_NET_HELPER", target)
            .output()
            .expect("run the client helper");
        let r_out = String::from_utf8_lossy(&r.stdout);
        if !(r.status.success() && r_out.contains(ok)) {
            let _ = child.kill();
            panic!("{helper} failed: {r_out}{}", String::from_utf8_lossy(&r.stderr));
        }
    }
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "tender: {seen}{rest}\n--- stderr\n{err}");
    assert!(rest.contains(&format!("answered {REQUESTS} requests (2 TCP connections")), "{seen}{rest}");
    assert!(rest.contains("SUCCESS"), "{seen}{rest}");
}

/// Not a test on its own: the UDP client the net tests run inside their namespace.
#[test]
#[ignore = "helper run by the net tests inside a network namespace"]
fn udp_client_helper() {
    let Ok(target) = std::env::var("TENDER_NET_HELPER") else { return };
    let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(b"tender udp echo", &target).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = s.recv_from(&mut buf).expect("no UDP echo reply");
    assert_eq!(&buf[..n], b"tender udp echo");
    println!("UDP ECHO OK");
}

/// Not a test on its own: the TCP client the net tests run inside their namespace. One
/// short request-reply exchange, then 100 KB sent, the write side shut down, and the whole
/// echo read back up to the guest's FIN.
#[test]
#[ignore = "helper run by the net tests inside a network namespace"]
fn tcp_client_helper() {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};
    let Ok(target) = std::env::var("TENDER_NET_HELPER") else { return };
    let addr = target.parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("TCP connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"tender tcp echo").unwrap();
    let mut buf = [0u8; 15];
    s.read_exact(&mut buf).expect("short TCP echo");
    assert_eq!(&buf, b"tender tcp echo");
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("TCP close");
    assert!(rest.is_empty(), "data after the echo: {rest:?}");
    drop(s);

    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("TCP connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
        data
    });
    let mut echo = Vec::new();
    s.read_to_end(&mut echo).expect("TCP echo of 100 KB");
    let data = writer.join().unwrap();
    assert_eq!(echo.len(), data.len());
    assert!(echo == data, "echoed bytes differ");
    println!("TCP ECHO OK");
}

#[test]
fn net_process() {
    net_echo("p", &[TENDER, "--engine=process"]);
}

#[test]
fn net_kvm() {
    require_kvm();
    net_echo("k", &[TENDER, "--engine=kvm"]);
}

/// Our `net` guest under upstream `solo5-hvt` (compatibility, ABI reference §8.10): run
/// with `SOLO5_HVT=/path/to/solo5-hvt cargo test --test net -- --ignored net_upstream`.
#[test]
#[ignore = "needs SOLO5_HVT=<path to an upstream solo5-hvt binary>"]
fn net_upstream_solo5_hvt() {
    let hvt = std::env::var("SOLO5_HVT").expect("set SOLO5_HVT to an upstream solo5-hvt binary");
    net_echo("u", &[&hvt]);
}
