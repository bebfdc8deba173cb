//! The client side of the contract: each check drives the contract server
//! through a [`Stack`] and reports what it saw. The same functions run on
//! every backend; only the stack they are given differs.

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::task::{Poll, Waker};

use platform::block::{Block, BlockError};
use platform::rt;
use platform::stack::{Stack, TcpStream};
use platform::time::{self, Duration};
use sha2::{Digest, Sha256};

use crate::{Ports, pattern_byte};

/// A failed check, with what was expected and what happened.
pub type CheckResult = Result<(), String>;

/// How hard the network checks push.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// Connections open at the same time in the concurrency check.
    pub connections: usize,
    /// Bytes sent (and echoed) in the bulk transfer check.
    pub bulk_bytes: u64,
    /// Guard against a hung check; not a performance bound.
    pub limit: Duration,
}

impl Profile {
    /// The full contract: 1,000 concurrent connections, 100 MB checked by hash.
    pub const FULL: Profile =
        Profile { connections: 1000, bulk_bytes: 100 * 1000 * 1000, limit: Duration::from_secs(600) };
}

/// Runs every network check in order, stopping at the first failure; the
/// error names the check.
pub async fn network(stack: &Stack, server: IpAddr, ports: Ports, profile: Profile) -> CheckResult {
    let limit = profile.limit;
    let named = |name: &'static str, r: Result<CheckResult, time::Elapsed>| match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{name}: {e}")),
        Err(_) => Err(format!("{name}: did not finish within {limit:?}")),
    };
    named("udp echo", time::timeout(limit, udp_echo(stack, server, ports, 50)).await)?;
    named("half-close", time::timeout(limit, half_close(stack, server, ports)).await)?;
    named("peer reset", time::timeout(limit, peer_reset(stack, server, ports)).await)?;
    let closed = ports.echo.wrapping_add(1000);
    named("refused", time::timeout(limit, connection_refused(stack, server, closed)).await)?;
    named("discard", time::timeout(limit, discard_count(stack, server, ports, 1_000_000)).await)?;
    named("source", time::timeout(limit, source_pattern(stack, server, ports, 1_000_000)).await)?;
    let conns = profile.connections;
    named("concurrent echo", time::timeout(limit, concurrent_echo(stack, server, ports, conns)).await)?;
    named("bulk echo", time::timeout(limit, bulk_echo_hash(stack, server, ports, profile.bulk_bytes)).await)
}

fn at(server: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(server, port)
}

async fn connect(stack: &Stack, addr: SocketAddr) -> Result<TcpStream, String> {
    stack.tcp_connect(addr).await.map_err(|e| format!("connect to {addr}: {e}"))
}

async fn read_to_end(stream: &TcpStream, out: &mut Vec<u8>) -> Result<(), String> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Deterministic bytes for payloads (xorshift64*), so failures reproduce.
pub struct Payload(u64);

