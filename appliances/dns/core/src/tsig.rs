//! TSIG (RFC 8945): signing and verifying DNS messages with shared HMAC keys.
//!
//! Our own implementation over `ring::hmac`, working on wire bytes (the MAC covers the
//! exact bytes sent, so we never re-encode a message we verify).
//!
//! Public API:
//! - [`Algorithm`] (hmac-sha1 legacy, hmac-sha256/384/512) and [`Key`] (name, algorithm,
//!   secret).
//! - Server side: [`verify_request`]`(keys, bytes, now_wall) -> Result<Option<Signed>,
//!   TsigError>`; `None` means the request is unsigned. On `Ok(Some(signed))` answer with
//!   [`sign_response`]`(&signed, reply_bytes, now)`; for a multi-message AXFR/IXFR use
//!   [`StreamSigner`] (RFC 8945 §5.3.1; we sign every message). On `Err(e)` the reply is
//!   [`TsigError::reply`]`(reply_bytes, now)`: it sets the rcode (NOTAUTH, or FORMERR for
//!   a malformed TSIG) and adds the TSIG error record as §5.3.2 wants — unsigned for
//!   BADKEY/BADSIG, signed with our time for BADTIME.
//! - Client side (NOTIFY, SOA queries, transfers in): [`sign_request`]`(key, bytes, now)
//!   -> (bytes, ClientState)`, then [`verify_response`] for a single reply or
//!   [`StreamVerifier`] for a transfer stream.
//!
//! Every `now` is the wall clock, [`UnixTime`]: TSIG puts it on the wire (time signed,
//! RFC 8945 §4.2) and checks the peer's against it within the fudge (§5.2.3).
//!
//! The key store ([`crate::keys::KeyStore`]) is found by name through the [`KeyLookup`]
//! trait, so tests can pass a plain slice of keys.

use std::fmt;

use hickory_proto::rr::Name;
use ring::hmac;
use sansio::UnixTime;

/// TSIG RR type code (RFC 8945 §4.2).
pub const TSIG_TYPE: u16 = 250;
const CLASS_ANY: u16 = 255;
const HEADER: usize = 12;
/// TSIG error codes (RFC 8945 §4.3, IANA DNS RCODEs).
pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;
/// Header RCODE for TSIG failures (RFC 8945 §5.2).
const NOTAUTH: u8 = 9;
const FORMERR: u8 = 1;
/// Our fudge when signing: RFC 8945 §10 recommends 300 s.
pub const FUDGE: u16 = 300;

/// The HMAC algorithms we accept. HMAC-MD5 and SHA-224 are refused on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Legacy, for old clients (RFC 8945 §6 says "MAY" support it).
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// The algorithm name as it appears in the TSIG record (RFC 8945 §6).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1.",
            Algorithm::HmacSha256 => "hmac-sha256.",
            Algorithm::HmacSha384 => "hmac-sha384.",
            Algorithm::HmacSha512 => "hmac-sha512.",
        }
    }

    /// Parses the name (as in the TSIG record or in `-y hmac-sha256:...`), any case,
    /// with or without the trailing dot.
    pub fn from_name(s: &str) -> Option<Algorithm> {
        match s.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha1" => Some(Algorithm::HmacSha1),
            "hmac-sha256" => Some(Algorithm::HmacSha256),
            "hmac-sha384" => Some(Algorithm::HmacSha384),
            "hmac-sha512" => Some(Algorithm::HmacSha512),
            _ => None,
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    /// Output length of the HMAC in octets.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }

    fn wire(self) -> Vec<u8> {
        let mut out = Vec::new();
        for label in self.name().trim_end_matches('.').split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }
}

/// A TSIG key: its name (the owner of the TSIG record), algorithm and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub name: Name,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
}

impl fmt::Debug for Key {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key").field("name", &self.name).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl Key {
    pub fn new(name: Name, algorithm: Algorithm, secret: Vec<u8>) -> Key {
        let mut name = name;
        name.set_fqdn(true);
        Key { name, algorithm, secret }
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let key = hmac::Key::new(self.algorithm.ring(), &self.secret);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign().as_ref().to_vec()
    }
}

