//! NOTIFY (RFC 1996), incoming and outgoing.
//!
//! Public API:
//! - [`incoming`]`(signed, request, now_wall) -> Incoming`: the dispatcher's call for
//!   opcode NOTIFY. A NOTIFY signed with a key that holds `_notify` (or stronger)
//!   privilege for the zone named in the question is accepted:
//!   [`Incoming::Accepted`] with the zone and the signed NOERROR reply (AA, question
//!   echoed, RFC 1996 §4.7) — the dispatcher returns `Handled::Notified`. Unsigned
//!   NOTIFY, or one whose key lacks the privilege, gets REFUSED ([`Incoming::Reply`]):
//!   a refusal tells an honest but misconfigured sender to stop retrying, and costs
//!   no more than dropping (NSD refuses too). A question that isn't one SOA → FORMERR.
//! - [`Notifier`]: outgoing NOTIFY to our secondaries when a zone changes.
//!   [`Notifier::handle_zone_changed`]`(now, zone, keys)` queues one NOTIFY per secondary: the
//!   addresses (glue A/AAAA in the zone) of the zone's NS names except the SOA MNAME
//!   (RFC 1996 §3.6: the primary doesn't notify itself), plus the secondary addresses
//!   named by transfer keys ([`KeyStore::transfer_peers`]); each signed with the key
//!   naming that peer when there is one. It is a [`sansio::Driver`]: at
//!   [`Driver::poll_timeout`] the wiring calls [`Driver::handle_timeout`], then drains
//!   [`Driver::poll_transmit`] (datagrams to port 53). The first send is due at once;
//!   retransmission after 2 s, doubling, 5 tries in all (RFC 1996 §3.6 asks for
//!   retries with backoff until answered). [`Notifier::handle_reply`]`(now, src, bytes)`
//!   stops retrying when a matching reply (signed, if we signed) arrives.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use sansio::{Datagram, Driver, Duration, Instant, Now, UnixTime};

use crate::keys::{self, KeyStore, Op};
use crate::tsig::{self, ClientState, Signed};
use crate::zone::Zone;

/// First retransmission interval.
pub const RETRY: Duration = Duration::from_secs(2);
/// Sends per NOTIFY, the first included.
pub const TRIES: u32 = 5;
/// DNS port the NOTIFY goes to.
pub const PORT: u16 = 53;

/// What to do with an incoming NOTIFY.
#[derive(Debug)]
pub enum Incoming {
    /// Accepted: refresh `zone`, send `reply`.
    Accepted { zone: Name, reply: Vec<u8> },
    /// Send this reply (an error), nothing else.
    Reply(Vec<u8>),
}

/// Handles an incoming NOTIFY; see the module doc.
pub fn incoming(signed: Option<&Signed>, request: &Message, now: UnixTime) -> Incoming {
    let sign = |bytes: Vec<u8>| match signed {
        Some(s) => tsig::sign_response(s, &bytes, now),
        None => bytes,
    };
    let [q] = request.queries.as_slice() else {
        return Incoming::Reply(sign(reply(request, ResponseCode::FormErr)));
    };
    if q.query_type() != RecordType::SOA {
        return Incoming::Reply(sign(reply(request, ResponseCode::FormErr)));
    }
    let zone = q.name().clone();
    match signed {
        Some(s) if keys::permits(&s.key.name, &zone, Op::Notify) => {
            Incoming::Accepted { reply: sign(reply(request, ResponseCode::NoError)), zone }
        }
        _ => Incoming::Reply(sign(reply(request, ResponseCode::Refused))),
    }
}

fn reply(request: &Message, rcode: ResponseCode) -> Vec<u8> {
    let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Notify);
    m.metadata.response_code = rcode;
    m.metadata.authoritative = rcode == ResponseCode::NoError;
    m.queries = request.queries.clone();
    m.to_vec().unwrap_or_default()
}

/// One NOTIFY waiting for its acknowledgement.
#[derive(Debug)]
struct Outstanding {
    zone: Name,
    peer: SocketAddr,
    id: u16,
    bytes: Vec<u8>,
    tsig: Option<ClientState>,
    sent: u32,
    next: Instant,
}

/// Outgoing NOTIFY state; see the module doc.
#[derive(Debug)]
pub struct Notifier {
    outstanding: Vec<Outstanding>,
    /// Due datagrams, oldest first, for [`Driver::poll_transmit`].
    queue: VecDeque<Datagram>,
    rng: u64,
}

