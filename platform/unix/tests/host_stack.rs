//! The host-socket stack over loopback.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use platform::rt;
use platform::stack::{FrameFilter, TcpStream};
use platform::time;
use platform_unix::{block_on, host_stack};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn any_port() -> SocketAddr {
    SocketAddr::new(LOOPBACK, 0)
}

/// Bounds every test so a bug fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(20);

async fn read_to_end(s: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn tcp_echo_of_a_megabyte() {
    block_on(async {
        time::timeout(LIMIT, async {
            let stack = host_stack();
            let mut listener = stack.tcp_listen(any_port()).unwrap();
            let addr = listener.local_addr();
            assert_ne!(addr.port(), 0);
            let server = rt::spawn(async move {
                let (conn, peer) = listener.accept().await.unwrap();
                assert_eq!(peer.ip(), LOOPBACK);
                testkit::echo::until_eof(&conn).await;
            });
            let client = stack.tcp_connect(addr).await.unwrap();
            client.set_nodelay(true);
            assert_eq!(client.peer_addr(), addr);
            let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
            let (reader, writer) = client.split();
            let expected = data.clone();
            let reading = rt::spawn(async move { read_to_end(&reader).await.unwrap() });
            writer.write_all(&data).await.unwrap();
            writer.flush().await.unwrap();
            writer.shutdown().await.unwrap();
            let echoed = reading.await;
            assert_eq!(echoed.len(), expected.len());
            assert!(echoed == expected);
            server.await;
        })
        .await
        .expect("test timed out");
    });
}

#[test]
fn half_close_keeps_the_other_direction_open() {
    block_on(async {
        time::timeout(LIMIT, async {
            let stack = host_stack();
            let mut listener = stack.tcp_listen_with_backlog(any_port(), 4).unwrap();
            let addr = listener.local_addr();
            let server = rt::spawn(async move {
                let (conn, _) = listener.accept().await.unwrap();
                let got = read_to_end(&conn).await.unwrap();
                assert_eq!(got, b"request");
                // Our peer has closed its sending side; we can still answer.
                conn.write_all(b"answer").await.unwrap();
                drop(conn);
            });
            let client = stack.tcp_connect(addr).await.unwrap();
            client.write_all(b"request").await.unwrap();
            client.shutdown().await.unwrap();
            client.shutdown().await.unwrap(); // idempotent
            assert_eq!(read_to_end(&client).await.unwrap(), b"answer");
            server.await;
        })
        .await
        .expect("test timed out");
    });
}

#[test]
fn abort_resets_the_connection() {
    block_on(async {
        time::timeout(LIMIT, async {
            let stack = host_stack();
            let mut listener = stack.tcp_listen(any_port()).unwrap();
            let addr = listener.local_addr();
            let server = rt::spawn(async move {
                let (conn, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 5];
                let n = conn.read(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"hello");
                conn.abort();
            });
            let client = stack.tcp_connect(addr).await.unwrap();
            client.write_all(b"hello").await.unwrap();
            server.await;
            let mut buf = [0u8; 16];
            let err = client.read(&mut buf).await.expect_err("read after RST must fail");
            assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
            // Writing to a reset connection is a reset too, not a broken pipe.
            let err = client.write_all(b"more").await.expect_err("write after RST must fail");
            assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        })
        .await
        .expect("test timed out");
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    block_on(async {
        let stack = host_stack();
        // Bind a port, then close it, so nothing listens there.
        let addr = stack.tcp_listen(any_port()).unwrap().local_addr();
        let err = time::timeout(LIMIT, stack.tcp_connect(addr)).await.unwrap().expect_err("nothing listens");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn listening_twice_on_one_port_fails() {
    block_on(async {
        let stack = host_stack();
        let first = stack.tcp_listen(any_port()).unwrap();
        let err = stack.tcp_listen(first.local_addr()).expect_err("port is taken");
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn udp_echo() {
    block_on(async {
        time::timeout(LIMIT, async {
            let stack = host_stack();
            let server = stack.udp_bind(any_port()).unwrap();
            let server_addr = server.local_addr();
            let echo = rt::spawn(async move {
                let mut buf = [0u8; 2048];
                for _ in 0..3 {
                    let (n, from) = server.recv_from(&mut buf).await.unwrap();
                    server.send_to(&buf[..n], from).await.unwrap();
                }
            });
            let client = stack.udp_bind(any_port()).unwrap();
            for msg in [&b"one"[..], &[0xabu8; 1400][..], b""] {
                assert_eq!(client.send_to(msg, server_addr).await.unwrap(), msg.len());
                let mut buf = [0u8; 2048];
                let (n, from) = client.recv_from(&mut buf).await.unwrap();
                assert_eq!(from, server_addr);
                assert_eq!(&buf[..n], msg);
            }
            echo.await;
        })
        .await
        .expect("test timed out");
    });
}

#[test]
fn udp_datagram_is_truncated_to_the_buffer() {
    block_on(async {
        time::timeout(LIMIT, async {
            let stack = host_stack();
            let a = stack.udp_bind(any_port()).unwrap();
            let b = stack.udp_bind(any_port()).unwrap();
            a.send_to(&[1u8; 100], b.local_addr()).await.unwrap();
            a.send_to(b"next", b.local_addr()).await.unwrap();
            let mut small = [0u8; 10];
            let (n, _) = b.recv_from(&mut small).await.unwrap();
            assert_eq!(n, 10);
            let (n, _) = b.recv_from(&mut small).await.unwrap();
            assert_eq!(&small[..n], b"next");
        })
        .await
        .expect("test timed out");
    });
}

#[test]
fn describes_itself_and_lists_loopback() {
    block_on(async {
        let stack = host_stack();
        assert_eq!(stack.describe(), "host sockets");
        let addrs = stack.addresses();
        assert!(addrs.iter().any(|c| c.addr == LOOPBACK && c.prefix == 8), "{addrs:?}");
        let err = stack.raw_frames(FrameFilter::All).expect_err("no raw frames on host sockets");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("--net:"), "{err}");
    });
}
