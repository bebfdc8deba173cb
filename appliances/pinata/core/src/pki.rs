//! The Piñata's certificates, made at boot.
//!
//! * **CA** "Piñata CA": CA:true, pathlen 1, keyCertSign + cRLSign. Fresh at
//!   every boot (ECDSA P-256), valid from one hour before boot (clock skew of
//!   visitors) until 365 days after; its key is dropped as soon as the leaves
//!   are signed, so it never leaves memory and never outlives boot.
//! * **Leaves**, signed by the CA, same validity: "Piñata server"
//!   (serverAuth, port 10000), "Piñata client" (clientAuth, presented on
//!   10001/10002) and the web certificate for `--hostname` (serverAuth, SAN).
//!
//! In **test mode** the CA is the fixed one in `testdata/` (its private key is
//! public — TEST ONLY, anyone can sign a winning certificate with it); the
//! leaves are still fresh at every boot.
//!
//! Keys and signatures draw their randomness from the boot's
//! [`SharedRandom`] ([`crate::crypto`]); the same generator feeds the TLS
//! provider the configurations use ([`Pki::provider`]).

use sansio::{Duration, UnixTime};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use crate::crypto::{EcdsaKey, SharedRandom, seeded_provider};

pub const CA_NAME: &str = "Piñata CA";
pub const SERVER_NAME: &str = "Piñata server";
pub const CLIENT_NAME: &str = "Piñata client";

/// Lifetime of the CA and the leaves, from boot.
pub const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Certificates are valid from this long before boot (visitors' clocks lag).
pub const BACKDATE: Duration = Duration::from_secs(3600);

/// TEST ONLY: the private key of the fixed test CA. It is public; a Piñata
/// started with `--test` gives its secret to anyone.
pub const TEST_CA_KEY_PEM: &str = include_str!("../testdata/test-ca.key.pem");
/// TEST ONLY: the certificate of the fixed test CA.
pub const TEST_CA_CERT_PEM: &str = include_str!("../testdata/test-ca.cert.pem");
/// Validity of the fixed test CA (UTC dates).
pub const TEST_CA_NOT_BEFORE: (i32, u8, u8) = (2025, 1, 1);
pub const TEST_CA_NOT_AFTER: (i32, u8, u8) = (2050, 1, 1);

/// Which CA signs the leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaMode {
    /// A fresh CA, made now, key kept in memory only while signing.
    Fresh,
    /// The fixed test CA whose key is in the source (`--test`).
    Test,
}

/// Why the certificates could not be made.
#[derive(Debug)]
pub struct PkiError(String);

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "certificates: {}", self.0)
    }
}

impl std::error::Error for PkiError {}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError(e.to_string())
    }
}

impl From<rustls::Error> for PkiError {
    fn from(e: rustls::Error) -> Self {
        PkiError(e.to_string())
    }
}

/// A leaf certificate and its private key.
pub struct Leaf {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Leaf {
    /// The chain to present: the leaf alone (peers trust the CA directly).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaf").field("cert_len", &self.cert.len()).finish_non_exhaustive()
    }
}

/// The CA certificate and the three leaves.
pub struct Pki {
    pub mode: CaMode,
    ca_cert: CertificateDer<'static>,
    ca_pem: String,
    /// Validity of the leaves (and of a fresh CA).
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub server: Leaf,
    pub client: Leaf,
    pub web: Leaf,
    pub hostname: String,
    /// The TLS provider drawing from the same generator as the keys.
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("mode", &self.mode)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("server", &self.server)
            .field("client", &self.client)
            .field("web", &self.web)
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

fn to_offset(t: UnixTime) -> Result<OffsetDateTime, PkiError> {
    let secs = i64::try_from(t.as_secs()).map_err(|_| PkiError("the wall clock is out of range".into()))?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| PkiError(format!("the wall clock is out of range: {e}")))
}

/// "2027-01-15 08:00:00 UTC".
pub fn format_utc(t: UnixTime) -> String {
    match to_offset(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => "(out of range)".into(),
    }
}

