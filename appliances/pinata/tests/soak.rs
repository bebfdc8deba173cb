//! Soak: 10,000 failed handshakes on the bounty port (TLS 1.3 clients
//! without a certificate, refused by the Piñata) leave its memory flat and
//! never yield the secret.

mod local;
mod support;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;

use local::*;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use support::WAIT;

use netio::tls::verify::{AnyCert, Verifier};

/// `n` handshakes without a client certificate, on `threads` threads; the
/// bytes each connection received after the handshake.
fn refused_handshakes(port: u16, n: usize, threads: usize, secret: &str) {
    let provider = pinata_core::tls::provider();
    let cfg = Arc::new(
        ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Verifier::new(AnyCert, provider))
            .with_no_client_auth(),
    );
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let cfg = cfg.clone();
            let secret = secret.as_bytes().to_vec();
            thread::spawn(move || {
                for _ in (t..n).step_by(threads) {
                    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    sock.set_read_timeout(Some(WAIT)).unwrap();
                    let mut conn =
                        ClientConnection::new(cfg.clone(), ServerName::try_from("pinata.local").unwrap()).unwrap();
                    while conn.is_handshaking() {
                        if conn.complete_io(&mut sock).is_err() {
                            break;
                        }
                    }
                    let mut plain = Vec::new();
                    loop {
                        match conn.complete_io(&mut sock) {
                            Ok((0, _)) | Err(_) => break,
                            Ok(_) => {
                                let _ = conn.reader().read_to_end(&mut plain);
                            }
                        }
                    }
                    let _ = conn.reader().read_to_end(&mut plain);
                    assert!(!plain.windows(secret.len()).any(|w| w == secret.as_slice()), "got the secret");
                    // Close our side (the Piñata waits for it, so that TIME-WAIT
                    // is ours), then wait for the Piñata to close: its task for
                    // this connection is over.
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                    let mut rest = Vec::new();
                    let _ = sock.read_to_end(&mut rest);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

/// Resident memory of the Piñata process, in KiB (from /proc).
fn rss_kib(pinata: &Pinata) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pinata.app.proc.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn ten_thousand_failed_handshakes_with_flat_memory() {
    let mut pinata = Pinata::start(false);
    let port = pinata.ports.server;
    let secret = pinata.secret.clone();
    refused_handshakes(port, 1_000, 2, &secret);
    let warm = rss_kib(&pinata);
    refused_handshakes(port, 9_000, 2, &secret);
    let after = rss_kib(&pinata);
    eprintln!("pinata RSS after 1,000 failed handshakes: {warm} KiB; after 10,000: {after} KiB");
    assert!(after <= warm + 4 * 1024, "memory grew from {warm} KiB to {after} KiB");
    // Every one of them was counted as a failed handshake.
    let page = curl(&[&format!("http://127.0.0.1:{}/", pinata.ports.http)]);
    assert!(
        page.contains(&format!("<tr><td>{port}</td><td>tls-server</td><td>10000</td><td>0</td><td>10000</td>")),
        "{page}"
    );
    pinata.check();
}