/// Finds keys by name (case-insensitively).
pub trait KeyLookup {
    fn lookup(&self, name: &Name) -> Option<&Key>;
}

impl KeyLookup for [Key] {
    fn lookup(&self, name: &Name) -> Option<&Key> {
        self.iter().find(|k| k.name.to_lowercase() == name.to_lowercase())
    }
}

impl KeyLookup for Vec<Key> {
    fn lookup(&self, name: &Name) -> Option<&Key> {
        self.as_slice().lookup(name)
    }
}

/// A request that carried a valid TSIG: what the response needs to be signed.
#[derive(Debug, Clone)]
pub struct Signed {
    pub key: Key,
    /// The request's MAC, prepended to the response's MAC input (RFC 8945 §5.3).
    pub request_mac: Vec<u8>,
    /// The request's Time Signed.
    pub time: u64,
}

/// Why a TSIG did not verify.
#[derive(Debug, Clone)]
pub enum TsigError {
    /// A malformed TSIG, one not last, or a MAC of impossible length (RFC 8945 §5.2,
    /// §5.2.2.1): FORMERR.
    FormErr,
    /// Unknown key or algorithm mismatch (§5.2.1).
    BadKey { key_name: Name, algorithm: Vec<u8>, time: u64 },
    /// MAC does not verify (§5.2.2).
    BadSig { key_name: Name, algorithm: Vec<u8>, time: u64 },
    /// MAC fine but the clock is off by more than the fudge (§5.2.3).
    BadTime(Box<Signed>),
    /// A response carried a TSIG error code, or was unsigned when it had to be signed.
    Rejected(u16),
}

impl fmt::Display for TsigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsigError::FormErr => write!(f, "malformed TSIG"),
            TsigError::BadKey { key_name, .. } => write!(f, "BADKEY: unknown key {key_name}"),
            TsigError::BadSig { key_name, .. } => write!(f, "BADSIG: MAC for key {key_name} does not verify"),
            TsigError::BadTime(s) => write!(f, "BADTIME: time signed {} is outside the fudge", s.time),
            TsigError::Rejected(code) => write!(f, "TSIG error {code}"),
        }
    }
}

impl std::error::Error for TsigError {}

impl TsigError {
    /// Turns an unsigned reply into the error reply RFC 8945 §5.3.2 wants.
    pub fn reply(&self, reply: &[u8], now: UnixTime) -> Vec<u8> {
        let now = now.as_secs();
        let mut out = reply.to_vec();
        if out.len() < HEADER {
            return out;
        }
        let rcode = if matches!(self, TsigError::FormErr | TsigError::Rejected(_)) { FORMERR } else { NOTAUTH };
        out[3] = (out[3] & 0xf0) | rcode;
        match self {
            TsigError::FormErr | TsigError::Rejected(_) => out,
            TsigError::BadKey { key_name, algorithm, time } | TsigError::BadSig { key_name, algorithm, time } => {
                let error = if matches!(self, TsigError::BadKey { .. }) { BADKEY } else { BADSIG };
                let id = u16::from_be_bytes([out[0], out[1]]);
                let rr = Tsig {
                    algorithm: algorithm.clone(),
                    time: *time,
                    fudge: FUDGE,
                    mac: Vec::new(),
                    original_id: id,
                    error,
                    other: Vec::new(),
                };
                append_tsig(&mut out, &name_wire(key_name), &rr);
                out
            }
            TsigError::BadTime(signed) => {
                // §5.2.3: signed; Time Signed is the request's, Other Data our clock.
                let other = now.to_be_bytes()[2..].to_vec();
                sign_with(&signed.key, &out, Prior::Mac(&signed.request_mac), signed.time, BADTIME, other)
            }
        }
    }
}

