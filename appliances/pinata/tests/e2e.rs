//! End-to-end tests of the unix Piñata with real clients: `openssl s_client`,
//! `openssl s_server` and `curl` (Debian packages `openssl` and `curl`).
//! Each test runs its own `pinata` process on free ports of 127.0.0.1 and
//! waits for its "ready" line, never a fixed sleep.

mod clients;
mod local;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clients::*;
use local::*;
use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
use support::*;
use testkit::certs::{CertFiles, EXPIRED, VALID, ca as other_ca, self_signed_cert, signed_cert};
use testkit::{TempDir, free_port};

/// `openssl s_client` to 127.0.0.1:`port`, waiting for the server to close.
fn s_client(port: u16, cert: Option<&CertFiles>, extra: &[&str]) -> String {
    s_client_to(None, "127.0.0.1", port, cert, extra)
}

/// `openssl s_server` on 127.0.0.1:`port`, serving one connection.
fn s_server(port: u16, cert: &CertFiles) -> SServer {
    SServer::start_at(None, "127.0.0.1", port, cert)
}

/// Connects to 127.0.0.1:`a` and 127.0.0.1:`b` and copies bytes both ways until either
/// closes.
fn relay(a: u16, b: u16) -> thread::JoinHandle<()> {
    relay_addrs(SocketAddr::from(([127, 0, 0, 1], a)), SocketAddr::from(([127, 0, 0, 1], b)))
}

/// A client certificate that does not chain to the Piñata CA gets nothing:
/// none, self-signed, another CA's, one signed by a key claiming the Piñata
/// CA's name; on TLS 1.3 and 1.2.
#[test]
fn server_port_refuses_foreign_client_certificates() {
    let mut pinata = Pinata::start(false);
    let dir = TempDir::new("refuse");
    let port = pinata.ports.server;
    let cases: Vec<(&str, Option<CertFiles>)> = vec![
        ("no certificate", None),
        ("self-signed", Some(self_signed_cert(&dir, "self", ClientAuth))),
        ("other CA", Some(signed_cert(&dir, "other", &other_ca("Other CA"), ClientAuth, VALID))),
        (
            "forged Piñata CA name",
            Some(signed_cert(&dir, "forged", &other_ca(pinata_core::pki::CA_NAME), ClientAuth, VALID)),
        ),
        (
            "public test CA (not trusted outside --test)",
            Some(signed_cert(&dir, "testca", &test_ca(), ClientAuth, VALID)),
        ),
    ];
    let mut failures = 0;
    for (what, cert) in &cases {
        for version in ["-tls1_3", "-tls1_2"] {
            let out = s_client(port, cert.as_ref(), &[version]);
            assert!(!out.contains(&pinata.secret), "{what} {version}: got the secret:\n{out}");
            failures += 1;
            pinata.log.wait_for_nth(&format!("a refusal of {what} {version}"), failures, handshake_failed_on(port));
        }
    }
    // curl as a TLS client of the bounty port: without a certificate, and with a self-signed one.
    let url = format!("https://127.0.0.1:{port}/");
    let self_signed = cases[1].1.as_ref().unwrap();
    for args in [
        vec!["-k", url.as_str()],
        vec!["-k", "--cert", path_str(&self_signed.cert), "--key", path_str(&self_signed.key), url.as_str()],
    ] {
        let out = curl(&args);
        assert!(!out.contains(&pinata.secret), "curl {args:?} got the secret:\n{out}");
        failures += 1;
        pinata.log.wait_for_nth("a refusal of curl", failures, handshake_failed_on(port));
    }
    assert_eq!(pinata.log.count(secret_sent_on(port)), 0);
    let refusal = pinata.log.wait_for("a logged reason", handshake_failed_on(port));
    assert!(refusal.contains("TLSv1_3") || refusal.contains("TLSv1_2"), "no version in {refusal}");
    pinata.check();
}

