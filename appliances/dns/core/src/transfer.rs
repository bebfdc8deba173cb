//! Zone transfers in, for secondary mode: the client side of AXFR (RFC 5936) and
//! IXFR (RFC 1995). A module below `secondary` (and the wiring), apart from the
//! serving side in `xfr.rs`.
//!
//! [`request`]`(origin, qtype, id, current_soa)` builds an SOA/AXFR/IXFR query;
//! [`TransferIn`] parses the reply stream message by message (verifying TSIG when a
//! [`ClientState`] is given) into the new [`Zone`], applying IXFR differences to the
//! current one.

use std::fmt;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use sansio::UnixTime;

use crate::serial;
use crate::tsig::{ClientState, StreamVerifier};
use crate::zone::Zone;

/// Builds a client query: SOA (over UDP), AXFR, or IXFR with `current` (our SOA) in
/// the authority section (RFC 1995 §3).
pub fn request(origin: &Name, qtype: RecordType, id: u16, current: Option<Record>) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.queries = vec![Query::query(origin.clone(), qtype)];
    if qtype == RecordType::IXFR {
        m.authorities.extend(current);
    }
    m.to_vec().unwrap_or_default()
}

/// Why a transfer in failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrError {
    /// The primary answered with this rcode.
    Rcode(ResponseCode),
    /// TSIG missing or wrong.
    Tsig(String),
    /// The stream doesn't follow RFC 5936 / RFC 1995.
    Malformed(String),
    /// IXFR differences that don't apply to our version.
    Mismatch(String),
}

impl fmt::Display for XfrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XfrError::Rcode(r) => write!(f, "primary answered {r}"),
            XfrError::Tsig(e) => write!(f, "TSIG: {e}"),
            XfrError::Malformed(e) => write!(f, "malformed transfer: {e}"),
            XfrError::Mismatch(e) => write!(f, "IXFR does not apply: {e}"),
        }
    }
}

impl std::error::Error for XfrError {}

/// Where the parser is in the record stream.
#[derive(Debug)]
enum Phase {
    /// Expecting the first SOA.
    Start,
    /// Seen the first SOA; the second record decides AXFR or IXFR.
    Second,
    Axfr,
    /// IXFR: deleting records of the version with this serial.
    Deleting,
    /// IXFR: adding records; the zone is now at this serial.
    Adding(u32),
    Done,
}

/// Parses a transfer reply stream into a zone; see the module doc.
#[derive(Debug)]
pub struct TransferIn {
    origin: Name,
    id: u16,
    current: Option<Arc<Zone>>,
    verifier: Option<StreamVerifier>,
    phase: Phase,
    final_soa: Option<Record>,
    zone: Zone,
}

impl TransferIn {
    /// `id`: the query's id; `current`: our version (IXFR differences apply to it);
    /// `tsig`: the state from signing the request.
    pub fn new(origin: Name, id: u16, current: Option<Arc<Zone>>, tsig: Option<ClientState>) -> TransferIn {
        let zone = Zone::empty(origin.clone());
        TransferIn {
            origin,
            id,
            current,
            verifier: tsig.map(StreamVerifier::new),
            phase: Phase::Start,
            final_soa: None,
            zone,
        }
    }

