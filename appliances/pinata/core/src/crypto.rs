//! Every random byte of the Piñata from one generator seeded by the platform.
//!
//! rustls and rcgen on ring draw randomness in five places: TLS randoms and
//! session identifiers (the provider's `secure_random`), ephemeral key
//! exchange (`kx_groups`), TLS signatures (the signer of the loaded key),
//! certificate signatures, and key generation. ring reads the operating
//! system for all of them unless handed bytes. Here each of them takes its
//! bytes from one [`SharedRandom`], an HMAC_DRBG seeded once at boot from
//! the platform's `Entropy` (by the wiring). So:
//!
//! * on hvt, every random byte comes from the platform's entropy source;
//! * on the simulator, a seed gives the same certificates and the same
//!   handshakes byte for byte, so a whole run is reproducible.
//!
//! Only the randomness is ours: key generation, ECDH and ECDSA are ring's.
//! ring's generators take a sealed `SecureRandom`; its `FixedSliceRandom`
//! hands one call exactly the bytes we drew, so ring still does the
//! arithmetic and its own range checks.
//!
//! ECDSA nonces: ring derives each nonce by hashing the private key, fresh
//! random bytes and the message (hedged signing), so a nonce never repeats
//! for two messages even if the generator did.

use std::fmt;
use std::sync::{Arc, Mutex};

#[allow(deprecated)]
use ring::deprecated_test::rand::FixedSliceRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use ring::{agreement, hmac};
use rustls::crypto::{ActiveKeyExchange, CryptoProvider, GetRandomFailed, KeyProvider, SharedSecret, SupportedKxGroup};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer, alg_id};
use rustls::sign::{Signer, SigningKey, public_key_to_spki};
use rustls::{Error, NamedGroup, PeerMisbehaved, SignatureAlgorithm, SignatureScheme};

/// HMAC_DRBG with SHA-256 (NIST SP 800-90A rev. 1, §10.1.2), without
/// reseeding: the Piñata draws far less than the 2^48 requests allowed
/// between reseeds.
pub struct Drbg {
    k: [u8; 32],
    v: [u8; 32],
}

fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

impl Drbg {
    /// §10.1.2.3: Key = 0x00…, V = 0x01…, then Update(seed material).
    pub fn new(seed: &[u8]) -> Drbg {
        let mut d = Drbg { k: [0; 32], v: [1; 32] };
        d.update(seed);
        d
    }

    /// §10.1.2.2, HMAC_DRBG_Update.
    fn update(&mut self, data: &[u8]) {
        self.k = hmac_sha256(&self.k, &[&self.v, &[0x00], data]);
        self.v = hmac_sha256(&self.k, &[&self.v]);
        if !data.is_empty() {
            self.k = hmac_sha256(&self.k, &[&self.v, &[0x01], data]);
            self.v = hmac_sha256(&self.k, &[&self.v]);
        }
    }

    /// §10.1.2.5, HMAC_DRBG_Generate without additional input. Requests are
    /// split at 64 KiB, the most one request may return (§10.1, table 2).
    pub fn fill(&mut self, out: &mut [u8]) {
        for request in out.chunks_mut(1 << 16) {
            for block in request.chunks_mut(32) {
                self.v = hmac_sha256(&self.k, &[&self.v]);
                block.copy_from_slice(&self.v[..block.len()]);
            }
            self.update(&[]);
        }
    }
}

/// The generator shared by everything in the Piñata that needs randomness.
pub struct SharedRandom(Mutex<Drbg>);

impl fmt::Debug for SharedRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedRandom")
    }
}

impl SharedRandom {
    pub fn new(seed: &[u8]) -> SharedRandom {
        SharedRandom(Mutex::new(Drbg::new(seed)))
    }

    /// Seeded from the operating system (through ring), for callers without
    /// a platform entropy source (tools, tests).
    pub fn from_os() -> SharedRandom {
        use ring::rand::SecureRandom as _;
        let mut seed = [0u8; 48];
        // Failing to read the OS generator is not recoverable.
        ring::rand::SystemRandom::new().fill(&mut seed).expect("the operating system's random generator");
        SharedRandom::new(&seed)
    }

    pub fn fill_bytes(&self, out: &mut [u8]) {
        // A poisoned lock only means a panic elsewhere; the state is intact.
        self.0.lock().unwrap_or_else(|e| e.into_inner()).fill(out);
    }

    fn array<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill_bytes(&mut out);
        out
    }
}

impl rustls::crypto::SecureRandom for SharedRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        self.fill_bytes(buf);
        Ok(())
    }
}

