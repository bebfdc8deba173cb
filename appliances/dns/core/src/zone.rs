//! Zones: one RFC 1035 master file per zone, parsed into an in-memory store.
//!
//! API (stable; other modules build on it):
//! - [`Zone::parse`]`(file_name, text) -> Result<Zone, ZoneError>` — the file name is the
//!   origin (`example.org` holds zone `example.org.`). `$ORIGIN`, `$TTL` understood,
//!   `$INCLUDE` refused. Exactly one SOA at the apex, no out-of-zone data, no CNAME next
//!   to other data (RFC 1034 §3.6.2; RRSIG/NSEC may accompany it, RFC 4035 §2.5).
//! - [`Zone::to_master_file`] — deterministic text that parses back to an equal zone.
//! - Reading: [`Zone::origin`], [`Zone::soa`], [`Zone::serial`], [`Zone::rrset`],
//!   [`Zone::node`] (a [`Node`] view: [`Node::name`] as written, [`Node::rrsets`]),
//!   [`Zone::nodes`], [`Zone::records`] (SOA first, for AXFR), [`Zone::names`],
//!   [`Zone::name_exists`] (empty non-terminals count).
//! - Mutation (UPDATE): [`Zone::add_record`], [`Zone::remove_rrset`],
//!   [`Zone::remove_record`], [`Zone::remove_name`], [`Zone::set_serial`]; each returns
//!   whether the zone changed.
//! - [`Zones`]: the catalog, origin → `Arc<Zone>`, with longest-suffix [`Zones::find`].
//!
//! Storage: a `BTreeMap` from owner name to rrsets sorted by type. The key is a
//! compact form of the name (`owner.rs`: reversed wire labels, 16 bytes + one small
//! allocation) whose order ignores case and is the canonical DNSSEC order (RFC 4034
//! §6.1): lookups ignore case, the key keeps the owner's spelling for output (case
//! preserved), and all names below X directly follow X. [`Rrset`]s keep rdata in wire
//! form ([`Rrset::wire`]; decoded on demand by [`Rrset::rdatas`] / [`Rrset::records`]).
//! A million A records take about 214 MiB (NSD 4.6: about 265 MiB per process).
//! Fields are `pub(crate)` so sibling modules may add `impl Zone` blocks; mutate
//! through the methods above (they keep the rrset encoding and key form right).

mod master;
mod owner;

use owner::Owner;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use hickory_proto::rr::rdata::{NULL, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, BinEncoder, NameEncoding, Restrict};

/// A zone that failed to load: which file, where, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for ZoneError {}

/// The records of one type at one name. RFC 2181 §5.2: one TTL for the whole set.
///
/// The rdata are kept in wire form (names uncompressed, case as written), each
/// behind a 2-byte length, in one allocation: a zone of a million records must fit
/// in less memory than NSD needs for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrset {
    pub(crate) rtype: RecordType,
    pub(crate) ttl: u32,
    pub(crate) data: Box<[u8]>,
}

/// Wire form of rdata: names uncompressed and in their case. None if it can't be
/// encoded or is longer than 65535 bytes.
pub fn rdata_wire(rd: &RData) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    rd.emit(&mut enc).ok()?;
    (buf.len() <= usize::from(u16::MAX)).then_some(buf)
}

/// Decodes wire rdata of `rtype`.
pub fn rdata_from_wire(rtype: RecordType, wire: &[u8]) -> Option<RData> {
    let len = u16::try_from(wire.len()).ok()?;
    let mut dec = BinDecoder::new(wire);
    let rd = RData::read(&mut dec, rtype, Restrict::new(len)).ok()?;
    (dec.index() == wire.len()).then_some(rd)
}

