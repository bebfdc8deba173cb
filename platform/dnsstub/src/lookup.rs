//! One lookup of a host name's addresses, sans-IO: the caller sends what
//! [`Lookup::poll_transmit`] gives, feeds back what arrives and calls
//! [`Lookup::handle_timeout`] at [`Lookup::poll_timeout`]; the answer comes out
//! of [`Lookup::poll_result`].
//!
//! Behaviour of a stub resolver (RFC 1035 §7): A and AAAA are asked at the same
//! time, each in its own query (RFC 1035 §4.1.2 allows one question per
//! message in practice); each server is asked `attempts` times, `timeout`
//! apart, then the next one is tried; SERVFAIL, REFUSED and other errors also
//! move on to the next server (§7.2), while NXDOMAIN is an authoritative "no"
//! and ends the lookup. A reply is accepted only if it comes from the address
//! and port the query went to and matches its ID, question name (in any case),
//! type and class (RFC 5452 §9.1); anything else is dropped and counted. A
//! truncated reply (TC=1) makes that query go again over TCP (RFC 7766 §5).

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use sansio::{Datagram, Driver, Duration, Instant};

use crate::wire::{self, Data, Name, Reply};

/// How long and how often to ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Wait this long for a reply before asking again.
    pub timeout: Duration,
    /// Queries to one server before the next is tried (RFC 1035 §7.2 wants at
    /// least one retransmission).
    pub attempts: u32,
    /// Most CNAMEs followed inside one answer.
    pub max_cnames: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config { timeout: Duration::from_secs(2), attempts: 2, max_cnames: 8 }
    }
}

/// What the caller sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// A query datagram, from the lookup's own UDP socket.
    Udp(Datagram),
    /// A query to send over a new TCP connection (the caller adds the 2-octet
    /// length of RFC 1035 §4.2.2), answered with [`Lookup::handle_tcp_reply`]
    /// or [`Lookup::handle_tcp_failed`].
    Tcp(Datagram),
}