impl Payload {
    pub fn new(seed: u64) -> Payload {
        Payload(seed | 1)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// UDP echo: `count` datagrams of growing size come back intact. Lost
/// datagrams are re-sent (the simulator may drop them on purpose).
pub async fn udp_echo(stack: &Stack, server: IpAddr, ports: Ports, count: usize) -> CheckResult {
    let bind = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let sock = stack.udp_bind(bind.parse().expect("literal")).map_err(|e| format!("udp bind: {e}"))?;
    let to = at(server, ports.echo);
    let mut buf = vec![0u8; 2048];
    for i in 0..count {
        let msg: Vec<u8> = (0..(i * 20 + 1)).map(|j| (i + j) as u8).collect();
        let mut attempts = 0;
        loop {
            attempts += 1;
            sock.send_to(&msg, to).await.map_err(|e| format!("udp send {i}: {e}"))?;
            match time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await {
                Ok(Ok((n, from))) if from == to && buf[..n] == msg[..] => break,
                Ok(Ok((n, from))) => {
                    // A late duplicate of an earlier datagram: ignore it.
                    if from != to || n > msg.len() {
                        return Err(format!("udp echo {i}: unexpected {n} bytes from {from}"));
                    }
                }
                Ok(Err(e)) => return Err(format!("udp recv {i}: {e}")),
                Err(_) if attempts < 20 => {}
                Err(_) => return Err(format!("udp echo {i}: no answer after {attempts} tries")),
            }
        }
    }
    Ok(())
}

/// Half-close: the client sends, then shuts down its side; the server keeps
/// echoing and closes only after the client's FIN.
pub async fn half_close(stack: &Stack, server: IpAddr, ports: Ports) -> CheckResult {
    let stream = connect(stack, at(server, ports.echo)).await?;
    let mut data = vec![0u8; 200_000];
    Payload::new(7).fill(&mut data);
    let (reader, writer) = stream.split();
    let sent = data.clone();
    let write = rt::spawn(async move {
        writer.write_all(&sent).await.map_err(|e| format!("write: {e}"))?;
        writer.shutdown().await.map_err(|e| format!("shutdown: {e}"))
    });
    let mut got = Vec::new();
    read_to_end(&reader, &mut got).await?;
    write.await?;
    if got != data {
        return Err(format!("half-close: echoed {} bytes, expected {} identical bytes", got.len(), data.len()));
    }
    Ok(())
}

/// Peer reset: the server resets after one byte; the client must see
/// `ConnectionReset`, not a clean end of stream.
pub async fn peer_reset(stack: &Stack, server: IpAddr, ports: Ports) -> CheckResult {
    let stream = connect(stack, at(server, ports.reset)).await?;
    stream.write_all(b"x").await.map_err(|e| format!("write: {e}"))?;
    let mut buf = [0u8; 16];
    match stream.read(&mut buf).await {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(format!("peer reset: expected ConnectionReset, got {e} ({:?})", e.kind())),
        Ok(0) => Err("peer reset: saw a clean end of stream instead of a reset".into()),
        Ok(_) => Err("peer reset: the reset port sent data".into()),
    }
}

/// A connection to a closed port is refused.
pub async fn connection_refused(stack: &Stack, server: IpAddr, closed_port: u16) -> CheckResult {
    match stack.tcp_connect(at(server, closed_port)).await {
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(format!("closed port {closed_port}: expected ConnectionRefused, got {e} ({:?})", e.kind())),
        Ok(_) => Err(format!("closed port {closed_port}: connection was accepted")),
    }
}

/// Discard: the server counts what it received.
pub async fn discard_count(stack: &Stack, server: IpAddr, ports: Ports, bytes: u64) -> CheckResult {
    let stream = connect(stack, at(server, ports.discard)).await?;
    let buf = vec![0x5au8; 32 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        stream.write_all(&buf[..n]).await.map_err(|e| format!("write: {e}"))?;
        left -= n as u64;
    }
    stream.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
    let mut answer = Vec::new();
    read_to_end(&stream, &mut answer).await?;
    let expected = format!("{bytes}\n");
    if answer != expected.as_bytes() {
        return Err(format!("discard: server counted {:?}, expected {expected:?}", String::from_utf8_lossy(&answer)));
    }
    Ok(())
}

/// Source: the server sends exactly the requested pattern.
pub async fn source_pattern(stack: &Stack, server: IpAddr, ports: Ports, bytes: u64) -> CheckResult {
    let stream = connect(stack, at(server, ports.source)).await?;
    stream.write_all(&bytes.to_be_bytes()).await.map_err(|e| format!("write: {e}"))?;
    let mut buf = vec![0u8; 32 * 1024];
    let mut seen = 0u64;
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            if *b != pattern_byte(seen + i as u64) {
                return Err(format!(
                    "source: byte {} is {b}, expected {}",
                    seen + i as u64,
                    pattern_byte(seen + i as u64)
                ));
            }
        }
        seen += n as u64;
    }
    if seen != bytes {
        return Err(format!("source: received {seen} bytes, expected {bytes}"));
    }
    Ok(())
}

/// Waits until `n` parties have arrived.
struct Barrier {
    waiting: Cell<usize>,
    wakers: RefCell<Vec<Waker>>,
}

