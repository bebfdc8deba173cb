//! TSIG keys and their privileges, read from `_keys` files in the zone repository.
//!
//! # File format
//!
//! As in MirageOS's dns-primary-git: a file named `_keys` (keys for any zone) or
//! `<zone>._keys` (e.g. `example.org._keys`) at the repository root holds one DNSKEY
//! record per key, in master-file syntax:
//!
//! ```text
//! ; <key name>                        [ttl] [IN] DNSKEY <flags> <protocol> <algorithm> <base64 secret>
//! foo._update.example.org.            DNSKEY 0 3 163 c2VjcmV0LXNlY3JldC1zZWNyZXQtMzI=
//! 192.0.2.1.192.0.2.2._transfer.example.org. DNSKEY 0 3 165 b3RoZXIgc2VjcmV0
//! ops._update.                        DNSKEY 0 3 164 bW9yZSBzZWNyZXQ=
//! ```
//!
//! Names not ending in `.` are relative to the file's zone (the root for `_keys`).
//! Flags and protocol are ignored. The algorithm number picks the HMAC (the numbers
//! ocaml-dns uses): 161 hmac-sha1, 163 hmac-sha256, 164 hmac-sha384, 165 hmac-sha512;
//! 157 (hmac-md5) and 162 (hmac-sha224) are refused. `;` starts a comment; a record
//! may span lines inside `( … )`. The secret is base64 (RFC 4648).
//!
//! # Privileges by key name
//!
//! A key name contains one of the labels `_update`, `_transfer`, `_notify`; the labels
//! after it name the zone the key is for, and the key covers that zone and every zone
//! below it (`x._update.` covers every zone). `_update` ⊃ `_transfer` ⊃ `_notify`:
//! an update key may also transfer and notify. A key without such a label grants nothing.
//!
//! A transfer key whose labels before `_transfer` end in two IPv4 addresses,
//! `<primary-ip>.<secondary-ip>._transfer.<zone>`, also names a peer: as primary we
//! send NOTIFY for the zone to `<secondary-ip>` ([`KeyStore::transfer_peers`]); in
//! secondary mode we transfer the zone from `<primary-ip>` ([`KeyStore::primaries`]).
//!
//! # API
//! [`KeyStore::parse`]`(file_name, text)`, [`KeyStore::merge`], [`KeyStore::get`],
//! [`KeyStore::allowed`]`(key_name, zone, Op)`, [`KeyStore::transfer_peers`]`(zone)`,
//! [`KeyStore::primaries`]`()`. `KeyStore` implements [`crate::tsig::KeyLookup`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::rr::Name;

use crate::tsig::{Algorithm, Key, KeyLookup};

/// What a key may do, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Notify,
    Transfer,
    Update,
}

/// A `_keys` file that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

impl std::error::Error for KeyError {}

/// A primary to transfer a zone from (secondary mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primary {
    pub zone: Name,
    pub primary: IpAddr,
    /// Our own address as the key names it.
    pub secondary: IpAddr,
    pub key: Key,
}

/// All keys, from every `_keys` file.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    keys: Vec<Key>,
}

impl KeyLookup for KeyStore {
    fn lookup(&self, name: &Name) -> Option<&Key> {
        self.get(name)
    }
}

impl KeyStore {
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    /// Builds a store from keys made elsewhere (tests, command line).
    pub fn from_keys(keys: Vec<Key>) -> KeyStore {
        KeyStore { keys }
    }

    /// Whether `file_name` is a keys file (`_keys` or `<zone>._keys`).
    pub fn is_keys_file(file_name: &str) -> bool {
        file_name == "_keys" || file_name.ends_with("._keys")
    }

    /// Parses one keys file; see the module doc for the format.
    pub fn parse(file_name: &str, text: &str) -> Result<KeyStore, KeyError> {
        let origin = file_name.strip_suffix("_keys").unwrap_or("").trim_end_matches('.');
        let origin = Name::from_ascii(format!("{origin}.")).map_err(|e| KeyError {
            file: file_name.into(),
            line: 0,
            reason: format!("bad zone in file name: {e}"),
        })?;
        let mut keys = Vec::new();
        for (line, record) in records(text) {
            let err = |reason: String| KeyError { file: file_name.into(), line, reason };
            let key = parse_record(&origin, &record).map_err(err)?;
            if keys.iter().any(|k: &Key| k.name.to_lowercase() == key.name.to_lowercase()) {
                return Err(err(format!("key {} defined twice", key.name)));
            }
            keys.push(key);
        }
        Ok(KeyStore { keys })
    }

