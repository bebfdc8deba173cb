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
//!   address only. The verifier that enforces this is the caller's (the wiring
//!   passes `netio::tls::verify::ChainOnly` over [`roots`]): this crate stays
//!   free of `platform`, which `netio` depends on. No resumption.
//! * [`web_server`] (443): presents the web certificate, no client auth.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::pki::Pki;

/// The protocol versions every Piñata service speaks.
pub static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The trust anchors of every Piñata service: the Piñata CA alone.
pub fn roots(pki: &Pki) -> Result<Arc<RootCertStore>, rustls::Error> {
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

/// Ports 10001 and 10002: the Piñata as client, presenting "Piñata client".
/// `verifier` decides on the server's certificate; the appliance's is one that
/// requires a chain to [`roots`] and matches no name (see the module docs).
pub fn bounty_client(
    pki: &Pki,
    time: Arc<dyn TimeProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut cfg = ClientConfig::builder_with_details(pki.provider(), time)
        .with_protocol_versions(VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(pki.client.chain(), pki.client.key())?;
    cfg.resumption = Resumption::disabled();
    cfg.enable_sni = false;
    Ok(Arc::new(cfg))
}