/// Why a lookup failed. The texts are meant for an operator's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not a host name we can ask for.
    BadName(String),
    NoServers,
    /// The name does not exist (RCODE 3).
    NxDomain {
        server: SocketAddr,
    },
    /// The name exists but has neither A nor AAAA records.
    NoAddresses {
        server: SocketAddr,
    },
    /// The answer's CNAME chain was longer than [`Config::max_cnames`].
    LongChain {
        server: SocketAddr,
    },
    /// No server gave an answer; why, server by server.
    NoAnswer(Vec<String>),
    /// The caller could not do I/O (no socket).
    Io(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadName(why) => write!(f, "not a host name: {why}"),
            Error::NoServers => write!(f, "no DNS server given (--dns-server=)"),
            Error::NxDomain { server } => write!(f, "no such name (NXDOMAIN from {server})"),
            Error::NoAddresses { server } => write!(f, "no A or AAAA records (answer from {server})"),
            Error::LongChain { server } => write!(f, "CNAME chain too long (answer from {server})"),
            Error::NoAnswer(why) => write!(f, "no DNS server answered: {}", why.join("; ")),
            Error::Io(why) => write!(f, "DNS lookup failed: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// A lookup's answer: the addresses, A before AAAA (our stacks are set up
/// with IPv4 first; the caller tries them in turn), and how long they may be
/// kept (the smallest TTL of the records used, RFC 2181 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub addresses: Vec<IpAddr>,
    pub ttl: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Sent over UDP, waiting.
    Udp,
    /// Handed to the caller for TCP, waiting.
    Tcp,
    /// Answered: these addresses (maybe none: NODATA), this TTL.
    Done(Vec<IpAddr>, u32),
}

/// One of the two queries (A, AAAA).
#[derive(Clone, Debug)]
struct Part {
    qtype: u16,
    id: u16,
    state: State,
}

/// A lookup in progress. See the module docs.
#[derive(Debug)]
pub struct Lookup {
    name: Name,
    servers: Vec<SocketAddr>,
    config: Config,
    /// Index into `servers` of the one being asked.
    server: usize,
    /// Queries sent to it so far (per part, counted together).
    sent: u32,
    deadline: Option<Instant>,
    parts: [Part; 2],
    out: VecDeque<Transmit>,
    /// Why each server given up on failed.
    failures: Vec<String>,
    result: Option<Result<Answer, Error>>,
    /// Replies dropped: unreadable, from elsewhere, or not matching a query.
    pub dropped: u64,
}

impl Lookup {
    /// Starts a lookup of `name`; `ids` are the query IDs for A and AAAA, which
    /// the caller draws from its entropy (RFC 5452 §4.3: unpredictable IDs).
    pub fn new(now: Instant, name: Name, servers: &[SocketAddr], config: Config, ids: [u16; 2]) -> Lookup {
        let parts = [
            Part { qtype: wire::TYPE_A, id: ids[0], state: State::Udp },
            Part { qtype: wire::TYPE_AAAA, id: ids[1], state: State::Udp },
        ];
        let mut l = Lookup {
            name,
            servers: servers.to_vec(),
            config,
            server: 0,
            sent: 0,
            deadline: None,
            parts,
            out: VecDeque::new(),
            failures: Vec::new(),
            result: None,
            dropped: 0,
        };
        if l.servers.is_empty() {
            l.result = Some(Err(Error::NoServers));
        } else {
            l.send_udp(now);
        }
        l
    }

    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The outcome, once there is one (then nothing more is sent).
    pub fn poll_result(&mut self) -> Option<Result<Answer, Error>> {
        self.result.take()
    }

    fn current(&self) -> SocketAddr {
        self.servers[self.server]
    }

    /// (Re)sends every part still waiting on UDP to the current server.
    fn send_udp(&mut self, now: Instant) {
        let dst = self.current();
        for p in &self.parts {
            if p.state == State::Udp {
                self.out.push_back(Transmit::Udp(Datagram { dst, payload: wire::query(p.id, &self.name, p.qtype) }));
            }
        }
        self.sent += 1;
        self.deadline = Some(now + self.config.timeout);
    }

    /// A datagram arrived on the lookup's socket.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, payload: &[u8]) {
        if self.result.is_some() || self.deadline.is_none() || from != self.current() {
            self.dropped += 1;
            return;
        }
        self.handle_reply(now, payload, State::Udp);
    }

    /// The reply that came over the TCP connection to `from`.
    pub fn handle_tcp_reply(&mut self, now: Instant, from: SocketAddr, payload: &[u8]) {
        if self.result.is_some() || self.deadline.is_none() || from != self.current() {
            self.dropped += 1;
            return;
        }
        self.handle_reply(now, payload, State::Tcp);
    }

    /// The TCP exchange with `from` failed (refused, reset, timed out): that
    /// server has failed.
    pub fn handle_tcp_failed(&mut self, now: Instant, from: SocketAddr, why: &str) {
        if self.result.is_some() || self.deadline.is_none() || from != self.current() {
            return;
        }
        if self.parts.iter().any(|p| p.state == State::Tcp) {
            self.next_server(now, format!("{from}: over TCP: {why}"));
        }
    }

    /// A reply to a part in `waiting` state: checks it matches (RFC 5452 §9.1),
    /// then acts on it.
    fn handle_reply(&mut self, now: Instant, payload: &[u8], waiting: State) {
        let Ok(reply) = Reply::parse(payload) else {
            self.dropped += 1;
            return;
        };
        let Some(i) = self.parts.iter().position(|p| p.state == waiting && p.id == reply.id) else {
            self.dropped += 1;
            return;
        };
        let qtype = self.parts[i].qtype;
        let question_matches =
            matches!(&reply.questions[..], [(n, t, c)] if *n == self.name && *t == qtype && *c == wire::CLASS_IN);
        if !reply.qr || reply.opcode != 0 || !question_matches {
            self.dropped += 1;
            return;
        }
        let server = self.current();
        if reply.tc && waiting == State::Udp {
            self.parts[i].state = State::Tcp;
            let payload = wire::query(self.parts[i].id, &self.name, qtype);
            self.out.push_back(Transmit::Tcp(Datagram { dst: server, payload }));
            return;
        }
        match reply.rcode {
            wire::RCODE_NOERROR => {}
            wire::RCODE_NXDOMAIN => {
                self.finish(Err(Error::NxDomain { server }));
                return;
            }
            rcode => {
                let what = match rcode {
                    wire::RCODE_SERVFAIL => "server failure (SERVFAIL)".to_string(),
                    wire::RCODE_REFUSED => "refused (REFUSED)".to_string(),
                    other => format!("error RCODE {other}"),
                };
                self.next_server(now, format!("{server}: {what}"));
                return;
            }
        }
        match follow_chain(&self.name, qtype, &reply.answers, self.config.max_cnames) {
            Some((addresses, ttl)) => self.parts[i].state = State::Done(addresses, ttl),
            None => {
                self.finish(Err(Error::LongChain { server }));
                return;
            }
        }
        self.maybe_done(server);
    }

    /// Both parts answered: the result.
    fn maybe_done(&mut self, server: SocketAddr) {
        let mut addresses = Vec::new();
        let mut ttl = u32::MAX;
        for p in &self.parts {
            let State::Done(a, t) = &p.state else { return };
            if !a.is_empty() {
                addresses.extend_from_slice(a);
                ttl = ttl.min(*t);
            }
        }
        if addresses.is_empty() {
            self.finish(Err(Error::NoAddresses { server }));
        } else {
            self.finish(Ok(Answer { addresses, ttl }));
        }
    }

    fn finish(&mut self, result: Result<Answer, Error>) {
        self.result = Some(result);
        self.deadline = None;
        self.out.clear();
    }

    /// Gives up on the current server; asks the next for what is unanswered.
    fn next_server(&mut self, now: Instant, why: String) {
        self.failures.push(why);
        self.server += 1;
        if self.server >= self.servers.len() {
            let failures = std::mem::take(&mut self.failures);
            self.finish(Err(Error::NoAnswer(failures)));
            return;
        }
        for p in &mut self.parts {
            if !matches!(p.state, State::Done(..)) {
                p.state = State::Udp;
            }
        }
        self.sent = 0;
        self.send_udp(now);
    }
}