impl Barrier {
    async fn arrive(&self) {
        self.waiting.set(self.waiting.get().saturating_sub(1));
        if self.waiting.get() == 0 {
            self.wakers.borrow_mut().drain(..).for_each(Waker::wake);
        }
        std::future::poll_fn(|cx| {
            if self.waiting.get() == 0 {
                Poll::Ready(())
            } else {
                self.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// `n` connections are open at once, then each echoes its own payload.
pub async fn concurrent_echo(stack: &Stack, server: IpAddr, ports: Ports, n: usize) -> CheckResult {
    let barrier = Rc::new(Barrier { waiting: Cell::new(n), wakers: RefCell::new(Vec::new()) });
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let stack = stack.clone();
        let barrier = barrier.clone();
        tasks.push(rt::spawn(async move {
            let connected = connect(&stack, at(server, ports.echo)).await;
            barrier.arrive().await;
            let stream = connected?;
            let mut payload = vec![0u8; 1000 + i % 700];
            Payload::new(i as u64 + 1).fill(&mut payload);
            stream.write_all(&payload).await.map_err(|e| format!("write: {e}"))?;
            stream.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
            let mut got = Vec::new();
            read_to_end(&stream, &mut got).await?;
            if got != payload {
                return Err(format!("got {} bytes back, expected {} identical bytes", got.len(), payload.len()));
            }
            Ok::<(), String>(())
        }));
    }
    let mut failures = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if let Err(e) = t.await {
            failures.push(format!("connection {i}: {e}"));
        }
    }
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(format!("{} of {n} concurrent connections failed; first: {first}", failures.len())),
    }
}

/// Sends `bytes` of pseudo-random data to the echo service while reading the
/// echo, and compares SHA-256 digests of both directions.
pub async fn bulk_echo_hash(stack: &Stack, server: IpAddr, ports: Ports, bytes: u64) -> CheckResult {
    let stream = connect(stack, at(server, ports.echo)).await?;
    let (reader, writer) = stream.split();
    let write = rt::spawn(async move {
        let mut payload = Payload::new(0xc0ffee);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            payload.fill(&mut buf[..n]);
            hash.update(&buf[..n]);
            writer.write_all(&buf[..n]).await.map_err(|e| format!("write: {e}"))?;
            left -= n as u64;
        }
        writer.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
        Ok::<_, String>(hash.finalize())
    });
    let mut hash = Sha256::new();
    let mut received = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| format!("read after {received} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        received += n as u64;
    }
    let sent = write.await?;
    if received != bytes || hash.finalize() != sent {
        return Err(format!("bulk echo: received {received} of {bytes} bytes, digests differ"));
    }
    Ok(())
}

/// The block contract: round trips, flush, and the two error cases.
pub fn block(dev: &dyn Block) -> CheckResult {
    let info = dev.info();
    let ss = info.sector_size;
    if ss < 512 || !ss.is_power_of_two() || info.sectors == 0 {
        return Err(format!("block: bad geometry {info:?}"));
    }
    let last = info.sectors - 1;
    let mut payload = Payload::new(0xb10c);
    let span = (info.sectors.min(4) as usize) * ss;
    let mut first = vec![0u8; span];
    payload.fill(&mut first);
    let mut tail = vec![0u8; ss];
    payload.fill(&mut tail);
    let e = |what: &str, err: BlockError| format!("block: {what}: {err}");
    dev.write(0, &first).map_err(|err| e("write at 0", err))?;
    dev.write(last, &tail).map_err(|err| e("write of the last sector", err))?;
    dev.flush().map_err(|err| e("flush", err))?;
    let mut back = vec![0u8; span];
    dev.read(0, &mut back).map_err(|err| e("read at 0", err))?;
    let mut back_tail = vec![0u8; ss];
    dev.read(last, &mut back_tail).map_err(|err| e("read of the last sector", err))?;
    if back != first || back_tail != tail {
        return Err("block: data read back differs from data written".into());
    }
    match dev.read(info.sectors, &mut back_tail) {
        Err(BlockError::OutOfRange { .. }) => {}
        other => return Err(format!("block: read past the end gave {other:?}, expected OutOfRange")),
    }
    match dev.write(last, &first[..2 * ss]) {
        Err(BlockError::OutOfRange { .. }) => {}
        other => return Err(format!("block: write across the end gave {other:?}, expected OutOfRange")),
    }
    match dev.write(0, &first[..ss / 2]) {
        Err(BlockError::Misaligned { .. }) => {}
        other => return Err(format!("block: half-sector write gave {other:?}, expected Misaligned")),
    }
    let mut again = vec![0u8; ss];
    dev.read(last, &mut again).map_err(|err| e("read after failed writes", err))?;
    if again != tail {
        return Err("block: a refused write changed the device".into());
    }
    Ok(())
}

/// The clock contract: monotonic time never goes back, sleeping advances it
/// at least as far as asked, and the wall clock is plausible.
pub async fn clock() -> CheckResult {
    let start = time::now();
    let mut last = start;
    for ms in [0u64, 1, 10, 25] {
        time::sleep(Duration::from_millis(ms)).await;
        let now = time::now();
        if now < last {
            return Err(format!("clock: went back from {last:?} to {now:?}"));
        }
        if now - last < Duration::from_millis(ms) {
            return Err(format!("clock: sleep({ms} ms) returned after {:?}", now - last));
        }
        last = now;
    }
    let wall = time::wall().duration_since(std::time::UNIX_EPOCH).map_err(|_| "clock: wall clock before 1970")?;
    if wall.as_secs() < 1_577_836_800 {
        return Err(format!("clock: wall clock {}s is before 2020", wall.as_secs()));
    }
    Ok(())
}