/// A fresh P-256 key as PKCS#8 (with its public key, as ring writes it).
pub fn generate_p256(rng: &SharedRandom) -> Result<PrivatePkcs8KeyDer<'static>, Error> {
    // ring draws the 32-byte private scalar seed in one call (and rejects a
    // seed out of range; then try another).
    for _ in 0..8 {
        let seed: [u8; 32] = rng.array();
        #[allow(deprecated)]
        let fixed = FixedSliceRandom { bytes: &seed };
        if let Ok(doc) = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &fixed) {
            return Ok(PrivatePkcs8KeyDer::from(doc.as_ref().to_vec()));
        }
    }
    Err(Error::General("cannot generate a P-256 key".into()))
}

/// An ECDSA P-256 key whose signatures draw from a [`SharedRandom`]: the
/// signer of TLS handshakes (rustls) and of certificates (rcgen).
pub struct EcdsaKey {
    pair: Arc<EcdsaKeyPair>,
    pkcs8: PrivatePkcs8KeyDer<'static>,
    rng: &'static SharedRandom,
}

impl fmt::Debug for EcdsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcdsaKey(P-256)")
    }
}

impl EcdsaKey {
    /// Loads a PKCS#8 P-256 key; `None` for any other kind of key.
    pub fn from_pkcs8(pkcs8: &PrivatePkcs8KeyDer<'_>, rng: &'static SharedRandom) -> Option<EcdsaKey> {
        // Loading draws 32 bytes (the per-key part of the nonce hedge).
        let bytes: [u8; 32] = rng.array();
        #[allow(deprecated)]
        let fixed = FixedSliceRandom { bytes: &bytes };
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.secret_pkcs8_der(), &fixed)
                .ok()?;
        Some(EcdsaKey { pair: Arc::new(pair), pkcs8: pkcs8.clone_key(), rng })
    }

    /// A fresh key.
    pub fn generate(rng: &'static SharedRandom) -> Result<EcdsaKey, Error> {
        let der = generate_p256(rng)?;
        EcdsaKey::from_pkcs8(&der, rng).ok_or_else(|| Error::General("generated key does not load".into()))
    }

    pub fn pkcs8(&self) -> PrivatePkcs8KeyDer<'static> {
        self.pkcs8.clone_key()
    }

    fn sign_bytes(&self, msg: &[u8]) -> Option<Vec<u8>> {
        // For P-256 with SHA-256 ring's nonce hedge takes one 32-byte draw
        // (a block of SHA-256 less the 32-byte key digest).
        let bytes: [u8; 32] = self.rng.array();
        #[allow(deprecated)]
        let fixed = FixedSliceRandom { bytes: &bytes };
        self.pair.sign(&fixed, msg).ok().map(|s| s.as_ref().to_vec())
    }
}

impl rcgen::PublicKeyData for EcdsaKey {
    fn der_bytes(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for EcdsaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_bytes(msg).ok_or(rcgen::Error::RingUnspecified)
    }
}

impl SigningKey for EcdsaKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let key = EcdsaKey { pair: self.pair.clone(), pkcs8: self.pkcs8.clone_key(), rng: self.rng };
        offered.contains(&SignatureScheme::ECDSA_NISTP256_SHA256).then(|| Box::new(TlsSigner(key)) as Box<dyn Signer>)
    }
    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(public_key_to_spki(&alg_id::ECDSA_P256, self.pair.public_key()))
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

#[derive(Debug)]
struct TlsSigner(EcdsaKey);

impl Signer for TlsSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.sign_bytes(message).ok_or_else(|| Error::General("signing failed".into()))
    }
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}

/// Loads the keys of the certificates rustls presents: P-256 keys sign with
/// [`EcdsaKey`]; any other kind goes to ring's own loader.
#[derive(Debug)]
struct Keys(&'static SharedRandom);

impl KeyProvider for Keys {
    fn load_private_key(&self, key_der: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, Error> {
        if let PrivateKeyDer::Pkcs8(p) = &key_der
            && let Some(k) = EcdsaKey::from_pkcs8(p, self.0)
        {
            return Ok(Arc::new(k));
        }
        rustls::crypto::ring::default_provider().key_provider.load_private_key(key_der)
    }
}

/// One ephemeral key-exchange group (RFC 8446 §4.2.7) on ring, its private
/// key drawn from the shared generator.
struct Kx {
    name: NamedGroup,
    alg: &'static agreement::Algorithm,
    /// The bytes ring draws for one private key of this group.
    seed_len: usize,
    rng: &'static SharedRandom,
}

impl fmt::Debug for Kx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.name.fmt(f)
    }
}

