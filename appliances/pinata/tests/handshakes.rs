//! Sans-IO handshake scenarios: the Piñata's rustls configurations against
//! clients and servers holding every kind of certificate, in memory.
//!
//! They live here, not in `pinata-core`, because the client side needs the
//! wiring's verifier ([`pinata::connect_back_verifier`], from `netio`), and a
//! core crate does not depend on `netio` (ARCHITECTURE.md rule 1).

use std::sync::Arc;
use std::time::Duration;

use netio::tls::verify::{AnyCert, Verifier};
use pinata_core::pki::{self, CaMode, Pki};
use pinata_core::tls;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

const NOW_SECS: u64 = 1_800_000_000; // 2027-01-15

#[derive(Debug)]
struct At(u64);
impl TimeProvider for At {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(self.0)))
    }
}

fn boot() -> platform::time::UnixTime {
    platform::time::UnixTime::from_secs(NOW_SECS)
}

fn time() -> Arc<dyn TimeProvider> {
    Arc::new(At(NOW_SECS + 60))
}

fn off(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(NOW_SECS as i64 + secs).unwrap()
}

struct Cred {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn test_ca() -> Issuer<'static, KeyPair> {
    let (nb, na) = pki::test_ca_validity();
    Issuer::new(pki::ca_params(nb, na), KeyPair::from_pem(pki::TEST_CA_KEY_PEM).unwrap())
}

fn other_ca(name: &str) -> Issuer<'static, KeyPair> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    Issuer::new(p, KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap())
}

fn leaf_params(usage: ExtendedKeyUsagePurpose, valid: (i64, i64)) -> CertificateParams {
    let mut p = CertificateParams::new(vec!["peer.example".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, "peer");
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    p.not_before = off(valid.0);
    p.not_after = off(valid.1);
    p
}

fn signed(issuer: &Issuer<'_, KeyPair>, usage: ExtendedKeyUsagePurpose, valid: (i64, i64)) -> Cred {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = leaf_params(usage, valid).signed_by(&key, issuer).unwrap();
    Cred { chain: vec![cert.der().clone()], key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())) }
}

fn self_signed(usage: ExtendedKeyUsagePurpose) -> Cred {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = leaf_params(usage, (-3600, 3600 * 24)).self_signed(&key).unwrap();
    Cred { chain: vec![cert.der().clone()], key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())) }
}

const VALID: (i64, i64) = (-3600, 86400);
const EXPIRED: (i64, i64) = (-86400 * 30, -86400);
const NOT_YET: (i64, i64) = (86400, 86400 * 30);
const CLIENT: ExtendedKeyUsagePurpose = ExtendedKeyUsagePurpose::ClientAuth;
const SERVER: ExtendedKeyUsagePurpose = ExtendedKeyUsagePurpose::ServerAuth;

fn attacker_client(cred: Option<Cred>, version: &'static rustls::SupportedProtocolVersion) -> Arc<ClientConfig> {
    let p = tls::provider();
    let b = ClientConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Verifier::new(AnyCert, p));
    Arc::new(match cred {
        Some(c) => b.with_client_auth_cert(c.chain, c.key).unwrap(),
        None => b.with_no_client_auth(),
    })
}

fn attacker_server(cred: Cred, version: &'static rustls::SupportedProtocolVersion) -> Arc<ServerConfig> {
    Arc::new(
        ServerConfig::builder_with_provider(tls::provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cred.chain, cred.key)
            .unwrap(),
    )
}

/// Runs a handshake in memory. Returns the server's and the client's
/// outcome (Ok once that side finished its handshake without error).
fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> (Result<(), String>, Result<(), String>) {
    let mut c = ClientConnection::new(client, ServerName::try_from("pinata.local").unwrap()).unwrap();
    let mut s = ServerConnection::new(server).unwrap();
    let (mut c_err, mut s_err) = (None, None);
    for _ in 0..20 {
        let mut buf = Vec::new();
        c.write_tls(&mut buf).unwrap();
        if !buf.is_empty() && s_err.is_none() {
            s.read_tls(&mut &buf[..]).unwrap();
            if let Err(e) = s.process_new_packets() {
                s_err = Some(e.to_string());
            }
        }
        let mut buf = Vec::new();
        s.write_tls(&mut buf).unwrap();
        if !buf.is_empty() && c_err.is_none() {
            c.read_tls(&mut &buf[..]).unwrap();
            if let Err(e) = c.process_new_packets() {
                c_err = Some(e.to_string());
            }
        }
    }
    let outcome = |err: Option<String>, handshaking: bool| match (err, handshaking) {
        (Some(e), _) => Err(e),
        (None, true) => Err("handshake did not finish".to_string()),
        (None, false) => Ok(()),
    };
    (outcome(s_err, s.is_handshaking()), outcome(c_err, c.is_handshaking()))
}

const VERSIONS: [&rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];

fn server_accepts(
    pki: &Pki,
    cred: Option<Cred>,
    version: &'static rustls::SupportedProtocolVersion,
) -> Result<(), String> {
    let server = tls::bounty_server(pki, time()).unwrap();
    handshake(attacker_client(cred, version), server).0
}

