//! The load client of the benchmarks: kernel sockets and std threads, run
//! inside the client's network namespace (`ip netns exec NS xtask bench-client ...`).
//!
//! ```text
//! bench-client tune
//! bench-client send     --addr IP --port P --seconds S
//! bench-client recv     --addr IP --port P --seconds S [--bytes N]
//! bench-client connrate --addr IP --port P --seconds S --workers W
//! ```
//!
//! Each measurement prints one line `RESULT key=value ...` on stdout.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::util::{Context, Error, Result};

/// Period of the source service's pattern: byte `i` is `(i % 251) as u8`.
const PERIOD: usize = 251;
/// Size of one read or write.
const CHUNK: usize = 256 * 1024;
/// How long one socket operation may block before the run counts as hung.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

struct Args {
    addr: Option<IpAddr>,
    port: Option<u16>,
    seconds: f64,
    bytes: u64,
    workers: usize,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut out = Args { addr: None, port: None, seconds: 1.0, bytes: 0, workers: 1 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| Error::usage(format!("{a} needs a value")));
        match a.as_str() {
            "--addr" => out.addr = Some(value()?.parse().context("--addr")?),
            "--port" => out.port = Some(value()?.parse().context("--port")?),
            "--seconds" => out.seconds = value()?.parse().context("--seconds")?,
            "--bytes" => out.bytes = value()?.parse().context("--bytes")?,
            "--workers" => out.workers = value()?.parse().context("--workers")?,
            other => return Err(Error::usage(format!("bench-client: unknown option `{other}`"))),
        }
    }
    Ok(out)
}

pub fn main(args: &[String]) -> Result {
    let Some((mode, rest)) = args.split_first() else {
        return Err(Error::usage("bench-client needs a mode: tune, send, recv or connrate"));
    };
    if mode == "tune" {
        return tune();
    }
    let a = parse(rest)?;
    let target = SocketAddr::new(
        a.addr.ok_or_else(|| Error::usage("bench-client needs --addr"))?,
        a.port.ok_or_else(|| Error::usage("bench-client needs --port"))?,
    );
    match mode.as_str() {
        "send" => send(target, Duration::from_secs_f64(a.seconds)),
        "recv" => recv_for(target, Duration::from_secs_f64(a.seconds), a.bytes),
        "connrate" => connrate(target, Duration::from_secs_f64(a.seconds), a.workers.max(1)),
        other => Err(Error::usage(format!("bench-client: unknown mode `{other}`"))),
    }
}

/// Settings of the client's own namespace for the connection-rate test: a wide
/// port range, and no TIME_WAIT (the client closes first, and tens of thousands
/// of short connections would otherwise exhaust the ports). Per namespace, so
/// the host is untouched.
fn tune() -> Result {
    for (key, value) in [("net/ipv4/ip_local_port_range", "1024 65535"), ("net/ipv4/tcp_max_tw_buckets", "0")] {
        let path = format!("/proc/sys/{key}");
        std::fs::write(&path, value).context(format!("cannot set {path}"))?;
    }
    Ok(())
}

fn connect(target: SocketAddr) -> Result<TcpStream> {
    let s = TcpStream::connect_timeout(&target, IO_TIMEOUT).context(format!("connect to {target}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// `PERIOD + CHUNK` bytes of the pattern, so that `buf[o..o + n]` is the
/// pattern from offset `o` for any `o < PERIOD`, `n <= CHUNK`.
fn pattern() -> Vec<u8> {
    (0..PERIOD + CHUNK).map(|i| (i % PERIOD) as u8).collect()
}

/// Bulk send to the discard service for `duration`, then half-close and check
/// the byte count the server answers.
fn send(target: SocketAddr, duration: Duration) -> Result {
    let data = pattern();
    let mut s = connect(target)?;
    let start = Instant::now();
    let mut sent: u64 = 0;
    while start.elapsed() < duration {
        s.write_all(&data[..CHUNK]).context("write to the discard service")?;
        sent += CHUNK as u64;
    }
    s.shutdown(Shutdown::Write).context("shutdown")?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).context("read the discard service's byte count")?;
    let secs = start.elapsed().as_secs_f64();
    let counted: u64 = answer
        .trim_end_matches('\n')
        .parse()
        .map_err(|_| Error::msg(format!("discard service answered {answer:?}, not a byte count")))?;
    if counted != sent {
        return Err(Error::msg(format!("sent {sent} bytes but the discard service counted {counted}")));
    }
    println!("RESULT bytes={sent} secs={secs:.6}");
    Ok(())
}

/// Size of the probe that sizes a receive measurement.
const PROBE: u64 = 8 << 20;

/// Bulk receive from the source service for about `duration`: the service
/// needs the length up front, so a probe transfer first estimates the rate.
/// `bytes`, when not zero, fixes the length instead.
fn recv_for(target: SocketAddr, duration: Duration, bytes: u64) -> Result {
    let bytes = if bytes > 0 {
        bytes
    } else {
        let (got, secs) = recv(target, PROBE)?;
        ((got as f64 / secs.max(1e-6) * duration.as_secs_f64()) as u64).max(PROBE)
    };
    let (got, secs) = recv(target, bytes)?;
    println!("RESULT bytes={got} secs={secs:.6}");
    Ok(())
}

/// Receives `bytes` from the source service, checking every byte; returns
/// the byte count and the seconds taken.
fn recv(target: SocketAddr, bytes: u64) -> Result<(u64, f64)> {
    let expected = pattern();
    let mut buf = vec![0u8; CHUNK];
    let mut s = connect(target)?;
    let start = Instant::now();
    s.write_all(&bytes.to_be_bytes()).context("write the length to the source service")?;
    let mut got: u64 = 0;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::msg(format!("read from the source service after {got} bytes: {e}"))),
        };
        let off = (got % PERIOD as u64) as usize;
        if buf[..n] != expected[off..off + n] {
            return Err(Error::msg(format!("source service sent wrong data within bytes {got}..{}", got + n as u64)));
        }
        got += n as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    if got != bytes {
        return Err(Error::msg(format!("asked the source service for {bytes} bytes, got {got} before EOF")));
    }
    Ok((got, secs))
}

/// Connection rate: `workers` threads, each connecting, echoing one byte and
/// closing, over and over for `duration`.
fn connrate(target: SocketAddr, duration: Duration, workers: usize) -> Result {
    let start = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
                while start.elapsed() < duration {
                    match echo_once(target) {
                        Ok(()) => ok += 1,
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e.message);
                        }
                    }
                }
                (ok, errors, first_error)
            })
        })
        .collect();
    let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
    for h in handles {
        let (o, e, f) = h.join().map_err(|_| Error::msg("a connection-rate worker panicked"))?;
        ok += o;
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(e) = &first_error {
        eprintln!("bench-client: {errors} failed connections; first: {e}");
    }
    println!("RESULT connections={ok} errors={errors} secs={secs:.6}");
    Ok(())
}

fn echo_once(target: SocketAddr) -> Result {
    let mut s = connect(target)?;
    s.set_nodelay(true)?;
    s.write_all(b"x").context("write to the echo service")?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).context("read from the echo service")?;
    if b != *b"x" {
        return Err(Error::msg(format!("echo service answered {:?} to \"x\"", b[0] as char)));
    }
    Ok(())
}
