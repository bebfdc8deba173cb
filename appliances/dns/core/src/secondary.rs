//! Secondary mode: keeping zones in sync with their primaries (RFC 1035 §4.3.5,
//! RFC 1995, RFC 1996), without I/O.
//!
//! The zones and primaries come from transfer keys ([`crate::keys::KeyStore::primaries`]:
//! `<primary-ip>.<secondary-ip>._transfer.<zone>`); every message to the primary is
//! signed with that key and every reply must verify with it.
//!
//! Public API:
//! - [`Secondary::new`]`(primaries, seed)`.
//! - [`Secondary::poll`]`(now) -> Vec<Action>`: [`Action::QuerySoa`] (send over UDP
//!   to the primary, port 53; feed the reply to [`Secondary::on_soa_reply`]),
//!   [`Action::Transfer`] (open TCP to the primary, send the bytes with the 2-byte
//!   length prefix, read reply messages and feed them all to
//!   [`Secondary::on_transfer`], or call [`Secondary::on_transfer_failed`] on an I/O
//!   error or timeout), [`Action::Expire`] (stop serving the zone: the expire time
//!   passed without a successful refresh, RFC 1035 §4.3.5; the wiring removes it from
//!   the catalog until a transfer succeeds).
//! - [`Secondary::on_notify`]`(zone, now)`: a signed NOTIFY was accepted → transfer
//!   now (IXFR; the primary answers a single SOA if nothing changed).
//! - [`Secondary::on_transfer`]`(zone, messages, now) -> Option<Zone>`: the new zone to
//!   swap in (and record in the IXFR history), `None` when it failed or nothing
//!   changed. An IXFR that fails is retried as AXFR at once.
//! - [`Secondary::next_deadline`]: monotonic ns of the next timer.
//!
//! Timers: before the first transfer, retry every [`INITIAL_RETRY_NS`]. After a
//! successful transfer or an SOA check that shows we are current: SOA query after the
//! SOA refresh interval; after a failure, after the retry interval; the zone expires
//! `expire` seconds after the last success. An SOA query unanswered for
//! [`QUERY_TIMEOUT_NS`] counts as a failure.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::keys::Primary;
use crate::server::Now;
use crate::tsig::{self, ClientState};
use crate::update::serial_gt;
use crate::xfr::{self, TransferIn};
use crate::zone::Zone;

/// Retry interval before we have the zone at all.
pub const INITIAL_RETRY_NS: u64 = 10 * SEC;
/// How long an SOA query may stay unanswered.
pub const QUERY_TIMEOUT_NS: u64 = 5 * SEC;
const SEC: u64 = 1_000_000_000;
const PORT: u16 = 53;

/// Something for the wiring to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `bytes` over UDP to `primary`.
    QuerySoa { zone: Name, primary: SocketAddr, bytes: Vec<u8> },
    /// Send `bytes` over TCP to `primary` and collect the reply stream.
    Transfer { zone: Name, primary: SocketAddr, bytes: Vec<u8> },
    /// Stop serving `zone`.
    Expire { zone: Name },
}

#[derive(Debug)]
enum Wait {
    Idle,
    Soa { id: u16, tsig: ClientState, deadline: u64 },
    Transfer { id: u16, tsig: ClientState, ixfr: bool },
}

#[derive(Debug)]
struct ZoneState {
    cfg: Primary,
    zone: Option<Arc<Zone>>,
    wait: Wait,
    /// When the next SOA query (or first transfer) is due.
    next_check: u64,
    /// Transfer as soon as possible (NOTIFY, newer serial, IXFR fallback).
    transfer_now: bool,
    /// Next transfer must be AXFR.
    force_axfr: bool,
    expire_at: Option<u64>,
    expired: bool,
}

/// Per-zone secondary state machines; see the module doc.
#[derive(Debug)]
pub struct Secondary {
    zones: Vec<ZoneState>,
    rng: u64,
}

fn secs(v: i32) -> u64 {
    u64::try_from(v.max(1)).unwrap_or(1) * SEC
}

