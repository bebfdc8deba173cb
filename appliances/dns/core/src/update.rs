//! Dynamic UPDATE (RFC 2136), applied atomically to a copy of the zone.
//!
//! Public API (the dispatcher calls [`handle`]; the wiring calls
//! `Server::finish_update`, which calls [`finish`]):
//! - [`handle`]`(zones, signed, request, src, now_wall) -> Outcome`: the whole UPDATE
//!   path for a parsed request whose TSIG already verified (`signed` is `None` when the
//!   request was unsigned; unsigned updates are REFUSED). [`Outcome::Reply`] carries the
//!   finished (signed) reply bytes — errors, or NOERROR for an update that changes
//!   nothing (no commit). [`Outcome::Commit`] carries a [`Pending`] change: the
//!   dispatcher returns it (as `Handled::Update`), the wiring commits
//!   [`Pending::master_file`] to git as file [`Pending::file_name`] with author
//!   [`Pending::author`] and message [`Pending::message`], pushes, and then calls
//!   `Server::finish_update(pending, pushed_ok)` for the reply bytes: NOERROR and the
//!   new zone swapped in, or SERVFAIL and the change dropped. After a NOERROR the
//!   wiring should tell the secondaries (`notify::Notifier::zone_changed`). Updates
//!   must be handled one at a time (prepare → push → finish): a `Pending` replaces the
//!   zone it was prepared against; [`Pending::old_serial`] lets the wiring notice a
//!   zone that changed meanwhile (e.g. a git fetch) and refuse instead.
//! - [`prepare`] is the core of it (zone section, privilege, prerequisites, prescan,
//!   apply, serial) returning `Result<Option<Pending>, ResponseCode>`.
//!
//! Rules: zone section must be one SOA question (§3.1.1, FORMERR) for a zone we serve
//! (NOTAUTH); the key must hold `_update` privilege for the zone (REFUSED, RFC 2136 §3.3
//! leaves the policy to us); prerequisites §3.2; prescan §3.4.1; apply §3.4.2 (CNAME
//! conflicts ignored, SOA only if newer, apex SOA/NS never deleted, the last apex NS
//! kept); then the serial is increased by one (RFC 1982 arithmetic, §3.6) unless the
//! update itself raised it.

use std::net::SocketAddr;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

pub use crate::handled::Pending;
use sansio::UnixTime;

use crate::keys::{self, Op};
use crate::serial;
use crate::tsig::{self, Signed};
use crate::zone::{Zone, Zones};

/// What the dispatcher does with an UPDATE.
#[derive(Debug)]
pub enum Outcome {
    /// Send this reply (already signed when the request was).
    Reply(Vec<u8>),
    /// Commit and push, then call `Server::finish_update`.
    Commit(Box<Pending>),
}

/// Handles a parsed UPDATE request; see the module doc.
pub fn handle(zones: &Zones, signed: Option<&Signed>, request: &Message, src: SocketAddr, now: UnixTime) -> Outcome {
    let Some(signed) = signed else {
        return Outcome::Reply(reply(request, ResponseCode::Refused));
    };
    match prepare(zones, signed, request, src, now) {
        Ok(Some(p)) => Outcome::Commit(Box::new(p)),
        Ok(None) => Outcome::Reply(tsig::sign_response(signed, &reply(request, ResponseCode::NoError), now)),
        Err(rcode) => Outcome::Reply(tsig::sign_response(signed, &reply(request, rcode), now)),
    }
}

/// Completes an update after the git push: the reply bytes, and the zone to swap in
/// when the push worked (NOERROR), none when it failed (SERVFAIL: RFC 2136 §3.5 wants
/// the change durable before the reply). `Server::finish_update` does the swap.
pub fn finish(pending: Pending, pushed_ok: bool) -> (Vec<u8>, Option<Zone>) {
    let rcode = if pushed_ok { ResponseCode::NoError } else { ResponseCode::ServFail };
    let bytes = reply(&pending.request, rcode);
    let out = tsig::sign_response(&pending.signed, &bytes, pending.time);
    (out, pushed_ok.then_some(pending.zone))
}

/// The reply to an UPDATE: header and the zone section echoed (RFC 2136 §3.8).
pub fn reply(request: &Message, rcode: ResponseCode) -> Vec<u8> {
    let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Update);
    m.metadata.response_code = rcode;
    m.queries = request.queries.clone();
    m.to_vec().unwrap_or_else(|_| {
        let mut h = vec![0u8; 12];
        h[..2].copy_from_slice(&request.metadata.id.to_be_bytes());
        h[2] = 0x80 | (5 << 3);
        h[3] = rcode.low();
        h
    })
}