/// The parsed RDATA of a TSIG record.
#[derive(Debug, Clone)]
struct Tsig {
    /// Algorithm name, lower-cased wire form.
    algorithm: Vec<u8>,
    time: u64,
    fudge: u16,
    mac: Vec<u8>,
    original_id: u16,
    error: u16,
    other: Vec<u8>,
}

/// Where the TSIG record sits in a message.
struct Found {
    /// Offset where the TSIG RR starts (everything before it is MAC input).
    start: usize,
    key_name: Name,
    key_wire: Vec<u8>,
    tsig: Tsig,
}

/// Verifies a request's TSIG. See the module doc.
pub fn verify_request<K: KeyLookup + ?Sized>(keys: &K, msg: &[u8], now: UnixTime) -> Result<Option<Signed>, TsigError> {
    let now = now.as_secs();
    let Some(found) = find_tsig(msg)? else {
        return Ok(None);
    };
    let key = keys.lookup(&found.key_name).filter(|k| k.algorithm.wire() == found.tsig.algorithm);
    let Some(key) = key else {
        return Err(TsigError::BadKey {
            key_name: found.key_name,
            algorithm: found.tsig.algorithm,
            time: found.tsig.time,
        });
    };
    check_mac(key, msg, &found, Prior::None, true)?;
    let signed = Signed { key: key.clone(), request_mac: found.tsig.mac.clone(), time: found.tsig.time };
    if now.abs_diff(found.tsig.time) > u64::from(found.tsig.fudge) {
        return Err(TsigError::BadTime(Box::new(signed)));
    }
    Ok(Some(signed))
}

/// Signs a response to a verified request (RFC 8945 §5.3).
pub fn sign_response(signed: &Signed, reply: &[u8], now: UnixTime) -> Vec<u8> {
    sign_with(&signed.key, reply, Prior::Mac(&signed.request_mac), now.as_secs(), 0, Vec::new())
}

/// Signs the messages of a multi-message response (RFC 8945 §5.3.1) one after another.
#[derive(Debug)]
pub struct StreamSigner {
    key: Key,
    prior: Vec<u8>,
    first: bool,
}

impl StreamSigner {
    pub fn new(signed: &Signed) -> StreamSigner {
        StreamSigner { key: signed.key.clone(), prior: signed.request_mac.clone(), first: true }
    }

    /// Signs the next message: the first like a single response, the rest over the
    /// previous MAC, the message and the timers only.
    pub fn sign(&mut self, msg: &[u8], now: UnixTime) -> Vec<u8> {
        let now = now.as_secs();
        let out = if self.first {
            sign_with(&self.key, msg, Prior::Mac(&self.prior), now, 0, Vec::new())
        } else {
            sign_timers(&self.key, msg, &self.prior, now)
        };
        self.first = false;
        if let Ok(Some(found)) = find_tsig(&out) {
            self.prior = found.tsig.mac;
        }
        out
    }
}

/// What a client remembers of a signed request to verify the reply.
#[derive(Debug, Clone)]
pub struct ClientState {
    pub key: Key,
    pub request_mac: Vec<u8>,
}

/// Signs a request (NOTIFY, SOA query, AXFR/IXFR) with `key`.
pub fn sign_request(key: &Key, msg: &[u8], now: UnixTime) -> (Vec<u8>, ClientState) {
    let out = sign_with(key, msg, Prior::None, now.as_secs(), 0, Vec::new());
    let mac = find_tsig(&out).ok().flatten().map(|f| f.tsig.mac).unwrap_or_default();
    (out, ClientState { key: key.clone(), request_mac: mac })
}

/// Verifies the single reply to a signed request; the reply must be signed with the
/// same key (RFC 8945 §5.4).
pub fn verify_response(state: &ClientState, msg: &[u8], now: UnixTime) -> Result<(), TsigError> {
    let mut v = StreamVerifier::new(state.clone());
    if !v.next(msg, now)? {
        return Err(TsigError::Rejected(0));
    }
    Ok(())
}

