//! The lease listing: a plain-text page over HTTP/1.0 on `--status-port`.
//!
//! `GET /` answers every held lease, one per line:
//! `ADDRESS MAC EXPIRES-IN-SECONDS HOSTNAME`, then the counters. Anything
//! else gets 404; a request that does not arrive within 5 s is dropped.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use platform::rt;
use platform::stack::{Stack, TcpStream};
use platform::time::{Duration, timeout};

use crate::{State, mac_str, wall_secs};

pub fn start(stack: &Stack, addr: SocketAddr, state: Rc<RefCell<State>>) -> io::Result<()> {
    let mut listener = stack.tcp_listen(addr)?;
    rt::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    let state = state.clone();
                    rt::spawn(async move {
                        let _ = timeout(Duration::from_secs(5), answer(conn, state)).await;
                    });
                }
                Err(e) => log::warn!("status page: accept failed: {e}"),
            }
        }
    });
    Ok(())
}

/// The listing as text.
pub fn render(state: &State) -> String {
    let now = wall_secs();
    let mut out = String::from("# address mac expires-in hostname\n");
    for l in state.server.table().bound(now) {
        let left = if l.expires == u64::MAX { "infinite".to_string() } else { (l.expires - now).to_string() };
        let _ = writeln!(out, "{} {} {left} {}", l.addr, mac_str(&l.chaddr), l.hostname.as_deref().unwrap_or("-"));
    }
    let (used, size) = state.store.usage();
    let _ = writeln!(out, "# server {:?}", state.server.stats());
    let _ = writeln!(out, "# packets {:?}", state.counters);
    let _ = writeln!(out, "# log {:?}, region {used}/{size} sectors", state.store.stats());
    out
}

async fn answer(conn: TcpStream, state: Rc<RefCell<State>>) -> io::Result<()> {
    let mut req = Vec::new();
    let mut buf = [0u8; 512];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && !req.windows(2).any(|w| w == b"\n\n") && req.len() < 4096 {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = req.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (status, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/")) | (Some("GET"), Some("/leases")) => ("200 OK", render(&state.borrow())),
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.flush().await?;
    conn.shutdown().await
}