/// In test mode a client certificate signed with the published test CA key
/// wins on 10000 (TLS 1.3 and 1.2); expired or serverAuth-only ones do not.
#[test]
fn server_port_test_mode_positive_and_negative() {
    let mut pinata = Pinata::start(true);
    let dir = TempDir::new("server-test");
    let port = pinata.ports.server;
    let good = signed_cert(&dir, "good", &test_ca(), ClientAuth, VALID);
    for (n, version) in ["-tls1_3", "-tls1_2"].into_iter().enumerate() {
        let out = s_client(port, Some(&good), &[version]);
        assert!(out.contains(&pinata.secret), "{version}: no secret:\n{out}");
        let line = pinata.log.wait_for_nth("secret sent", n + 1, secret_sent_on(port));
        assert!(line.contains(if n == 0 { "TLSv1_3" } else { "TLSv1_2" }), "{line}");
    }
    // curl too (the secret is no HTTP response: it reads as HTTP/0.9).
    let url = format!("https://127.0.0.1:{port}/");
    let out = curl(&["-k", "--http0.9", "--cert", path_str(&good.cert), "--key", path_str(&good.key), &url]);
    assert!(out.contains(&pinata.secret), "curl: no secret:\n{out}");
    pinata.log.wait_for_nth("secret sent", 3, secret_sent_on(port));
    let expired = signed_cert(&dir, "expired", &test_ca(), ClientAuth, EXPIRED);
    let server_only = signed_cert(&dir, "server-only", &test_ca(), ServerAuth, VALID);
    for (n, (what, cert)) in [("expired", &expired), ("serverAuth only", &server_only)].into_iter().enumerate() {
        let out = s_client(port, Some(cert), &[]);
        assert!(!out.contains(&pinata.secret), "{what}: got the secret:\n{out}");
        let line = pinata.log.wait_for_nth(what, n + 1, handshake_failed_on(port));
        if what == "expired" {
            assert!(line.to_lowercase().contains("expired"), "{line}");
        }
    }
    pinata.check();
}