/// Verifies a multi-message transfer stream (RFC 8945 §5.3.1): unsigned messages are
/// allowed between signed ones (at most 99 in a row), the first and last must be signed.
#[derive(Debug)]
pub struct StreamVerifier {
    key: Key,
    prior: Vec<u8>,
    first: bool,
    /// Unsigned messages since the last signed one, which the next MAC covers.
    pending: Vec<u8>,
    unsigned_run: usize,
}

impl StreamVerifier {
    pub fn new(state: ClientState) -> StreamVerifier {
        StreamVerifier { key: state.key, prior: state.request_mac, first: true, pending: Vec::new(), unsigned_run: 0 }
    }

    /// Checks the next message; returns whether it was signed.
    pub fn next(&mut self, msg: &[u8], now: UnixTime) -> Result<bool, TsigError> {
        let now = now.as_secs();
        let Some(found) = find_tsig(msg)? else {
            // §5.3.1: the first message must be signed, and no more than 99 unsigned ones in a row.
            if self.first || self.unsigned_run >= 99 {
                return Err(TsigError::Rejected(0));
            }
            self.pending.extend_from_slice(msg);
            self.unsigned_run += 1;
            return Ok(false);
        };
        if name_wire(&found.key_name) != name_wire(&self.key.name) || found.tsig.algorithm != self.key.algorithm.wire()
        {
            return Err(TsigError::Rejected(BADKEY));
        }
        if found.tsig.error != 0 {
            return Err(TsigError::Rejected(found.tsig.error));
        }
        let pending = std::mem::take(&mut self.pending);
        let prior = Prior::Stream(&self.prior, &pending);
        check_mac(&self.key, msg, &found, prior, self.first)?;
        if now.abs_diff(found.tsig.time) > u64::from(found.tsig.fudge) {
            return Err(TsigError::Rejected(BADTIME));
        }
        self.first = false;
        self.unsigned_run = 0;
        self.prior = found.tsig.mac;
        Ok(true)
    }

    /// Whether the stream so far ended on a signed message (§5.3.1: the last must be).
    pub fn complete(&self) -> bool {
        !self.first && self.pending.is_empty()
    }
}

/// What precedes the message in the MAC input.
enum Prior<'a> {
    /// A request: nothing.
    None,
    /// A response: the request MAC with its length.
    Mac(&'a [u8]),
    /// A later message of a stream: the previous MAC, then the unsigned messages since.
    Stream(&'a [u8], &'a [u8]),
}

fn check_mac(key: &Key, msg: &[u8], found: &Found, prior: Prior<'_>, full_vars: bool) -> Result<(), TsigError> {
    let full = key.algorithm.mac_len();
    let got = found.tsig.mac.len();
    // RFC 8945 §5.2.2.1: longer than the hash, or shorter than max(10, half) → FORMERR.
    if got > full || got < full.div_ceil(2).max(10) {
        return Err(TsigError::FormErr);
    }
    let mut body = msg[..found.start].to_vec();
    body[..2].copy_from_slice(&found.tsig.original_id.to_be_bytes());
    let ar = u16::from_be_bytes([body[10], body[11]]).saturating_sub(1);
    body[10..12].copy_from_slice(&ar.to_be_bytes());
    let vars =
        if full_vars { variables(&found.key_wire, &found.tsig) } else { timers(found.tsig.time, found.tsig.fudge) };
    let want = key.mac(&[&prior_bytes(&prior), &body, &vars]);
    if !constant_eq(&want[..got], &found.tsig.mac) {
        return Err(TsigError::BadSig {
            key_name: found.key_name.clone(),
            algorithm: found.tsig.algorithm.clone(),
            time: found.tsig.time,
        });
    }
    Ok(())
}

