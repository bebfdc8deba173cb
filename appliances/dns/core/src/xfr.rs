//! Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995), and the version history
//! IXFR needs. Transfers in (the client side) are in `transfer.rs`.
//!
//! Public API:
//! - [`History`]: per zone the last N (default [`DEFAULT_HISTORY`]) changes as
//!   [`Diff`]s. Call [`History::record`]`(old, new)` whenever a zone is replaced (UPDATE,
//!   git fetch, transfer in); a replacement that doesn't raise the serial (RFC 1982)
//!   forgets that zone's history, so no IXFR ever spans it.
//! - [`answer`]`(zones, history, signed, request, transport, allow_unsigned, now) ->
//!   Handled`: the dispatcher's call for a QUERY of type AXFR or IXFR. Privilege: a
//!   TSIG key with `_transfer` (or `_update`) for the zone; unsigned only when
//!   `allow_unsigned` (`--axfr`); otherwise REFUSED (NOTAUTH when the zone isn't ours).
//!   AXFR over UDP → NOTIMP (RFC 5936 §4.2: AXFR is TCP only); IXFR over UDP gets
//!   just the current SOA (RFC 1995 §2 lets the client retry over TCP). Over TCP the
//!   reply is [`Handled::Stream`]: messages of at most ~[`MESSAGE_BUDGET`] bytes, each
//!   TSIG-signed when the request was (RFC 8945 §5.3.1). An IXFR is sent as one
//!   condensed difference (RFC 1995 §5), AXFR-style when the history doesn't reach
//!   back to the client's serial, a single SOA when the client is current.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use crate::keys::{self, Op};
use sansio::UnixTime;

use crate::handled::{Handled, Transport};
use crate::serial;
use crate::tsig::{self, Signed, StreamSigner};
use crate::zone::{Zone, Zones, rdata_from_wire};

/// How many versions IXFR can reach back by default.
pub const DEFAULT_HISTORY: usize = 5;
/// Target size of one transfer message; RFC 5936 §2.2 allows up to 65535, smaller
/// messages keep memory and retransmission cost down.
pub const MESSAGE_BUDGET: usize = 16 * 1024;

/// One change of a zone: the records removed and added going from `from` to `to`
/// (SOA records included, as IXFR wants them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub from: u32,
    pub to: u32,
    pub removed: Vec<Record>,
    pub added: Vec<Record>,
}

/// Recent changes per zone.
#[derive(Debug, Clone)]
pub struct History {
    depth: usize,
    zones: HashMap<Name, VecDeque<Diff>>,
}

impl Default for History {
    fn default() -> History {
        History::new(DEFAULT_HISTORY)
    }
}

type RecordKey = (Name, u16, u32, Vec<u8>);

fn record_keys(zone: &Zone) -> BTreeSet<RecordKey> {
    let mut out = BTreeSet::new();
    for node in zone.nodes() {
        let name = node.name().to_lowercase();
        for set in node.rrsets() {
            for w in set.wire() {
                out.insert((name.clone(), u16::from(set.rtype()), set.ttl(), w.to_vec()));
            }
        }
    }
    out
}

fn key_record(k: &RecordKey) -> Option<Record> {
    let rd = rdata_from_wire(RecordType::from(k.1), &k.3)?;
    Some(Record::from_rdata(k.0.clone(), k.2, rd))
}

impl History {
    pub fn new(depth: usize) -> History {
        History { depth, zones: HashMap::new() }
    }

    /// Records that `old` was replaced by `new` (same origin).
    pub fn record(&mut self, old: &Zone, new: &Zone) {
        let origin = new.origin().to_lowercase();
        if !serial::gt(new.serial(), old.serial()) || self.depth == 0 {
            self.zones.remove(&origin);
            return;
        }
        let (a, b) = (record_keys(old), record_keys(new));
        let removed = a.difference(&b).filter_map(key_record).collect();
        let added = b.difference(&a).filter_map(key_record).collect();
        let list = self.zones.entry(origin).or_default();
        // A chain must be contiguous: drop what doesn't end at `old`.
        if list.back().is_some_and(|d| d.to != old.serial()) {
            list.clear();
        }
        list.push_back(Diff { from: old.serial(), to: new.serial(), removed, added });
        while list.len() > self.depth {
            list.pop_front();
        }
    }

    /// The chain of diffs from `serial` to the newest, if the history reaches back.
    pub fn since(&self, origin: &Name, serial: u32) -> Option<Vec<&Diff>> {
        let list = self.zones.get(&origin.to_lowercase())?;
        let start = list.iter().position(|d| d.from == serial)?;
        Some(list.iter().skip(start).collect())
    }

    /// Forgets a zone (it was removed).
    pub fn forget(&mut self, origin: &Name) {
        self.zones.remove(&origin.to_lowercase());
    }
}