impl SupportedKxGroup for Kx {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut seed = [0u8; 48];
        let seed = &mut seed[..self.seed_len];
        self.rng.fill_bytes(seed);
        #[allow(deprecated)]
        let fixed = FixedSliceRandom { bytes: seed };
        let priv_key = agreement::EphemeralPrivateKey::generate(self.alg, &fixed).map_err(|_| GetRandomFailed)?;
        let pub_key = priv_key.compute_public_key().map_err(|_| GetRandomFailed)?.as_ref().to_vec();
        Ok(Box::new(Exchange { name: self.name, alg: self.alg, priv_key, pub_key }))
    }
    fn name(&self) -> NamedGroup {
        self.name
    }
}

struct Exchange {
    name: NamedGroup,
    alg: &'static agreement::Algorithm,
    priv_key: agreement::EphemeralPrivateKey,
    pub_key: Vec<u8>,
}

impl ActiveKeyExchange for Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
        // ring checks the peer's point (on the curve, right length).
        let peer = agreement::UnparsedPublicKey::new(self.alg, peer);
        agreement::agree_ephemeral(self.priv_key, &peer, |secret| SharedSecret::from(secret))
            .map_err(|_| PeerMisbehaved::InvalidKeyShare.into())
    }
    fn pub_key(&self) -> &[u8] {
        &self.pub_key
    }
    fn group(&self) -> NamedGroup {
        self.name
    }
}

/// ring's provider (same cipher suites, groups in the same order, same
/// verification algorithms) with every random draw from `rng`.
///
/// rustls wants `'static` parts: the generator and the groups are leaked,
/// once per call (the Piñata calls it once per boot).
pub fn seeded_provider(rng: &'static SharedRandom) -> Arc<CryptoProvider> {
    let base = rustls::crypto::ring::default_provider();
    let groups: &'static [Kx; 3] = Box::leak(Box::new([
        Kx { name: NamedGroup::X25519, alg: &agreement::X25519, seed_len: 32, rng },
        Kx { name: NamedGroup::secp256r1, alg: &agreement::ECDH_P256, seed_len: 32, rng },
        Kx { name: NamedGroup::secp384r1, alg: &agreement::ECDH_P384, seed_len: 48, rng },
    ]));
    let keys: &'static Keys = Box::leak(Box::new(Keys(rng)));
    Arc::new(CryptoProvider {
        kx_groups: groups.iter().map(|g| g as &'static dyn SupportedKxGroup).collect(),
        secure_random: rng,
        key_provider: keys,
        ..base
    })
}

/// A generator for one boot, leaked to live as long as rustls needs it.
pub fn leak_random(seed: &[u8]) -> &'static SharedRandom {
    Box::leak(Box::new(SharedRandom::new(seed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drbg_is_a_function_of_its_seed() {
        let (mut a, mut b, mut c) = (Drbg::new(b"seed one"), Drbg::new(b"seed one"), Drbg::new(b"seed two"));
        let (mut x, mut y, mut z) = ([0u8; 100], [0u8; 100], [0u8; 100]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        let mut next = [0u8; 100];
        a.fill(&mut next);
        assert_ne!(x, next, "successive draws differ");
        assert!(x.iter().any(|&v| v != x[0]));
    }

    #[test]
    fn kx_groups_agree_and_follow_the_seed() {
        for seeds in [(b"a", b"a", true), (b"a", b"b", false)] {
            let (p, q) = (seeded_provider(leak_random(seeds.0)), seeded_provider(leak_random(seeds.1)));
            for (g, h) in p.kx_groups.iter().zip(&q.kx_groups) {
                let (x, y) = (g.start().unwrap(), h.start().unwrap());
                assert_eq!(x.pub_key() == y.pub_key(), seeds.2, "{:?}", g.name());
                let (xp, yp) = (x.pub_key().to_vec(), y.pub_key().to_vec());
                let (sx, sy) = (x.complete(&yp).unwrap(), y.complete(&xp).unwrap());
                assert_eq!(sx.secret_bytes(), sy.secret_bytes(), "{:?}: both sides agree", g.name());
            }
        }
    }

    #[test]
    fn keys_and_signatures_follow_the_seed_and_verify() {
        let sign = |seed: &[u8]| {
            let rng = leak_random(seed);
            let key = EcdsaKey::generate(rng).unwrap();
            let sig = rcgen::SigningKey::sign(&key, b"message").unwrap();
            (rcgen::PublicKeyData::der_bytes(&key).to_vec(), sig)
        };
        let (pk, sig) = sign(b"k");
        assert_eq!((pk.clone(), sig.clone()), sign(b"k"));
        assert_ne!(pk, sign(b"other").0);
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &pk).verify(b"message", &sig).unwrap();
    }
}