    /// Feeds one message. `Ok(Some(zone))` when the transfer is complete (the zone is
    /// the current one unchanged when the primary said we are up to date).
    /// `now` is the wall clock, for the TSIG time check (RFC 8945 §5.2.3).
    pub fn push(&mut self, bytes: &[u8], now: UnixTime) -> Result<Option<Zone>, XfrError> {
        if let Some(v) = self.verifier.as_mut() {
            v.next(bytes, now).map_err(|e| XfrError::Tsig(e.to_string()))?;
        }
        let msg = Message::from_vec(bytes).map_err(|e| XfrError::Malformed(e.to_string()))?;
        if msg.metadata.id != self.id || msg.metadata.message_type != MessageType::Response {
            return Err(XfrError::Malformed("not a reply to our request".into()));
        }
        if msg.metadata.response_code != ResponseCode::NoError {
            return Err(XfrError::Rcode(msg.metadata.response_code));
        }
        for r in msg.answers {
            self.record(r)?;
        }
        if matches!(self.phase, Phase::Second) {
            // A message holding only the SOA: the IXFR "you are up to date" reply.
            let serial = self.final_serial();
            let current = self.current.as_ref().filter(|z| !serial::gt(serial, z.serial()));
            if let Some(z) = current {
                self.phase = Phase::Done;
                return Ok(Some((**z).clone()));
            }
        }
        if !matches!(self.phase, Phase::Done) {
            return Ok(None);
        }
        if self.verifier.as_ref().is_some_and(|v| !v.complete()) {
            return Err(XfrError::Tsig("last message unsigned".into()));
        }
        let zone = std::mem::replace(&mut self.zone, Zone::empty(self.origin.clone()));
        zone.validate().map_err(|(n, e)| XfrError::Malformed(format!("{n}: {e}")))?;
        Ok(Some(zone))
    }

    fn final_serial(&self) -> u32 {
        soa_serial(self.final_soa.as_ref()).unwrap_or(0)
    }

    fn record(&mut self, r: Record) -> Result<(), XfrError> {
        if r.dns_class != DNSClass::IN || !self.origin.zone_of(&r.name) {
            return Err(XfrError::Malformed(format!("record {} outside the zone", r.name)));
        }
        let serial = soa_serial(Some(&r));
        match self.phase {
            Phase::Start => {
                if serial.is_none() {
                    return Err(XfrError::Malformed("first record is not the SOA".into()));
                }
                self.final_soa = Some(r);
                self.phase = Phase::Second;
            }
            Phase::Second => self.second(r, serial)?,
            Phase::Axfr if serial.is_some() => {
                if serial != Some(self.final_serial()) {
                    return Err(XfrError::Malformed("AXFR ends with another SOA".into()));
                }
                self.phase = Phase::Done;
            }
            Phase::Axfr => {
                self.zone.add_record(r);
            }
            Phase::Deleting => match serial {
                Some(s) => {
                    self.zone.add_record(r);
                    self.phase = Phase::Adding(s);
                }
                None => {
                    self.zone.remove_record(&r);
                }
            },
            Phase::Adding(at) => match serial {
                Some(s) if at == self.final_serial() && s == at => self.phase = Phase::Done,
                Some(s) if s == at => self.phase = Phase::Deleting,
                Some(s) => return Err(XfrError::Mismatch(format!("sequence starts at {s}, zone is at {at}"))),
                None => {
                    self.zone.add_record(r);
                }
            },
            Phase::Done => return Err(XfrError::Malformed("records after the final SOA".into())),
        }
        Ok(())
    }

    fn second(&mut self, r: Record, serial: Option<u32>) -> Result<(), XfrError> {
        let first = self.final_soa.clone().unwrap_or(r.clone());
        match serial {
            // IXFR (RFC 1995 §4): the second record is the SOA of our version.
            Some(s) if s != self.final_serial() => {
                let current = self.current.as_ref().filter(|z| z.serial() == s);
                let Some(current) = current else {
                    return Err(XfrError::Mismatch(format!("differences from serial {s}, which we don't have")));
                };
                self.zone = (**current).clone();
                self.phase = Phase::Deleting;
            }
            // An AXFR of a zone with nothing but its SOA.
            Some(_) => {
                self.zone.add_record(first);
                self.phase = Phase::Done;
            }
            None => {
                self.zone.add_record(first);
                self.zone.add_record(r);
                self.phase = Phase::Axfr;
            }
        }
        Ok(())
    }
}

fn soa_serial(r: Option<&Record>) -> Option<u32> {
    match &r?.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    }
}
