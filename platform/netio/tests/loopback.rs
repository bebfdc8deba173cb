//! netio over the unix backend's host sockets on 127.0.0.1: TLS both ways,
//! hyper over TLS, hyper's timer on the platform clock, and handshake
//! failures reported with rustls' reason.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use netio::tls::{describe_session, tls_error};
use netio::{HyperIo, PlatformTime, PlatformTimer, TlsStream};
use platform::rt;
use platform::stack::{Stack, TcpListener};
use platform::time::{self, Duration};
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed server certificate for "localhost" and configs trusting it.
fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let der: CertificateDer<'static> = cert.der().clone();
    let server = ServerConfig::builder_with_details(provider(), Arc::new(PlatformTime))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let client = ClientConfig::builder_with_details(provider(), Arc::new(PlatformTime))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

fn listen(stack: &Stack) -> (TcpListener, SocketAddr) {
    let listener = stack.tcp_listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr();
    (listener, addr)
}

#[test]
fn tls_round_trip_and_clean_close() {
    platform_unix::block_on(async {
        let stack = platform_unix::host_stack();
        let (mut listener, addr) = listen(&stack);
        let (server_cfg, client_cfg) = configs();
        let server = rt::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = TlsStream::server(tcp, server_cfg).unwrap();
            tls.handshake().await.unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            assert!(tls.received_close_notify());
            // Echo a large reply to exercise partial writes.
            let reply: Vec<u8> = got.iter().cycle().take(1 << 20).copied().collect();
            tls.write_all(&reply).await.unwrap();
            tls.close().await.unwrap();
            describe_session(tls.connection())
        });
        let tcp = stack.tcp_connect(addr).await.unwrap();
        let mut tls = TlsStream::client(tcp, client_cfg, ServerName::try_from("localhost").unwrap()).unwrap();
        tls.handshake().await.unwrap();
        tls.write_all(b"hello over netio").await.unwrap();
        tls.close().await.unwrap();
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply.len(), 1 << 20);
        assert!(reply.starts_with(b"hello over netio"));
        let session = server.await;
        assert!(session.starts_with("TLSv1_3 TLS13_"), "{session}");
    });
}

#[test]
fn handshake_failure_carries_rustls_reason() {
    platform_unix::block_on(async {
        let stack = platform_unix::host_stack();
        let (mut listener, addr) = listen(&stack);
        let (server_cfg, _) = configs();
        let (_, other_client) = configs(); // trusts a different certificate
        let server = rt::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = TlsStream::server(tcp, server_cfg).unwrap();
            tls.handshake().await.unwrap_err().to_string()
        });
        let tcp = stack.tcp_connect(addr).await.unwrap();
        let mut tls = TlsStream::client(tcp, other_client, ServerName::try_from("localhost").unwrap()).unwrap();
        let err = tls.handshake().await.unwrap_err();
        let tls_err = tls_error(&err).expect("a rustls error");
        assert!(matches!(tls_err, rustls::Error::InvalidCertificate(_)), "{tls_err:?}");
        // The server hears the client's alert.
        let server_err = server.await;
        assert!(server_err.contains("alert"), "{server_err}");
    });
}

#[test]
fn hyper_over_tls_with_platform_timer() {
    platform_unix::block_on(async {
        let stack = platform_unix::host_stack();
        let (mut listener, addr) = listen(&stack);
        let (server_cfg, client_cfg) = configs();
        rt::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let cfg = server_cfg.clone();
                rt::spawn(async move {
                    let mut tls = TlsStream::server(tcp, cfg).unwrap();
                    if tls.handshake().await.is_err() {
                        return;
                    }
                    let svc = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| {
                        let body = format!("you asked for {}", req.uri().path());
                        std::future::ready(Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(body),
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(PlatformTimer::new())
                        .header_read_timeout(Duration::from_millis(300))
                        .serve_connection(HyperIo::new(tls), svc)
                        .await;
                });
            }
        });

        // A request and its response.
        let tcp = stack.tcp_connect(addr).await.unwrap();
        let mut tls = TlsStream::client(tcp, client_cfg.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
        tls.handshake().await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(tls)).await.unwrap();
        rt::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::get("/netio").header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"you asked for /netio");

        // A client that never sends its headers is cut off by the header
        // read timeout, which only fires through PlatformTimer.
        let tcp = stack.tcp_connect(addr).await.unwrap();
        let mut tls = TlsStream::client(tcp, client_cfg, ServerName::try_from("localhost").unwrap()).unwrap();
        tls.handshake().await.unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        tls.flush().await.unwrap();
        let start = time::now();
        let mut rest = Vec::new();
        let read = time::timeout(Duration::from_secs(10), tls.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "the header read timeout did not close the connection");
        let waited = time::now() - start;
        assert!(waited >= Duration::from_millis(250), "closed after {waited:?}");
    });
}