/// `t` as an HTTP date, IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994
/// 08:49:37 GMT". The Piñata sets its `Date` header from the platform's wall
/// clock with this, rather than letting hyper read the host's clock.
pub fn http_date(t: UnixTime) -> Option<String> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let d = to_offset(t).ok()?;
    if !(0..=9999).contains(&d.year()) {
        return None;
    }
    Some(format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[usize::from(d.weekday().number_days_from_monday())],
        d.day(),
        MONTHS[usize::from(u8::from(d.month()) - 1)],
        d.year(),
        d.hour(),
        d.minute(),
        d.second()
    ))
}

/// The parameters of the Piñata CA (fresh or test), valid in `[not_before, not_after]`.
pub fn ca_params(not_before: OffsetDateTime, not_after: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = not_before;
    p.not_after = not_after;
    p
}

/// The validity of the fixed test CA.
pub fn test_ca_validity() -> (OffsetDateTime, OffsetDateTime) {
    let (y, m, d) = TEST_CA_NOT_BEFORE;
    let (y2, m2, d2) = TEST_CA_NOT_AFTER;
    (rcgen::date_time_ymd(y, m, d), rcgen::date_time_ymd(y2, m2, d2))
}

/// Whether `name` can be the web certificate's name: an IP address or a DNS
/// name of letters, digits and hyphens (labels 1–63 bytes, 253 in all).
pub fn valid_hostname(name: &str) -> bool {
    if name.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn leaf_params(
    common_name: &str,
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    p.not_before = not_before;
    p.not_after = not_after;
    Ok(p)
}

fn sign_leaf(
    params: &CertificateParams,
    issuer: &Issuer<'_, EcdsaKey>,
    rng: &'static SharedRandom,
) -> Result<Leaf, PkiError> {
    let key = EcdsaKey::generate(rng)?;
    let cert = params.signed_by(&key, issuer)?;
    Ok(Leaf { cert: cert.der().clone(), key: key.pkcs8() })
}

fn pem_to_der(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError(format!("test CA certificate: {e:?}")))
}

impl Pki {
    /// Makes the CA (or loads the test CA) and the three leaves; `boot` is
    /// the wall-clock time of boot, `hostname` the web certificate's name.
    /// Randomness from the operating system (tools and tests; the appliance
    /// uses [`Pki::generate_with`] and the platform's entropy).
    pub fn generate(mode: CaMode, boot: UnixTime, hostname: &str) -> Result<Pki, PkiError> {
        let rng: &'static SharedRandom = Box::leak(Box::new(SharedRandom::from_os()));
        Pki::generate_with(mode, boot, hostname, rng)
    }

    /// [`Pki::generate`] with every random byte (keys, signatures, and later
    /// the handshakes of [`Pki::provider`]) from `rng`.
    pub fn generate_with(
        mode: CaMode,
        boot: UnixTime,
        hostname: &str,
        rng: &'static SharedRandom,
    ) -> Result<Pki, PkiError> {
        if !valid_hostname(hostname) {
            return Err(PkiError(format!("'{hostname}' is not a valid host name")));
        }
        let not_before_t = UnixTime::from_secs(boot.as_secs().saturating_sub(BACKDATE.as_secs()));
        let not_after_t = boot
            .as_secs()
            .checked_add(VALIDITY.as_secs())
            .map(UnixTime::from_secs)
            .ok_or_else(|| PkiError("the wall clock is out of range".into()))?;
        let (not_before, not_after) = (to_offset(not_before_t)?, to_offset(not_after_t)?);

        let (issuer, ca_cert, ca_pem) = match mode {
            CaMode::Fresh => {
                let key = EcdsaKey::generate(rng)?;
                let params = ca_params(not_before, not_after);
                let cert = params.self_signed(&key)?;
                let (der, pem) = (cert.der().clone(), cert.pem());
                (Issuer::new(params, key), der, pem)
            }
            CaMode::Test => {
                let pkcs8 = PrivatePkcs8KeyDer::from(KeyPair::from_pem(TEST_CA_KEY_PEM)?.serialize_der());
                let key = EcdsaKey::from_pkcs8(&pkcs8, rng)
                    .ok_or_else(|| PkiError("the test CA key is not a P-256 key".into()))?;
                let (nb, na) = test_ca_validity();
                (Issuer::new(ca_params(nb, na), key), pem_to_der(TEST_CA_CERT_PEM)?, TEST_CA_CERT_PEM.to_string())
            }
        };

        let server = leaf_params(
            SERVER_NAME,
            vec![hostname.to_string()],
            ExtendedKeyUsagePurpose::ServerAuth,
            not_before,
            not_after,
        )?;
        let client = leaf_params(CLIENT_NAME, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth, not_before, not_after)?;
        let web = leaf_params(
            hostname,
            vec![hostname.to_string()],
            ExtendedKeyUsagePurpose::ServerAuth,
            not_before,
            not_after,
        )?;
        let pki = Pki {
            mode,
            ca_cert,
            ca_pem,
            not_before: not_before_t,
            not_after: not_after_t,
            server: sign_leaf(&server, &issuer, rng)?,
            client: sign_leaf(&client, &issuer, rng)?,
            web: sign_leaf(&web, &issuer, rng)?,
            hostname: hostname.to_string(),
            provider: seeded_provider(rng),
        };
        // `issuer` (and with it the CA key) is dropped here.
        drop(issuer);
        Ok(pki)
    }

