//! DNS over UDP and TCP, and the outgoing NOTIFY sender.
//!
//! TCP follows RFC 7766: each message behind a 2-byte length (§8), several
//! queries per connection answered in order (§6.2.1), the connection closed after
//! [`TCP_IDLE`] without a query (§6.2.3), transfers sent as a stream of messages.

use std::rc::Rc;

use dns_core::server::{Handled, Transport};
use hickory_proto::rr::Name;
use platform::stack::{TcpListener, TcpStream};
use platform::time::{self, Duration};
use sansio::Datagram;

use crate::sync::Gate;
use crate::{Shared, now, zones};

/// RFC 7766 §6.2.3 suggests an idle timeout of seconds, not minutes.
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// One outgoing NOTIFY datagram may wait this long for the stack.
const NOTIFY_SEND: Duration = Duration::from_secs(1);
/// A whole transfer must leave within this time.
const TCP_WRITE: Duration = Duration::from_secs(120);

fn is_response(pkt: &[u8]) -> bool {
    pkt.len() >= 12 && pkt[2] & 0x80 != 0
}

/// Serves UDP until the socket fails.
pub async fn udp_loop(shared: Rc<Shared>) -> platform::appliance::AppResult {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, src) = match shared.udp.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                log::warn!("udp: receive failed: {e}");
                continue;
            }
        };
        let pkt = &buf[..n];
        if is_response(pkt) {
            on_response(&shared, src, pkt);
            continue;
        }
        let handled = shared.server.borrow_mut().handle(now(), src, Transport::Udp, pkt);
        match handled {
            Handled::Reply(r) => send(&shared, &r, src).await,
            Handled::Drop => {}
            Handled::Stream(msgs) => {
                for m in msgs {
                    send(&shared, &m, src).await;
                }
            }
            Handled::Update(p) => {
                let shared = shared.clone();
                platform::rt::spawn(async move {
                    let reply = zones::apply_update(&shared, *p).await;
                    send(&shared, &reply, src).await;
                });
            }
            Handled::Notified { zone, reply } => {
                send(&shared, &reply, src).await;
                notified(&shared, &zone);
            }
        }
    }
}

async fn send(shared: &Shared, bytes: &[u8], to: std::net::SocketAddr) {
    if let Err(e) = shared.udp.send_to(bytes, to).await {
        log::debug!("udp: send to {to} failed: {e}");
    }
}

/// A response on our port: a secondary acknowledging our NOTIFY, or the primary
/// answering our SOA query (secondary mode).
fn on_response(shared: &Shared, src: std::net::SocketAddr, pkt: &[u8]) {
    let t = now();
    if shared.notifier.borrow_mut().handle_reply(t, src, pkt) {
        return;
    }
    if let Some(sec) = &shared.secondary
        && sec.borrow_mut().handle_soa_reply(t, src, pkt)
    {
        shared.secondary_wake.raise();
    }
}

/// A signed NOTIFY was accepted for `zone`.
fn notified(shared: &Shared, zone: &Name) {
    log::info!("notify for {zone}: refreshing");
    match &shared.secondary {
        Some(sec) => {
            sec.borrow_mut().handle_notify(now(), zone);
            shared.secondary_wake.raise();
        }
        None => shared.refetch.raise(),
    }
}

/// Accepts TCP connections forever; each gets its own task.
pub async fn tcp_accept(shared: Rc<Shared>, mut listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                stream.set_nodelay(true);
                platform::rt::spawn(tcp_conn(shared.clone(), stream, peer));
            }
            Err(e) => log::warn!("tcp: accept failed: {e}"),
        }
    }
}

/// Reads one length-prefixed message; `None` at a clean end of stream.
pub async fn read_frame(stream: &TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    if !read_exact(stream, &mut len).await? {
        return Ok(None);
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if !read_exact(stream, &mut msg).await? {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(msg))
}

/// Fills `buf`; false when the stream ended before the first byte.
async fn read_exact(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let n = stream.read(&mut buf[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(false);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    Ok(true)
}

/// Writes messages with their length prefix, in one buffer per batch.
pub async fn write_frames(stream: &TcpStream, msgs: &[Vec<u8>]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(msgs.iter().map(|m| m.len() + 2).sum());
    for m in msgs {
        let len = u16::try_from(m.len()).map_err(|_| std::io::Error::other("message over 65535 bytes"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(m);
    }
    stream.write_all(&out).await?;
    stream.flush().await
}

/// One TCP connection: queries are answered in order as they are read; an UPDATE
/// (which waits for a git push) is finished by its own task, so the queries behind it
/// are answered meanwhile (RFC 7766 §6.2.1.1: replies may go out of order, the ids
/// tell them apart). Writes hold a per-connection gate so frames never interleave.
async fn tcp_conn(shared: Rc<Shared>, stream: TcpStream, peer: std::net::SocketAddr) {
    let conn = Rc::new(Conn { stream, writing: Gate::default() });
    loop {
        let msg = match time::timeout(TCP_IDLE, read_frame(&conn.stream)).await {
            Ok(Ok(Some(m))) => m,
            // End of stream, error, or idle: close (after pending updates answered).
            _ => break,
        };
        let msgs = match shared.server.borrow_mut().handle(now(), peer, Transport::Tcp, &msg) {
            Handled::Reply(r) => vec![r],
            Handled::Drop => continue,
            Handled::Stream(msgs) => msgs,
            Handled::Update(p) => {
                let (shared, conn) = (shared.clone(), conn.clone());
                platform::rt::spawn(async move {
                    let reply = zones::apply_update(&shared, *p).await;
                    let _ = conn.send(&[reply]).await;
                });
                continue;
            }
            Handled::Notified { zone, reply } => {
                notified(&shared, &zone);
                vec![reply]
            }
        };
        if conn.send(&msgs).await.is_err() {
            break;
        }
    }
}

struct Conn {
    stream: TcpStream,
    writing: Gate,
}

impl Conn {
    async fn send(&self, msgs: &[Vec<u8>]) -> Result<(), ()> {
        let _turn = self.writing.lock().await;
        match time::timeout(TCP_WRITE, write_frames(&self.stream, msgs)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }
}

/// Sends queued outgoing NOTIFYs, retransmitting until acknowledged (RFC 1996 §3.6).
pub async fn notify_sender(shared: Rc<Shared>) {
    crate::drive::drive(&shared.notifier, &shared.notify_wake, |Datagram { dst, payload }| {
        let shared = shared.clone();
        async move {
            // Transfer keys and NS records may name us (a secondary's own key names
            // it): never NOTIFY ourselves. A send that cannot complete (no ARP
            // answer) must not hold up the others.
            if !shared.stack.addresses().iter().any(|a| a.addr == dst.ip()) {
                let _ = time::timeout(NOTIFY_SEND, send(&shared, &payload, dst)).await;
            }
        }
    })
    .await
}