impl Rrset {
    /// A set of one record's type and TTL, without rdata yet.
    pub fn new(rtype: RecordType, ttl: u32) -> Rrset {
        Rrset { rtype, ttl, data: Box::new([]) }
    }
    pub fn rtype(&self) -> RecordType {
        self.rtype
    }
    pub fn ttl(&self) -> u32 {
        self.ttl
    }
    /// Each rdata in wire form.
    pub fn wire(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest: &[u8] = &self.data;
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<2>()?;
            let (item, tail) = tail.split_at_checked(usize::from(u16::from_be_bytes(*len)))?;
            rest = tail;
            Some(item)
        })
    }
    /// Number of records.
    pub fn len(&self) -> usize {
        self.wire().count()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The rdata, decoded.
    pub fn rdatas(&self) -> Vec<RData> {
        self.wire().filter_map(|w| rdata_from_wire(self.rtype, w)).collect()
    }
    /// The first rdata, decoded (SOA, CNAME are singletons).
    pub fn first(&self) -> Option<RData> {
        self.wire().next().and_then(|w| rdata_from_wire(self.rtype, w))
    }
    /// The set as records owned by `owner` (the caller picks the spelling).
    pub fn records<'a>(&'a self, owner: &'a Name) -> impl Iterator<Item = Record> + 'a {
        self.wire().filter_map(move |w| {
            let rd = rdata_from_wire(self.rtype, w)?;
            Some(Record::from_rdata(owner.clone(), self.ttl, rd))
        })
    }
    /// The set as records for a reply: rdata of the RFC 1035 types whose names may be
    /// compressed (RFC 3597 §4) is decoded so the encoder can compress them; all other
    /// rdata goes out byte for byte as stored.
    pub(crate) fn answer_records<'a>(&'a self, owner: &'a Name) -> impl Iterator<Item = Record> + 'a {
        let compressible = matches!(
            self.rtype,
            RecordType::NS | RecordType::CNAME | RecordType::SOA | RecordType::PTR | RecordType::MX
        );
        self.wire().filter_map(move |w| {
            let rd = if compressible {
                rdata_from_wire(self.rtype, w)?
            } else {
                RData::Unknown { code: self.rtype, rdata: NULL::with(w.to_vec()) }
            };
            Some(Record::from_rdata(owner.clone(), self.ttl, rd))
        })
    }

    pub fn contains(&self, wire: &[u8]) -> bool {
        self.wire().any(|w| w == wire)
    }
    /// Appends one rdata (the caller checked it is not there yet).
    pub(crate) fn push(&mut self, wire: &[u8]) {
        let mut v = std::mem::take(&mut self.data).into_vec();
        v.extend_from_slice(&(wire.len() as u16).to_be_bytes());
        v.extend_from_slice(wire);
        self.data = v.into_boxed_slice();
    }
    /// Keeps the rdata for which `keep` is true; returns whether any went.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) -> bool {
        let mut v = Vec::with_capacity(self.data.len());
        for w in self.wire() {
            if keep(w) {
                v.extend_from_slice(&(w.len() as u16).to_be_bytes());
                v.extend_from_slice(w);
            }
        }
        let changed = v.len() != self.data.len();
        self.data = v.into_boxed_slice();
        changed
    }
}

/// The TTL of the rrset at `node` that the RRSIG rdata `wire` covers (RFC 4034 §3:
/// an RRSIG has the TTL of the rrset it covers).
pub(crate) fn covered_ttl(node: Node<'_>, wire: &[u8]) -> Option<u32> {
    let (covered, _) = wire.split_first_chunk::<2>()?;
    node.rrset(RecordType::from(u16::from_be_bytes(*covered))).map(Rrset::ttl)
}

/// One owner name (as written in the zone) and its rrsets (sorted by type code).
#[derive(Debug, Clone, Copy)]
pub struct Node<'z> {
    owner: &'z Owner,
    rrsets: &'z [Rrset],
}

impl<'z> Node<'z> {
    /// The owner as written in the zone.
    pub fn name(&self) -> Name {
        self.owner.name()
    }
    pub fn rrsets(&self) -> &'z [Rrset] {
        self.rrsets
    }
    pub fn rrset(&self, rtype: RecordType) -> Option<&'z Rrset> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }
}

