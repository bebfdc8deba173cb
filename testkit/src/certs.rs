//! Certificates for TLS tests, made with rcgen: a CA, leaves signed by it or
//! by themselves, written as PEM files into a [`TempDir`]. Keys are ECDSA
//! P-256 (what every TLS stack in the tests accepts).

use std::net::IpAddr;
use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use sha2::{Digest, Sha256};

use crate::tmp::TempDir;

/// Validity, in seconds from now (not before, not after): valid for a month.
pub const VALID: (i64, i64) = (-3600, 30 * 86400);
/// Validity that ended a day ago.
pub const EXPIRED: (i64, i64) = (-60 * 86400, -86400);

/// A certificate and its key, written as PEM files.
#[derive(Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate in DER.
    pub der: Vec<u8>,
}

impl CertFiles {
    /// The SHA-256 of the certificate's DER, in lowercase hex (a pin).
    pub fn sha256_hex(&self) -> String {
        Sha256::digest(&self.der).iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn new_key() -> KeyPair {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate a P-256 key")
}

/// A CA named `name` with a fresh key, allowed to sign leaves (path length 1).
pub fn ca(name: &str) -> Issuer<'static, KeyPair> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Issuer::new(p, new_key())
}

/// The parameters of a leaf for `peer.example` named `cn`, for `usage`, valid
/// over `valid` (seconds from now).
pub fn leaf_params(cn: &str, usage: ExtendedKeyUsagePurpose, valid: (i64, i64)) -> CertificateParams {
    let now = time::OffsetDateTime::now_utc();
    let mut p = CertificateParams::new(vec!["peer.example".to_string()]).expect("a valid DNS name");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![usage];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now + time::Duration::seconds(valid.0);
    p.not_after = now + time::Duration::seconds(valid.1);
    p
}

fn write(dir: &TempDir, name: &str, cert: rcgen::Certificate, key: &KeyPair) -> CertFiles {
    let files = CertFiles {
        cert: dir.path(&format!("{name}.crt")),
        key: dir.path(&format!("{name}.key")),
        der: cert.der().to_vec(),
    };
    std::fs::write(&files.cert, cert.pem()).expect("write the certificate");
    std::fs::write(&files.key, key.serialize_pem()).expect("write the key");
    files
}

/// A leaf (see [`leaf_params`]) signed by `issuer`, as `NAME.crt`/`NAME.key` in `dir`.
pub fn signed_cert(
    dir: &TempDir,
    name: &str,
    issuer: &Issuer<'_, KeyPair>,
    usage: ExtendedKeyUsagePurpose,
    valid: (i64, i64),
) -> CertFiles {
    let key = new_key();
    let cert = leaf_params(name, usage, valid).signed_by(&key, issuer).expect("sign the leaf");
    write(dir, name, cert, &key)
}

/// A self-signed leaf (see [`leaf_params`]), valid for a month.
pub fn self_signed_cert(dir: &TempDir, name: &str, usage: ExtendedKeyUsagePurpose) -> CertFiles {
    let key = new_key();
    let cert = leaf_params(name, usage, VALID).self_signed(&key).expect("self-sign the leaf");
    write(dir, name, cert, &key)
}

/// A self-signed server certificate for the address `ip` (its common name and
/// only subject alternative name), valid for two days, as `server.crt` and
/// `server.key` in `dir`. It is an end-entity certificate (CA:FALSE): webpki
/// refuses a CA certificate as a server's.
pub fn ip_server_cert(dir: &TempDir, ip: IpAddr) -> CertFiles {
    let now = time::OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, ip.to_string());
    p.subject_alt_names = vec![SanType::IpAddress(ip)];
    p.is_ca = IsCa::ExplicitNoCa;
    p.not_before = now - time::Duration::seconds(3600);
    p.not_after = now + time::Duration::days(2);
    let key = new_key();
    let cert = p.self_signed(&key).expect("self-sign the server certificate");
    write(dir, "server", cert, &key)
}
