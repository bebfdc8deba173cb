//! The rustls configurations of the Piñata's TLS services.
//!
//! Every configuration uses the ring provider (drawing its randomness from
//! the boot's generator, [`Pki::provider`]), TLS 1.3 and 1.2, and the
//! caller's `TimeProvider` for certificate validity (the platform wall clock,
//! so the simulator can drive it). The Piñata CA is the **only** trust anchor.
//!
//! * [`bounty_server`] (10000): presents "Piñata server" and requires a client
//!   certificate that chains to the CA with clientAuth usage
//!   (`WebPkiClientVerifier`). No session resumption: every secret is paid for
//!   with a full handshake.
//! * [`bounty_client`] (10001, 10002): presents "Piñata client" and requires
//!   the server certificate to chain to the CA with serverAuth usage. The
//!   server's *name* is not checked — the peer is whoever connected, known by
//!   address only — see [`ChainOnlyServerVerifier`]. No resumption.
//! * [`web_server`] (443): presents the web certificate, no client auth.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{NoServerSessionStorage, ParsedCertificate, WebPkiClientVerifier};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::pki::Pki;

/// The protocol versions every Piñata service speaks.
pub static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(pki: &Pki) -> Result<Arc<RootCertStore>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_cert().clone())?;
    Ok(Arc::new(roots))
}

fn no_resumption(mut cfg: ServerConfig) -> ServerConfig {
    cfg.session_storage = Arc::new(NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    cfg
}

/// Port 10000: client certificate chaining to the CA required.
pub fn bounty_server(pki: &Pki, time: Arc<dyn TimeProvider>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = pki.provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(pki)?, provider.clone())
        .build()
        .map_err(|e| rustls::Error::General(format!("client verifier: {e}")))?;
    let cfg = ServerConfig::builder_with_details(provider, time)
        .with_protocol_versions(VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server.chain(), pki.server.key())?;
    Ok(Arc::new(no_resumption(cfg)))
}

/// Port 443: the web certificate, no client authentication.
pub fn web_server(pki: &Pki, time: Arc<dyn TimeProvider>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut cfg = ServerConfig::builder_with_details(pki.provider(), time)
        .with_protocol_versions(VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(pki.web.chain(), pki.web.key())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Ports 10001 and 10002: the Piñata as client; the server must chain to the CA.
pub fn bounty_client(pki: &Pki, time: Arc<dyn TimeProvider>) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = pki.provider();
    let verifier = Arc::new(ChainOnlyServerVerifier { roots: roots(pki)?, provider: provider.clone() });
    let mut cfg = ClientConfig::builder_with_details(provider, time)
        .with_protocol_versions(VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(pki.client.chain(), pki.client.key())?;
    cfg.resumption = Resumption::disabled();
    cfg.enable_sni = false;
    Ok(Arc::new(cfg))
}

/// Verifies that a server certificate chains to the roots (RFC 5280 path
/// validation at the given time, serverAuth usage, signatures by the ring
/// provider's algorithms), without matching a server name: the Piñata
/// connects to addresses, and any certificate its CA signed is a win.
///
/// It is "dangerous" only in rustls' sense (a custom verifier); the chain
/// check is rustls' own `verify_server_cert_signed_by_trust_anchor`.
#[derive(Debug)]
pub struct ChainOnlyServerVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnlyServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Client-side tools that deliberately skip server authentication: the load
/// generator and the tests play an attacker who talks to the Piñata without
/// trusting it. The appliance itself never uses this module.
pub mod danger {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    /// Accepts any server certificate, but still checks the handshake
    /// signatures made with it (so the TLS exchange itself is real).
    #[derive(Debug)]
    pub struct AnyServerCert(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyServerCert {
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
            verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