/// One authoritative zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// The apex as written in the file name / `$ORIGIN`, fully qualified.
    pub(crate) origin: Name,
    /// Owner → rrsets sorted by type. The key is the owner as first written; `Name`'s
    /// `Ord` ignores case and is the canonical order (RFC 4034 §6.1).
    pub(crate) nodes: BTreeMap<Owner, Vec<Rrset>>,
}

fn key(name: &Name) -> Name {
    let mut k = name.clone();
    k.set_fqdn(true);
    k
}

fn owner(name: &Name) -> Owner {
    Owner::new(name)
}

impl Zone {
    /// Parses one master file; `file_name` is the zone's origin. See the module doc.
    pub fn parse(file_name: &str, text: &str) -> Result<Zone, ZoneError> {
        master::parse(file_name, text)
    }

    /// The zone as deterministic master-file text that parses back to an equal zone.
    pub fn to_master_file(&self) -> String {
        master::write(self)
    }

    /// One record in the master-file form of [`Zone::to_master_file`] (for readable
    /// dumps of answers: tests, logs).
    pub fn record_text(record: &Record) -> String {
        master::record_line(record)
    }

    /// An empty zone (no SOA yet); used by the parser and by zone transfers in.
    pub fn empty(origin: Name) -> Zone {
        let mut origin = origin;
        origin.set_fqdn(true);
        Zone { origin, nodes: BTreeMap::new() }
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The apex SOA rdata and its TTL. Always present in a parsed zone.
    pub fn soa(&self) -> Option<(SOA, u32)> {
        let set = self.rrset(&self.origin, RecordType::SOA)?;
        match set.first()? {
            RData::SOA(soa) => Some((soa, set.ttl)),
            _ => None,
        }
    }

    /// The apex SOA as a record, owner spelled as the apex node.
    pub fn soa_record(&self) -> Option<Record> {
        let node = self.node(&self.origin)?;
        let set = node.rrset(RecordType::SOA)?;
        let name = node.name();
        set.records(&name).next()
    }

    pub fn serial(&self) -> u32 {
        self.soa().map(|(s, _)| s.serial).unwrap_or(0)
    }

    pub fn node(&self, name: &Name) -> Option<Node<'_>> {
        let (owner, rrsets) = self.nodes.get_key_value(&owner(name))?;
        Some(Node { owner, rrsets })
    }

    pub fn rrset(&self, name: &Name, rtype: RecordType) -> Option<&Rrset> {
        self.nodes.get(&owner(name))?.iter().find(|s| s.rtype == rtype)
    }

    /// Whether `name` is in the zone's tree: it owns data or is an empty non-terminal
    /// (a name with data below it, RFC 4592 §2.2.2).
    pub fn name_exists(&self, name: &Name) -> bool {
        let k = owner(name);
        if self.nodes.contains_key(&k) {
            return true;
        }
        // Canonical order puts every descendant of name right after it.
        self.nodes.range((Bound::Excluded(&k), Bound::Unbounded)).next().is_some_and(|(n, _)| n.is_below(&k))
    }

