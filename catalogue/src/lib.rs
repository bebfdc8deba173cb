//! The catalogue of published appliance images: its format, its signature, and
//! the checks a downloaded image must pass.
//!
//! A published catalogue is a directory (served over HTTP(S) or read from disk):
//!
//! ```text
//! catalogue.json        the entries below, as JSON
//! catalogue.json.sig    Ed25519 signature over the exact bytes of catalogue.json (64 bytes, raw)
//! images/NAME-VERSION.hvt
//! ```
//!
//! Nothing in `catalogue.json` is trusted before [`verify_catalogue`] has checked
//! its signature; an image is trusted only when its SHA-256 matches its entry.
//! `cargo xtask publish` writes catalogues with [`sign`]; the `appliance` tool
//! reads them.

use std::fmt;

use base64::Engine as _;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// The project's release key (Ed25519, raw 32 bytes, base64). Its private half
/// is kept off the repository by whoever publishes releases; a catalogue you
/// publish yourself is checked with `--public-key` / `APPLIANCE_PUBLIC_KEY`.
pub const RELEASE_PUBLIC_KEY: &str = "9UXCcCslbCuVIUVujhYwdOAxOtA7FUaDKejMTXOmIuw=";

/// File names inside a published catalogue.
pub const CATALOGUE_FILE: &str = "catalogue.json";
pub const SIGNATURE_FILE: &str = "catalogue.json.sig";

/// Format version of `catalogue.json`; a tool refuses formats it doesn't know.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    pub format: u32,
    pub appliances: Vec<Entry>,
}

/// One published image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub version: String,
    /// One line: what the appliance is for.
    pub purpose: String,
    /// Path of the image relative to the catalogue, e.g. `images/pinata-0.1.0.hvt`.
    pub image: String,
    pub sha256: String,
    pub size: u64,
    /// `git rev-parse HEAD` of the source, and whether the tree had changes.
    pub source_commit: String,
    pub source_dirty: bool,
    /// SHA-256 of the Cargo.lock the image was built with.
    pub cargo_lock_sha256: String,
    /// The devices the image's manifest note declares.
    pub devices: Vec<Device>,
    /// Boot arguments the appliance accepts, with their help text.
    pub args: Vec<Arg>,
    /// Where it runs: `hvt` (this image) and `unix` (built from source).
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    /// `net` or `block`.
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arg {
    /// As written on the command line: `--ipv4=CIDR`, `-l, --logs=LEVEL`.
    pub usage: String,
    pub help: String,
}

/// Why a catalogue or an image was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    BadPublicKey(String),
    BadSignature,
    BadCatalogue(String),
    UnknownAppliance { name: String, known: Vec<String> },
    HashMismatch { what: String, expected: String, actual: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadPublicKey(why) => write!(f, "the public key is not usable: {why}"),
            Error::BadSignature => write!(
                f,
                "the catalogue's signature does not verify with the trusted public key: it was tampered with, \
                 or signed by another key (for a catalogue you published yourself, pass --public-key)"
            ),
            Error::BadCatalogue(why) => write!(f, "the catalogue is not valid: {why}"),
            Error::UnknownAppliance { name, known } => {
                write!(f, "no appliance `{name}` in the catalogue (it has: {})", known.join(", "))
            }
            Error::HashMismatch { what, expected, actual } => {
                write!(f, "{what} has SHA-256 {actual}, but the catalogue says {expected}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Decodes a base64 Ed25519 public key (32 bytes).
pub fn parse_public_key(b64: &str) -> Result<Vec<u8>, Error> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| Error::BadPublicKey(format!("not base64: {e}")))?;
    if key.len() != 32 {
        return Err(Error::BadPublicKey(format!("an Ed25519 key has 32 bytes, this one {}", key.len())));
    }
    Ok(key)
}

/// Checks `signature` over `json` with `public_key`, then parses the catalogue.
pub fn verify_catalogue(json: &[u8], signature: &[u8], public_key: &[u8]) -> Result<Catalogue, Error> {
    UnparsedPublicKey::new(&ED25519, public_key).verify(json, signature).map_err(|_| Error::BadSignature)?;
    let catalogue: Catalogue =
        serde_json::from_slice(json).map_err(|e| Error::BadCatalogue(format!("catalogue.json: {e}")))?;
    if catalogue.format != FORMAT {
        return Err(Error::BadCatalogue(format!(
            "format {} (this tool reads format {FORMAT}; update the tool)",
            catalogue.format
        )));
    }
    for e in &catalogue.appliances {
        // The image path comes from the signed file, but it is still joined to
        // URLs and cache paths: keep it to `images/<plain name>`.
        let plain = e.image.strip_prefix("images/").is_some_and(|f| {
            !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) && !f.starts_with('.')
        });
        if !plain {
            return Err(Error::BadCatalogue(format!("{}: image path `{}` is not images/<file>", e.name, e.image)));
        }
    }
    Ok(catalogue)
}

