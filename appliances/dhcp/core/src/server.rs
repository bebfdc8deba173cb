//! The DHCPv4 server state machine (RFC 2131 §4.3), sans-IO.
//!
//! [`Server::respond`] takes a decoded request and the wall-clock time and
//! returns what to do: a reply and where to send it, and the record that
//! must be durable *before* the reply goes out (an ACK), if any. The wiring
//! drives the server through the shared verbs instead ([`crate::driver`]),
//! which queue these outcomes as transmits and keep the probe timers.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode};

use sansio::UnixTime;

use crate::config::{Config, Probe, Subnet};
use crate::driver::DriveState;
use crate::leases::{ClientKey, Lease, State, Table, client_key};
use crate::record::Record;
use crate::wire::{OPTION_IPV6_ONLY, Request, encode_reply};

/// Which link-layer address a reply frame goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkDest {
    /// ff:ff:ff:ff:ff:ff
    Broadcast,
    /// The client's hardware address from `chaddr`.
    Chaddr,
    /// The source MAC of the request frame (a relay, or a router in front of
    /// a renewing client).
    Sender,
}

/// Where a reply goes (RFC 2131 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub link: LinkDest,
}

/// A reply ready to frame.
#[derive(Clone, Debug)]
pub struct Reply {
    pub kind: MessageType,
    pub payload: Vec<u8>,
    pub to: Destination,
    /// The address offered or acknowledged (unspecified for NAK/INFORM).
    pub yiaddr: Ipv4Addr,
}

/// What handling one request produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub reply: Option<Reply>,
    /// Must be durable before `reply` is sent.
    pub record: Option<Record>,
    /// Why nothing was sent, or what happened, for the log (debug level).
    pub note: Option<String>,
    /// Send `reply` (an OFFER) only after probing this address (`--probe`)
    /// found nobody using it. When somebody answers, report it with
    /// [`Server::claimed`] and handle the request again: the next candidate
    /// is chosen ([`Server::handle_arp_claim`] does both).
    pub probe: Option<Ipv4Addr>,
}

impl Outcome {
    fn note(s: impl Into<String>) -> Outcome {
        Outcome { note: Some(s.into()), ..Outcome::default() }
    }
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub discover: u64,
    pub request: u64,
    pub release: u64,
    pub decline: u64,
    pub inform: u64,
    pub offer: u64,
    pub ack: u64,
    pub nak: u64,
    pub ignored: u64,
    pub exhausted: u64,
    /// Addresses probed before an offer, and those found in use.
    pub probed: u64,
    pub claimed: u64,
}

/// The server: configuration, lease table, counters, and the driving state
/// of [`crate::driver`].
#[derive(Clone, Debug)]
pub struct Server {
    cfg: Config,
    table: Table,
    stats: Stats,
    pub(crate) drive: DriveState,
}

/// RFC 2131 §4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease.
fn t1_t2(lease: u32) -> (u32, u32) {
    if lease == u32::MAX { (u32::MAX, u32::MAX) } else { (lease / 2, (u64::from(lease) * 7 / 8) as u32) }
}

