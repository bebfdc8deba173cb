//! `pinata-load`: a TLS 1.3 mutual-authentication handshake load generator,
//! the one load tool of `cargo xtask bench pinata` for the Piñata and for
//! `openssl s_server -Verify 1` alike.
//!
//! N worker threads, each in a loop for D seconds: connect, run a full TLS 1.3
//! handshake with rustls (ring) presenting the given client certificate (no
//! resumption, no tickets kept), then wait for the server's verdict on that
//! certificate, which TLS 1.3 gives only after the client's Finished:
//!
//! - **accepted**: the first complete record after the handshake decrypts
//!   without error (the Piñata's secret, or the session ticket `s_server`
//!   sends once it accepted the client);
//! - **refused**: a fatal alert (or an error while the handshake ran).
//!
//! Anything else (connect errors, timeouts, EOF without a verdict) is a
//! failure. The server's certificate chain is not checked (any server is a
//! target), but its handshake signature is. Prints one line:
//! `pinata-load: accepted=A refused=R failed=F seconds=S rate=X` where rate is
//! the count of the `--expect`ed verdict per second.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netio::tls::verify::{AnyCert, Verifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection};

const USAGE: &str = "usage: pinata-load --connect HOST:PORT --cert FILE --key FILE [--workers N] [--seconds D] \
                     [--expect accepted|refused] [--server-name NAME]";

/// Limit on each connect, read and write.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

struct Options {
    addr: SocketAddr,
    cert: String,
    key: String,
    workers: usize,
    seconds: f64,
    expect_accepted: bool,
    server_name: String,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut addr = None;
    let (mut cert, mut key) = (None, None);
    let (mut workers, mut seconds, mut expect_accepted) = (4usize, 5.0f64, true);
    let mut server_name = "pinata.local".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned()).ok_or(format!("{name} needs a value"));
        match name {
            "--connect" => {
                let v = value()?;
                addr = Some(
                    v.to_socket_addrs()
                        .map_err(|e| format!("--connect {v}: {e}"))?
                        .next()
                        .ok_or(format!("--connect {v}: no address"))?,
                )
            }
            "--cert" => cert = Some(value()?),
            "--key" => key = Some(value()?),
            "--workers" => workers = value()?.parse().map_err(|e| format!("--workers: {e}"))?,
            "--seconds" => seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--server-name" => server_name = value()?,
            "--expect" => {
                expect_accepted = match value()?.as_str() {
                    "accepted" => true,
                    "refused" => false,
                    other => return Err(format!("--expect accepted|refused, not {other}")),
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if workers == 0 || seconds.is_nan() || seconds <= 0.0 {
        return Err("--workers and --seconds must be positive".into());
    }
    Ok(Options {
        addr: addr.ok_or(format!("--connect is required\n{USAGE}"))?,
        cert: cert.ok_or(format!("--cert is required\n{USAGE}"))?,
        key: key.ok_or(format!("--key is required\n{USAGE}"))?,
        workers,
        seconds,
        expect_accepted,
        server_name,
    })
}

fn config(o: &Options) -> Result<Arc<ClientConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&o.cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e:?}", o.cert))?;
    let key = PrivateKeyDer::from_pem_file(&o.key).map_err(|e| format!("{}: {e:?}", o.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Verifier::new(AnyCert, provider))
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("client certificate: {e}"))?;
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(cfg))
}

/// The server's verdict on one handshake.
enum Verdict {
    Accepted,
    Refused,
}

/// One connection: handshake, then the verdict.
fn attempt(o: &Options, cfg: &Arc<ClientConfig>, name: &ServerName<'static>) -> Result<Verdict, String> {
    let mut sock = TcpStream::connect_timeout(&o.addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut conn = ClientConnection::new(cfg.clone(), name.clone()).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e) if is_alert(&e) => return Ok(Verdict::Refused),
            Err(e) => return Err(format!("handshake: {e}")),
        }
    }
    // The verdict: the first complete record after the handshake.
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut buf = [0u8; 4096];
    loop {
        if let Some(len) = complete_record(&pending) {
            let mut record = &pending[..len];
            while !record.is_empty() {
                conn.read_tls(&mut record).map_err(|e| e.to_string())?;
            }
            return match conn.process_new_packets() {
                Ok(_) => {
                    conn.send_close_notify();
                    let _ = conn.write_tls(&mut sock);
                    Ok(Verdict::Accepted)
                }
                Err(rustls::Error::AlertReceived(_)) => Ok(Verdict::Refused),
                Err(e) => Err(format!("after the handshake: {e}")),
            };
        }
        match sock.read(&mut buf) {
            Ok(0) => return Err("the server closed without a verdict".into()),
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("waiting for the verdict: {e}")),
        }
    }
}

/// The length of the first TLS record in `buf`, if it is all there.
fn complete_record(buf: &[u8]) -> Option<usize> {
    let header = buf.get(..5)?;
    let len = 5 + u16::from_be_bytes([header[3], header[4]]) as usize;
    (buf.len() >= len).then_some(len)
}

fn is_alert(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::AlertReceived(_)))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pinata-load: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = match config(&o) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pinata-load: {e}");
            return ExitCode::from(2);
        }
    };
    let name = match ServerName::try_from(o.server_name.clone()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("pinata-load: --server-name: {e}");
            return ExitCode::from(2);
        }
    };
    let (accepted, refused, failed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let reasons: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(o.seconds);
    std::thread::scope(|s| {
        for _ in 0..o.workers {
            s.spawn(|| {
                while Instant::now() < deadline {
                    match attempt(&o, &cfg, &name) {
                        Ok(Verdict::Accepted) => accepted.fetch_add(1, Ordering::Relaxed),
                        Ok(Verdict::Refused) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            let mut r = reasons.lock().unwrap();
                            if r.len() < 5 {
                                r.push(e);
                            }
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let (a, r, f) = (accepted.into_inner(), refused.into_inner(), failed.into_inner());
    for reason in reasons.into_inner().unwrap() {
        eprintln!("pinata-load: failure: {reason}");
    }
    let expected = if o.expect_accepted { a } else { r };
    let unexpected = if o.expect_accepted { r } else { a };
    println!(
        "pinata-load: accepted={a} refused={r} failed={f} seconds={seconds:.3} rate={:.1}",
        expected as f64 / seconds
    );
    let _ = io::stdout().flush();
    if expected == 0 || unexpected > 0 {
        eprintln!(
            "pinata-load: expected every handshake to be {}",
            if o.expect_accepted { "accepted" } else { "refused" }
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