impl Secondary {
    pub fn new(primaries: Vec<Primary>, seed: u64) -> Secondary {
        let zones = primaries
            .into_iter()
            .map(|cfg| ZoneState {
                cfg,
                zone: None,
                wait: Wait::Idle,
                next_check: 0,
                transfer_now: true,
                force_axfr: true,
                expire_at: None,
                expired: false,
            })
            .collect();
        Secondary { zones, rng: seed | 1 }
    }

    fn next_id(&mut self) -> u16 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 32) as u16
    }

    /// The zones we are secondary for.
    pub fn zones(&self) -> impl Iterator<Item = &Name> {
        self.zones.iter().map(|z| &z.cfg.zone)
    }

    /// The zone as last transferred, unless expired.
    pub fn zone(&self, origin: &Name) -> Option<&Arc<Zone>> {
        let z = self.find(origin)?;
        z.zone.as_ref().filter(|_| !z.expired)
    }

    fn find(&self, origin: &Name) -> Option<&ZoneState> {
        self.zones.iter().find(|z| z.cfg.zone.to_lowercase() == origin.to_lowercase())
    }

    fn index(&self, origin: &Name) -> Option<usize> {
        self.zones.iter().position(|z| z.cfg.zone.to_lowercase() == origin.to_lowercase())
    }

    /// What is due at `now`.
    pub fn poll(&mut self, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        for i in 0..self.zones.len() {
            self.poll_zone(i, now, &mut out);
        }
        out
    }

    fn poll_zone(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let t = now.mono_ns;
        let z = &mut self.zones[i];
        if z.expire_at.is_some_and(|e| t >= e) && !z.expired {
            z.expired = true;
            out.push(Action::Expire { zone: z.cfg.zone.clone() });
        }
        if let Wait::Soa { deadline, .. } = z.wait
            && t >= deadline
        {
            z.wait = Wait::Idle;
            z.next_check = t + retry(z);
        }
        if !matches!(z.wait, Wait::Idle) {
            return;
        }
        if z.transfer_now || (z.zone.is_none() && t >= z.next_check) {
            out.push(self.start_transfer(i, now));
        } else if t >= z.next_check {
            out.push(self.start_soa(i, now));
        }
    }

    fn start_soa(&mut self, i: usize, now: Now) -> Action {
        let id = self.next_id();
        let z = &mut self.zones[i];
        let raw = xfr::request(&z.cfg.zone, RecordType::SOA, id, None);
        let (bytes, tsig) = tsig::sign_request(&z.cfg.key, &raw, now.unix);
        z.wait = Wait::Soa { id, tsig, deadline: now.mono_ns + QUERY_TIMEOUT_NS };
        Action::QuerySoa { zone: z.cfg.zone.clone(), primary: SocketAddr::new(z.cfg.primary, PORT), bytes }
    }

    fn start_transfer(&mut self, i: usize, now: Now) -> Action {
        let id = self.next_id();
        let z = &mut self.zones[i];
        z.transfer_now = false;
        let current = z.zone.as_ref().and_then(|zone| zone.soa_record()).filter(|_| !z.force_axfr);
        let ixfr = current.is_some();
        let qtype = if ixfr { RecordType::IXFR } else { RecordType::AXFR };
        let raw = xfr::request(&z.cfg.zone, qtype, id, current);
        let (bytes, tsig) = tsig::sign_request(&z.cfg.key, &raw, now.unix);
        z.wait = Wait::Transfer { id, tsig, ixfr };
        Action::Transfer { zone: z.cfg.zone.clone(), primary: SocketAddr::new(z.cfg.primary, PORT), bytes }
    }

    /// A signed NOTIFY for `zone` was accepted: transfer at the next poll.
    pub fn on_notify(&mut self, zone: &Name) {
        if let Some(i) = self.index(zone) {
            let z = &mut self.zones[i];
            if matches!(z.wait, Wait::Soa { .. }) {
                z.wait = Wait::Idle;
            }
            z.transfer_now = true;
        }
    }

    /// A UDP reply from `src`; returns whether it was the SOA reply we waited for.
    pub fn on_soa_reply(&mut self, src: SocketAddr, bytes: &[u8], now: Now) -> bool {
        let Ok(m) = Message::from_vec(bytes) else {
            return false;
        };
        let Some(q) = m.queries.first() else {
            return false;
        };
        let Some(i) = self.index(q.name()) else {
            return false;
        };
        let z = &mut self.zones[i];
        let Wait::Soa { id, tsig: state, .. } = &z.wait else {
            return false;
        };
        let ours =
            src.ip() == z.cfg.primary && m.metadata.id == *id && m.metadata.message_type == MessageType::Response;
        if !ours || tsig::verify_response(state, bytes, now.unix).is_err() {
            return false;
        }
        z.wait = Wait::Idle;
        let serial = m.answers.iter().find_map(|r| match &r.data {
            RData::SOA(s) if r.name.to_lowercase() == z.cfg.zone.to_lowercase() => Some(s.serial),
            _ => None,
        });
        match (m.metadata.response_code, serial) {
            (ResponseCode::NoError, Some(s)) => {
                let current = z.zone.as_ref().map(|zone| zone.serial());
                if current.is_none_or(|c| serial_gt(s, c)) {
                    z.transfer_now = true;
                } else {
                    succeeded(z, now.mono_ns);
                }
            }
            _ => z.next_check = now.mono_ns + retry(z),
        }
        true
    }

    /// The reply stream of the transfer for `zone`; see the module doc.
    pub fn on_transfer(&mut self, zone: &Name, messages: &[Vec<u8>], now: Now) -> Option<Zone> {
        let i = self.index(zone)?;
        let z = &mut self.zones[i];
        let Wait::Transfer { id, tsig: state, ixfr } = std::mem::replace(&mut z.wait, Wait::Idle) else {
            return None;
        };
        let mut parser = TransferIn::new(z.cfg.zone.clone(), id, z.zone.clone(), Some(state));
        let mut result = None;
        for m in messages {
            match parser.push(m, now.unix) {
                Ok(Some(zone)) => {
                    result = Some(zone);
                    break;
                }
                Ok(None) => {}
                Err(_) => break,
            }
        }
        let Some(new) = result else {
            self.failed(i, ixfr, now);
            return None;
        };
        let z = &mut self.zones[i];
        z.force_axfr = false;
        let changed = z.zone.as_deref() != Some(&new);
        z.zone = Some(Arc::new(new.clone()));
        let was_expired = std::mem::replace(&mut z.expired, false);
        succeeded(z, now.mono_ns);
        (changed || was_expired).then_some(new)
    }

    /// The transfer for `zone` could not be done (connection, timeout).
    pub fn on_transfer_failed(&mut self, zone: &Name, now: Now) {
        if let Some(i) = self.index(zone) {
            let ixfr = matches!(self.zones[i].wait, Wait::Transfer { ixfr: true, .. });
            self.zones[i].wait = Wait::Idle;
            self.failed(i, ixfr, now);
        }
    }

    fn failed(&mut self, i: usize, ixfr: bool, now: Now) {
        let z = &mut self.zones[i];
        if ixfr {
            // RFC 1995 §4 lets us fall back to AXFR; do it straight away.
            z.force_axfr = true;
            z.transfer_now = true;
        } else {
            z.next_check = now.mono_ns + retry(z);
        }
    }

    /// When the next timer fires (monotonic ns); `Some(0)`-ish when work is due now.
    pub fn next_deadline(&self) -> Option<u64> {
        self.zones
            .iter()
            .flat_map(|z| {
                let check = match z.wait {
                    Wait::Idle if z.transfer_now => Some(0),
                    Wait::Idle => Some(z.next_check),
                    Wait::Soa { deadline, .. } => Some(deadline),
                    Wait::Transfer { .. } => None,
                };
                [check, z.expire_at.filter(|_| !z.expired)]
            })
            .flatten()
            .min()
    }
}

fn soa_timers(z: &ZoneState) -> Option<(u64, u64, u64)> {
    let (soa, _) = z.zone.as_ref()?.soa()?;
    Some((secs(soa.refresh), secs(soa.retry), secs(soa.expire)))
}

fn retry(z: &ZoneState) -> u64 {
    soa_timers(z).map(|t| t.1).unwrap_or(INITIAL_RETRY_NS)
}

/// A refresh succeeded: next check after `refresh`, expiry `expire` from now.
fn succeeded(z: &mut ZoneState, now: u64) {
    if let Some((refresh, _, expire)) = soa_timers(z) {
        z.next_check = now + refresh;
        z.expire_at = Some(now + expire);
    }
}
