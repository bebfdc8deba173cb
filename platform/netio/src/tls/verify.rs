//! Server-certificate verification for rustls clients: one [`Verifier`] that does what
//! every verifier shares (handshake signatures and signature schemes by the provider's
//! algorithms), and a [`Policy`] per way of trusting a server:
//!
//! * [`ChainOnly`] — the certificate chains to given roots (RFC 5280 path validation,
//!   serverAuth usage) but no name is matched: for peers known by address only (the
//!   Piñata's connect-back services);
//! * [`Pinned`] — the certificate, or its public key, has a given fingerprint: the
//!   MirageOS `cert-fp` / `key-fp` authenticators;
//! * [`AnyCert`] — nothing is checked but the handshake signatures: for tools and tests
//!   that play a client who does not trust the server (never for an appliance).
//!
//! [`Authenticator`] parses MirageOS' `--tls-authenticator=`:
//!
//! * `cert-fp:SHA256:<fp>` — the server's certificate (DER) hashes to `fp`;
//! * `key-fp:SHA256:<fp>` — its SubjectPublicKeyInfo hashes to `fp`;
//! * `trust-anchor:<base64 DER>[,<base64 DER>…]` — the chain must lead to one of these
//!   CA certificates (WebPKI rules, host name checked; rustls' own verifier).
//!
//! `fp` is base64 (as MirageOS prints it) or hex; SHA256, SHA384 and SHA512 are accepted.
//! Pinned fingerprints, as in MirageOS, ignore the host name and validity dates: the pin
//! is the whole trust decision.

use std::fmt;
use std::sync::Arc;

use ring::digest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::PlatformTime;

/// How a [`Verifier`] decides whether to trust the server's certificate.
pub trait Policy: fmt::Debug + Send + Sync {
    /// `Ok` when the server presenting `end_entity` (and `intermediates`) is trusted at
    /// `now`; `algorithms` are the provider's, for checking certificate signatures.
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<(), rustls::Error>;
}

/// A rustls server-certificate verifier: the policy decides on the certificate; the
/// handshake signatures made with it are always checked with the provider's algorithms,
/// so the TLS exchange itself is real whatever the policy.
#[derive(Debug)]
pub struct Verifier<P> {
    policy: P,
    provider: Arc<CryptoProvider>,
}

impl<P: Policy + 'static> Verifier<P> {
    pub fn new(policy: P, provider: Arc<CryptoProvider>) -> Arc<Verifier<P>> {
        Arc::new(Verifier { policy, provider })
    }
}

impl<P: Policy> ServerCertVerifier for Verifier<P> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.policy.check(end_entity, intermediates, now, &self.provider.signature_verification_algorithms)?;
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

/// The certificate must chain to the roots (RFC 5280 path validation at `now`,
/// serverAuth usage), without matching a server name: the client connects to an address,
/// and any certificate the roots signed is the peer it wants. The chain check is rustls'
/// own `verify_server_cert_signed_by_trust_anchor`.
#[derive(Debug)]
pub struct ChainOnly {
    roots: Arc<RootCertStore>,
}

impl ChainOnly {
    pub fn new(roots: Arc<RootCertStore>) -> ChainOnly {
        ChainOnly { roots }
    }
}

impl Policy for ChainOnly {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<(), rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(&cert, &self.roots, intermediates, now, algorithms.all)
    }
}

/// Accepts any certificate (the handshake signatures are still checked by [`Verifier`]).
/// For load generators and tests that talk to a server without trusting it.
#[derive(Debug)]
pub struct AnyCert;

impl Policy for AnyCert {
    fn check(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
        _: &WebPkiSupportedAlgorithms,
    ) -> Result<(), rustls::Error> {
        Ok(())
    }
}

/// What a [`Pinned`] fingerprint is taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinnedPart {
    /// The whole certificate (DER): MirageOS `cert-fp`.
    Certificate,
    /// Its SubjectPublicKeyInfo (DER): MirageOS `key-fp`.
    PublicKey,
}

/// The certificate (or its key) must hash to the fingerprint; name and dates are not
/// checked (the pin is the whole decision, as in MirageOS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    pub part: PinnedPart,
    pub hash: &'static digest::Algorithm,
    pub fingerprint: Vec<u8>,
}

impl Policy for Pinned {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
        _: &WebPkiSupportedAlgorithms,
    ) -> Result<(), rustls::Error> {
        let hashed = match self.part {
            PinnedPart::Certificate => end_entity.as_ref(),
            PinnedPart::PublicKey => {
                spki_of(end_entity.as_ref()).ok_or(rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?
            }
        };
        if digest::digest(self.hash, hashed).as_ref() == self.fingerprint.as_slice() {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }
}

/// A `--tls-authenticator=` value that is malformed or names unusable certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadAuthenticator(pub String);

impl fmt::Display for BadAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad TLS authenticator: {}", self.0)
    }
}

impl std::error::Error for BadAuthenticator {}

/// A parsed `--tls-authenticator=` (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authenticator {
    /// `cert-fp:` or `key-fp:`.
    Pinned(Pinned),
    /// `trust-anchor:`: the CA certificates, DER.
    TrustAnchors(Vec<Vec<u8>>),
}