/// The rules page over HTTP and HTTPS; curl trusts the CA fetched from /ca.pem.
#[test]
fn rules_page_over_http_and_https() {
    let mut pinata = Pinata::start(false);
    let dir = TempDir::new("page");
    let http = pinata.ports.http;
    let page = curl(&[&format!("http://127.0.0.1:{http}/")]);
    assert!(page.contains("Piñata"), "{page}");
    assert!(page.contains(&format!("Port {}", pinata.ports.server)), "{page}");
    assert!(page.contains("BEGIN CERTIFICATE"), "{page}");
    assert!(!page.contains("TEST MODE"), "{page}");
    let ca = curl(&[&format!("http://127.0.0.1:{http}/ca.pem")]);
    assert!(ca.trim_start().starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let ca_path = dir.path("ca.pem");
    std::fs::write(&ca_path, ca.trim()).unwrap();
    let resolve = format!("pinata.local:{}:127.0.0.1", pinata.ports.https);
    let url = format!("https://pinata.local:{}/", pinata.ports.https);
    let secure = curl(&["--cacert", path_str(&ca_path), "--resolve", &resolve, &url]);
    assert!(secure.contains("Piñata") && secure.contains("BEGIN CERTIFICATE"), "{secure}");
    // The counters count: the HTTP connections above are on the page.
    assert!(secure.contains(&format!("<tr><td>{http}</td><td>http</td><td>2</td>")), "{secure}");
    // Without the CA, curl refuses the web certificate.
    let untrusted = curl(&["--resolve", &resolve, &url]);
    assert!(!untrusted.contains("BEGIN CERTIFICATE"), "{untrusted}");
    // Unknown paths and methods.
    let missing = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{http}/nope")]);
    assert!(missing.contains("404"), "{missing}");
    let post = curl(&["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", &format!("http://127.0.0.1:{http}/")]);
    assert!(post.contains("405"), "{post}");
    assert!(!page.contains(&pinata.secret) && !secure.contains(&pinata.secret));
    pinata.log.wait_for("an HTTPS request log line", |l| l.contains("TLSv1_3") && l.contains("GET / 200"));
    pinata.check();
}

#[test]
fn test_mode_page_says_so() {
    let mut pinata = Pinata::start(true);
    let page = curl(&[&format!("http://127.0.0.1:{}/", pinata.ports.http)]);
    assert!(page.contains("TEST MODE"), "{page}");
    let ca = curl(&[&format!("http://127.0.0.1:{}/ca.pem", pinata.ports.http)]);
    assert_eq!(ca.trim(), pinata_core::pki::TEST_CA_CERT_PEM.trim());
    pinata.check();
}

/// Triggers a connect-back and waits for its logged outcome.
fn trigger_connect_back(pinata: &Pinata) {
    let mut s = TcpStream::connect(("127.0.0.1", pinata.ports.connect_back)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    assert!(sink.is_empty(), "the connect-back port sent data");
}

/// 10001: a self-signed server certificate gets nothing.
#[test]
fn connect_back_to_self_signed_server_gets_nothing() {
    let dir = TempDir::new("cb-self");
    let target = free_port();
    let cert = self_signed_cert(&dir, "server", ServerAuth);
    let server = s_server(target, &cert);
    let mut pinata = Pinata::start_with(false, target, &[]);
    trigger_connect_back(&pinata);
    let line = pinata.log.wait_for("connect-back failure", handshake_failed_on(pinata.ports.connect_back));
    assert!(line.contains(&format!("127.0.0.1:{target}")), "{line}");
    assert!(!server.out.text().contains(&pinata.secret));
    pinata.check();
}

/// 10001 in test mode: a server certificate signed with the test CA key gets
/// the secret; a second attempt right away is rate limited.
#[test]
fn connect_back_to_test_ca_signed_server_gets_the_secret() {
    let dir = TempDir::new("cb-good");
    let target = free_port();
    let cert = signed_cert(&dir, "server", &test_ca(), ServerAuth, VALID);
    let server = s_server(target, &cert);
    let mut pinata = Pinata::start_with(true, target, &[]);
    trigger_connect_back(&pinata);
    let secret = pinata.secret.clone();
    server.out.wait_for("the secret at s_server", |l| l.contains(&secret));
    pinata.log.wait_for("secret sent", secret_sent_on(pinata.ports.connect_back));
    trigger_connect_back(&pinata);
    pinata.log.wait_for("rate limiting", |l| l.contains("rate limited"));
    pinata.check();
}

/// 10002: the Piñata runs a TLS client on our connection; we relay it to an
/// `openssl s_server`.
fn client_port_against(test: bool, cert: impl Fn(&TempDir) -> CertFiles) -> (Pinata, SServer) {
    let dir = TempDir::new("client");
    let target = free_port();
    let server = s_server(target, &cert(&dir));
    let pinata = Pinata::start(test);
    let relay = relay(pinata.ports.client, target);
    relay.join().unwrap();
    (pinata, server)
}

#[test]
fn client_port_self_signed_server_gets_nothing() {
    let (mut pinata, server) = client_port_against(true, |d| self_signed_cert(d, "server", ServerAuth));
    pinata.log.wait_for("client handshake failure", handshake_failed_on(pinata.ports.client));
    assert!(!server.out.text().contains(&pinata.secret));
    // Another CA claiming the Piñata CA's name is refused too.
    let (mut forged, server) = client_port_against(true, |d| {
        signed_cert(d, "forged", &other_ca(pinata_core::pki::CA_NAME), ServerAuth, VALID)
    });
    forged.log.wait_for("client handshake failure", handshake_failed_on(forged.ports.client));
    assert!(!server.out.text().contains(&forged.secret));
    pinata.check();
    forged.check();
}

#[test]
fn client_port_test_ca_signed_server_gets_the_secret() {
    let (mut pinata, server) = client_port_against(true, |d| signed_cert(d, "server", &test_ca(), ServerAuth, VALID));
    let secret = pinata.secret.clone();
    server.out.wait_for("the secret at s_server", |l| l.contains(&secret));
    pinata.log.wait_for("secret sent", secret_sent_on(pinata.ports.client));
    pinata.check();
}

/// A real ClientHello, as bytes on the wire.
fn client_hello() -> Vec<u8> {
    #[derive(Debug)]
    struct NoVerify;
    impl rustls::client::danger::ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Err(rustls::Error::General("test".into()))
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::General("test".into()))
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::General("test".into()))
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            vec![rustls::SignatureScheme::ECDSA_NISTP256_SHA256]
        }
    }
    let cfg = rustls::ClientConfig::builder_with_provider(pinata_core::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), "pinata.local".try_into().unwrap()).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Garbage that looks more or less like TLS.