    /// The CA certificate, the only trust anchor of every handshake.
    pub fn ca_cert(&self) -> &CertificateDer<'static> {
        &self.ca_cert
    }

    /// The crypto provider of every Piñata TLS configuration: ring's, drawing
    /// its randomness from the generator that made these keys.
    pub fn provider(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }

    /// The CA certificate in PEM, as served on `/ca.pem`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

#[cfg(test)]
mod tests {
    use rcgen::PKCS_ECDSA_P256_SHA256;

    use super::*;
    use crate::crypto::leak_random;

    /// The simulator's reproducibility rests on this: one seed, the same
    /// certificates byte for byte; another seed, others.
    #[test]
    fn certificates_follow_the_seed() {
        let boot = UnixTime::from_secs(1_800_000_000);
        let make = |seed: &[u8], mode| Pki::generate_with(mode, boot, "pinata.local", leak_random(seed)).unwrap();
        for mode in [CaMode::Fresh, CaMode::Test] {
            let (a, b, c) = (make(b"one", mode), make(b"one", mode), make(b"two", mode));
            assert_eq!((a.ca_cert(), a.server.cert(), a.web.cert()), (b.ca_cert(), b.server.cert(), b.web.cert()));
            assert_eq!(a.client.key().secret_der(), b.client.key().secret_der());
            assert_ne!(a.server.cert(), c.server.cert(), "{mode:?}");
            assert_ne!(a.client.key().secret_der(), c.client.key().secret_der());
        }
    }

    #[test]
    fn hostnames() {
        for ok in ["pinata.local", "a", "x-1.example.org.", "127.0.0.1", "::1"] {
            assert!(valid_hostname(ok), "{ok}");
        }
        for bad in ["", "-a.b", "a..b", "a b", "ä.example", &"a".repeat(64), "a/b"] {
            assert!(!valid_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn generates_fresh_and_test() {
        let boot = UnixTime::from_secs(1_800_000_000);
        let fresh = Pki::generate(CaMode::Fresh, boot, "pinata.local").unwrap();
        assert!(fresh.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(fresh.ca_pem(), TEST_CA_CERT_PEM);
        let test = Pki::generate(CaMode::Test, boot, "pinata.local").unwrap();
        assert_eq!(test.ca_pem(), TEST_CA_CERT_PEM);
        assert!(Pki::generate(CaMode::Fresh, boot, "bad name").is_err());
        assert_eq!(format_utc(boot), "2027-01-15 08:00:00 UTC");
        assert_eq!(http_date(boot).as_deref(), Some("Fri, 15 Jan 2027 08:00:00 GMT"));
        assert_eq!(http_date(UnixTime::from_secs(784111777)).as_deref(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
    }

    /// Regenerates the fixed test CA in `testdata/` (run once by hand:
    /// `cargo test -p pinata-core -- --ignored regenerate_test_ca`).
    #[test]
    #[ignore]
    fn regenerate_test_ca() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let (nb, na) = test_ca_validity();
        let cert = ca_params(nb, na).self_signed(&key).unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
        let warn = "# TEST ONLY: the fixed CA of `pinata --test`. This key is public: never trust this CA.\n";
        std::fs::write(format!("{dir}/test-ca.key.pem"), format!("{warn}{}", key.serialize_pem())).unwrap();
        std::fs::write(format!("{dir}/test-ca.cert.pem"), cert.pem()).unwrap();
    }
}