impl Server {
    pub fn new(cfg: Config) -> Server {
        let table = Table::new(cfg.pools.len());
        Server { cfg, table, stats: Stats::default(), drive: DriveState::default() }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn table(&self) -> &Table {
        &self.table
    }
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Applies a replayed record.
    pub fn replay(&mut self, r: &Record) {
        self.table.apply(r);
    }

    /// Housekeeping: lapsed offers return to the pool.
    pub fn expire_offers(&mut self, now: UnixTime) {
        self.table.expire_offers(now.as_secs());
    }

    /// Whether any address is offered (and so may lapse).
    pub(crate) fn has_offers(&self) -> bool {
        self.table.iter().any(|l| l.state == State::Offered)
    }

    /// The subnet the client is on: the relay's (giaddr), else that of
    /// `ciaddr` when the client says it has one, else our own link.
    fn link_subnet(&self, req: &Request) -> Option<Subnet> {
        let giaddr = req.msg.giaddr();
        if !giaddr.is_unspecified() {
            return self.cfg.subnet_of(giaddr);
        }
        Some(self.cfg.local)
    }

    fn pools_in(&self, subnet: Subnet) -> Vec<usize> {
        (0..self.cfg.pools.len()).filter(|&i| self.cfg.pools[i].subnet == subnet).collect()
    }

    fn lease_secs(&self, addr: Ipv4Addr, req: &Request) -> u32 {
        let configured =
            self.cfg.pools.iter().find(|p| p.contains(addr)).map_or(self.cfg.default_lease_secs, |p| p.lease_secs);
        // RFC 2131 §4.3.1: a client may ask for a lease time (option 51); we
        // grant a shorter one than configured, never a longer one.
        match req.msg.opts().get(dhcproto::v4::OptionCode::AddressLeaseTime) {
            Some(DhcpOption::AddressLeaseTime(t)) if *t >= crate::config::MIN_LEASE_SECS => configured.min(*t),
            _ => configured,
        }
    }

    /// Whether the client may have `addr` on `subnet` (in a pool there or its reservation).
    fn acceptable(
        &self,
        addr: Ipv4Addr,
        subnet: Subnet,
        client: &[u8],
        reservation: Option<Ipv4Addr>,
        now: u64,
    ) -> bool {
        if !subnet.contains(addr) {
            return false;
        }
        let in_pool = self.cfg.pools.iter().any(|p| p.subnet == subnet && p.contains(addr));
        let reserved_here = reservation == Some(addr);
        (in_pool || reserved_here) && self.table.usable_for(&self.cfg, addr, client, reserved_here, now)
    }

    /// Decides the answer to one request at wall-clock time `now`.
    pub fn respond(&mut self, req: &Request, now: UnixTime) -> Outcome {
        let now = now.as_secs();
        let Some(kind) = req.msg.opts().msg_type() else {
            self.stats.ignored += 1;
            return Outcome::note("BOOTP request without a DHCP message type");
        };
        let client = client_key(req.client_id(), u8::from(req.msg.htype()), req.chaddr());
        let out = match kind {
            MessageType::Discover => {
                self.stats.discover += 1;
                self.discover(req, &client, now)
            }
            MessageType::Request => {
                self.stats.request += 1;
                self.request(req, &client, now)
            }
            MessageType::Decline => {
                self.stats.decline += 1;
                self.decline(req, &client, now)
            }
            MessageType::Release => {
                self.stats.release += 1;
                self.release(req, &client, now)
            }
            MessageType::Inform => {
                self.stats.inform += 1;
                self.inform(req)
            }
            other => Outcome::note(format!("ignoring {other:?}")),
        };
        match out.reply.as_ref().map(|r| r.kind) {
            Some(MessageType::Offer) => self.stats.offer += 1,
            Some(MessageType::Ack) => self.stats.ack += 1,
            Some(MessageType::Nak) => self.stats.nak += 1,
            _ if out.record.is_none() => self.stats.ignored += 1,
            _ => {}
        }
        out
    }

    /// RFC 2131 §4.3.1.
    fn discover(&mut self, req: &Request, client: &ClientKey, now: u64) -> Outcome {
        let Some(subnet) = self.link_subnet(req) else {
            return Outcome::note(format!("no subnet for relay {}", req.msg.giaddr()));
        };
        let reservation =
            self.cfg.host_for(req.client_id(), req.chaddr()).map(|h| h.addr).filter(|a| subnet.contains(*a));
        let mut choice = None;
        // 1. The client's reservation; 2. its current or previous address;
        // 3. the address it asks for; 4. a free one.
        if let Some(a) = reservation
            && self.table.usable_for(&self.cfg, a, client, true, now)
        {
            choice = Some(a);
        }
        if choice.is_none()
            && reservation.is_none()
            && let Some(l) = self.table.of_client(client)
            && self.acceptable(l.addr, subnet, client, None, now)
        {
            choice = Some(l.addr);
        }
        if choice.is_none()
            && reservation.is_none()
            && let Some(a) = req.requested_ip()
            && self.acceptable(a, subnet, client, None, now)
        {
            choice = Some(a);
        }
        if choice.is_none() {
            let pools = self.pools_in(subnet);
            choice = self.table.allocate(&self.cfg, &pools, client, now);
        }
        let Some(addr) = choice else {
            self.stats.exhausted += 1;
            return Outcome::note(format!("no free address in {subnet}"));
        };
        let held =
            self.table.get(addr).is_some_and(|l| l.client == *client && l.state == State::Bound && l.active(now));
        // Probe unless the client holds the address or it is already offered
        // to it (a retransmitted DISCOVER: probed then). Only the local link
        // can be probed by ARP.
        let offered =
            self.table.get(addr).is_some_and(|l| l.client == *client && l.state == State::Offered && l.active(now));
        let probe = (self.cfg.probe == Probe::Arp && !held && !offered && subnet == self.cfg.local).then_some(addr);
        if !held {
            self.table.insert(Lease {
                addr,
                client: client.clone(),
                chaddr: req.chaddr().to_vec(),
                hostname: req.hostname(),
                expires: now + u64::from(self.cfg.offer_secs),
                state: State::Offered,
            });
        }
        let lease = self.lease_secs(addr, req);
        let mut out = self.reply(req, MessageType::Offer, addr, Some(lease), subnet);
        if out.reply.is_some() && probe.is_some() {
            self.stats.probed += 1;
            out.probe = probe;
        }
        out
    }

    /// A host with hardware address `sender` answered the probe of `addr`
    /// (see [`Outcome::probe`]): unless that is the client the address is
    /// offered to, the address is in use by someone unknown and is
    /// quarantined like a DECLINEd one. Returns the record to make durable.
    pub fn claimed(&mut self, addr: Ipv4Addr, sender: &[u8], now: UnixTime) -> Option<Record> {
        let now = now.as_secs();
        let l = self.table.get(addr)?;
        if l.state != State::Offered || l.chaddr == sender {
            return None;
        }
        self.stats.claimed += 1;
        let record = Record::Decline { addr, until: now + u64::from(self.cfg.quarantine_secs) };
        self.table.apply(&record);
        Some(record)
    }

    /// RFC 2131 §4.3.2: SELECTING, INIT-REBOOT, RENEWING and REBINDING.
    fn request(&mut self, req: &Request, client: &ClientKey, now: u64) -> Outcome {
        let ciaddr = req.msg.ciaddr();
        let requested = req.requested_ip();
        if let Some(sid) = req.server_id() {
            // SELECTING: the client answers an offer.
            if sid != self.cfg.server {
                self.table.withdraw_offer(client, now);
                return Outcome::note(format!("client chose server {sid}"));
            }
            let Some(addr) = requested.or((!ciaddr.is_unspecified()).then_some(ciaddr)) else {
                return Outcome::note("SELECTING request without a requested address");
            };
            let Some(subnet) = self.link_subnet(req) else {
                return Outcome::note("no subnet for relay");
            };
            let reservation = self.cfg.host_for(req.client_id(), req.chaddr()).map(|h| h.addr);
            if reservation.is_some_and(|r| r != addr && subnet.contains(r)) {
                return self.nak(req, "address differs from the client's reservation");
            }
            if !self.acceptable(addr, subnet, client, reservation, now) {
                return self.nak(req, "requested address is not available");
            }
            if reservation != Some(addr) && self.holds_other(client, addr, now) {
                return self.nak(req, "requested address is not the one offered to the client");
            }
            return self.bind(req, client, addr, subnet, now);
        }
        if let Some(addr) = requested.filter(|_| ciaddr.is_unspecified()) {
            // INIT-REBOOT: the client checks a remembered address.
            let Some(subnet) = self.link_subnet(req) else {
                return Outcome::note("no subnet for relay");
            };
            if !subnet.contains(addr) {
                return self.nak(req, "requested address is on the wrong network");
            }
            let reservation = self.cfg.host_for(req.client_id(), req.chaddr()).map(|h| h.addr);
            let known = self.table.of_client(client).map(|l| l.addr);
            if let Some(r) = reservation.filter(|r| subnet.contains(*r)) {
                return if r == addr && self.acceptable(addr, subnet, client, reservation, now) {
                    self.bind(req, client, addr, subnet, now)
                } else {
                    self.nak(req, "address differs from the client's reservation")
                };
            }
            return match known {
                Some(k) if k == addr && self.acceptable(addr, subnet, client, None, now) => {
                    self.bind(req, client, addr, subnet, now)
                }
                Some(_) => self.nak(req, "requested address is not the client's"),
                None if !self.table.usable_for(&self.cfg, addr, client, false, now) => {
                    self.nak(req, "requested address belongs to another client")
                }
                // RFC 2131 §4.3.2: with no record of the client, stay silent.
                None => Outcome::note(format!("INIT-REBOOT for {addr} from an unknown client")),
            };
        }
        if !ciaddr.is_unspecified() {
            // RENEWING (unicast) or REBINDING (broadcast): ciaddr is the
            // client's address; it is trusted for the reply (§4.3.2).
            let Some(subnet) = self.cfg.subnet_of(ciaddr) else {
                return self.nak(req, "ciaddr is in none of our subnets");
            };
            let reservation = self.cfg.host_for(req.client_id(), req.chaddr()).map(|h| h.addr);
            if reservation.is_some_and(|r| r != ciaddr && subnet.contains(r)) {
                return self.nak(req, "address differs from the client's reservation");
            }
            if !self.acceptable(ciaddr, subnet, client, reservation, now) {
                return self.nak(req, "address is not available to this client");
            }
            if reservation != Some(ciaddr) && self.holds_other(client, ciaddr, now) {
                return self.nak(req, "the client holds another address");
            }
            return self.bind(req, client, ciaddr, subnet, now);
        }
        Outcome::note("REQUEST with neither server identifier, requested address nor ciaddr")
    }

    /// Whether `client` holds, or is offered, an address other than `addr`
    /// at `now`. A client has one binding (RFC 2131 §2: the client
    /// identifier indexes the server's bindings), so a REQUEST for a second
    /// address is refused: otherwise one hardware address could take the
    /// whole pool by asking for one free address after another. A client
    /// that really moved gets its new offer from a DISCOVER, which points
    /// its binding at the new address first.
    fn holds_other(&self, client: &ClientKey, addr: Ipv4Addr, now: u64) -> bool {
        self.table
            .of_client(client)
            .is_some_and(|l| l.addr != addr && matches!(l.state, State::Bound | State::Offered) && l.active(now))
    }

    /// Whether the sender of `req` holds `addr` now: a live binding of the
    /// same client key (client identifier, else chaddr; RFC 2131 §4.2) and,
    /// as well, the same chaddr. Only the holder may give an address back
    /// (RELEASE, §4.3.4) or report it in use (DECLINE, §4.3.3), so that a
    /// stranger cannot free or quarantine other clients' addresses.
    fn holder(&self, req: &Request, client: &ClientKey, addr: Ipv4Addr, now: u64) -> bool {
        self.table.get(addr).is_some_and(|l| {
            l.client == *client && l.chaddr == req.chaddr() && l.state == State::Bound && l.active(now)
        })
    }

    fn bind(&mut self, req: &Request, client: &ClientKey, addr: Ipv4Addr, subnet: Subnet, now: u64) -> Outcome {
        let lease = self.lease_secs(addr, req);
        let expires = if lease == u32::MAX { u64::MAX } else { now + u64::from(lease) };
        let hostname = self.cfg.reserved(addr).and_then(|h| h.name.clone()).or_else(|| req.hostname());
        let record = Record::Bind { addr, client: client.clone(), chaddr: req.chaddr().to_vec(), hostname, expires };
        self.table.apply(&record);
        let mut out = self.reply(req, MessageType::Ack, addr, Some(lease), subnet);
        out.record = Some(record);
        out
    }

    /// RFC 2131 §4.3.3. A client declines an address after its DHCPACK
    /// (§3.1 step 5), so only the holder of a live binding may decline it;
    /// anything else (a stranger, an address merely offered, released,
    /// expired or never leased, another server's identifier) is ignored, as
    /// Kea does, so forged DECLINEs cannot quarantine the pool.
    fn decline(&mut self, req: &Request, client: &ClientKey, now: u64) -> Outcome {
        if req.server_id().is_some_and(|s| s != self.cfg.server) {
            return Outcome::note("DECLINE for another server");
        }
        let Some(addr) = req.requested_ip() else {
            return Outcome::note("DECLINE without a requested address");
        };
        if !self.holder(req, client, addr, now) {
            return Outcome::note(format!("DECLINE of {addr}, which the client does not hold"));
        }
        let record = Record::Decline { addr, until: now + u64::from(self.cfg.quarantine_secs) };
        self.table.apply(&record);
        Outcome { record: Some(record), note: Some(format!("{addr} declined: quarantined")), ..Outcome::default() }
    }

    /// RFC 2131 §4.3.4: only the holder releases, and only to the server
    /// it names (a RELEASE meant for another server is not ours to act on).
    fn release(&mut self, req: &Request, client: &ClientKey, now: u64) -> Outcome {
        if req.server_id().is_some_and(|s| s != self.cfg.server) {
            return Outcome::note("RELEASE for another server");
        }
        let addr = req.msg.ciaddr();
        if !self.holder(req, client, addr, now) {
            return Outcome::note(format!("RELEASE of {addr}, which the client does not hold"));
        }
        let record = Record::Release { addr, client: client.clone(), at: now };
        self.table.apply(&record);
        Outcome { record: Some(record), note: Some(format!("{addr} released")), ..Outcome::default() }
    }

    /// RFC 2131 §4.3.5: configuration only, no lease.
    fn inform(&mut self, req: &Request) -> Outcome {
        let ciaddr = req.msg.ciaddr();
        let subnet = if req.msg.giaddr().is_unspecified() { self.cfg.subnet_of(ciaddr) } else { self.link_subnet(req) };
        let Some(subnet) = subnet else {
            return Outcome::note("INFORM from outside our subnets");
        };
        self.reply(req, MessageType::Ack, Ipv4Addr::UNSPECIFIED, None, subnet)
    }

    fn nak(&mut self, req: &Request, why: &str) -> Outcome {
        let mut msg = base_reply(&req.msg);
        msg.set_flags(if req.msg.giaddr().is_unspecified() {
            req.msg.flags()
        } else {
            req.msg.flags().set_broadcast()
        });
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MessageType(MessageType::Nak));
        opts.insert(DhcpOption::ServerIdentifier(self.cfg.server));
        opts.insert(DhcpOption::Message(why.to_string()));
        let extra = echoed(req);
        let Ok(payload) = encode_reply(&msg, &extra) else {
            return Outcome::note("cannot encode NAK");
        };
        // RFC 2131 §4.1: with giaddr zero a NAK is always broadcast; with a
        // relay it goes to the relay with the broadcast bit set.
        let to = if req.msg.giaddr().is_unspecified() {
            Destination { ip: Ipv4Addr::BROADCAST, port: 68, link: LinkDest::Broadcast }
        } else {
            Destination { ip: req.msg.giaddr(), port: 67, link: LinkDest::Sender }
        };
        Outcome {
            reply: Some(Reply { kind: MessageType::Nak, payload, to, yiaddr: Ipv4Addr::UNSPECIFIED }),
            record: None,
            note: Some(format!("NAK: {why}")),
            probe: None,
        }
    }

