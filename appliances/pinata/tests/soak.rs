//! Soak: 10,000 failed handshakes on the bounty port (TLS 1.3 clients
//! without a certificate, refused by the Piñata) leave its memory flat and
//! never yield the secret.

mod support;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use support::*;

/// Accepts the Piñata's server certificate without checking (we are the attacker).
#[derive(Debug)]
struct Blind(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Blind {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `n` handshakes without a client certificate, on `threads` threads; the
/// bytes each connection received after the handshake.
fn refused_handshakes(port: u16, n: usize, threads: usize, secret: &str) {
    let provider = pinata_core::tls::provider();
    let cfg = Arc::new(
        ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Blind(provider)))
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

#[test]
fn ten_thousand_failed_handshakes_with_flat_memory() {
    let mut pinata = Pinata::start(false);
    let port = pinata.ports.server;
    let secret = pinata.secret.clone();
    refused_handshakes(port, 1_000, 2, &secret);
    let warm = pinata.rss_kib();
    refused_handshakes(port, 9_000, 2, &secret);
    let after = pinata.rss_kib();
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
