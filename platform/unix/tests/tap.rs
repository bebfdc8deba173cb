//! Tap devices, inside a network namespace this test creates.
//!
//! Needs root and iproute2 (`ip`); fails with a message saying so when they
//! are missing. Traffic stays inside the namespace.

use std::time::Duration;

use platform::net::MacAddr;
use platform::time;
use platform_unix::{block_on, create_tap, tap_net};
use testkit::NetNs;

const OUR_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x77, 0x00, 0x02]);
const OUR_IP: [u8; 4] = [10, 77, 0, 2];
const KERNEL_IP: [u8; 4] = [10, 77, 0, 1];

fn arp_request(from_mac: MacAddr, from_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&from_mac.0);
    f.extend_from_slice(&[0x08, 0x06]); // ARP
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]); // Ethernet/IPv4, request
    f.extend_from_slice(&from_mac.0);
    f.extend_from_slice(&from_ip);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target_ip);
    f
}

/// The sender MAC of an ARP reply from `ip` to `to`, if `frame` is one.
fn arp_reply_from(frame: &[u8], ip: [u8; 4], to: MacAddr) -> Option<MacAddr> {
    if frame.len() < 42 || frame[12..14] != [0x08, 0x06] || frame[20..22] != [0x00, 0x02] {
        return None;
    }
    if frame[0..6] != to.0 || frame[28..32] != ip {
        return None;
    }
    Some(MacAddr(frame[22..28].try_into().unwrap()))
}

#[test]
fn tap_exchanges_arp_with_the_kernel() {
    let ns = NetNs::unique("pu-tap").expect("tap tests need root and iproute2");
    let thread = std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter_current_thread().unwrap();
            // Persistent, so it stays when the descriptor closes and we attach it below.
            drop(create_tap("tap0").unwrap());
            ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "tap0"]).unwrap();
            ns.ip(&["link", "set", "tap0", "up"]).unwrap();
            ns.ip(&["link", "set", "lo", "up"]).unwrap();
            let kernel_mac: MacAddr = {
                let out = ns.ip(&["-br", "link", "show", "tap0"]).unwrap();
                out.split_whitespace().nth(2).expect("mac in `ip -br link`").parse().unwrap()
            };
            block_on(async {
                let net = tap_net("tap0", Some(OUR_MAC)).unwrap();
                let info = net.info();
                assert_eq!(info.mac, OUR_MAC);
                assert_eq!(info.mtu, 1500);
                let mut buf = vec![0u8; info.frame_capacity()];
                // Attached but nothing sent yet: reading never blocks.
                while net.recv(&mut buf).unwrap().is_some() {}
                assert!(net.send(&vec![0u8; info.frame_capacity() + 1]).is_err());
                // The kernel drops what it sends until the tap's queue is activated
                // (asynchronously, after our attach brings the carrier up), so the
                // request is retransmitted, as ARP does, until a reply arrives.
                let reply = time::timeout(Duration::from_secs(10), async {
                    loop {
                        net.send(&arp_request(OUR_MAC, OUR_IP, KERNEL_IP)).unwrap();
                        let wait_reply = async {
                            loop {
                                std::future::poll_fn(|cx| net.poll_readable(cx)).await;
                                while let Some(n) = net.recv(&mut buf).unwrap() {
                                    if let Some(mac) = arp_reply_from(&buf[..n], KERNEL_IP, OUR_MAC) {
                                        return mac;
                                    }
                                }
                            }
                        };
                        if let Ok(mac) = time::timeout(Duration::from_millis(200), wait_reply).await {
                            return mac;
                        }
                    }
                })
                .await
                .expect("no ARP reply from the kernel within 10 s");
                assert_eq!(reply, kernel_mac);
            });
        })
        .join()
    });
    if let Err(panic) = thread {
        std::panic::resume_unwind(panic);
    }
    drop(ns);
}

#[test]
fn attaching_a_missing_tap_is_a_clear_error() {
    let ns = NetNs::unique("pu-notap").expect("tap tests need root and iproute2");
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter_current_thread().unwrap();
            block_on(async {
                let e = tap_net("tap7", None).err().expect("no such tap");
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
                assert!(e.to_string().contains("tap7"), "{e}");
            });
        });
    });
}

#[test]
fn random_macs_are_locally_administered_unicast() {
    let ns = NetNs::unique("pu-mac").expect("tap tests need root and iproute2");
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter_current_thread().unwrap();
            drop(create_tap("tap0").unwrap());
            block_on(async {
                let net = tap_net("tap0", None).unwrap();
                let mac = net.info().mac;
                assert!(mac.is_unicast() && mac.0[0] & 2 == 2, "{mac}");
                // Only one process may hold a single-queue tap.
                let e = tap_net("tap0", None).err().expect("tap is busy");
                assert!(e.to_string().contains("tap0"), "{e}");
            });
        });
    });
}

/// An appliance that connects to `--peer`, sends a line and expects it back,
/// over the stack the runner built for `service`.
fn echo_client_main(env: platform::Env) -> platform::rt::LocalBoxFuture<'static, platform::appliance::AppResult> {
    Box::pin(async move {
        let peer: std::net::SocketAddr = env.args().required("peer")?;
        let stack = env.stack()?;
        if !stack.describe().contains("tap0") {
            return Err(format!("expected netstack on tap0, got {}", stack.describe()).into());
        }
        let conn = time::timeout(Duration::from_secs(10), stack.tcp_connect(peer)).await??;
        conn.write_all(b"over the tap\n").await?;
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while !got.ends_with(b"\n") {
            let n = time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await??;
            if n == 0 {
                return Err("peer closed early".into());
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got != b"over the tap\n" {
            return Err(format!("echo mismatch: {got:?}").into());
        }
        conn.shutdown().await?;
        Ok(())
    })
}

static ECHO_CLIENT: platform::Appliance = platform::Appliance {
    name: "echo-client",
    summary: "connects to --peer and checks an echo",
    version: "0.0.1",
    devices: &[platform::Device::net("service")],
    args: &[platform::args::ArgSpec::value("peer", "ADDR:PORT", "echo server")],
    main: echo_client_main,
};

#[test]
fn runner_uses_netstack_over_the_tap() {
    use std::io::{Read, Write};
    let ns = NetNs::unique("pu-stack").expect("tap tests need root and iproute2");
    let status = std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter_current_thread().unwrap();
            drop(create_tap("tap0").unwrap());
            ns.ip(&["addr", "add", "10.77.1.1/24", "dev", "tap0"]).unwrap();
            ns.ip(&["link", "set", "tap0", "up"]).unwrap();
            // The kernel's side: an echo server inside the namespace.
            let listener = std::net::TcpListener::bind("10.77.1.1:0").unwrap();
            let peer = listener.local_addr().unwrap();
            let server = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
                let (mut conn, _) = listener.accept()?;
                conn.set_read_timeout(Some(Duration::from_secs(20)))?;
                let mut line = Vec::new();
                let mut buf = [0u8; 256];
                while !line.ends_with(b"\n") {
                    let n = conn.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    line.extend_from_slice(&buf[..n]);
                }
                conn.write_all(&line)?;
                Ok(line)
            });
            let argv = ["--net:service=tap0", "--ipv4=10.77.1.2/24", &format!("--peer={peer}")];
            let status = platform_unix::run_with_args(&ECHO_CLIENT, argv.iter().map(|s| s.to_string()).collect());
            if status == 0 {
                assert_eq!(server.join().unwrap().unwrap(), b"over the tap\n");
            }
            status
        })
        .join()
        .unwrap()
    });
    assert_eq!(status, 0, "the appliance failed; see its log above");
}