impl Notifier {
    /// `seed` makes the message ids unpredictable (pass something random).
    pub fn new(seed: u64) -> Notifier {
        Notifier { outstanding: Vec::new(), queue: VecDeque::new(), rng: seed | 1 }
    }

    fn next_id(&mut self) -> u16 {
        // xorshift64: ids only need to be hard to guess off-path, not cryptographic.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 32) as u16
    }

    /// The secondaries of `zone`: NS glue addresses except the MNAME's, plus key peers.
    pub fn secondaries(zone: &Zone, keys: &KeyStore) -> Vec<IpAddr> {
        let mname = zone.soa().map(|(s, _)| s.mname.to_lowercase());
        let mut out: Vec<IpAddr> = Vec::new();
        let ns = zone.rrset(zone.origin(), RecordType::NS).map(|s| s.rdatas()).unwrap_or_default();
        for rd in ns {
            let RData::NS(target) = rd else { continue };
            if Some(target.0.to_lowercase()) == mname {
                continue;
            }
            for t in [RecordType::A, RecordType::AAAA] {
                for rd in zone.rrset(&target.0, t).map(|s| s.rdatas()).unwrap_or_default() {
                    match rd {
                        RData::A(a) => out.push(IpAddr::V4(a.0)),
                        RData::AAAA(a) => out.push(IpAddr::V6(a.0)),
                        _ => {}
                    }
                }
            }
        }
        out.extend(keys.transfer_peers(zone.origin()).into_iter().map(|(ip, _)| ip));
        out.sort();
        out.dedup();
        out
    }

    /// `zone` changed: NOTIFY all its secondaries, due at once (replacing older
    /// NOTIFYs for it, sent or still queued).
    pub fn handle_zone_changed(&mut self, now: Now, zone: &Zone, keys: &KeyStore) {
        let origin = zone.origin().to_lowercase();
        self.outstanding.retain(|o| o.zone != origin);
        for ip in Notifier::secondaries(zone, keys) {
            let id = self.next_id();
            let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
            m.metadata.authoritative = true;
            m.queries = vec![Query::query(zone.origin().clone(), RecordType::SOA)];
            // RFC 1996 §3.7: the new SOA in the answer section as a hint.
            m.answers.extend(zone.soa_record());
            let Ok(bytes) = m.to_vec() else { continue };
            let (bytes, tsig) = match keys.key_for_peer(zone.origin(), ip) {
                Some(k) => {
                    let (b, s) = tsig::sign_request(k, &bytes, now.wall);
                    (b, Some(s))
                }
                None => (bytes, None),
            };
            let peer = SocketAddr::new(ip, PORT);
            self.outstanding.push(Outstanding { zone: origin.clone(), peer, id, bytes, tsig, sent: 0, next: now.mono });
        }
    }

    /// A reply arrived from `src`; returns whether it acknowledged one of ours.
    pub fn handle_reply(&mut self, now: Now, src: SocketAddr, bytes: &[u8]) -> bool {
        let Ok(m) = Message::from_vec(bytes) else {
            return false;
        };
        if m.metadata.message_type != MessageType::Response || m.metadata.op_code != OpCode::Notify {
            return false;
        }
        let found = self.outstanding.iter().position(|o| {
            o.peer.ip() == src.ip()
                && o.id == m.metadata.id
                && m.queries.first().is_some_and(|q| q.name().to_lowercase() == o.zone)
                && o.tsig.as_ref().is_none_or(|s| tsig::verify_response(s, bytes, now.wall).is_ok())
        });
        match found {
            Some(i) => {
                self.outstanding.remove(i);
                true
            }
            None => false,
        }
    }

    /// Number of NOTIFY messages still waiting for an answer.
    pub fn pending(&self) -> usize {
        self.outstanding.len()
    }
}

impl Driver for Notifier {
    type Transmit = Datagram;

    /// Queues the NOTIFYs due at `now`; gives up on a peer after [`TRIES`] sends.
    fn handle_timeout(&mut self, now: Instant) {
        let queue = &mut self.queue;
        self.outstanding.retain_mut(|o| {
            if o.next > now {
                return true;
            }
            if o.sent >= TRIES {
                return false;
            }
            queue.push_back(Datagram { dst: o.peer, payload: o.bytes.clone() });
            o.next = now + RETRY * (1 << o.sent);
            o.sent += 1;
            true
        });
    }

    /// The next (re)transmission.
    fn poll_timeout(&self) -> Option<Instant> {
        self.outstanding.iter().map(|o| o.next).min()
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.queue.pop_front()
    }
}