impl Authenticator {
    /// Parses the MirageOS authenticator syntax.
    pub fn parse(s: &str) -> Result<Authenticator, BadAuthenticator> {
        let bad = BadAuthenticator;
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            bad(format!("{s:?}: expected cert-fp:HASH:FP, key-fp:HASH:FP or trust-anchor:BASE64-DER"))
        })?;
        match kind {
            "cert-fp" | "key-fp" => {
                let (hash, fp) =
                    rest.split_once(':').ok_or_else(|| bad(format!("{kind}: expected {kind}:SHA256:<fingerprint>")))?;
                let hash = match hash.to_ascii_uppercase().as_str() {
                    "SHA256" => &digest::SHA256,
                    "SHA384" => &digest::SHA384,
                    "SHA512" => &digest::SHA512,
                    other => return Err(bad(format!("unsupported hash {other:?} (use SHA256, SHA384 or SHA512)"))),
                };
                let fingerprint = decode_fp(fp, hash.output_len()).ok_or_else(|| {
                    bad(format!("{kind}: fingerprint must be {} bytes in base64 or hex", hash.output_len()))
                })?;
                let part = if kind == "cert-fp" { PinnedPart::Certificate } else { PinnedPart::PublicKey };
                Ok(Authenticator::Pinned(Pinned { part, hash, fingerprint }))
            }
            "trust-anchor" | "trust-anchors" => {
                let ders = rest
                    .split(',')
                    .map(|b| base64_decode(b.trim()).ok_or_else(|| bad("trust-anchor: bad base64".into())))
                    .collect::<Result<Vec<_>, _>>()?;
                if ders.iter().any(|d| d.is_empty()) {
                    return Err(bad("trust-anchor: empty certificate".into()));
                }
                Ok(Authenticator::TrustAnchors(ders))
            }
            other => Err(bad(format!("unknown authenticator kind {other:?} (cert-fp, key-fp, trust-anchor)"))),
        }
    }

    /// A rustls client configuration (ring, safe default versions, the platform's wall
    /// clock) that authenticates servers this way.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, BadAuthenticator> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_details(provider.clone(), Arc::new(PlatformTime))
            .with_safe_default_protocol_versions()
            .map_err(|e| BadAuthenticator(format!("TLS versions: {e}")))?;
        let config = match self {
            Authenticator::TrustAnchors(ders) => {
                let mut roots = RootCertStore::empty();
                for der in ders {
                    roots
                        .add(CertificateDer::from(der.clone()))
                        .map_err(|e| BadAuthenticator(format!("trust-anchor: {e}")))?;
                }
                let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| BadAuthenticator(format!("trust-anchor: {e}")))?;
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
            Authenticator::Pinned(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Verifier::new(pin.clone(), provider))
                .with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// One DER TLV at the start of `der`: (tag, whole element, contents).
fn der_tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *der.first()?;
    let first = *der.get(1)? as usize;
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let len = der.get(2..2 + n)?.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    Some((tag, der.get(..end)?, der.get(head..end)?))
}

/// The SubjectPublicKeyInfo element of an X.509 certificate (RFC 5280 §4.1):
/// Certificate → tbsCertificate → [version], serial, signature, issuer, validity,
/// subject, subjectPublicKeyInfo.
pub fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    let (_, _, cert_body) = der_tlv(cert)?;
    let (_, _, mut tbs) = der_tlv(cert_body)?;
    if tbs.first() == Some(&0xa0) {
        let (_, whole, _) = der_tlv(tbs)?;
        tbs = &tbs[whole.len()..];
    }
    for _ in 0..5 {
        let (_, whole, _) = der_tlv(tbs)?;
        tbs = &tbs[whole.len()..];
    }
    let (tag, whole, _) = der_tlv(tbs)?;
    (tag == 0x30).then_some(whole)
}

fn decode_fp(s: &str, len: usize) -> Option<Vec<u8>> {
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    if hex.len() == len * 2 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return (0..len).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect();
    }
    base64_decode(s).filter(|v| v.len() == len)
}

/// Standard base64 (RFC 4648 §4), padding optional.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authenticators() {
        let b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; // SHA256("")
        match Authenticator::parse(&format!("cert-fp:SHA256:{b64}")).unwrap() {
            Authenticator::Pinned(Pinned { part: PinnedPart::Certificate, fingerprint, .. }) => {
                assert_eq!(fingerprint, digest::digest(&digest::SHA256, b"").as_ref())
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Authenticator::parse(&format!("key-fp:sha256:{}", "ab".repeat(32))),
            Ok(Authenticator::Pinned(Pinned { part: PinnedPart::PublicKey, .. }))
        ));
        for bad in ["none", "cert-fp:SHA256", "cert-fp:MD5:AAAA", "cert-fp:SHA256:AAAA", "trust-anchor:!!", "foo:bar"] {
            assert!(Authenticator::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert!(spki_of(b"\x30\x03\x30\x01").is_none());
    }
}