/// Answers an AXFR or IXFR query; see the module doc.
pub fn answer(
    zones: &Zones,
    history: &History,
    signed: Option<&Signed>,
    request: &Message,
    transport: Transport,
    allow_unsigned: bool,
    now: UnixTime,
) -> Handled {
    let sign_one = |bytes: Vec<u8>| match signed {
        Some(s) => tsig::sign_response(s, &bytes, now),
        None => bytes,
    };
    let Some(q) = request.queries.first() else {
        return Handled::Reply(sign_one(reply(request, ResponseCode::FormErr, vec![])));
    };
    let Some(zone) = zones.get(q.name()) else {
        return Handled::Reply(sign_one(reply(request, ResponseCode::NotAuth, vec![])));
    };
    let permitted = match signed {
        Some(s) => keys::permits(&s.key.name, zone.origin(), Op::Transfer),
        None => allow_unsigned,
    };
    if !permitted {
        return Handled::Reply(sign_one(reply(request, ResponseCode::Refused, vec![])));
    }
    let soa = zone.soa_record().into_iter().collect::<Vec<_>>();
    let records = if q.query_type() == RecordType::IXFR {
        let client = request.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        });
        let Some(client) = client else {
            return Handled::Reply(sign_one(reply(request, ResponseCode::FormErr, vec![])));
        };
        if transport == Transport::Udp || !serial::gt(zone.serial(), client) {
            // RFC 1995 §2/§4: up to date (or UDP): only the current SOA.
            return Handled::Reply(sign_one(reply(request, ResponseCode::NoError, soa)));
        }
        match history.since(zone.origin(), client) {
            Some(chain) => ixfr_records(zone, &chain),
            None => axfr_records(zone),
        }
    } else {
        if transport == Transport::Udp {
            return Handled::Reply(sign_one(reply(request, ResponseCode::NotImp, vec![])));
        }
        axfr_records(zone)
    };
    let messages = split(request, records);
    let mut signer = signed.map(StreamSigner::new);
    Handled::Stream(
        messages
            .into_iter()
            .map(|m| match signer.as_mut() {
                Some(s) => s.sign(&m, now),
                None => m,
            })
            .collect(),
    )
}

/// RFC 5936 §2.2: SOA, every other record, SOA.
fn axfr_records(zone: &Zone) -> Vec<Record> {
    let mut all = zone.records();
    all.extend(zone.soa_record());
    all
}

/// RFC 1995 §4: new SOA, old SOA, removed, new SOA, added, new SOA — the chain
/// condensed into one difference (RFC 1995 §5 allows it), so a record added and
/// removed again in between is never sent.
fn ixfr_records(zone: &Zone, chain: &[&Diff]) -> Vec<Record> {
    let soa_of = |recs: &[Record]| recs.iter().find(|r| r.record_type() == RecordType::SOA).cloned();
    let (Some(first), Some(last)) = (chain.first(), chain.last()) else {
        return axfr_records(zone);
    };
    let (Some(old), Some(new)) = (soa_of(&first.removed), soa_of(&last.added)) else {
        // A diff without both SOAs can't be expressed: send the whole zone.
        return axfr_records(zone);
    };
    let (removed, added) = condense(chain);
    let mut out = vec![new.clone(), old];
    out.extend(removed);
    out.push(new.clone());
    out.extend(added);
    out.push(new);
    out
}

/// The net removed and added records (SOAs left out) of a chain of diffs.
fn condense(chain: &[&Diff]) -> (Vec<Record>, Vec<Record>) {
    let key = |r: &Record| -> Option<(Name, u16, u32, Vec<u8>)> {
        let wire = crate::zone::rdata_wire(&r.data)?;
        Some((r.name.to_lowercase(), u16::from(r.record_type()), r.ttl, wire))
    };
    let mut removed: BTreeMap<RecordKey, Record> = BTreeMap::new();
    let mut added: BTreeMap<RecordKey, Record> = BTreeMap::new();
    for d in chain {
        for r in d.removed.iter().filter(|r| r.record_type() != RecordType::SOA) {
            let Some(k) = key(r) else { continue };
            if added.remove(&k).is_none() {
                removed.insert(k, r.clone());
            }
        }
        for r in d.added.iter().filter(|r| r.record_type() != RecordType::SOA) {
            let Some(k) = key(r) else { continue };
            if removed.remove(&k).is_none() {
                added.insert(k, r.clone());
            }
        }
    }
    (removed.into_values().collect(), added.into_values().collect())
}

/// A reply with `answers` (one message).
fn reply(request: &Message, rcode: ResponseCode, answers: Vec<Record>) -> Vec<u8> {
    let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.response_code = rcode;
    m.metadata.authoritative = rcode == ResponseCode::NoError;
    // RD echoed (RFC 1035 §4.1.1 copies it into the response), as NSD does.
    m.metadata.recursion_desired = request.metadata.recursion_desired;
    m.queries = request.queries.clone();
    m.answers = answers;
    m.to_vec().unwrap_or_default()
}

/// Packs records into messages of about [`MESSAGE_BUDGET`] bytes; the question only
/// in the first (RFC 5936 §2.2.1 allows it to be left out of the others).
fn split(request: &Message, records: Vec<Record>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let mut size = 0;
    let flush = |batch: &mut Vec<Record>, out: &mut Vec<Vec<u8>>| {
        let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        if out.is_empty() {
            m.queries = request.queries.clone();
        }
        m.answers = std::mem::take(batch);
        out.push(m.to_vec().unwrap_or_default());
    };
    for r in records {
        // The uncompressed size bounds the compressed one.
        let len = r.to_bytes().map(|b| b.len()).unwrap_or(0);
        if size + len > MESSAGE_BUDGET && !batch.is_empty() {
            flush(&mut batch, &mut out);
            size = 0;
        }
        size += len;
        batch.push(r);
    }
    if !batch.is_empty() || out.is_empty() {
        flush(&mut batch, &mut out);
    }
    out
}