fn hostile_inputs() -> Vec<Vec<u8>> {
    let hello = client_hello();
    let mut inputs = vec![
        noise(1, 1),
        noise(2, 100),
        noise(3, 5000),
        vec![0x16, 0x03, 0x01, 0xff, 0xff], // record header, body never comes
        vec![0x16, 0x03, 0x03, 0x00, 0x10, 0x01, 0x00, 0xff, 0xff], // handshake claims more than the record
        vec![0x17, 0x03, 0x03, 0x00, 0x20], // application data before a handshake
        vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28], // a fatal alert first
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
    ];
    for cut in [1, 5, 6, 40, hello.len() / 2, hello.len() - 1] {
        inputs.push(hello[..cut].to_vec());
    }
    let mut corrupted = hello.clone();
    for (i, b) in corrupted.iter_mut().enumerate().skip(9) {
        if i % 7 == 0 {
            *b ^= 0x5a;
        }
    }
    inputs.push(corrupted);
    let mut hello_then_noise = hello;
    hello_then_noise.extend(noise(4, 300));
    inputs.push(hello_then_noise);
    inputs
}

/// Sends `input`, half-closes, and returns whatever comes back.
fn poke(port: u16, input: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(input);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

/// Random and truncated TLS records to every port: the Piñata keeps serving
/// and never sends the secret; afterwards the winning path still works.
#[test]
fn hostile_records_on_every_port() {
    let dir = TempDir::new("hostile");
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target_port = target.local_addr().unwrap().port();
    let mut pinata = Pinata::start_with(true, target_port, &["--connect-back-interval=1"]);
    let secret = pinata.secret.clone().into_bytes();
    let contains_secret = |got: &[u8]| got.windows(secret.len()).any(|w| w == secret.as_slice());
    let inputs = hostile_inputs();
    let ports = pinata.ports;
    for port in [ports.server, ports.client, ports.http, ports.https] {
        for input in &inputs {
            let got = poke(port, input);
            assert!(!contains_secret(&got), "port {port} sent the secret");
        }
    }
    // The connect-back service as a hostile server: answer its ClientHello with garbage.
    target.set_nonblocking(false).unwrap();
    for input in inputs.iter().take(4) {
        let mut s = TcpStream::connect(("127.0.0.1", ports.connect_back)).unwrap();
        let mut sink = Vec::new();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.read_to_end(&mut sink);
        let (mut back, _) = target.accept().unwrap();
        back.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut hello = [0u8; 4096];
        let _ = back.read(&mut hello);
        let _ = back.write_all(input);
        let _ = back.shutdown(std::net::Shutdown::Write);
        let mut got = Vec::new();
        let _ = back.read_to_end(&mut got);
        assert!(!contains_secret(&got), "connect-back sent the secret to a hostile server");
        // The rate limiter allows one connect-back per source per second
        // (--connect-back-interval=1); this waits out the limit, not readiness.
        std::thread::sleep(Duration::from_millis(1100));
    }
    // Still alive and still correct.
    let good = signed_cert(&dir, "good", &test_ca(), ClientAuth, VALID);
    let out = s_client(ports.server, Some(&good), &[]);
    assert!(out.contains(&pinata.secret), "the winning path broke:\n{out}");
    let page = curl(&[&format!("http://127.0.0.1:{}/", ports.http)]);
    assert!(page.contains("Piñata"));
    assert!(!page.contains(&pinata.secret));
    pinata.check();
}
