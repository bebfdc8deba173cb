//! Answering a question from the zones we serve: RFC 1034 §4.3.2, with wildcards per
//! RFC 4592, negative answers per RFC 2308 and ANY per RFC 8482.
//!
//! [`resolve`]`(zones, qname, qtype) -> Resolution` fills the three sections rrset by
//! rrset (so truncation can drop whole rrsets). Where the RFCs leave a choice we do
//! what NSD 4.6 does with `minimal-responses: yes` (the differential test checks it):
//! - no NS rrset in the authority section of positive answers, and no additional
//!   records except the glue (A, AAAA) of NS rrsets — in referrals and in answers to
//!   NS queries;
//! - CNAME chains are followed, also into other zones we serve; a chain stops when an
//!   rrset would repeat (a loop) or after [`MAX_CHAIN`] links;
//! - ANY returns one rrset (RFC 8482 §4.1), preferring A, AAAA, SOA, MX, PTR, then
//!   other types, then DNSKEY/RRSIG/NSEC;
//! - DS at a delegation is answered from the parent side (RFC 4035 §3.1.4.1); DS at a
//!   zone apex is answered from the parent zone if we serve it;
//! - DNAME (RFC 6672): a name below a DNAME gets the DNAME, a synthesised CNAME
//!   and the answer for the new name, as NSD sends them;
//! - NXDOMAIN/NODATA carry the SOA with TTL min(SOA TTL, SOA minimum) (RFC 2308 §3).
//! - The owner of records matched by the query name (exactly or by wildcard) is spelled
//!   as in the question; other owners as in the zone (the dispatcher then respells
//!   names sharing a suffix with earlier ones, as NSD's compression does).
//! - DNSSEC (RFC 4035 §3.1) for pre-signed zones, when the query has DO and the zone
//!   [`is_signed`]: the RRSIGs covering each rrset travel with it; NODATA adds the NSEC
//!   of the name (of the wildcard for a wildcard NODATA), NXDOMAIN the NSECs covering
//!   the name and the wildcard, a wildcard answer the NSEC covering the name; referrals
//!   carry the DS or the NSEC proving none. NSEC3 zones get no denial records.

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::section::Section;
use crate::zone::{Node, Rrset, Zone, Zones, covered_ttl, rdata_wire};

/// CNAME links followed before giving up. NSD follows a chain to its end (or a
/// loop), however long; so do we up to what any reply could carry: a CNAME record
/// takes at least 16 bytes (compressed owner 2, fixed fields 10, one new label and
/// a pointer 4), so 4096 of them fill a 65535-byte TCP message.
pub const MAX_CHAIN: usize = 4096;

/// The sections of an answer, each a list of rrsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub rcode: ResponseCode,
    pub aa: bool,
    pub answer: Vec<Vec<Record>>,
    pub authority: Vec<Vec<Record>>,
    pub additional: Vec<Vec<Record>>,
    /// How many leading `additional` rrsets are mandatory: the in-domain glue of a
    /// referral (RFC 9471 §3.1). When one of them doesn't fit the reply must carry
    /// TC=1; the rest of the additional section may be left out silently.
    pub glue: usize,
}

impl Resolution {
    fn new() -> Resolution {
        Resolution {
            rcode: ResponseCode::NoError,
            aa: false,
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            glue: 0,
        }
    }
}

struct Ctx<'a> {
    zones: &'a Zones,
    qtype: RecordType,
    out: Resolution,
    links: usize,
    /// The query's DO bit (RFC 3225).
    dnssec_ok: bool,
    /// DO set and the zone of the current step is signed: add RRSIGs and NSECs.
    secure: bool,
}

/// Answers `qname`/`qtype` from `zones` (class IN). REFUSED when no zone is ours.
/// `dnssec_ok` is the query's DO bit: for a signed zone (see [`is_signed`]) the answer
/// then carries the zone's RRSIGs and NSEC denials (RFC 4035 §3.1), as NSD sends them.
pub fn resolve(zones: &Zones, qname: &Name, qtype: RecordType, dnssec_ok: bool) -> Resolution {
    let mut cx = Ctx { zones, qtype, out: Resolution::new(), links: 0, dnssec_ok, secure: false };
    cx.lookup(qname);
    cx.out
}

/// A zone counts as signed when its apex has an RRSIG covering DNSKEY (NSD's test).
pub fn is_signed(zone: &Zone) -> bool {
    zone.rrset(zone.origin(), RecordType::RRSIG)
        .is_some_and(|s| s.wire().any(|w| w.starts_with(&u16::from(RecordType::DNSKEY).to_be_bytes())))
}

