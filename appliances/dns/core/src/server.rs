//! The request dispatcher: one DNS message in, what to do about it out.
//!
//! [`Server::handle`]`(now, src, transport, bytes) -> Handled` is the only entry the
//! wiring calls per request. It checks the message the way NSD 4.6 does (the
//! differential test holds us to it):
//! - shorter than a header, or QR=1 → [`Handled::Drop`];
//! - opcode other than QUERY, NOTIFY, UPDATE → NOTIMP, header only (flags echoed);
//! - a question that doesn't parse, records in answer/authority (authority is allowed
//!   for IXFR), two OPT RRs (RFC 6891 §6.1.1), or anything undecodable → FORMERR,
//!   header only, only RD kept; more than one question → FORMERR with no flags;
//! - no question but an OPT → NOERROR with our OPT (an EDNS probe); at an EDNS version
//!   above 0, FORMERR with no flags;
//! - EDNS version > 0 → BADVERS with our OPT at version 0, DO clear (RFC 6891 §6.1.3);
//! - a QUERY with a nonzero RCODE → FORMERR, header only, only RD kept;
//! - over TCP, a message shorter than a header and a minimal question → no reply;
//! - class ANY → answered from IN data, AA clear, negative answers without SOA;
//!   class CH → `version.bind`/`id.server` and their aliases per [`Options::version`]
//!   and [`Options::identity`], else REFUSED with the question; other classes →
//!   REFUSED, header only (and our OPT if the request had one), flags echoed;
//! - AXFR over UDP → NOTIMP; other AXFR and IXFR go to `xfr.rs` ([`Handled::Stream`]
//!   over TCP); UPDATE goes to `update.rs` ([`Handled::Update`]), NOTIFY to
//!   `notify.rs` ([`Handled::Notified`] when signed and allowed); zone not served →
//!   REFUSED; a zone we are configured for but cannot serve ([`Server::unavailable`]:
//!   a secondary zone expired or not yet transferred) → SERVFAIL, as NSD;
//! - a TSIG RR (RFC 8945) is verified against [`Server::keys`] with `tsig.rs`; a bad
//!   one gets NOTAUTH with the TSIG error (§5.3.2), a good one a signed reply (§5.3),
//!   with room for the signature kept when fitting the reply into UDP.
//!
//! Responses: AA per the answer, RD echoed, CD and AD cleared (RFC 4035 §3.1.6), our
//! OPT (payload [`Options::udp_size`], DO echoed) when the request had one.
//! UDP replies fit in 512 bytes, or min(client's EDNS size, ours) when the client sent
//! a size above 512; TCP in 65535. Whole rrsets are dropped to fit: when an answer or
//! authority rrset is dropped TC is set (RFC 2181 §9), and when in-domain glue of a
//! referral is (RFC 9471 §3.1); any other dropped additional rrset is just left out.

use std::net::SocketAddr;

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use std::sync::Arc;

use sansio::Now;

pub use crate::handled::{Handled, Transport};
use crate::keys::KeyStore;
use crate::notify;
use crate::query::{self, Resolution};
use crate::rrl::{self, Rrl};
use crate::section::Section;
use crate::tsig::{self, Signed};
use crate::update::{self, Pending};
use crate::xfr;
use crate::zone::Zones;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Our EDNS UDP payload size (RFC 6891 §6.2.5; 1232 avoids fragmentation).
    pub udp_size: u16,
    /// Response rate limiting; off by default.
    pub rrl: rrl::Config,
    /// Serve AXFR/IXFR without TSIG (`--axfr`); off by default.
    pub axfr_unsigned: bool,
    /// The answer to CHAOS TXT `version.bind` and `version.server` (NSD's
    /// `version`); None refuses them (NSD's `hide-version`). By default our crate's
    /// name and version, as NSD tells its own by default.
    pub version: Option<String>,
    /// The answer to CHAOS TXT `id.server` and `hostname.bind` (RFC 4892; NSD's
    /// `identity`, by default its host name). None refuses them: a unikernel has no
    /// host name to tell, so by default we don't.
    pub identity: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            udp_size: 1232,
            rrl: rrl::Config::default(),
            axfr_unsigned: false,
            version: Some(concat!("dns-core ", env!("CARGO_PKG_VERSION")).to_string()),
            identity: None,
        }
    }
}

