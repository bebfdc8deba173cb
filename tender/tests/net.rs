//! Network tests: the `net` test guest on a tap inside a network namespace that the test
//! creates (and deletes) itself. All traffic stays inside that namespace.
//!
//! Needs root, `ip` (iproute2) and `ping` (iputils-ping); without them the tests fail with
//! a message saying so.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(unsafe { libc::geteuid() }, 0, "the net tests need root (network namespaces, taps)");
        let name = format!("tndr{}{tag}", std::process::id());
        let ns = Netns(name.clone());
        sh(&["ip", "netns", "add", &name]);
        for cmd in [
            "ip link set lo up",
            "ip tuntap add tap0 mode tap",
            "ip link set tap0 up",
            "ip addr add 10.77.0.1/24 dev tap0",
        ] {
            let mut a = vec!["ip", "netns", "exec", &name];
            a.extend(cmd.split(' '));
            sh(&a);
        }
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?} (is iproute2 installed?): {e}", args));
    assert!(out.status.success(), "{:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
}

fn ping_and_udp(engine: &str) {
    let ns = Netns::new(&engine[..1]);
    let image = guest("net");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0, TENDER, &format!("--engine={engine}"), "--net:service=tap0"])
        .args(["--net-mac:service=02:00:00:00:77:02"])
        .arg(&image)
        .args(["--ipv4=10.77.0.2/24", "--count=4"])
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
            panic!("the net guest did not print READY: {seen}");
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("mac 02:00:00:00:77:02"), "{seen}");
    assert!(seen.contains("mtu 1500"), "{seen}");
    let ping = Command::new("ip")
        .args(["netns", "exec", &ns.0, "ping", "-c", "3", "-i", "0.2", "-W", "5", "10.77.0.2"])
        .output()
        .expect("cannot run ping (install iputils-ping)");
    let ping_out = String::from_utf8_lossy(&ping.stdout);
    assert!(ping.status.success(), "ping failed: {ping_out}{}", String::from_utf8_lossy(&ping.stderr));
    // One UDP echo, sent and received from inside the namespace by a tiny helper: this
    // test binary itself, re-run in the namespace as a UDP client.
    let udp = Command::new("ip")
        .args(["netns", "exec", &ns.0, std::env::current_exe().unwrap().to_str().unwrap()])
        .args(["--exact", "udp_client_helper", "--nocapture", "--include-ignored"])
        .env("TENDER_UDP_HELPER", "10.77.0.2:7")
        .output()
        .expect("run udp helper");
    let udp_out = String::from_utf8_lossy(&udp.stdout);
    assert!(udp.status.success() && udp_out.contains("UDP ECHO OK"), "UDP echo failed: {udp_out}");
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(status.code(), Some(0), "tender: {seen}{rest}");
    assert!(rest.contains("SUCCESS"), "{seen}{rest}");
}

/// Not a test on its own: the UDP client the net tests run inside their namespace.
#[test]
#[ignore = "helper run by the net tests inside a network namespace"]
fn udp_client_helper() {
    let Ok(target) = std::env::var("TENDER_UDP_HELPER") else { return };
    let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(b"tender udp echo", &target).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = s.recv_from(&mut buf).expect("no UDP echo reply");
    assert_eq!(&buf[..n], b"tender udp echo");
    println!("UDP ECHO OK");
}

#[test]
fn net_process() {
    ping_and_udp("process");
}

#[test]
fn net_kvm() {
    require_kvm();
    ping_and_udp("kvm");
}