    /// Builds an OFFER or ACK (RFC 2131 §4.3.1 table 3).
    fn reply(&self, req: &Request, kind: MessageType, yiaddr: Ipv4Addr, lease: Option<u32>, subnet: Subnet) -> Outcome {
        let mut msg = base_reply(&req.msg);
        msg.set_yiaddr(yiaddr);
        if kind == MessageType::Ack {
            msg.set_ciaddr(req.msg.ciaddr());
        }
        let prl = req.prl();
        let wants = |code: u8| prl.is_none_or(|p| p.contains(&code));
        let mut optional: Vec<DhcpOption> = Vec::new();
        let routers: Vec<Ipv4Addr> = self.cfg.routers.iter().copied().filter(|r| subnet.contains(*r)).collect();
        if !routers.is_empty() && wants(3) {
            optional.push(DhcpOption::Router(routers));
        }
        if !self.cfg.dns.is_empty() && wants(6) {
            optional.push(DhcpOption::DomainNameServer(self.cfg.dns.clone()));
        }
        if let Some(d) = &self.cfg.domain
            && wants(15)
        {
            optional.push(DhcpOption::DomainName(d.clone()));
        }
        if let Some(m) = self.cfg.mtu
            && wants(26)
        {
            optional.push(DhcpOption::InterfaceMtu(m));
        }
        if prl.is_some_and(|p| p.contains(&28)) {
            optional.push(DhcpOption::BroadcastAddr(subnet.broadcast()));
        }
        if !self.cfg.ntp.is_empty() && wants(42) {
            optional.push(DhcpOption::NtpServers(self.cfg.ntp.clone()));
        }
        let mut extra = echoed(req);
        // RFC 8925 §3.3: only to clients that list 108 in option 55.
        if let Some(wait) = self.cfg.ipv6_only_wait
            && prl.is_some_and(|p| p.contains(&OPTION_IPV6_ONLY))
        {
            extra.push((OPTION_IPV6_ONLY, wait.to_be_bytes().to_vec()));
        }
        let max = req.max_message().saturating_sub(28); // IPv4 + UDP headers
        loop {
            let opts = msg.opts_mut();
            opts.clear();
            opts.insert(DhcpOption::MessageType(kind));
            opts.insert(DhcpOption::ServerIdentifier(self.cfg.server));
            opts.insert(DhcpOption::SubnetMask(subnet.mask()));
            if let Some(l) = lease {
                let (t1, t2) = t1_t2(l);
                opts.insert(DhcpOption::AddressLeaseTime(l));
                opts.insert(DhcpOption::Renewal(t1));
                opts.insert(DhcpOption::Rebinding(t2));
            }
            for o in &optional {
                opts.insert(o.clone());
            }
            let Ok(payload) = encode_reply(&msg, &extra) else {
                return Outcome::note("cannot encode reply");
            };
            if payload.len() <= max || (optional.is_empty() && extra.iter().all(|(c, _)| *c == 82 || *c == 61)) {
                let to = destination(req, kind, yiaddr);
                return Outcome { reply: Some(Reply { kind, payload, to, yiaddr }), ..Outcome::default() };
            }
            // Too big for the client (option 57): shed optional options from the end.
            if optional.pop().is_none() {
                extra.retain(|(c, _)| *c == 82 || *c == 61);
            }
        }
    }
}