/// The authoritative server's state.
pub struct Server {
    pub zones: Zones,
    pub options: Options,
    pub rrl: Rrl,
    /// TSIG keys (RFC 8945) that requests may be signed with, and their privileges
    /// (`keys.rs`); none by default.
    pub keys: Arc<KeyStore>,
    /// Recent versions of each zone, for IXFR (`xfr.rs`); record every zone swap in it.
    pub history: xfr::History,
    /// Zones we are configured for but cannot serve (a secondary zone not yet
    /// transferred, or expired, RFC 1035 §4.3.5): queries in them get SERVFAIL,
    /// as NSD answers, not REFUSED (which would tell resolvers we are not
    /// authoritative at all).
    pub unavailable: std::collections::BTreeSet<Name>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("zones", &self.zones.len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

const HEADER: usize = 12;
/// The shortest TCP message NSD reads: a header and a question with a root name
/// (1 + 4 bytes). Shorter ones get no reply (NSD closes the connection).
const TCP_MIN: usize = HEADER + 5;
const UDP_PLAIN: usize = 512;
const TCP_MAX: usize = 65535;

/// The parsed request, what a reply needs from it.
struct Request {
    msg: Message,
    transport: Transport,
    /// Set when the request carried a valid TSIG: the reply gets signed.
    signed: Option<Signed>,
}

impl Server {
    pub fn new(zones: Zones, options: Options) -> Server {
        let rrl = Rrl::new(options.rrl.clone());
        Server {
            zones,
            options,
            rrl,
            keys: Arc::new(KeyStore::new()),
            history: xfr::History::default(),
            unavailable: Default::default(),
        }
    }

    /// Handles one request. Never panics, whatever the bytes.
    pub fn handle(&mut self, now: Now, src: SocketAddr, transport: Transport, request: &[u8]) -> Handled {
        if request.len() < HEADER || request[2] & 0x80 != 0 {
            return Handled::Drop;
        }
        if transport == Transport::Tcp && request.len() < TCP_MIN {
            return Handled::Drop;
        }
        let opcode = (request[2] >> 3) & 0x0f;
        if !matches!(opcode, 0 | 4 | 5) {
            return Handled::Reply(header_error(request, ResponseCode::NotImp, true));
        }
        let msg = match Message::from_vec(request) {
            Ok(m) => m,
            Err(_) => return Handled::Reply(header_error(request, ResponseCode::FormErr, false)),
        };
        if let Some(reply) = self.precheck(request, &msg) {
            return Handled::Reply(reply);
        }
        // Only messages with a TSIG RR go to the verifier (trailing garbage after the
        // records is ignored, as NSD does, and unsigned queries stay fast).
        let verified = match msg.signature {
            Some(_) => tsig::verify_request(&*self.keys, request, now.wall),
            None => Ok(None),
        };
        let signed = match verified {
            Ok(s) => s,
            Err(e) => {
                // RFC 8945 §5.3.2: NOTAUTH (or FORMERR) with the TSIG error, on a reply
                // that echoes the question.
                let meta = reply_meta(&msg, ResponseCode::NoError, false);
                let base = self.encode(&meta, &msg.queries, &msg, &[], TCP_MAX).0;
                return Handled::Reply(e.reply(&base, now.wall));
            }
        };
        let req = Request { msg, transport, signed };
        match req.msg.metadata.op_code {
            OpCode::Query => self.query(now, src, &req, request),
            OpCode::Update => match update::handle(&self.zones, req.signed.as_ref(), &req.msg, src, now.wall) {
                update::Outcome::Reply(r) => Handled::Reply(r),
                update::Outcome::Commit(p) => Handled::Update(p),
            },
            OpCode::Notify => match notify::incoming(req.signed.as_ref(), &req.msg, now.wall) {
                notify::Incoming::Accepted { zone, reply } => Handled::Notified { zone, reply },
                notify::Incoming::Reply(r) => Handled::Reply(r),
            },
            _ => Handled::Reply(header_error(request, ResponseCode::NotImp, true)),
        }
    }

    /// Completes an update after the git push (see `update.rs`): swaps in the zone
    /// (recording the change in [`Server::history`] for IXFR) and answers NOERROR, or
    /// drops it and answers SERVFAIL (RFC 2136 §3.5 wants the change durable before
    /// the reply).
    pub fn finish_update(&mut self, pending: Pending, pushed_ok: bool) -> Vec<u8> {
        let (reply, zone) = update::finish(pending, pushed_ok);
        if let Some(zone) = zone {
            let new = Arc::new(zone);
            if let Some(old) = self.zones.replace(new.clone()) {
                self.history.record(&old, &new);
            }
        }
        reply
    }

    /// The structural checks that end in an error reply.
    fn precheck(&self, raw: &[u8], msg: &Message) -> Option<Vec<u8>> {
        let qd = msg.queries.len();
        let probe = qd == 0
            && msg.answers.is_empty()
            && msg.authorities.is_empty()
            && msg.additionals.is_empty()
            && msg.edns.is_some();
        if qd == 0 && msg.edns.as_ref().is_some_and(|e| e.version() > 0) {
            // NSD: no question to answer BADVERS about; FORMERR, no flags.
            let mut h = header_error(raw, ResponseCode::FormErr, false);
            h[2] &= 0xf8;
            return Some(h);
        }
        if probe {
            // An EDNS probe without a question: NSD answers NOERROR with its OPT.
            return Some(self.encode(&reply_meta(msg, ResponseCode::NoError, false), &[], msg, &[], TCP_MAX).0);
        }
        if qd == 0 {
            return Some(header_error(raw, ResponseCode::FormErr, false));
        }
        // A query carries RCODE 0 (RFC 1035 §4.1.1 defines it for responses); NSD
        // answers any other with FORMERR.
        if msg.metadata.op_code == OpCode::Query && raw[3] & 0x0f != 0 {
            return Some(header_error(raw, ResponseCode::FormErr, false));
        }
        if qd > 1 {
            let mut h = header_error(raw, ResponseCode::FormErr, false);
            h[2] &= 0xf8; // nothing but QR and opcode
            return Some(h);
        }
        let ixfr = msg.queries[0].query_type() == RecordType::IXFR;
        if msg.metadata.op_code == OpCode::Query && (!msg.answers.is_empty() || (!ixfr && !msg.authorities.is_empty()))
        {
            return Some(header_error(raw, ResponseCode::FormErr, false));
        }
        if msg.edns.as_ref().is_some_and(|e| e.version() > 0) {
            // RFC 6891 §6.1.3: BADVERS (16: extended rcode 1 in our OPT, header 0),
            // our OPT at version 0. As NSD writes it: the question, no AA, no DO.
            let meta = reply_meta(msg, ResponseCode::BADVERS, false);
            let mut m = self.message(&meta, &msg.queries, &[]);
            let mut e = self.our_edns(&Edns::new());
            e.set_rcode_high(ResponseCode::BADVERS.high());
            m.edns = Some(e);
            return Some(m.to_vec().unwrap_or_else(|_| header_error(raw, ResponseCode::ServFail, false)));
        }
        None
    }

    /// Whether `qname` falls in an [`Server::unavailable`] zone rather than
    /// in a served zone below it.
    fn is_unavailable(&self, qname: &Name) -> bool {
        let Some(closest) = self.unavailable.iter().filter(|u| u.zone_of(qname)).map(Name::num_labels).max() else {
            return false;
        };
        self.zones.find(qname).is_none_or(|z| z.origin().num_labels() < closest)
    }

    /// Answers a QUERY; a signed request gets a signed reply (RFC 8945 §5.3).
    fn query(&mut self, now: Now, src: SocketAddr, req: &Request, raw: &[u8]) -> Handled {
        let q = &req.msg.queries[0];
        let xfr = match q.query_type() {
            RecordType::IXFR => true,
            RecordType::AXFR => req.transport == Transport::Tcp,
            _ => false,
        };
        if xfr && q.query_class() == DNSClass::IN {
            // xfr.rs checks the privilege and signs its own messages.
            return xfr::answer(
                &self.zones,
                &self.history,
                req.signed.as_ref(),
                &req.msg,
                req.transport,
                self.options.axfr_unsigned,
                now.wall,
            );
        }
        match (self.query_unsigned(now, src, req, raw), &req.signed) {
            (Handled::Reply(r), Some(signed)) => Handled::Reply(tsig::sign_response(signed, &r, now.wall)),
            (h, _) => h,
        }
    }

    fn query_unsigned(&mut self, now: Now, src: SocketAddr, req: &Request, raw: &[u8]) -> Handled {
        let msg = &req.msg;
        let q = &msg.queries[0];
        let limit = self.limit(req);
        match q.query_class() {
            // QCLASS ANY (RFC 1035 §3.2.5) matches our IN data; answered below.
            DNSClass::IN | DNSClass::ANY => {}
            DNSClass::CH => return Handled::Reply(self.chaos(msg, q, limit)),
            // NONE (RFC 2136 §2.4, only meaningful in UPDATE), HS, others: NSD refuses
            // with the header alone, flags echoed, and our OPT if there was one.
            _ => {
                let mut reply = header_error(raw, ResponseCode::Refused, true);
                if let Some(e) = &msg.edns {
                    reply[10..12].copy_from_slice(&1u16.to_be_bytes());
                    reply.extend_from_slice(&self.opt_rr(e));
                }
                return Handled::Reply(reply);
            }
        }
        let qtype = q.query_type();
        if qtype == RecordType::AXFR && req.transport == Transport::Udp {
            // RFC 5936 §4.2: AXFR is TCP only; NSD answers NOTIMP.
            let meta = reply_meta(msg, ResponseCode::NotImp, false);
            return Handled::Reply(self.encode(&meta, &msg.queries, msg, &[], limit).0);
        }
        if self.is_unavailable(q.name()) {
            let meta = reply_meta(msg, ResponseCode::ServFail, false);
            return Handled::Reply(self.encode(&meta, &msg.queries, msg, &[], limit).0);
        }
        let dnssec_ok = msg.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let res = query::resolve(&self.zones, q.name(), qtype, dnssec_ok);
        if self.options.rrl.enabled() && req.transport == Transport::Udp {
            match self.rrl.check(now.mono, src.ip(), &rrl_key(&res, q)) {
                rrl::Verdict::Send => {}
                rrl::Verdict::Drop => return Handled::Drop,
                rrl::Verdict::Slip => {
                    let mut meta = reply_meta(msg, res.rcode, res.aa);
                    meta.truncation = true;
                    return Handled::Reply(self.encode(&meta, &msg.queries, msg, &[], limit).0);
                }
            }
        }
        let mut res = res;
        if q.query_class() == DNSClass::ANY {
            class_any(&mut res);
        }
        respell(&mut res, q.name());
        Handled::Reply(self.answer_bytes(msg, &res, limit))
    }

    /// The largest reply the client can take, less the room its TSIG will need.
    fn limit(&self, req: &Request) -> usize {
        self.transport_limit(req).saturating_sub(req.signed.as_ref().map_or(0, tsig_space))
    }

    fn transport_limit(&self, req: &Request) -> usize {
        match req.transport {
            Transport::Tcp => TCP_MAX,
            Transport::Udp => match &req.msg.edns {
                Some(e) if usize::from(e.max_payload()) > UDP_PLAIN => {
                    usize::from(e.max_payload().min(self.options.udp_size)).max(UDP_PLAIN)
                }
                _ => UDP_PLAIN,
            },
        }
    }

    fn answer_bytes(&self, msg: &Message, res: &Resolution, limit: usize) -> Vec<u8> {
        let meta = reply_meta(msg, res.rcode, res.aa);
        let mut sets: Vec<(Section, &[Record])> = Vec::new();
        sets.extend(res.answer.iter().map(|s| (Section::Answer, s.as_slice())));
        sets.extend(res.authority.iter().map(|s| (Section::Authority, s.as_slice())));
        sets.extend(res.additional.iter().map(|s| (Section::Additional, s.as_slice())));
        let (full, fits) = self.encode(&meta, &msg.queries, msg, &sets, limit);
        if fits {
            return full;
        }
        // The size grows with every rrset: find the longest prefix that fits.
        let (mut lo, mut hi) = (0usize, sets.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.encode(&meta, &msg.queries, msg, &sets[..mid], limit).1 {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let mut meta = meta;
        // RFC 2181 §9: TC only when answer or authority data had to go, or (RFC 9471
        // §3.1) the in-domain glue of a referral, the first `res.glue` additional sets.
        let mandatory = res.answer.len() + res.authority.len() + res.glue;
        meta.truncation = lo < mandatory;
        // Like NSD, stop at the first rrset that doesn't fit, in section order.
        self.encode(&meta, &msg.queries, msg, &sets[..lo], limit).0
    }

    /// CHAOS (class CH) queries: TXT (or ANY) at `version.bind`/`version.server` and
    /// `id.server`/`hostname.bind` (RFC 4892 §2) tell [`Options::version`] and
    /// [`Options::identity`], with TTL 0 and no AA, as NSD writes them; anything else,
    /// or a hidden answer, is REFUSED with the question.
    fn chaos(&self, msg: &Message, q: &Query, limit: usize) -> Vec<u8> {
        let lower = q.name().to_lowercase().to_ascii();
        let text = match lower.as_str() {
            "version.bind." | "version.server." => self.options.version.as_ref(),
            "id.server." | "hostname.bind." => self.options.identity.as_ref(),
            _ => None,
        };
        let wanted = matches!(q.query_type(), RecordType::TXT | RecordType::ANY);
        let Some(text) = text.filter(|_| wanted) else {
            let meta = reply_meta(msg, ResponseCode::Refused, false);
            return self.encode(&meta, &msg.queries, msg, &[], limit).0;
        };
        let mut record = Record::from_rdata(q.name().clone(), 0, RData::TXT(TXT::new(vec![text.clone()])));
        record.dns_class = DNSClass::CH;
        let meta = reply_meta(msg, ResponseCode::NoError, false);
        let records = [record];
        self.encode(&meta, &msg.queries, msg, &[(Section::Answer, &records[..])], limit).0
    }

    /// A response message with `sets`, without OPT.
    fn message(&self, meta: &Metadata, queries: &[Query], sets: &[(Section, &[Record])]) -> Message {
        let mut m = Message::new(meta.id, MessageType::Response, meta.op_code);
        m.metadata = *meta;
        m.queries = queries.to_vec();
        for (section, set) in sets {
            let list = match section {
                Section::Answer => &mut m.answers,
                Section::Authority => &mut m.authorities,
                Section::Additional => &mut m.additionals,
            };
            list.extend(set.iter().cloned());
        }
        m
    }

    /// Encodes a reply; the bool says whether it fits in `limit`.
    fn encode(
        &self,
        meta: &Metadata,
        queries: &[Query],
        req: &Message,
        sets: &[(Section, &[Record])],
        limit: usize,
    ) -> (Vec<u8>, bool) {
        let mut m = self.message(meta, queries, sets);
        if let Some(e) = &req.edns {
            m.edns = Some(self.our_edns(e));
        }
        match m.to_vec() {
            Ok(bytes) => {
                let fits = bytes.len() <= limit;
                (bytes, fits)
            }
            // Only oversized data gets here; answer with the bare header instead.
            Err(_) => (header_error(&header_bytes(meta), ResponseCode::ServFail, true), false),
        }
    }

    /// Our OPT RR (RFC 6891 §6.1.2) in wire form, for replies built from bytes: root
    /// owner, type 41, our payload size, extended rcode and version 0, DO echoed, no
    /// options.
    fn opt_rr(&self, theirs: &Edns) -> [u8; 11] {
        let [s0, s1] = self.options.udp_size.to_be_bytes();
        let flags = if theirs.flags().dnssec_ok { 0x80 } else { 0 };
        [0, 0, 41, s0, s1, 0, 0, flags, 0, 0, 0]
    }

    fn our_edns(&self, theirs: &Edns) -> Edns {
        let mut e = Edns::new();
        e.set_max_payload(self.options.udp_size);
        e.set_version(0);
        e.set_dnssec_ok(theirs.flags().dnssec_ok);
        e
    }
}

/// Adjusts an IN answer for QCLASS ANY as NSD does. An answer for class ANY can't be
/// authoritative (it would have to cover every class, RFC 1034 §6.2.3): AA is clear,
/// except on a referral reached through a CNAME of ours (which keeps the AA of the
/// CNAME); and negative answers carry no SOA (which would say "no data in any class").
fn class_any(res: &mut Resolution) {
    let rtype = |s: &Vec<Record>| s.first().map(Record::record_type);
    let referral = res.authority.first().and_then(rtype) == Some(RecordType::NS);
    res.aa &= referral && !res.answer.is_empty();
    res.authority.retain(|s| rtype(s) != Some(RecordType::SOA));
}

/// The RRL account of an answer: RFC-less, following BIND/NSD's design of keying
/// positive answers by (qname, qtype), negative ones by zone, and errors together.
fn rrl_key(res: &Resolution, q: &Query) -> rrl::Key {
    let kind = match res.rcode {
        ResponseCode::NoError if !res.answer.is_empty() => rrl::Kind::Answer,
        ResponseCode::NoError | ResponseCode::NXDomain => rrl::Kind::Negative,
        _ => rrl::Kind::Error,
    };
    let name = match kind {
        rrl::Kind::Answer => q.name().to_lowercase(),
        // Negative answers: one account per zone, whose SOA is in authority.
        rrl::Kind::Negative => res
            .authority
            .first()
            .and_then(|s| s.first())
            .map(|r| r.name.to_lowercase())
            .unwrap_or_else(|| q.name().to_lowercase()),
        rrl::Kind::Error => hickory_proto::rr::Name::root(),
    };
    rrl::Key { kind, name, qtype: u16::from(q.query_type()) }
}

/// Spells every name like the first earlier name (the question first) that shares a
/// suffix with it, ignoring case. Our encoder compresses only byte-equal names; NSD
/// compresses names equal without case (RFC 1035 §4.1.4 leaves it open), which makes its
/// replies smaller and spells such names like the question. Respelling gives both the
/// same size (so the same truncation) and the same letters.
fn respell(res: &mut Resolution, qname: &Name) {
    let mut seen: Vec<Name> = vec![qname.clone()];
    let sets = res.answer.iter_mut().chain(res.authority.iter_mut()).chain(res.additional.iter_mut());
    for r in sets.flatten() {
        spell(&mut r.name, &mut seen);
        // Only these rdata names are compressed (RFC 3597 §4).
        match &mut r.data {
            RData::NS(n) => spell(&mut n.0, &mut seen),
            RData::CNAME(n) => spell(&mut n.0, &mut seen),
            RData::PTR(n) => spell(&mut n.0, &mut seen),
            RData::MX(mx) => spell(&mut mx.exchange, &mut seen),
            RData::SOA(soa) => {
                spell(&mut soa.mname, &mut seen);
                spell(&mut soa.rname, &mut seen);
            }
            _ => {}
        }
    }
}

/// Respells the longest suffix of `name` that an earlier name has, then remembers it.
fn spell(name: &mut Name, seen: &mut Vec<Name>) {
    if let Some(spelled) = respelled(name, seen) {
        *name = spelled;
    }
    seen.push(name.clone());
}

fn respelled(name: &Name, seen: &[Name]) -> Option<Name> {
    let own: Vec<&[u8]> = name.iter().rev().collect();
    for k in (1..=own.len()).rev() {
        let matches = |s: &&Name| {
            s.iter().count() >= k && s.iter().rev().take(k).zip(&own).all(|(a, b)| a.eq_ignore_ascii_case(b))
        };
        let Some(s) = seen.iter().find(matches) else { continue };
        if s.iter().rev().take(k).zip(&own).all(|(a, b)| a == *b) {
            return None;
        }
        let skip = s.iter().count() - k;
        let labels: Vec<&[u8]> = name.iter().take(own.len() - k).chain(s.iter().skip(skip)).collect();
        let mut spelled = Name::from_labels(labels).ok()?;
        spelled.set_fqdn(true);
        return Some(spelled);
    }
    None
}

/// Bytes a TSIG RR adds (RFC 8945 §4.2): owner, fixed RR fields (10), algorithm
/// name, time (6), fudge, MAC size, MAC, original id, error, other length (2 each).
fn tsig_space(s: &Signed) -> usize {
    let name = s.key.name.to_ascii().len() + 2;
    let algorithm = s.key.algorithm.name().len() + 1;
    name + 10 + algorithm + 6 + 2 + 2 + s.key.algorithm.mac_len() + 2 + 2 + 2 + 6
}

/// Reply metadata: QR, the request's id, opcode and RD; AD and CD clear.
fn reply_meta(req: &Message, rcode: ResponseCode, aa: bool) -> Metadata {
    let mut m = Metadata::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
    m.recursion_desired = req.metadata.recursion_desired;
    m.authoritative = aa;
    m.response_code = rcode;
    m
}

fn header_bytes(meta: &Metadata) -> Vec<u8> {
    let mut h = vec![0u8; HEADER];
    h[..2].copy_from_slice(&meta.id.to_be_bytes());
    h[2] = (u8::from(meta.op_code) & 0x0f) << 3 | u8::from(meta.recursion_desired);
    h
}

/// An error reply of just the header, counts zero (what NSD sends for NOTIMP and
/// FORMERR). `keep_flags`: echo the request's flags (NOTIMP) or keep only RD (FORMERR).
fn header_error(req: &[u8], rcode: ResponseCode, keep_flags: bool) -> Vec<u8> {
    let mut h = vec![0u8; HEADER];
    h[..4].copy_from_slice(&req[..4]);
    if !keep_flags {
        h[2] &= 0x78 | 0x01; // opcode and RD
        h[3] = 0;
    }
    h[2] |= 0x80; // QR
    h[3] = (h[3] & 0xd0) | (rcode.low() & 0x0f); // AD cleared, RCODE set
    h
}
