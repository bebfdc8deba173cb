//! Secondary mode: keeping zones in sync with their primaries (RFC 1035 §4.3.5,
//! RFC 1995, RFC 1996), without I/O.
//!
//! The zones and primaries come from transfer keys ([`crate::keys::KeyStore::primaries`]:
//! `<primary-ip>.<secondary-ip>._transfer.<zone>`); every message to the primary is
//! signed with that key and every reply must verify with it.
//!
//! Public API, in the vocabulary of crate `sansio`:
//! - [`Secondary::new`]`(primaries, seed, now)`.
//! - `impl` [`sansio::Driver`]: at [`Driver::poll_timeout`] the wiring calls
//!   [`Driver::handle_timeout`], then drains [`Driver::poll_transmit`], which yields
//!   [`Action`]s: [`Action::QuerySoa`] (send over UDP to the primary, port 53; feed
//!   the reply to [`Secondary::handle_soa_reply`]), [`Action::Transfer`] (open TCP to
//!   the primary, send the bytes with the 2-byte length prefix, read reply messages
//!   and feed them all to [`Secondary::handle_transfer`], or call
//!   [`Secondary::handle_transfer_failed`] on an I/O error or timeout),
//!   [`Action::Expire`] (stop serving the zone: the expire time passed without a
//!   successful refresh, RFC 1035 §4.3.5; the wiring stops serving it, answering
//!   SERVFAIL as NSD does, until a transfer succeeds; an expired zone is transferred
//!   again even when the primary's serial is unchanged). A deadline of [`Instant::ZERO`] means "due now".
//! - [`Secondary::handle_notify`]`(now, zone)`: a signed NOTIFY was accepted →
//!   transfer now (IXFR; the primary answers a single SOA if nothing changed).
//! - [`Secondary::handle_transfer`]`(now, zone, messages) -> Option<Zone>`: the new
//!   zone to swap in (and record in the IXFR history), `None` when it failed or
//!   nothing changed. An IXFR that fails is retried as AXFR at once.
//!
//! The wall clock: every message is TSIG-signed, which needs the time (RFC 8945
//! §5.2.3, 300 s fudge), but `handle_timeout` is given only the monotonic clock. So
//! the core keeps the last [`Now`] it was handed (by `new` or a `handle_*` call) and
//! extrapolates the wall clock from it by the monotonic time elapsed since.
//!
//! Timers: before the first transfer, retry every [`INITIAL_RETRY`]. After a
//! successful transfer or an SOA check that shows we are current: SOA query after the
//! SOA refresh interval; after a failure, after the retry interval; the zone expires
//! `expire` seconds after the last success. An SOA query unanswered for
//! [`QUERY_TIMEOUT`] counts as a failure.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use sansio::{Driver, Duration, Instant, Now, UnixTime};

use crate::keys::Primary;
use crate::serial;
use crate::transfer::{self, TransferIn};
use crate::tsig::{self, ClientState};
use crate::zone::Zone;

/// Retry interval before we have the zone at all.
pub const INITIAL_RETRY: Duration = Duration::from_secs(10);
/// How long an SOA query may stay unanswered.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
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
    Soa { id: u16, tsig: ClientState, deadline: Instant },
    Transfer { id: u16, tsig: ClientState, ixfr: bool },
}

#[derive(Debug)]
struct ZoneState {
    cfg: Primary,
    zone: Option<Arc<Zone>>,
    wait: Wait,
    /// When the next SOA query (or first transfer) is due.
    next_check: Instant,
    /// Transfer as soon as possible (NOTIFY, newer serial, IXFR fallback).
    transfer_now: bool,
    /// Next transfer must be AXFR.
    force_axfr: bool,
    expire_at: Option<Instant>,
    expired: bool,
}

/// Per-zone secondary state machines; see the module doc.
#[derive(Debug)]
pub struct Secondary {
    zones: Vec<ZoneState>,
    /// Due actions, oldest first, for [`Driver::poll_transmit`].
    queue: VecDeque<Action>,
    /// The last time handed in, to extrapolate the wall clock (see the module doc).
    clock: Now,
    rng: u64,
}

/// An SOA timer field (seconds, RFC 1035 §3.3.13), at least one second.
fn secs(v: i32) -> Duration {
    Duration::from_secs(u64::try_from(v.max(1)).unwrap_or(1))
}

