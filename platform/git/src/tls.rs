//! `--tls-authenticator=` in MirageOS syntax and the rustls verifier it
//! becomes:
//!
//! * `cert-fp:SHA256:<fp>` — the server's certificate (DER) hashes to `fp`;
//! * `key-fp:SHA256:<fp>` — its SubjectPublicKeyInfo hashes to `fp`;
//! * `trust-anchor:<base64 DER>[,<base64 DER>…]` — the chain must lead to
//!   one of these CA certificates (WebPKI rules, host name checked).
//!
//! `fp` is base64 (as MirageOS prints it) or hex; SHA256, SHA384 and
//! SHA512 are accepted. Pinned fingerprints, as in MirageOS, ignore the
//! host name and validity dates: the pin is the whole trust decision.

use std::sync::Arc;

use ring::digest;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authenticator {
    CertFingerprint { hash: &'static digest::Algorithm, fingerprint: Vec<u8> },
    KeyFingerprint { hash: &'static digest::Algorithm, fingerprint: Vec<u8> },
    TrustAnchors(Vec<Vec<u8>>),
}

impl Authenticator {
    /// Parses the MirageOS authenticator syntax.
    pub fn parse(s: &str) -> Result<Authenticator, Error> {
        let bad = |why: String| Error::BadAuthenticator(why);
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
                Ok(if kind == "cert-fp" {
                    Authenticator::CertFingerprint { hash, fingerprint }
                } else {
                    Authenticator::KeyFingerprint { hash, fingerprint }
                })
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

    /// A rustls client configuration that authenticates servers this way.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_details(provider.clone(), Arc::new(netio::PlatformTime))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let config = match self {
            Authenticator::TrustAnchors(ders) => {
                let mut roots = RootCertStore::empty();
                for der in ders {
                    roots
                        .add(CertificateDer::from(der.clone()))
                        .map_err(|e| Error::BadAuthenticator(format!("trust-anchor: {e}")))?;
                }
                let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| Error::BadAuthenticator(format!("trust-anchor: {e}")))?;
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
            pinned => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { auth: pinned.clone(), provider }))
                .with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// Verifies the server by certificate or key fingerprint.
#[derive(Debug)]
struct Pinned {
    auth: Authenticator,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (hash, expected, hashed) = match &self.auth {
            Authenticator::CertFingerprint { hash, fingerprint } => (*hash, fingerprint, end_entity.as_ref()),
            Authenticator::KeyFingerprint { hash, fingerprint } => {
                let spki = spki_of(end_entity.as_ref())
                    .ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
                (*hash, fingerprint, spki)
            }
            Authenticator::TrustAnchors(_) => unreachable!("trust anchors use the WebPKI verifier"),
        };
        if digest::digest(hash, hashed).as_ref() == expected.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
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

/// The SubjectPublicKeyInfo element of an X.509 certificate (RFC 5280
/// §4.1): Certificate → tbsCertificate → [version], serial, signature,
/// issuer, validity, subject, subjectPublicKeyInfo.
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
            Authenticator::CertFingerprint { fingerprint, .. } => {
                assert_eq!(fingerprint, digest::digest(&digest::SHA256, b"").as_ref())
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Authenticator::parse(&format!("key-fp:sha256:{}", "ab".repeat(32))),
            Ok(Authenticator::KeyFingerprint { .. })
        ));
        for bad in ["none", "cert-fp:SHA256", "cert-fp:MD5:AAAA", "cert-fp:SHA256:AAAA", "trust-anchor:!!", "foo:bar"] {
            assert!(matches!(Authenticator::parse(bad), Err(Error::BadAuthenticator(_))), "{bad}");
        }
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert!(spki_of(b"\x30\x03\x30\x01").is_none());
    }
}