    /// Adds the keys of another file; a name defined again replaces the earlier key.
    pub fn merge(&mut self, other: KeyStore) {
        for k in other.keys {
            self.keys.retain(|old| old.name.to_lowercase() != k.name.to_lowercase());
            self.keys.push(k);
        }
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    pub fn get(&self, name: &Name) -> Option<&Key> {
        self.keys.iter().find(|k| k.name.to_lowercase() == name.to_lowercase())
    }

    /// Whether the key named `key_name` (it must be in the store) may do `op` on `zone`.
    pub fn allowed(&self, key_name: &Name, zone: &Name, op: Op) -> bool {
        self.get(key_name).is_some() && permits(key_name, zone, op)
    }

    /// Secondaries to NOTIFY about `zone`: the secondary address of every transfer (or
    /// update) key `<primary>.<secondary>._transfer.<zone'>` with `zone'` covering `zone`,
    /// with the key to sign the NOTIFY.
    pub fn transfer_peers(&self, zone: &Name) -> Vec<(IpAddr, Key)> {
        self.peer_keys(zone).map(|(_, s, k)| (s, k.clone())).collect()
    }

    /// In secondary mode: every zone named by a transfer key with two addresses.
    pub fn primaries(&self) -> Vec<Primary> {
        let mut out = Vec::new();
        for k in &self.keys {
            if let Some((op, zone, Some((p, s)))) = privilege(&k.name)
                && op >= Op::Transfer
                && !zone.is_root()
            {
                out.push(Primary { zone, primary: p, secondary: s, key: k.clone() });
            }
        }
        out
    }

    /// A key to use for `op` on `zone` with the peer `addr` (preferring the one naming
    /// that address): signs outgoing NOTIFY, SOA queries and transfers.
    pub fn key_for_peer(&self, zone: &Name, addr: IpAddr) -> Option<&Key> {
        self.peer_keys(zone).find(|(p, s, _)| *s == addr || *p == addr).map(|(_, _, k)| k)
    }

    fn peer_keys(&self, zone: &Name) -> impl Iterator<Item = (IpAddr, IpAddr, &Key)> + '_ {
        let zone = zone.clone();
        self.keys.iter().filter_map(move |k| match privilege(&k.name)? {
            (op, z, Some((p, s))) if op >= Op::Transfer && z.zone_of(&zone) => Some((p, s, k)),
            _ => None,
        })
    }
}

/// Whether a key *name* grants `op` on `zone` (use it for a key that already verified:
/// TSIG found it in the store).
pub fn permits(key_name: &Name, zone: &Name, op: Op) -> bool {
    privilege(key_name).is_some_and(|(o, z, _)| o >= op && z.zone_of(zone))
}

/// What a key name grants: operation, zone, and (primary, secondary) addresses.
pub type Privilege = (Op, Name, Option<(IpAddr, IpAddr)>);

/// The privilege a key name grants: operation, zone, and the two peer addresses if
/// the labels before the operation label end in two IPv4 addresses.
pub fn privilege(key_name: &Name) -> Option<Privilege> {
    let labels: Vec<String> = key_name.iter().map(|l| String::from_utf8_lossy(l).to_ascii_lowercase()).collect();
    let (pos, op) = labels.iter().enumerate().find_map(|(i, l)| match l.as_str() {
        "_update" => Some((i, Op::Update)),
        "_transfer" => Some((i, Op::Transfer)),
        "_notify" => Some((i, Op::Notify)),
        _ => None,
    })?;
    let mut zone = Name::from_labels(labels[pos + 1..].iter().map(|s| s.as_bytes())).ok()?;
    zone.set_fqdn(true);
    let before = &labels[..pos];
    let peers = (before.len() >= 8).then(|| {
        let ip = |s: &[String]| s.join(".").parse::<Ipv4Addr>().ok().map(IpAddr::V4);
        Some((ip(&before[before.len() - 8..before.len() - 4])?, ip(&before[before.len() - 4..])?))
    });
    Some((op, zone, peers.flatten()))
}

/// Splits a master-file-ish text into records: comments dropped, `( … )` joined.
/// Yields (first line number, tokens).
fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut start = 0;
    let mut depth = 0i32;
    for (i, line) in text.lines().enumerate() {
        let line = line.split(';').next().unwrap_or("");
        if depth == 0 {
            start = i + 1;
        }
        for tok in line.replace('(', " ( ").replace(')', " ) ").split_whitespace() {
            match tok {
                "(" => depth += 1,
                ")" => depth -= 1,
                t => cur.push(t.to_string()),
            }
        }
        if depth <= 0 && !cur.is_empty() {
            out.push((start, std::mem::take(&mut cur)));
            depth = 0;
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

fn parse_record(origin: &Name, toks: &[String]) -> Result<Key, String> {
    let at = toks
        .iter()
        .position(|t| t.eq_ignore_ascii_case("DNSKEY"))
        .ok_or_else(|| "expected a DNSKEY record".to_string())?;
    if at == 0 {
        return Err("the key name is missing".into());
    }
    let name = &toks[0];
    let name = if name.ends_with('.') {
        Name::from_ascii(name)
    } else {
        Name::from_ascii(name).and_then(|n| n.append_domain(origin))
    }
    .map_err(|e| format!("bad key name {name}: {e}"))?;
    let rest = &toks[at + 1..];
    if rest.len() < 4 {
        return Err("DNSKEY needs flags, protocol, algorithm and the secret".into());
    }
    let algorithm = match rest[2].parse::<u8>() {
        Ok(161) => Algorithm::HmacSha1,
        Ok(163) => Algorithm::HmacSha256,
        Ok(164) => Algorithm::HmacSha384,
        Ok(165) => Algorithm::HmacSha512,
        Ok(157) => return Err("hmac-md5 (157) is not accepted".into()),
        Ok(162) => return Err("hmac-sha224 (162) is not accepted".into()),
        _ => return Err(format!("unknown TSIG algorithm number {}", rest[2])),
    };
    let secret = data_encoding::BASE64
        .decode(rest[3..].concat().as_bytes())
        .map_err(|e| format!("secret is not base64: {e}"))?;
    if secret.is_empty() {
        return Err("empty secret".into());
    }
    Ok(Key::new(name, algorithm, secret))
}