/// Checks and applies an update to a copy of its zone. `Ok(None)`: nothing changed.
pub fn prepare(
    zones: &Zones,
    signed: &Signed,
    request: &Message,
    src: SocketAddr,
    now: UnixTime,
) -> Result<Option<Pending>, ResponseCode> {
    // §3.1.1: exactly one zone, of type SOA.
    let [zq] = request.queries.as_slice() else {
        return Err(ResponseCode::FormErr);
    };
    if zq.query_type() != RecordType::SOA {
        return Err(ResponseCode::FormErr);
    }
    let zone = zones.get(zq.name()).ok_or(ResponseCode::NotAuth)?;
    if !keys::permits(&signed.key.name, zone.origin(), Op::Update) {
        return Err(ResponseCode::Refused);
    }
    check_prerequisites(zone, &request.answers)?;
    prescan(zone.origin(), &request.authorities)?;
    let mut new = (**zone).clone();
    let changed = apply(&mut new, &request.authorities);
    if !changed {
        return Ok(None);
    }
    let (old, now_serial) = (zone.serial(), new.serial());
    if !serial::gt(now_serial, old) {
        new.set_serial(old.wrapping_add(1));
    }
    if new.validate().is_err() {
        return Err(ResponseCode::Refused);
    }
    let master_file = new.to_master_file();
    let origin = zone.origin().to_string();
    Ok(Some(Pending {
        file_name: origin.trim_end_matches('.').to_string(),
        old_serial: old,
        master_file,
        author: signed.key.name.to_string(),
        message: format!("update {origin} from {src} (serial {})", new.serial()),
        zone: new,
        signed: signed.clone(),
        request: request.clone(),
        time: now,
    }))
}

fn in_zone(origin: &Name, name: &Name) -> bool {
    origin.zone_of(name)
}

fn is_meta(t: RecordType) -> bool {
    matches!(t, RecordType::ANY | RecordType::AXFR | RecordType::IXFR | RecordType::OPT | RecordType::TSIG)
        || matches!(u16::from(t), 253 | 254)
}

/// §3.2: the prerequisite section (hickory's answer section of an UPDATE).
fn check_prerequisites(zone: &Zone, prereqs: &[Record]) -> Result<(), ResponseCode> {
    let mut value_sets: Vec<&Record> = Vec::new();
    for rr in prereqs {
        if rr.ttl != 0 {
            return Err(ResponseCode::FormErr);
        }
        if !in_zone(zone.origin(), &rr.name) {
            return Err(ResponseCode::NotZone);
        }
        let t = rr.record_type();
        let empty = matches!(rr.data, RData::Update0(_));
        match rr.dns_class {
            DNSClass::ANY if !empty => return Err(ResponseCode::FormErr),
            DNSClass::ANY if t == RecordType::ANY => {
                if zone.node(&rr.name).is_none() {
                    return Err(ResponseCode::NXDomain);
                }
            }
            DNSClass::ANY => {
                if zone.rrset(&rr.name, t).is_none() {
                    return Err(ResponseCode::NXRRSet);
                }
            }
            DNSClass::NONE if !empty => return Err(ResponseCode::FormErr),
            DNSClass::NONE if t == RecordType::ANY => {
                if zone.node(&rr.name).is_some() {
                    return Err(ResponseCode::YXDomain);
                }
            }
            DNSClass::NONE => {
                if zone.rrset(&rr.name, t).is_some() {
                    return Err(ResponseCode::YXRRSet);
                }
            }
            DNSClass::IN if !empty && !is_meta(t) => value_sets.push(rr),
            _ => return Err(ResponseCode::FormErr),
        }
    }
    value_dependent(zone, &value_sets)
}