impl Secondary {
    /// `seed` makes the message ids unpredictable (pass something random); `now`
    /// starts the wall clock (see the module doc).
    pub fn new(primaries: Vec<Primary>, seed: u64, now: Now) -> Secondary {
        let zones = primaries
            .into_iter()
            .map(|cfg| ZoneState {
                cfg,
                zone: None,
                wait: Wait::Idle,
                next_check: Instant::ZERO,
                transfer_now: true,
                force_axfr: true,
                expire_at: None,
                expired: false,
            })
            .collect();
        Secondary { zones, queue: VecDeque::new(), clock: now, rng: seed | 1 }
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

    /// Takes note of the time handed in with an input.
    fn tick(&mut self, now: Now) {
        self.clock = now;
    }

    /// The wall clock at monotonic `mono`, extrapolated from the last [`Now`].
    fn wall_at(&self, mono: Instant) -> UnixTime {
        let ahead = mono.saturating_duration_since(self.clock.mono).as_secs();
        let behind = self.clock.mono.saturating_duration_since(mono).as_secs();
        UnixTime::from_secs((self.clock.wall.as_secs() + ahead).saturating_sub(behind))
    }

    fn poll_zone(&mut self, i: usize, now: Now) {
        let t = now.mono;
        let z = &mut self.zones[i];
        if z.expire_at.is_some_and(|e| t >= e) && !z.expired {
            z.expired = true;
            self.queue.push_back(Action::Expire { zone: z.cfg.zone.clone() });
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
        let action = if z.transfer_now || (z.zone.is_none() && t >= z.next_check) {
            self.start_transfer(i, now)
        } else if t >= z.next_check {
            self.start_soa(i, now)
        } else {
            return;
        };
        self.queue.push_back(action);
    }

    fn start_soa(&mut self, i: usize, now: Now) -> Action {
        let id = self.next_id();
        let z = &mut self.zones[i];
        let raw = transfer::request(&z.cfg.zone, RecordType::SOA, id, None);
        let (bytes, tsig) = tsig::sign_request(&z.cfg.key, &raw, now.wall);
        z.wait = Wait::Soa { id, tsig, deadline: now.mono + QUERY_TIMEOUT };
        Action::QuerySoa { zone: z.cfg.zone.clone(), primary: SocketAddr::new(z.cfg.primary, PORT), bytes }
    }

    fn start_transfer(&mut self, i: usize, now: Now) -> Action {
        let id = self.next_id();
        let z = &mut self.zones[i];
        z.transfer_now = false;
        // An expired zone is fetched whole (AXFR): its data is no longer
        // authoritative, and the wiring, which no longer serves it, cannot tell
        // where an IXFR reply against it ends.
        let current = z.zone.as_ref().and_then(|zone| zone.soa_record()).filter(|_| !z.force_axfr && !z.expired);
        let ixfr = current.is_some();
        let qtype = if ixfr { RecordType::IXFR } else { RecordType::AXFR };
        let raw = transfer::request(&z.cfg.zone, qtype, id, current);
        let (bytes, tsig) = tsig::sign_request(&z.cfg.key, &raw, now.wall);
        z.wait = Wait::Transfer { id, tsig, ixfr };
        Action::Transfer { zone: z.cfg.zone.clone(), primary: SocketAddr::new(z.cfg.primary, PORT), bytes }
    }

    /// A signed NOTIFY for `zone` was accepted: transfer at the next timeout, due now.
    pub fn handle_notify(&mut self, now: Now, zone: &Name) {
        self.tick(now);
        if let Some(i) = self.index(zone) {
            let z = &mut self.zones[i];
            if matches!(z.wait, Wait::Soa { .. }) {
                z.wait = Wait::Idle;
            }
            z.transfer_now = true;
        }
    }

    /// A UDP reply from `src`; returns whether it was the SOA reply we waited for.
    pub fn handle_soa_reply(&mut self, now: Now, src: SocketAddr, bytes: &[u8]) -> bool {
        self.tick(now);
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
        if !ours || tsig::verify_response(state, bytes, now.wall).is_err() {
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
                // An expired zone is no longer authoritative (RFC 1035 §4.3.5): the
                // same serial is not enough, transfer it again so that
                // `handle_transfer` hands it back.
                if z.expired || current.is_none_or(|c| serial::gt(s, c)) {
                    z.transfer_now = true;
                } else {
                    succeeded(z, now.mono);
                }
            }
            _ => z.next_check = now.mono + retry(z),
        }
        true
    }

    /// The reply stream of the transfer for `zone`; see the module doc.
    pub fn handle_transfer(&mut self, now: Now, zone: &Name, messages: &[Vec<u8>]) -> Option<Zone> {
        self.tick(now);
        let i = self.index(zone)?;
        let z = &mut self.zones[i];
        let Wait::Transfer { id, tsig: state, ixfr } = std::mem::replace(&mut z.wait, Wait::Idle) else {
            return None;
        };
        let mut parser = TransferIn::new(z.cfg.zone.clone(), id, z.zone.clone(), Some(state));
        let mut result = None;
        for m in messages {
            match parser.push(m, now.wall) {
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
        succeeded(z, now.mono);
        (changed || was_expired).then_some(new)
    }

    /// The transfer for `zone` could not be done (connection, timeout).
    pub fn handle_transfer_failed(&mut self, now: Now, zone: &Name) {
        self.tick(now);
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
            z.next_check = now.mono + retry(z);
        }
    }
}

impl Driver for Secondary {
    type Transmit = Action;

    /// Starts what is due at `now`: SOA queries, transfers, expiries.
    fn handle_timeout(&mut self, now: Instant) {
        let now = Now { mono: now, wall: self.wall_at(now) };
        for i in 0..self.zones.len() {
            self.poll_zone(i, now);
        }
    }

    /// The next timer; [`Instant::ZERO`] when work is due now.
    fn poll_timeout(&self) -> Option<Instant> {
        self.zones
            .iter()
            .flat_map(|z| {
                let check = match z.wait {
                    Wait::Idle if z.transfer_now => Some(Instant::ZERO),
                    Wait::Idle => Some(z.next_check),
                    Wait::Soa { deadline, .. } => Some(deadline),
                    Wait::Transfer { .. } => None,
                };
                [check, z.expire_at.filter(|_| !z.expired)]
            })
            .flatten()
            .min()
    }

    fn poll_transmit(&mut self) -> Option<Action> {
        self.queue.pop_front()
    }
}

fn soa_timers(z: &ZoneState) -> Option<(Duration, Duration, Duration)> {
    let (soa, _) = z.zone.as_ref()?.soa()?;
    Some((secs(soa.refresh), secs(soa.retry), secs(soa.expire)))
}

fn retry(z: &ZoneState) -> Duration {
    soa_timers(z).map(|t| t.1).unwrap_or(INITIAL_RETRY)
}

/// A refresh succeeded: next check after `refresh`, expiry `expire` from now.
fn succeeded(z: &mut ZoneState, now: Instant) {
    if let Some((refresh, _, expire)) = soa_timers(z) {
        z.next_check = now + refresh;
        z.expire_at = Some(now + expire);
    }
}