/// The addresses of `qtype` for `name` in `answers`, following CNAMEs (at
/// most `max` of them) from `name` (RFC 1034 §3.6.2, §5.3.3), and the
/// smallest TTL on the way; `None` if the chain is longer. A chain that ends
/// without addresses (NODATA, or a target outside the answer) gives none.
fn follow_chain(name: &Name, qtype: u16, answers: &[wire::Record], max: usize) -> Option<(Vec<IpAddr>, u32)> {
    let mut current = name.clone();
    let mut ttl = u32::MAX;
    for _ in 0..=max {
        let mut found = Vec::new();
        for r in answers.iter().filter(|r| r.owner == current && r.rtype == qtype && r.class == wire::CLASS_IN) {
            match r.data {
                Data::A(a) => found.push(IpAddr::V4(a)),
                Data::Aaaa(a) => found.push(IpAddr::V6(a)),
                _ => continue,
            }
            ttl = ttl.min(r.ttl);
        }
        if !found.is_empty() {
            return Some((found, ttl));
        }
        let cname = answers.iter().find_map(|r| match &r.data {
            Data::Cname(target) if r.owner == current && r.class == wire::CLASS_IN => Some((target.clone(), r.ttl)),
            _ => None,
        });
        match cname {
            Some((target, t)) => {
                ttl = ttl.min(t);
                current = target;
            }
            None => return Some((Vec::new(), 0)),
        }
    }
    None
}

impl Driver for Lookup {
    type Transmit = Transmit;

    fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.deadline else { return };
        if now < deadline || self.result.is_some() {
            return;
        }
        if !self.parts.iter().any(|p| p.state == State::Udp) {
            // Only TCP is outstanding: the caller bounds that exchange itself
            // and reports its failure.
            self.deadline = Some(now + self.config.timeout);
            return;
        }
        if self.sent < self.config.attempts {
            self.send_udp(now);
        } else {
            let why = format!(
                "{}: no reply to {} queries {} ms apart",
                self.current(),
                self.sent,
                self.config.timeout.as_millis()
            );
            self.next_server(now, why);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }
}