/// §3.2.3: every rrset named must exist and equal the given records exactly.
fn value_dependent(zone: &Zone, rrs: &[&Record]) -> Result<(), ResponseCode> {
    let mut done: Vec<(Name, RecordType)> = Vec::new();
    for rr in rrs {
        let key = (rr.name.to_lowercase(), rr.record_type());
        if done.contains(&key) {
            continue;
        }
        let mut want: Vec<&RData> = Vec::new();
        for r in rrs.iter().filter(|r| r.name.to_lowercase() == key.0 && r.record_type() == key.1) {
            if !want.contains(&&r.data) {
                want.push(&r.data);
            }
        }
        let have = zone.rrset(&rr.name, key.1).map(|s| s.rdatas()).unwrap_or_default();
        let same = have.len() == want.len() && want.iter().all(|w| have.contains(*w));
        if !same {
            return Err(ResponseCode::NXRRSet);
        }
        done.push(key);
    }
    Ok(())
}

/// §3.4.1.3: the update section (hickory's authority section) before anything changes.
fn prescan(origin: &Name, updates: &[Record]) -> Result<(), ResponseCode> {
    for rr in updates {
        if !in_zone(origin, &rr.name) {
            return Err(ResponseCode::NotZone);
        }
        let t = rr.record_type();
        let empty = matches!(rr.data, RData::Update0(_));
        let ok = match rr.dns_class {
            DNSClass::IN => !is_meta(t) && !empty,
            DNSClass::ANY => rr.ttl == 0 && empty && (t == RecordType::ANY || !is_meta(t)),
            DNSClass::NONE => rr.ttl == 0 && !is_meta(t) && !empty,
            _ => false,
        };
        if !ok {
            return Err(ResponseCode::FormErr);
        }
    }
    Ok(())
}

/// §3.4.2: applies the update section in order; returns whether the zone changed.
fn apply(zone: &mut Zone, updates: &[Record]) -> bool {
    let mut changed = false;
    for rr in updates {
        changed |= match rr.dns_class {
            DNSClass::IN => add(zone, rr),
            DNSClass::ANY => delete_rrsets(zone, rr),
            _ => delete_rr(zone, rr),
        };
    }
    changed
}

fn is_apex(zone: &Zone, name: &Name) -> bool {
    zone.origin().to_lowercase() == name.to_lowercase()
}

/// §3.4.2.2: add to an rrset.
fn add(zone: &mut Zone, rr: &Record) -> bool {
    let t = rr.record_type();
    let node = zone.node(&rr.name);
    let has_cname = node.is_some_and(|n| n.rrset(RecordType::CNAME).is_some());
    let has_other = node.is_some_and(|n| {
        n.rrsets().iter().any(|s| !matches!(s.rtype(), RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC))
    });
    match t {
        RecordType::SOA => {
            let newer = matches!(&rr.data, RData::SOA(s) if serial::gt(s.serial, zone.serial()));
            if !is_apex(zone, &rr.name) || !newer {
                return false;
            }
        }
        RecordType::CNAME if has_other => return false,
        RecordType::RRSIG | RecordType::NSEC => {}
        _ if has_cname => return false,
        _ => {}
    }
    zone.add_record(rr.clone())
}

/// §3.4.2.3: class ANY deletes an rrset, or every rrset at a name.
fn delete_rrsets(zone: &mut Zone, rr: &Record) -> bool {
    let t = rr.record_type();
    let apex = is_apex(zone, &rr.name);
    if t == RecordType::ANY {
        if !apex {
            return zone.remove_name(&rr.name);
        }
        // At the apex, SOA and NS stay.
        let types: Vec<RecordType> =
            zone.node(&rr.name).map(|n| n.rrsets().iter().map(|s| s.rtype()).collect()).unwrap_or_default();
        let mut changed = false;
        for t in types.into_iter().filter(|t| !matches!(t, RecordType::SOA | RecordType::NS)) {
            changed |= zone.remove_rrset(&rr.name, t);
        }
        return changed;
    }
    if apex && matches!(t, RecordType::SOA | RecordType::NS) {
        return false;
    }
    zone.remove_rrset(&rr.name, t)
}

/// §3.4.2.4: class NONE deletes one record; never the SOA, nor the last apex NS.
fn delete_rr(zone: &mut Zone, rr: &Record) -> bool {
    let t = rr.record_type();
    if t == RecordType::SOA {
        return false;
    }
    if t == RecordType::NS && is_apex(zone, &rr.name) {
        let count = zone.rrset(&rr.name, t).map(|s| s.rdatas().len()).unwrap_or(0);
        let present = zone.rrset(&rr.name, t).is_some_and(|s| s.rdatas().contains(&rr.data));
        if count <= 1 && present {
            return false;
        }
    }
    zone.remove_record(rr)
}