impl Catalogue {
    /// The entry for `NAME` or `NAME@VERSION` (the newest listed when no version).
    pub fn find(&self, spec: &str) -> Result<&Entry, Error> {
        let (name, version) = match spec.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (spec, None),
        };
        self.appliances.iter().rev().find(|e| e.name == name && version.is_none_or(|v| e.version == v)).ok_or_else(
            || Error::UnknownAppliance {
                name: spec.to_string(),
                known: self.appliances.iter().map(|e| format!("{}@{}", e.name, e.version)).collect(),
            },
        )
    }

    /// The entry whose image has this SHA-256.
    pub fn find_by_hash(&self, sha256: &str) -> Option<&Entry> {
        self.appliances.iter().find(|e| e.sha256 == sha256)
    }
}

/// Signs `json` with a PKCS#8 Ed25519 key; returns (signature, public key).
pub fn sign(pkcs8: &[u8], json: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|e| format!("not a PKCS#8 Ed25519 private key: {e}"))?;
    Ok((pair.sign(json).as_ref().to_vec(), pair.public_key().as_ref().to_vec()))
}

/// A new PKCS#8 Ed25519 private key.
pub fn generate_key() -> Result<Vec<u8>, String> {
    let rng = ring::rand::SystemRandom::new();
    Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()).map_err(|_| "cannot generate a key".to_string())
}

pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Catalogue {
        Catalogue {
            format: FORMAT,
            appliances: vec![Entry {
                name: "pinata".into(),
                version: "0.1.0".into(),
                purpose: "TLS bounty".into(),
                image: "images/pinata-0.1.0.hvt".into(),
                sha256: "00".into(),
                size: 1,
                source_commit: "abc".into(),
                source_dirty: false,
                cargo_lock_sha256: "11".into(),
                devices: vec![Device { name: "service".into(), kind: "net".into() }],
                args: vec![],
                targets: vec!["hvt".into()],
            }],
        }
    }

    #[test]
    fn signed_catalogue_verifies_and_tampering_is_refused() {
        let key = generate_key().unwrap();
        let json = serde_json::to_vec(&sample()).unwrap();
        let (sig, public) = sign(&key, &json).unwrap();
        assert_eq!(verify_catalogue(&json, &sig, &public).unwrap(), sample());
        let mut tampered = json.clone();
        let at = tampered.len() / 2;
        tampered[at] ^= 1;
        assert_eq!(verify_catalogue(&tampered, &sig, &public), Err(Error::BadSignature));
        let other = generate_key().unwrap();
        let (_, other_public) = sign(&other, b"x").unwrap();
        assert_eq!(verify_catalogue(&json, &sig, &other_public), Err(Error::BadSignature));
        assert_eq!(verify_catalogue(&json, b"", &public), Err(Error::BadSignature));
    }

    #[test]
    fn image_paths_must_stay_inside_images() {
        let key = generate_key().unwrap();
        for bad in ["../x.hvt", "images/../../etc/passwd", "images/", "/images/x", "images/.x"] {
            let mut c = sample();
            c.appliances[0].image = bad.into();
            let json = serde_json::to_vec(&c).unwrap();
            let (sig, public) = sign(&key, &json).unwrap();
            assert!(matches!(verify_catalogue(&json, &sig, &public), Err(Error::BadCatalogue(_))), "{bad}");
        }
    }

    #[test]
    fn find_by_name_and_version() {
        let c = sample();
        assert_eq!(c.find("pinata").unwrap().version, "0.1.0");
        assert_eq!(c.find("pinata@0.1.0").unwrap().name, "pinata");
        assert!(matches!(c.find("pinata@9"), Err(Error::UnknownAppliance { .. })));
        assert!(c.find("dns").unwrap_err().to_string().contains("pinata@0.1.0"));
    }

    #[test]
    fn public_keys_are_checked() {
        assert!(parse_public_key(RELEASE_PUBLIC_KEY).is_ok());
        assert!(parse_public_key("abc").is_err());
        assert!(parse_public_key(&base64(&[0; 31])).is_err());
    }
}