fn prior_bytes(prior: &Prior<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match prior {
        Prior::None => {}
        Prior::Mac(mac) => {
            out.extend_from_slice(&(mac.len() as u16).to_be_bytes());
            out.extend_from_slice(mac);
        }
        Prior::Stream(mac, pending) => {
            out.extend_from_slice(&(mac.len() as u16).to_be_bytes());
            out.extend_from_slice(mac);
            out.extend_from_slice(pending);
        }
    }
    out
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Appends a TSIG with full variables (RFC 8945 §4.3.3).
fn sign_with(key: &Key, msg: &[u8], prior: Prior<'_>, time: u64, error: u16, other: Vec<u8>) -> Vec<u8> {
    if msg.len() < HEADER {
        return msg.to_vec();
    }
    let key_wire = name_wire(&key.name);
    let mut rr = Tsig {
        algorithm: key.algorithm.wire(),
        time,
        fudge: FUDGE,
        mac: Vec::new(),
        original_id: u16::from_be_bytes([msg[0], msg[1]]),
        error,
        other,
    };
    rr.mac = key.mac(&[&prior_bytes(&prior), msg, &variables(&key_wire, &rr)]);
    let mut out = msg.to_vec();
    append_tsig(&mut out, &key_wire, &rr);
    out
}

/// Appends a TSIG over the prior MAC, the message and the timers (§5.3.1).
fn sign_timers(key: &Key, msg: &[u8], prior: &[u8], time: u64) -> Vec<u8> {
    if msg.len() < HEADER {
        return msg.to_vec();
    }
    let mut rr = Tsig {
        algorithm: key.algorithm.wire(),
        time,
        fudge: FUDGE,
        mac: Vec::new(),
        original_id: u16::from_be_bytes([msg[0], msg[1]]),
        error: 0,
        other: Vec::new(),
    };
    rr.mac = key.mac(&[&prior_bytes(&Prior::Mac(prior)), msg, &timers(time, FUDGE)]);
    let mut out = msg.to_vec();
    append_tsig(&mut out, &name_wire(&key.name), &rr);
    out
}

/// TSIG variables (RFC 8945 §4.3.3): name, class ANY, TTL 0, algorithm, time, fudge,
/// error, other data.
fn variables(key_wire: &[u8], t: &Tsig) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(key_wire);
    v.extend_from_slice(&CLASS_ANY.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&t.algorithm);
    v.extend_from_slice(&timers(t.time, t.fudge));
    v.extend_from_slice(&t.error.to_be_bytes());
    v.extend_from_slice(&(t.other.len() as u16).to_be_bytes());
    v.extend_from_slice(&t.other);
    v
}

fn timers(time: u64, fudge: u16) -> Vec<u8> {
    let mut v = time.to_be_bytes()[2..].to_vec();
    v.extend_from_slice(&fudge.to_be_bytes());
    v
}