/// The fields every reply copies from the request (RFC 2131 table 3). Built
/// from the request itself: dhcproto's constructors draw a random xid
/// through `rand`, which we neither need nor want on hvt.
fn base_reply(req: &Message) -> Message {
    let mut m = req.clone();
    m.set_opcode(Opcode::BootReply);
    m.set_hops(0);
    m.set_secs(0);
    m.set_ciaddr(Ipv4Addr::UNSPECIFIED);
    m.set_yiaddr(Ipv4Addr::UNSPECIFIED);
    m.set_siaddr(Ipv4Addr::UNSPECIFIED);
    m.clear_sname();
    m.clear_fname();
    m.set_flags(Flags::new(u16::from(req.flags()) & 0x8000));
    m.opts_mut().clear();
    m
}

/// Options echoed byte for byte: the client identifier (RFC 6842 §3) and the
/// relay agent information (RFC 3046 §2.2).
fn echoed(req: &Request) -> Vec<(u8, Vec<u8>)> {
    [61u8, 82].iter().filter_map(|c| req.raw.get(c).map(|v| (*c, v.clone()))).collect()
}

/// RFC 2131 §4.1 ("If the 'giaddr' field ... is nonzero ...").
fn destination(req: &Request, kind: MessageType, yiaddr: Ipv4Addr) -> Destination {
    let giaddr = req.msg.giaddr();
    let ciaddr = req.msg.ciaddr();
    if !giaddr.is_unspecified() {
        return Destination { ip: giaddr, port: 67, link: LinkDest::Sender };
    }
    if !ciaddr.is_unspecified() {
        return Destination { ip: ciaddr, port: 68, link: LinkDest::Sender };
    }
    let ethernet = u8::from(req.msg.htype()) == 1 && req.chaddr().len() == 6;
    if req.msg.flags().broadcast() || !ethernet || kind == MessageType::Nak || yiaddr.is_unspecified() {
        return Destination { ip: Ipv4Addr::BROADCAST, port: 68, link: LinkDest::Broadcast };
    }
    Destination { ip: yiaddr, port: 68, link: LinkDest::Chaddr }
}
