//! Writes seed inputs for both fuzz targets: the byte streams real peers send
//! in in-memory handshakes with the Piñata's configurations (TLS 1.3 and 1.2;
//! no certificate, a self-signed one). Each file starts with the piece-size
//! byte 0 (all at once). Run: `cargo +nightly run --example seeds` from this
//! folder; it writes `seeds/tls_server/` and `seeds/tls_client/`.

use std::path::Path;
use std::sync::Arc;

use netio::tls::verify::{AnyCert, Verifier};
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

fn self_signed() -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = CertificateParams::new(vec!["peer.example".into()]).unwrap().self_signed(&key).unwrap();
    (vec![cert.der().clone()], PrivatePkcs8KeyDer::from(key.serialize_der()).into())
}

static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn version(v13: bool) -> &'static [&'static rustls::SupportedProtocolVersion] {
    if v13 { TLS13 } else { TLS12 }
}

/// Runs a handshake between `client` and `server` in memory; the bytes each sent.
fn handshake(mut client: Connection, mut server: Connection) -> (Vec<u8>, Vec<u8>) {
    let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        c2s.extend_from_slice(&buf);
        let mut rd = &buf[..];
        while !rd.is_empty() && server.read_tls(&mut rd).is_ok() {
            if server.process_new_packets().is_err() {
                break;
            }
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        s2c.extend_from_slice(&buf);
        let mut rd = &buf[..];
        while !rd.is_empty() && client.read_tls(&mut rd).is_ok() {
            if client.process_new_packets().is_err() {
                break;
            }
        }
    }
    (c2s, s2c)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut data = vec![0u8];
    data.extend_from_slice(bytes);
    std::fs::write(dir.join(name), data).unwrap();
}

fn main() {
    let configs = pinata_fuzz::configs();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let provider = pinata_core::tls::provider();
    for v13 in [true, false] {
        let tag = if v13 { "tls13" } else { "tls12" };
        // Attacking port 10000: a client without and with a self-signed certificate.
        for with_cert in [false, true] {
            let builder = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(version(v13))
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Verifier::new(AnyCert, pinata_core::tls::provider()));
            let cfg = if with_cert {
                let (chain, key) = self_signed();
                builder.with_client_auth_cert(chain, key).unwrap()
            } else {
                builder.with_no_client_auth()
            };
            let client = ClientConnection::new(Arc::new(cfg), "pinata.local".try_into().unwrap()).unwrap();
            let server = ServerConnection::new(configs.bounty_server.clone()).unwrap();
            let (c2s, _) = handshake(client.into(), server.into());
            write(&out.join("tls_server"), &format!("{tag}-cert-{with_cert}"), &c2s);
        }
        // Attacking 10001/10002: a server with a self-signed certificate.
        let (chain, key) = self_signed();
        let cfg = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(version(v13))
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let server = ServerConnection::new(Arc::new(cfg)).unwrap();
        let client = ClientConnection::new(
            configs.bounty_client.clone(),
            ServerName::IpAddress(std::net::Ipv4Addr::new(10, 0, 0, 1).into()),
        )
        .unwrap();
        let (_, s2c) = handshake(client.into(), server.into());
        write(&out.join("tls_client"), &format!("{tag}-self-signed"), &s2c);
    }
    println!("seeds written to {}", out.display());
}