fn append_tsig(msg: &mut Vec<u8>, key_wire: &[u8], t: &Tsig) {
    let mut rdata = t.algorithm.clone();
    rdata.extend_from_slice(&t.time.to_be_bytes()[2..]);
    rdata.extend_from_slice(&t.fudge.to_be_bytes());
    rdata.extend_from_slice(&(t.mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(&t.mac);
    rdata.extend_from_slice(&t.original_id.to_be_bytes());
    rdata.extend_from_slice(&t.error.to_be_bytes());
    rdata.extend_from_slice(&(t.other.len() as u16).to_be_bytes());
    rdata.extend_from_slice(&t.other);
    msg.extend_from_slice(key_wire);
    msg.extend_from_slice(&TSIG_TYPE.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    msg.extend_from_slice(&rdata);
    let ar = u16::from_be_bytes([msg[10], msg[11]]).wrapping_add(1);
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// A name in canonical wire form: lower case, uncompressed (RFC 8945 §4.3.3).
pub(crate) fn name_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out
}

/// Finds the TSIG RR; it must be the last additional record and the only one.
fn find_tsig(msg: &[u8]) -> Result<Option<Found>, TsigError> {
    let walk = walk(msg).ok_or(TsigError::FormErr)?;
    let tsigs = walk.iter().filter(|(_, t)| *t == TSIG_TYPE).count();
    let arcount = u16::from_be_bytes([msg[10], msg[11]]);
    match walk.last() {
        _ if tsigs == 0 => Ok(None),
        Some(&(start, TSIG_TYPE)) if tsigs == 1 && arcount > 0 => parse_tsig(msg, start).map(Some),
        _ => Err(TsigError::FormErr),
    }
}

/// Every RR's start offset and type, in order; None when the message doesn't parse.
fn walk(msg: &[u8]) -> Option<Vec<(usize, u16)>> {
    let count = |i: usize| usize::from(u16::from_be_bytes([msg[i], msg[i + 1]]));
    if msg.len() < HEADER {
        return None;
    }
    let mut pos = HEADER;
    for _ in 0..count(4) {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..count(6) + count(8) + count(10) {
        let start = pos;
        pos = read_name(msg, pos)?.1;
        let fixed = msg.get(pos..pos + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        pos += 10 + len;
        if pos > msg.len() {
            return None;
        }
        out.push((start, rtype));
    }
    (pos == msg.len()).then_some(out)
}

/// Reads a possibly compressed name; returns its lower-cased uncompressed wire form
/// and the offset after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut end = None;
    // Each pointer must go backwards, so at most msg.len() jumps.
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                out.push(0);
                return Some((out, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(len))?;
                out.push(len);
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                if out.len() > 255 {
                    return None;
                }
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let target = usize::from(u16::from_be_bytes([len, *msg.get(pos + 1)?]) & 0x3fff);
                end.get_or_insert(pos + 2);
                jumps += 1;
                if target >= pos || jumps > 127 {
                    return None;
                }
                pos = target;
            }
            _ => return None,
        }
    }
}

fn wire_to_name(wire: &[u8]) -> Option<Name> {
    let mut labels = Vec::new();
    let mut i = 0;
    while let Some(&len) = wire.get(i) {
        if len == 0 {
            break;
        }
        labels.push(wire.get(i + 1..i + 1 + usize::from(len))?);
        i += 1 + usize::from(len);
    }
    let mut n = Name::from_labels(labels).ok()?;
    n.set_fqdn(true);
    Some(n)
}

fn parse_tsig(msg: &[u8], start: usize) -> Result<Found, TsigError> {
    let bad = TsigError::FormErr;
    let (key_wire, pos) = read_name(msg, start).ok_or(TsigError::FormErr)?;
    let key_name = wire_to_name(&key_wire).ok_or(TsigError::FormErr)?;
    let fixed = msg.get(pos..pos + 10).ok_or(TsigError::FormErr)?;
    if u16::from_be_bytes([fixed[2], fixed[3]]) != CLASS_ANY || fixed[4..8] != [0; 4] {
        return Err(bad);
    }
    let rd = &msg[pos + 10..];
    let (algorithm, mut p) = read_name(rd, 0).ok_or(TsigError::FormErr)?;
    let take = |p: &mut usize, n: usize| -> Result<&[u8], TsigError> {
        let s = rd.get(*p..*p + n).ok_or(TsigError::FormErr)?;
        *p += n;
        Ok(s)
    };
    let u16_at = |s: &[u8]| u16::from_be_bytes([s[0], s[1]]);
    let t = take(&mut p, 6)?;
    let time = t.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    let fudge = u16_at(take(&mut p, 2)?);
    let mac_len = usize::from(u16_at(take(&mut p, 2)?));
    let mac = take(&mut p, mac_len)?.to_vec();
    let original_id = u16_at(take(&mut p, 2)?);
    let error = u16_at(take(&mut p, 2)?);
    let other_len = usize::from(u16_at(take(&mut p, 2)?));
    let other = take(&mut p, other_len)?.to_vec();
    if p != rd.len() {
        return Err(TsigError::FormErr);
    }
    let tsig = Tsig { algorithm, time, fudge, mac, original_id, error, other };
    Ok(Found { start, key_name, key_wire, tsig })
}