    /// The last node at or before `name` in canonical order that has an NSEC rrset
    /// (never before the apex): the NSEC that matches or covers `name`.
    pub fn covering_nsec(&self, name: &Name) -> Option<Node<'_>> {
        self.nodes
            .range(..=owner(name))
            .rev()
            .map(|(owner, rrsets)| Node { owner, rrsets })
            .find(|n| n.rrset(RecordType::NSEC).is_some())
    }

    /// Owner names (as written) in canonical order.
    pub fn names(&self) -> impl Iterator<Item = Name> + '_ {
        self.nodes.keys().map(Owner::name)
    }

    pub fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        self.nodes.iter().map(|(owner, rrsets)| Node { owner, rrsets })
    }

    /// Every record, the SOA first (RFC 5936 §2.2 wants it first in AXFR), the rest in
    /// canonical name order, types ascending; RRSIGs with the TTL of what they cover.
    pub fn records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        out.extend(self.soa_record());
        for node in self.nodes() {
            let name = node.name();
            for set in node.rrsets {
                if set.rtype == RecordType::SOA && name == self.origin {
                    continue;
                }
                let start = out.len();
                out.extend(set.records(&name));
                if set.rtype == RecordType::RRSIG {
                    // RFC 4034 §3: each RRSIG has the TTL of the rrset it covers.
                    for (r, w) in out[start..].iter_mut().zip(set.wire()) {
                        r.ttl = covered_ttl(node, w).unwrap_or(r.ttl);
                    }
                }
            }
        }
        out
    }

    /// Number of records in the zone.
    pub fn len(&self) -> usize {
        self.nodes.values().flatten().map(Rrset::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds one record. An identical rdata is not duplicated (RFC 2181 §5); the rrset
    /// takes the new record's TTL (RFC 2181 §5.2 wants one TTL per set). SOA and CNAME
    /// are singletons: a new one replaces the old (RFC 2136 §3.4.2.2). Returns whether
    /// the zone changed; false also for rdata that can't be encoded.
    pub fn add_record(&mut self, record: Record) -> bool {
        let rtype = record.record_type();
        let Some(wire) = rdata_wire(&record.data) else {
            return false;
        };
        self.insert_wire(&record.name, rtype, record.ttl, &wire, false)
    }

    /// Adds one record read from a master file. RFC 2181 §5.2 wants one TTL per
    /// rrset; a file may still give its records different TTLs. NSD then serves each
    /// record with its own TTL (and warns), and RFC 2181 §5.2 tells a client receiving
    /// that to treat every TTL of the set as the lowest one. We keep the lowest TTL for
    /// the set: a well-formed rrset whose effect on caches is what NSD's answer has.
    pub(crate) fn add_wire(&mut self, name: &Name, rtype: RecordType, ttl: u32, wire: &[u8]) -> bool {
        self.insert_wire(name, rtype, ttl, wire, true)
    }

    /// `lowest`: a set that has records keeps the lower TTL (master files) instead of
    /// taking the new one (UPDATE, transfers).
    fn insert_wire(&mut self, name: &Name, rtype: RecordType, ttl: u32, wire: &[u8], lowest: bool) -> bool {
        let sets = self.nodes.entry(owner(name)).or_default();
        let code = u16::from(rtype);
        let idx = match sets.binary_search_by_key(&code, |s| u16::from(s.rtype)) {
            Ok(i) => i,
            Err(i) => {
                sets.insert(i, Rrset::new(rtype, ttl));
                i
            }
        };
        let set = &mut sets[idx];
        let ttl = if lowest && !set.is_empty() { set.ttl.min(ttl) } else { ttl };
        let mut changed = set.ttl != ttl;
        set.ttl = ttl;
        if matches!(rtype, RecordType::SOA | RecordType::CNAME) {
            if set.wire().next() != Some(wire) || set.len() != 1 {
                set.data = Box::new([]);
                set.push(wire);
                changed = true;
            }
        } else if !set.contains(wire) {
            set.push(wire);
            changed = true;
        }
        changed
    }

    /// Removes the rrset of `rtype` at `name`. Returns whether anything was removed.
    pub fn remove_rrset(&mut self, name: &Name, rtype: RecordType) -> bool {
        let k = owner(name);
        let Some(sets) = self.nodes.get_mut(&k) else {
            return false;
        };
        let before = sets.len();
        sets.retain(|s| s.rtype != rtype);
        let changed = sets.len() != before;
        if sets.is_empty() {
            self.nodes.remove(&k);
        }
        changed
    }

    /// Removes the one record equal in name, type and rdata (TTL ignored, RFC 2136 §2.5.4).
    pub fn remove_record(&mut self, record: &Record) -> bool {
        let Some(wire) = rdata_wire(&record.data) else {
            return false;
        };
        let k = owner(&record.name);
        let Some(sets) = self.nodes.get_mut(&k) else {
            return false;
        };
        let rtype = record.record_type();
        let mut changed = false;
        for set in sets.iter_mut().filter(|s| s.rtype == rtype) {
            changed |= set.retain(|w| w != wire.as_slice());
        }
        sets.retain(|s| !s.is_empty());
        if sets.is_empty() {
            self.nodes.remove(&k);
        }
        changed
    }

    /// Removes every rrset at `name`.
    pub fn remove_name(&mut self, name: &Name) -> bool {
        self.nodes.remove(&owner(name)).is_some()
    }

    /// Sets the SOA serial. Returns false when there is no SOA.
    pub fn set_serial(&mut self, serial: u32) -> bool {
        let Some(RData::SOA(mut soa)) = self.rrset(&self.origin, RecordType::SOA).and_then(Rrset::first) else {
            return false;
        };
        soa.serial = serial;
        let Some(wire) = rdata_wire(&RData::SOA(soa)) else {
            return false;
        };
        let origin = self.origin.clone();
        let ttl = self.rrset(&origin, RecordType::SOA).map_or(0, |s| s.ttl);
        self.add_wire(&origin, RecordType::SOA, ttl, &wire);
        true
    }

    /// Checks the rules every served zone keeps: one SOA, at the apex; data only at or
    /// below the apex; CNAME alone at its name. Returns the offending owner and reason.
    pub fn validate(&self) -> Result<(), (Name, String)> {
        match self.rrset(&self.origin, RecordType::SOA) {
            None => return Err((self.origin.clone(), "no SOA record at the zone apex".into())),
            Some(s) if s.len() > 1 => {
                return Err((self.origin.clone(), "more than one SOA record".into()));
            }
            Some(_) => {}
        }
        for node in self.nodes() {
            let name = node.name();
            if !self.origin.zone_of(&name) {
                return Err((name.clone(), format!("{name} is outside the zone {}", self.origin)));
            }
            validate_node(name == self.origin, node)?;
        }
        Ok(())
    }
}

fn validate_node(is_apex: bool, node: Node<'_>) -> Result<(), (Name, String)> {
    if !is_apex && node.rrset(RecordType::SOA).is_some() {
        return Err((node.name(), "SOA record below the zone apex".into()));
    }
    if let Some(cname) = node.rrset(RecordType::CNAME) {
        if cname.len() > 1 {
            return Err((node.name(), "more than one CNAME record".into()));
        }
        let other =
            node.rrsets.iter().any(|s| !matches!(s.rtype, RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC));
        if other {
            return Err((node.name(), "CNAME next to other data".into()));
        }
    }
    Ok(())
}

/// The catalog of zones we serve.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    pub(crate) zones: BTreeMap<Name, Arc<Zone>>,
}

impl Zones {
    pub fn new() -> Zones {
        Zones::default()
    }

    /// The zone whose origin is the longest suffix of `qname`.
    pub fn find(&self, qname: &Name) -> Option<&Arc<Zone>> {
        let mut name = key(qname);
        loop {
            if let Some(z) = self.zones.get(&name) {
                return Some(z);
            }
            if name.is_root() {
                return None;
            }
            name = name.base_name();
        }
    }

    /// The zone with exactly this origin.
    pub fn get(&self, origin: &Name) -> Option<&Arc<Zone>> {
        self.zones.get(&key(origin))
    }

    /// Adds or swaps in a zone; returns the previous version.
    pub fn replace(&mut self, zone: impl Into<Arc<Zone>>) -> Option<Arc<Zone>> {
        let zone = zone.into();
        self.zones.insert(key(&zone.origin), zone)
    }

    pub fn remove(&mut self, origin: &Name) -> Option<Arc<Zone>> {
        self.zones.remove(&key(origin))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

/// The class every zone is in; the parser refuses the others.
pub const CLASS: DNSClass = DNSClass::IN;