fn client_accepts(pki: &Pki, cred: Cred, version: &'static rustls::SupportedProtocolVersion) -> Result<(), String> {
    let client = tls::bounty_client(pki, time(), pinata::connect_back_verifier(pki).unwrap()).unwrap();
    handshake(client, attacker_server(cred, version)).1
}

#[test]
fn bounty_server_accepts_only_ca_signed_client_certs() {
    let test_pki = Pki::generate(CaMode::Test, boot(), "pinata.local").unwrap();
    for v in VERSIONS {
        assert_eq!(server_accepts(&test_pki, Some(signed(&test_ca(), CLIENT, VALID)), v), Ok(()), "{v:?}");
        let refused = [
            ("no certificate", server_accepts(&test_pki, None, v)),
            ("self-signed", server_accepts(&test_pki, Some(self_signed(CLIENT)), v)),
            ("other CA", server_accepts(&test_pki, Some(signed(&other_ca("Other CA"), CLIENT, VALID)), v)),
            ("forged CA name", server_accepts(&test_pki, Some(signed(&other_ca(pki::CA_NAME), CLIENT, VALID)), v)),
            ("expired", server_accepts(&test_pki, Some(signed(&test_ca(), CLIENT, EXPIRED)), v)),
            ("not yet valid", server_accepts(&test_pki, Some(signed(&test_ca(), CLIENT, NOT_YET)), v)),
            ("serverAuth only", server_accepts(&test_pki, Some(signed(&test_ca(), SERVER, VALID)), v)),
        ];
        for (what, outcome) in refused {
            assert!(outcome.is_err(), "{what} accepted with {v:?}");
        }
    }
    // A fresh (non-test) Piñata does not accept the public test CA.
    let fresh = Pki::generate(CaMode::Fresh, boot(), "pinata.local").unwrap();
    assert!(server_accepts(&fresh, Some(signed(&test_ca(), CLIENT, VALID)), &rustls::version::TLS13).is_err());
}

#[test]
fn bounty_client_accepts_only_ca_signed_servers() {
    let test_pki = Pki::generate(CaMode::Test, boot(), "pinata.local").unwrap();
    for v in VERSIONS {
        assert_eq!(client_accepts(&test_pki, signed(&test_ca(), SERVER, VALID), v), Ok(()), "{v:?}");
        let refused = [
            ("self-signed", client_accepts(&test_pki, self_signed(SERVER), v)),
            ("other CA", client_accepts(&test_pki, signed(&other_ca("Other CA"), SERVER, VALID), v)),
            ("forged CA name", client_accepts(&test_pki, signed(&other_ca(pki::CA_NAME), SERVER, VALID), v)),
            ("expired", client_accepts(&test_pki, signed(&test_ca(), SERVER, EXPIRED), v)),
            ("clientAuth only", client_accepts(&test_pki, signed(&test_ca(), CLIENT, VALID), v)),
        ];
        for (what, outcome) in refused {
            assert!(outcome.is_err(), "{what} accepted with {v:?}");
        }
    }
    let fresh = Pki::generate(CaMode::Fresh, boot(), "pinata.local").unwrap();
    assert!(client_accepts(&fresh, signed(&test_ca(), SERVER, VALID), &rustls::version::TLS13).is_err());
}

#[test]
fn the_piñatas_own_leaves_chain_to_its_ca() {
    for mode in [CaMode::Fresh, CaMode::Test] {
        let pki = Pki::generate(mode, boot(), "pinata.local").unwrap();
        // Its own client certificate against its own bounty server: accepted.
        let own = Cred { chain: pki.client.chain(), key: pki.client.key() };
        assert_eq!(server_accepts(&pki, Some(own), &rustls::version::TLS13), Ok(()), "{mode:?}");
        // Its own server certificate against its own bounty client: accepted.
        let own = Cred { chain: pki.server.chain(), key: pki.server.key() };
        assert_eq!(client_accepts(&pki, own, &rustls::version::TLS12), Ok(()), "{mode:?}");
        // The web server works without a client certificate.
        let web = tls::web_server(&pki, time()).unwrap();
        assert_eq!(handshake(attacker_client(None, &rustls::version::TLS13), web).0, Ok(()));
    }
}

#[test]
fn validation_uses_the_given_clock() {
    let pki = Pki::generate(CaMode::Test, boot(), "pinata.local").unwrap();
    // Two years after boot the Piñata's own leaves have expired.
    let late: Arc<dyn TimeProvider> = Arc::new(At(NOW_SECS + 2 * 365 * 86400));
    let server = tls::bounty_server(&pki, late).unwrap();
    let cred = signed(&test_ca(), CLIENT, (-3600, 3 * 365 * 86400));
    assert_eq!(handshake(attacker_client(Some(cred), &rustls::version::TLS13), server.clone()).0, Ok(()));
    let client = tls::bounty_client(
        &pki,
        Arc::new(At(NOW_SECS + 2 * 365 * 86400)),
        pinata::connect_back_verifier(&pki).unwrap(),
    )
    .unwrap();
    let (_, c) = handshake(client, attacker_server(signed(&test_ca(), SERVER, VALID), &rustls::version::TLS13));
    assert!(c.unwrap_err().contains("expired"));
}