fn same(a: &Name, b: &Name) -> bool {
    a.cmp(b) == std::cmp::Ordering::Equal
}

impl Ctx<'_> {
    /// Adds an rrset owned by `owner` (data from `node`), with its RRSIGs when secure;
    /// false if it is already there (a CNAME loop).
    fn add(&mut self, section: Section, owner: &Name, node: Node<'_>, set: &Rrset) -> bool {
        let mut records: Vec<Record> = set.answer_records(owner).collect();
        if set.rtype() == RecordType::RRSIG {
            // Each RRSIG carries the TTL of the rrset it covers (RFC 4034 §3).
            for (r, w) in records.iter_mut().zip(set.wire()) {
                r.ttl = covered_ttl(node, w).unwrap_or(r.ttl);
            }
        } else if self.secure {
            records.extend(signatures(owner, node, set));
        }
        let list = match section {
            Section::Answer => &mut self.out.answer,
            Section::Authority => &mut self.out.authority,
            Section::Additional => &mut self.out.additional,
        };
        let dup =
            list.iter().any(|s| s.first().is_some_and(|r| same(&r.name, owner) && r.record_type() == set.rtype()));
        // The RRSIGs travel with their rrset: truncation keeps or drops both.
        if dup {
            return false;
        }
        list.push(records);
        true
    }

    /// One step of the algorithm for `name` (the query name or a CNAME target).
    fn lookup(&mut self, name: &Name) {
        let Some(mut zone) = self.zones.find(name) else {
            if self.links == 0 {
                self.out.rcode = ResponseCode::Refused;
            }
            return;
        };
        // RFC 4035 §3.1.4.1: DS lives on the parent side of the cut.
        if self.qtype == RecordType::DS
            && same(name, zone.origin())
            && !name.is_root()
            && let Some(parent) = self.zones.find(&name.base_name())
        {
            zone = parent;
        }
        let zone = Arc::clone(zone);
        self.secure = self.dnssec_ok && is_signed(&zone);
        let exact = zone.name_exists(name);
        let encloser = closest_encloser(&zone, name);
        let cut = highest_cut(&zone, &encloser);
        // RFC 6672 §3.2: a DNAME at an ancestor redirects the name, unless a cut above
        // it comes first (then the DNAME is occluded, and the other way round).
        let dname = highest_dname(&zone, name).filter(|d| cut.is_none_or(|c| d.name().zone_of(&c.name())));
        if let Some(dname) = dname {
            self.out.aa = true;
            self.dname(&zone, name, dname);
            return;
        }
        match cut {
            Some(cut) if !(exact && self.qtype == RecordType::DS && same(&cut.name(), name)) => {
                self.referral(&zone, cut)
            }
            _ => {
                self.out.aa = true;
                self.authoritative(&zone, name, exact, &encloser);
            }
        }
    }

    /// RFC 6672 §3.1: the DNAME at `node` (an ancestor of `name`), a CNAME from `name`
    /// to the name with the DNAME's owner replaced by its target (TTL the DNAME's,
    /// unsigned, §5.3.1), and on to that name. YXDOMAIN when the new name would be
    /// longer than 255 octets (§2.2).
    fn dname(&mut self, _zone: &Zone, name: &Name, node: Node<'_>) {
        let Some(set) = node.rrset(RecordType::DNAME) else { return };
        let owner = node.name();
        // The same DNAME twice: a loop, stop (as for CNAMEs).
        if !self.add(Section::Answer, &owner, node, set) {
            return;
        }
        // The rdata is one uncompressed name (RFC 6672 §2.1).
        let Some(Ok(target)) = set.wire().next().map(|w| Name::read(&mut BinDecoder::new(w))) else { return };
        // The labels kept from the query name go in lower case, as NSD writes them.
        let lower = name.to_lowercase();
        let keep = lower.iter().count() - owner.iter().count();
        let synthesised = Name::from_labels(lower.iter().take(keep)).and_then(|p| p.append_domain(&target));
        let Ok(new) = synthesised else {
            self.out.rcode = ResponseCode::YXDomain;
            return;
        };
        let Some(wire) = rdata_wire(&RData::CNAME(CNAME(new.clone()))) else { return };
        let mut cname = Rrset::new(RecordType::CNAME, set.ttl());
        cname.push(&wire);
        // Added with the DNAME's node, which holds no RRSIG over a CNAME: unsigned.
        // A CNAME query is answered by the CNAME itself.
        if self.add(Section::Answer, name, node, &cname) && self.qtype != RecordType::CNAME && self.links < MAX_CHAIN {
            self.links += 1;
            self.lookup(&new);
        }
    }

    fn referral(&mut self, zone: &Zone, cut: Node<'_>) {
        // AA only when a CNAME from our data led here (NSD keeps it then).
        self.out.aa = self.links > 0;
        let name = cut.name();
        if let Some(ns) = cut.rrset(RecordType::NS) {
            self.add(Section::Authority, &name, cut, ns);
            // RFC 9471 §3.1: in-domain glue (NS names at or below the cut) is
            // mandatory and goes first; §3.2: sibling glue (elsewhere in this zone)
            // is added when it fits.
            let in_domain = |t: &Name| name.zone_of(t);
            self.glue(zone, ns, in_domain);
            self.out.glue = self.out.additional.len();
            self.glue(zone, ns, |t| !in_domain(t));
        }
        // RFC 4035 §3.1.4: the DS, or the NSEC proving there is none.
        if self.secure
            && let Some(set) = cut.rrset(RecordType::DS).or_else(|| cut.rrset(RecordType::NSEC))
        {
            self.add(Section::Authority, &name, cut, set);
        }
    }

    /// RFC 4035 §3.1.3: the NSEC at or before `name` in canonical order (its owner is
    /// `name` for NODATA, it covers `name` when `name` doesn't exist).
    fn nsec(&mut self, zone: &Zone, name: &Name) {
        if let Some(node) = zone.covering_nsec(name)
            && let Some(set) = node.rrset(RecordType::NSEC)
        {
            self.add(Section::Authority, &node.name(), node, set);
        }
    }

    /// NODATA: the SOA, and with DNSSEC the NSEC for `original` (the wildcard when one
    /// matched, RFC 4035 §3.1.3.4).
    fn nodata(&mut self, zone: &Zone, original: &Name) {
        self.soa(zone);
        if self.secure {
            self.nsec(zone, original);
        }
    }

    /// A and AAAA of the NS targets in this zone that `wanted` picks, glue below cuts
    /// included: first every A, then every AAAA, in the NS rrset's order (NSD's order,
    /// which decides what truncation keeps).
    fn glue(&mut self, zone: &Zone, ns: &Rrset, wanted: impl Fn(&Name) -> bool) {
        let targets: Vec<Name> = ns
            .rdatas()
            .into_iter()
            .filter_map(|rd| match rd {
                RData::NS(target) => Some(target.0),
                _ => None,
            })
            .filter(|t| wanted(t))
            .collect();
        for t in [RecordType::A, RecordType::AAAA] {
            for target in &targets {
                if let Some(node) = zone.node(target)
                    && let Some(set) = node.rrset(t)
                {
                    self.add(Section::Additional, &node.name(), node, set);
                }
            }
        }
    }

    fn authoritative(&mut self, zone: &Zone, name: &Name, exact: bool, encloser: &Name) {
        let wild = encloser.prepend_label("*").ok();
        let (node, original) = if exact {
            (zone.node(name), name.clone())
        } else {
            // RFC 4035 §3.1.3.2/3: the NSEC covering the name that doesn't exist.
            if self.secure {
                self.nsec(zone, name);
            }
            match wild.as_ref().filter(|w| zone.name_exists(w)) {
                // RFC 4592 §4.1: a source of synthesis that is an empty non-terminal
                // (only names below `*` exist) has no node: NODATA below.
                Some(w) => (zone.node(w), w.clone()),
                None => {
                    self.out.rcode = ResponseCode::NXDomain;
                    // ... and the one proving no wildcard could match (before the SOA,
                    // in NSD's order, which decides what truncation keeps).
                    if self.secure
                        && let Some(w) = &wild
                    {
                        self.nsec(zone, w);
                    }
                    self.soa(zone);
                    return;
                }
            }
        };
        // An empty non-terminal, exact or as the source of synthesis, has no node:
        // NODATA.
        let Some(node) = node else {
            self.nodata(zone, &original);
            return;
        };
        self.answer_node(zone, name, node, &original);
    }

    fn answer_node(&mut self, zone: &Zone, owner: &Name, node: Node<'_>, original: &Name) {
        if self.qtype == RecordType::ANY {
            // RRSIGs come with their rrsets when secure, so ANY doesn't pick them then.
            match any_choice(node, self.secure) {
                Some(set) => {
                    self.add(Section::Answer, owner, node, set);
                }
                None => self.nodata(zone, original),
            }
            return;
        }
        if let Some(set) = node.rrset(self.qtype) {
            self.add(Section::Answer, owner, node, set);
            if self.qtype == RecordType::NS {
                self.glue(zone, set, |_| true);
            }
            return;
        }
        if let Some(cname) = node.rrset(RecordType::CNAME) {
            let added = self.add(Section::Answer, owner, node, cname);
            if added
                && self.links < MAX_CHAIN
                && let Some(RData::CNAME(target)) = cname.first()
            {
                self.links += 1;
                let target = target.0.clone();
                self.lookup(&target);
            }
            return;
        }
        self.nodata(zone, original);
    }

    /// RFC 2308 §3: the SOA with TTL min(SOA TTL, SOA MINIMUM).
    fn soa(&mut self, zone: &Zone) {
        let Some(node) = zone.node(zone.origin()) else { return };
        let Some(set) = node.rrset(RecordType::SOA) else { return };
        let ttl = match set.first() {
            Some(RData::SOA(soa)) => set.ttl().min(soa.minimum),
            _ => set.ttl(),
        };
        let negative = Rrset { rtype: RecordType::SOA, ttl, data: set.data.clone() };
        self.add(Section::Authority, &node.name(), node, &negative);
    }
}

