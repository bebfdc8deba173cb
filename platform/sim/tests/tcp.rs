//! Stack-level tests: netstack over the simulated switch.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use platform::rt;
use platform::time;
use platform_sim::{LinkConfig, World};

const SERVER: &str = "10.0.0.1:7";

fn pattern(i: usize) -> u8 {
    (i * 7 % 251) as u8
}

/// One TCP echo of `len` bytes between two hosts; returns the trace hash,
/// the bytes echoed and the virtual time taken.
fn tcp_echo(seed: u64, link: LinkConfig, len: usize) -> (u64, Vec<u8>, Duration) {
    let world = World::new(seed);
    world.set_link(link);
    world.set_time_limit(Duration::from_secs(600));
    if len <= 1_000_000 {
        // Open with `tshark -r target/tmp/platform-sim/tcp-echo-*.pcap`.
        world.capture(common::temp_path(&format!("tcp-echo-{seed}-{len}.pcap"))).unwrap();
    }
    let (server, client) = (world.add_host("server"), world.add_host("client"));
    let echoed = world.run(async {
        let s = server.stack(&["--ipv4=10.0.0.1/24"]).unwrap();
        let c = client.stack(&["--ipv4=10.0.0.2/24"]).unwrap();
        let addr: SocketAddr = SERVER.parse().unwrap();
        let mut listener = s.tcp_listen(addr).unwrap();
        server.spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            testkit::echo::until_eof(&conn).await;
        });
        let conn = c.tcp_connect(addr).await.unwrap();
        let (reader, writer) = conn.split();
        let data: Vec<u8> = (0..len).map(pattern).collect();
        let sender = rt::spawn(async move {
            for chunk in data.chunks(1000) {
                writer.write_all(chunk).await.unwrap();
            }
            writer.shutdown().await.unwrap();
            writer
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            let n = reader.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let _writer = sender.await;
        got
    });
    eprintln!("seed {seed}: {:?}", world.stats());
    (world.trace_hash(), echoed, world.now().saturating_duration_since(platform::time::Instant::ZERO))
}

#[test]
fn tcp_echo_on_a_clean_link() {
    let (_, got, took) = tcp_echo(1, LinkConfig::default(), 100_000);
    assert_eq!(got.len(), 100_000);
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn tcp_echo_under_loss_and_reordering() {
    let link = LinkConfig::default()
        .latency(Duration::from_millis(1))
        .jitter(Duration::from_micros(300))
        .loss(0.05)
        .duplicate(0.01)
        .reorder(0.05, Duration::from_millis(3));
    let (h1, got, took) = tcp_echo(7, link, 200_000);
    assert_eq!(got.len(), 200_000);
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)), "stream intact");
    eprintln!("200 kB echoed under 5% loss in {took:?} of virtual time");
    let (h2, _, took2) = tcp_echo(7, link, 200_000);
    assert_eq!((h1, took), (h2, took2), "same seed, same run");
    let (h3, got3, _) = tcp_echo(8, link, 200_000);
    assert_eq!(got3.len(), 200_000);
    assert_ne!(h1, h3);
}

#[test]
fn udp_and_timeouts_across_the_switch() {
    let world = World::new(3);
    let (a, b) = (world.add_host("a"), world.add_host("b"));
    world.run(async {
        let sa = a.stack(&["--ipv4=10.0.0.1/24"]).unwrap();
        let sb = b.stack(&["--ipv4=10.0.0.2/24"]).unwrap();
        let ua = sa.udp_bind("10.0.0.1:5000".parse().unwrap()).unwrap();
        let ub = sb.udp_bind("10.0.0.2:5001".parse().unwrap()).unwrap();
        ua.send_to(b"ping", "10.0.0.2:5001".parse().unwrap()).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = time::timeout(Duration::from_secs(5), ub.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, "10.0.0.1:5000".parse().unwrap());
        // Nobody answers: the timeout fires on virtual time.
        let r = time::timeout(Duration::from_secs(30), ua.recv_from(&mut buf)).await;
        assert!(r.is_err());
    });
    assert!(world.now().as_millis() >= 30_000);
}

fn echo_main(env: platform::Env) -> platform::rt::LocalBoxFuture<'static, platform::appliance::AppResult> {
    Box::pin(async move {
        let stack = env.stack()?;
        let mut listener = stack.tcp_listen("0.0.0.0:7".parse()?)?;
        log::info!("ready: echo on {}", stack.describe());
        loop {
            let (conn, _) = listener.accept().await?;
            rt::spawn(async move {
                let mut buf = [0u8; 1500];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

static ECHO: platform::Appliance = platform::Appliance {
    name: "echo",
    summary: "echo service",
    version: "0",
    devices: &[platform::Device::net("service")],
    args: &[],
    main: echo_main,
};

#[test]
fn appliance_gets_a_netstack_from_its_boot_arguments() {
    let world = World::new(9);
    let (server, client) = (world.add_host("server"), world.add_host("client"));
    world.run(async {
        let _app = server.run_appliance(&ECHO, &["--ipv4=10.0.0.9/24"]);
        let ready = server.console().wait_for("ready").await;
        assert!(ready.contains("echo on"), "{ready}");
        let c = client.stack(&["--ipv4=10.0.0.2/24"]).unwrap();
        let conn = c.tcp_connect("10.0.0.9:7".parse().unwrap()).await.unwrap();
        conn.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        let mut got = 0;
        while got < 5 {
            got += conn.read(&mut buf[got..]).await.unwrap();
        }
        assert_eq!(&buf, b"hello");
        // Crash the server: the client's next exchange fails or times out.
        server.crash();
        conn.write_all(b"again").await.unwrap();
        let r = time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await;
        assert!(r.is_err() || r.unwrap().is_err(), "a crashed server does not answer");
    });
}

#[test]
fn ten_megabytes_through_the_switch() {
    let started = std::time::Instant::now();
    let (_, got, took) = tcp_echo(11, LinkConfig::default(), 10_000_000);
    assert_eq!(got.len(), 10_000_000);
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    eprintln!("10 MB echoed in {took:?} virtual, {:?} real", started.elapsed());
}