/// The RRSIGs at `node` covering `set`'s type, owned by `owner`. For the SOA they take
/// the SOA's TTL (which is lowered in negative answers), as NSD does.
fn signatures<'a>(owner: &'a Name, node: Node<'a>, set: &'a Rrset) -> impl Iterator<Item = Record> + 'a {
    let covered = u16::from(set.rtype()).to_be_bytes();
    let sigs = node.rrset(RecordType::RRSIG);
    // RFC 4034 §3: an RRSIG's TTL is that of the rrset it covers (for the SOA of a
    // negative answer, the lowered one).
    let ttl = set.ttl();
    sigs.into_iter().flat_map(move |sigs| {
        sigs.answer_records(owner).zip(sigs.wire()).filter(move |(_, w)| w.starts_with(&covered)).map(
            move |(mut r, _)| {
                r.ttl = ttl;
                r
            },
        )
    })
}

/// The nearest ancestor-or-self of `name` that exists in the zone (RFC 4592 §3.3.1).
fn closest_encloser(zone: &Zone, name: &Name) -> Name {
    let mut n = name.clone();
    while !zone.name_exists(&n) && !same(&n, zone.origin()) && !n.is_root() {
        n = n.base_name();
    }
    n
}

/// The highest DNAME at a proper ancestor of `name` in the zone, the apex included
/// (a lower one would be occluded by it).
fn highest_dname<'z>(zone: &'z Zone, name: &Name) -> Option<Node<'z>> {
    let mut found = None;
    let mut n = name.clone();
    while !same(&n, zone.origin()) && !n.is_root() {
        n = n.base_name();
        if let Some(node) = zone.node(&n)
            && node.rrset(RecordType::DNAME).is_some()
        {
            found = Some(node);
        }
    }
    found
}

/// The highest delegation (NS below the apex) at or above `encloser`.
fn highest_cut<'z>(zone: &'z Zone, encloser: &Name) -> Option<Node<'z>> {
    let mut found = None;
    let mut n = encloser.clone();
    while !same(&n, zone.origin()) && !n.is_root() {
        if let Some(node) = zone.node(&n)
            && node.rrset(RecordType::NS).is_some()
        {
            found = Some(node);
        }
        n = n.base_name();
    }
    found
}

/// RFC 8482 §4.1: one rrset for ANY. Ties within a class go to the lowest type code.
fn any_choice<'z>(node: Node<'z>, secure: bool) -> Option<&'z Rrset> {
    let rank = |t: RecordType| match t {
        RecordType::A | RecordType::AAAA | RecordType::SOA | RecordType::MX | RecordType::PTR => 0,
        RecordType::DNSKEY | RecordType::RRSIG | RecordType::NSEC => 2,
        _ => 1,
    };
    node.rrsets()
        .iter()
        .filter(|s| s.rtype() != RecordType::NSEC3 && !(secure && s.rtype() == RecordType::RRSIG))
        .min_by_key(|s| (rank(s.rtype()), u16::from(s.rtype())))
}
