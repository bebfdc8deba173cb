//! Sans-IO scenarios: raw client messages in, replies and records out.

use std::net::Ipv4Addr;

use dhcp_core::config::{Config, Settings};
use dhcp_core::server::{LinkDest, Server};
use dhcp_core::wire::{HEADER_LEN, MAGIC, decode_request};
use dhcp_core::{Outcome, Record};
use dhcproto::v4::MessageType;
use sansio::UnixTime;
use testkit::rng::Rng;

const NOW: u64 = 1_800_000_000;
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn server_with(ranges: &[&str], hosts: &[&str], options: &[&str]) -> Server {
    let s = Settings {
        ipv4: (SERVER, 24),
        ranges: ranges.to_vec(),
        hosts: hosts.to_vec(),
        options: options.to_vec(),
        domain: Some("example.lan"),
        ..Settings::default()
    };
    Server::new(Config::from_settings(&s).unwrap())
}

fn server() -> Server {
    server_with(
        &["10.0.0.100,10.0.0.109,1h", "10.9.0.10,10.9.0.20,255.255.255.0,30m"],
        &["02:00:00:00:00:aa,10.0.0.5,printer"],
        &["router,10.0.0.1,10.9.0.1", "dns-server,10.0.0.1"],
    )
}

/// A client message builder.
#[derive(Clone)]
struct Msg {
    kind: u8,
    mac: [u8; 6],
    ciaddr: Ipv4Addr,
    giaddr: Ipv4Addr,
    broadcast: bool,
    opts: Vec<(u8, Vec<u8>)>,
}

fn msg(kind: u8, last: u8) -> Msg {
    Msg {
        kind,
        mac: [2, 0, 0, 0, 0, last],
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        opts: Vec::new(),
    }
}

impl Msg {
    fn opt(mut self, code: u8, v: &[u8]) -> Msg {
        self.opts.push((code, v.to_vec()));
        self
    }
    fn requested(self, a: Ipv4Addr) -> Msg {
        self.opt(50, &a.octets())
    }
    fn server_id(self, a: Ipv4Addr) -> Msg {
        self.opt(54, &a.octets())
    }
    fn ciaddr(mut self, a: Ipv4Addr) -> Msg {
        self.ciaddr = a;
        self
    }
    fn giaddr(mut self, a: Ipv4Addr) -> Msg {
        self.giaddr = a;
        self
    }
    fn broadcast(mut self) -> Msg {
        self.broadcast = true;
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 1;
        p[1] = 1;
        p[2] = 6;
        p[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        if self.broadcast {
            p[10] = 0x80;
        }
        p[12..16].copy_from_slice(&self.ciaddr.octets());
        p[24..28].copy_from_slice(&self.giaddr.octets());
        p[28..34].copy_from_slice(&self.mac);
        p[236..240].copy_from_slice(&MAGIC);
        p.extend_from_slice(&[53, 1, self.kind]);
        for (c, v) in &self.opts {
            p.push(*c);
            p.push(v.len() as u8);
            p.extend_from_slice(v);
        }
        p.push(255);
        p
    }
}

fn send(s: &mut Server, m: &Msg) -> Outcome {
    s.respond(&decode_request(&m.bytes()).unwrap(), UnixTime::from_secs(NOW))
}

/// Options of a reply as (code, bytes).
fn reply_opts(o: &Outcome) -> Vec<(u8, Vec<u8>)> {
    let p = &o.reply.as_ref().expect("a reply").payload;
    let mut out = Vec::new();
    let mut i = HEADER_LEN;
    while i < p.len() && p[i] != 255 {
        if p[i] == 0 {
            i += 1;
            continue;
        }
        let len = p[i + 1] as usize;
        out.push((p[i], p[i + 2..i + 2 + len].to_vec()));
        i += 2 + len;
    }
    out
}

fn opt(o: &Outcome, code: u8) -> Option<Vec<u8>> {
    reply_opts(o).into_iter().find(|(c, _)| *c == code).map(|(_, v)| v)
}

fn kind(o: &Outcome) -> Option<MessageType> {
    o.reply.as_ref().map(|r| r.kind)
}

fn yiaddr(o: &Outcome) -> Ipv4Addr {
    o.reply.as_ref().unwrap().yiaddr
}

/// DISCOVER, OFFER, REQUEST, ACK for one client.
fn obtain(s: &mut Server, last: u8) -> Ipv4Addr {
    let offer = send(s, &msg(1, last));
    assert_eq!(kind(&offer), Some(MessageType::Offer), "{offer:?}");
    let a = yiaddr(&offer);
    let ack = send(s, &msg(3, last).server_id(SERVER).requested(a));
    assert_eq!(kind(&ack), Some(MessageType::Ack), "{ack:?}");
    assert!(matches!(ack.record, Some(Record::Bind { addr, .. }) if addr == a));
    a
}

#[test]
fn four_way_exchange_with_options_and_times() {
    let mut s = server();
    let offer = send(&mut s, &msg(1, 1).opt(55, &[1, 3, 6, 15, 51]));
    assert_eq!(kind(&offer), Some(MessageType::Offer));
    assert!(offer.record.is_none(), "offers are not persisted");
    let a = yiaddr(&offer);
    assert_eq!(a, ip("10.0.0.100"));
    assert_eq!(opt(&offer, 54), Some(SERVER.octets().to_vec()));
    assert_eq!(opt(&offer, 51), Some(3600u32.to_be_bytes().to_vec()));
    assert_eq!(opt(&offer, 58), Some(1800u32.to_be_bytes().to_vec()));
    assert_eq!(opt(&offer, 59), Some(3150u32.to_be_bytes().to_vec()));
    assert_eq!(opt(&offer, 1), Some(vec![255, 255, 255, 0]));
    // Only the router on this subnet.
    assert_eq!(opt(&offer, 3), Some(vec![10, 0, 0, 1]));
    assert_eq!(opt(&offer, 15), Some(b"example.lan".to_vec()));
    // Not broadcast, no ciaddr: unicast to yiaddr at chaddr (§4.1).
    let to = offer.reply.as_ref().unwrap().to;
    assert_eq!((to.ip, to.port, to.link), (a, 68, LinkDest::Chaddr));
    let ack = send(&mut s, &msg(3, 1).server_id(SERVER).requested(a).broadcast());
    assert_eq!(kind(&ack), Some(MessageType::Ack));
    let to = ack.reply.as_ref().unwrap().to;
    assert_eq!((to.ip, to.link), (Ipv4Addr::BROADCAST, LinkDest::Broadcast));
    // A second client gets another address.
    assert_eq!(obtain(&mut s, 2), ip("10.0.0.101"));
}

#[test]
fn parameter_request_list_is_respected() {
    let mut s = server();
    let offer = send(&mut s, &msg(1, 1).opt(55, &[1, 3]));
    assert!(opt(&offer, 6).is_none() && opt(&offer, 15).is_none());
    assert!(opt(&offer, 3).is_some());
    // Without a list, the configured options are sent.
    let offer = send(&mut s, &msg(1, 2));
    assert!(opt(&offer, 6).is_some() && opt(&offer, 15).is_some());
}

#[test]
fn option_108_only_when_requested_and_configured_with_code_108() {
    let mut s = server_with(&["10.0.0.100,10.0.0.109"], &[], &["ipv6-only,1800"]);
    let with = send(&mut s, &msg(1, 1).opt(55, &[1, 108]));
    assert_eq!(opt(&with, 108), Some(1800u32.to_be_bytes().to_vec()));
    assert!(opt(&with, 106).is_none());
    // A client asking for 106 (what dhcproto calls IPv6-only) gets nothing.
    let other = send(&mut s, &msg(1, 2).opt(55, &[1, 106]));
    assert!(opt(&other, 108).is_none() && opt(&other, 106).is_none());
    let unconfigured = send(&mut server(), &msg(1, 3).opt(55, &[1, 108]));
    assert!(opt(&unconfigured, 108).is_none());
}

#[test]
fn client_identifier_is_preferred_over_chaddr_and_echoed() {
    let mut s = server();
    let id = [1u8, 0xde, 0xad, 0xbe, 0xef, 0, 1];
    let offer = send(&mut s, &msg(1, 1).opt(61, &id));
    let a = yiaddr(&offer);
    assert_eq!(opt(&offer, 61), Some(id.to_vec()), "RFC 6842 echo");
    send(&mut s, &msg(3, 1).opt(61, &id).server_id(SERVER).requested(a));
    // Same client id on another NIC: same address.
    let again = send(&mut s, &msg(1, 7).opt(61, &id));
    assert_eq!(yiaddr(&again), a);
    // Same MAC without the id is another client.
    let other = send(&mut s, &msg(1, 1));
    assert_ne!(yiaddr(&other), a);
}

#[test]
fn requested_address_honoured_when_free_and_in_range() {
    let mut s = server();
    let o = send(&mut s, &msg(1, 1).requested(ip("10.0.0.105")));
    assert_eq!(yiaddr(&o), ip("10.0.0.105"));
    let b = send(&mut s, &msg(1, 2).requested(ip("10.0.0.105")));
    assert_ne!(yiaddr(&b), ip("10.0.0.105"), "offered to someone else");
    let c = send(&mut s, &msg(1, 3).requested(ip("10.0.0.50")));
    assert_ne!(yiaddr(&c), ip("10.0.0.50"), "outside the range");
    assert!(s.config().pools[0].contains(yiaddr(&c)));
}

#[test]
fn static_reservation_by_mac() {
    let mut s = server();
    let o = send(&mut s, &msg(1, 0xaa));
    assert_eq!(yiaddr(&o), ip("10.0.0.5"));
    let ack = send(&mut s, &msg(3, 0xaa).server_id(SERVER).requested(ip("10.0.0.5")));
    assert_eq!(kind(&ack), Some(MessageType::Ack));
    match ack.record {
        Some(Record::Bind { hostname, .. }) => assert_eq!(hostname.as_deref(), Some("printer")),
        r => panic!("{r:?}"),
    }
    // Nobody else gets the reserved address, even when asking for it.
    let other = send(&mut s, &msg(3, 1).server_id(SERVER).requested(ip("10.0.0.5")));
    assert_eq!(kind(&other), Some(MessageType::Nak));
}

#[test]
fn selecting_another_server_withdraws_the_offer() {
    let mut s = server();
    let a = yiaddr(&send(&mut s, &msg(1, 1)));
    let o = send(&mut s, &msg(3, 1).server_id(ip("10.0.0.254")).requested(a));
    assert!(o.reply.is_none());
    // The address is free again for someone else.
    let b = send(&mut s, &msg(1, 2).requested(a));
    assert_eq!(yiaddr(&b), a);
}

#[test]
fn init_reboot_renew_rebind() {
    let mut s = server();
    let a = obtain(&mut s, 1);
    // INIT-REBOOT for its own address: ACK; for another: NAK (broadcast).
    let ok = send(&mut s, &msg(3, 1).requested(a));
    assert_eq!(kind(&ok), Some(MessageType::Ack));
    let wrong = send(&mut s, &msg(3, 1).requested(ip("10.0.0.107")));
    assert_eq!(kind(&wrong), Some(MessageType::Nak));
    assert_eq!(wrong.reply.as_ref().unwrap().to.link, LinkDest::Broadcast);
    let wrong_net = send(&mut s, &msg(3, 9).requested(ip("192.168.1.5")));
    assert_eq!(kind(&wrong_net), Some(MessageType::Nak));
    // Unknown client, free address: silence (§4.3.2).
    let unknown = send(&mut s, &msg(3, 9).requested(ip("10.0.0.108")));
    assert!(unknown.reply.is_none());
    // RENEWING: unicast with ciaddr, reply to ciaddr.
    let renew = send(&mut s, &msg(3, 1).ciaddr(a));
    assert_eq!(kind(&renew), Some(MessageType::Ack));
    let r = renew.reply.as_ref().unwrap();
    assert_eq!((r.to.ip, r.to.link, r.yiaddr), (a, LinkDest::Sender, a));
    assert!(renew.record.is_some(), "the extension is persisted before the ACK");
    // REBINDING by someone else for this address: NAK.
    let steal = send(&mut s, &msg(3, 2).ciaddr(a).broadcast());
    assert_eq!(kind(&steal), Some(MessageType::Nak));
}

#[test]
fn release_then_reobtain_same_address() {
    let mut s = server();
    let a = obtain(&mut s, 1);
    let rel = send(&mut s, &msg(7, 1).ciaddr(a).server_id(SERVER));
    assert!(rel.reply.is_none());
    assert!(matches!(rel.record, Some(Record::Release { .. })));
    // Another new client gets a never-used address, not the released one.
    assert_ne!(obtain(&mut s, 2), a);
    assert_eq!(obtain(&mut s, 1), a);
}

#[test]
fn decline_quarantines_the_address() {
    let mut s = server();
    let a = obtain(&mut s, 1);
    let d = send(&mut s, &msg(4, 1).requested(a).server_id(SERVER));
    assert!(matches!(d.record, Some(Record::Decline { .. })));
    for last in 2..12 {
        let o = send(&mut s, &msg(1, last));
        if let Some(r) = o.reply {
            assert_ne!(r.yiaddr, a, "declined address handed out");
        }
    }
}

#[test]
fn pool_exhaustion_and_expiry_reclaims() {
    let mut s = server_with(&["10.0.0.100,10.0.0.101,10s"], &[], &[]);
    obtain(&mut s, 1);
    obtain(&mut s, 2);
    let none = send(&mut s, &msg(1, 3));
    assert!(none.reply.is_none());
    assert_eq!(s.stats().exhausted, 1);
    // After the leases expired, the address free the longest is reused.
    let later = s.respond(&decode_request(&msg(1, 3).bytes()).unwrap(), UnixTime::from_secs(NOW + 11));
    assert_eq!(kind(&later), Some(MessageType::Offer));
}

#[test]
fn relayed_requests_use_the_relay_subnet_and_echo_option_82() {
    let mut s = server();
    let relay = ip("10.9.0.1");
    let info = [1u8, 3, b'e', b't', b'h', 2, 2, 0xab, 0xcd];
    let offer = send(&mut s, &msg(1, 1).giaddr(relay).opt(82, &info));
    let a = yiaddr(&offer);
    assert_eq!(a, ip("10.9.0.10"));
    let r = offer.reply.as_ref().unwrap();
    assert_eq!((r.to.ip, r.to.port, r.to.link), (relay, 67, LinkDest::Sender));
    assert_eq!(opt(&offer, 3), Some(relay.octets().to_vec()));
    assert_eq!(opt(&offer, 51), Some(1800u32.to_be_bytes().to_vec()));
    assert_eq!(reply_opts(&offer).last().unwrap(), &(82u8, info.to_vec()), "option 82 echoed last");
    let nak = send(&mut s, &msg(3, 1).giaddr(relay).requested(ip("10.0.0.100")));
    assert_eq!(kind(&nak), Some(MessageType::Nak));
    let r = nak.reply.as_ref().unwrap();
    assert_eq!(r.to.ip, relay);
    assert_eq!(r.payload[10] & 0x80, 0x80, "broadcast bit set on a relayed NAK");
    let unknown = send(&mut s, &msg(1, 2).giaddr(ip("172.16.0.1")));
    assert!(unknown.reply.is_none());
}

#[test]
fn inform_gets_configuration_without_a_lease() {
    let mut s = server();
    let o = send(&mut s, &msg(8, 1).ciaddr(ip("10.0.0.77")));
    assert_eq!(kind(&o), Some(MessageType::Ack));
    assert!(opt(&o, 51).is_none() && o.record.is_none());
    assert_eq!(yiaddr(&o), Ipv4Addr::UNSPECIFIED);
    assert_eq!(o.reply.as_ref().unwrap().to.ip, ip("10.0.0.77"));
}

#[test]
fn replies_fit_the_client_maximum() {
    let dns: Vec<String> = (1..60).map(|i| format!("10.0.0.{i}")).collect();
    let opt_dns = format!("dns-server,{}", dns.join(","));
    let mut s = server_with(&["10.0.0.100,10.0.0.109"], &[], &[&opt_dns]);
    let o = send(&mut s, &msg(1, 1));
    assert!(o.reply.as_ref().unwrap().payload.len() <= 576 - 28);
    assert!(opt(&o, 54).is_some());
    // With a larger maximum (option 57), the long DNS list is sent.
    let big = send(&mut s, &msg(1, 2).opt(57, &1500u16.to_be_bytes()));
    assert_eq!(opt(&big, 6).map(|v| v.len()), Some(59 * 4));
}

#[test]
fn replayed_records_restore_bindings() {
    let mut s = server();
    let a = obtain(&mut s, 1);
    let mut fresh = server();
    for r in s.snapshot(UnixTime::from_secs(NOW)) {
        fresh.replay(&r);
    }
    let renew = send(&mut fresh, &msg(3, 1).ciaddr(a));
    assert_eq!(kind(&renew), Some(MessageType::Ack));
    let steal = send(&mut fresh, &msg(3, 2).server_id(SERVER).requested(a));
    assert_eq!(kind(&steal), Some(MessageType::Nak));
}

fn probing_server() -> Server {
    let s = Settings {
        ipv4: (SERVER, 24),
        ranges: vec!["10.0.0.100,10.0.0.103,1h", "10.9.0.10,10.9.0.20,255.255.255.0,30m"],
        probe: Some("arp"),
        ..Settings::default()
    };
    Server::new(Config::from_settings(&s).unwrap())
}

/// `--probe=arp`: a new address is offered only after a probe; an answered
/// probe quarantines the address (persisted as a Decline) and the request,
/// handled again, moves on to the next candidate.
#[test]
fn probe_before_offer_skips_claimed_addresses() {
    let mut s = probing_server();
    let d = msg(1, 1);
    let o = send(&mut s, &d);
    assert_eq!(kind(&o), Some(MessageType::Offer));
    assert_eq!(o.probe, Some(ip("10.0.0.100")));
    // The client itself answering (it still has the address) is no claim.
    assert!(s.claimed(ip("10.0.0.100"), &[2, 0, 0, 0, 0, 1], UnixTime::from_secs(NOW)).is_none());
    // Another host answers: quarantined like a DECLINE.
    let r = s.claimed(ip("10.0.0.100"), &[2, 0xee, 0, 0, 0, 9], UnixTime::from_secs(NOW)).expect("claimed");
    assert_eq!(r, Record::Decline { addr: ip("10.0.0.100"), until: NOW + 3600 });
    let o = send(&mut s, &d);
    assert_eq!(o.probe, Some(ip("10.0.0.101")));
    assert_eq!(yiaddr(&o), ip("10.0.0.101"));
    // Unclaimed: the offer stands; a retransmitted DISCOVER is not probed again.
    let o = send(&mut s, &d);
    assert_eq!((yiaddr(&o), o.probe), (ip("10.0.0.101"), None));
    // Nor is the client's own address once bound.
    let ack = send(&mut s, &msg(3, 1).requested(ip("10.0.0.101")).server_id(SERVER));
    assert_eq!(kind(&ack), Some(MessageType::Ack));
    let o = send(&mut s, &d);
    assert_eq!((yiaddr(&o), o.probe), (ip("10.0.0.101"), None));
    // A claim of an address that is not on offer changes nothing.
    assert!(s.claimed(ip("10.0.0.101"), &[2, 0xee, 0, 0, 0, 9], UnixTime::from_secs(NOW)).is_none());
    // Another client never gets the quarantined address.
    let o = send(&mut s, &msg(1, 2));
    assert_eq!(o.probe, Some(ip("10.0.0.102")));
    assert_eq!(s.stats().claimed, 1);
    // The quarantine survives a restart through the log record.
    let mut again = probing_server();
    again.replay(&r);
    let o = send(&mut again, &msg(1, 3));
    assert_eq!(yiaddr(&o), ip("10.0.0.101"));
}

/// Without `--probe` (the default) nothing is probed; relayed subnets are
/// never probed by ARP (not on our link).
#[test]
fn no_probe_by_default_nor_for_relayed_subnets() {
    let mut s = server();
    assert_eq!(send(&mut s, &msg(1, 1)).probe, None);
    let mut s = probing_server();
    let o = send(&mut s, &msg(1, 1).giaddr(ip("10.9.0.1")));
    assert_eq!(kind(&o), Some(MessageType::Offer));
    assert_eq!(o.probe, None);
}

/// The shared verbs (`sansio::Driver`) with `--probe=arp`: the offer is held
/// until the probe's deadline, a claim moves to the next candidate at once
/// (and persists the quarantine), an ACK carries its record to flush first.
#[test]
fn driver_holds_offers_for_probes_and_acks_for_their_record() {
    use dhcp_core::Transmit;
    use dhcp_core::driver::PROBE_WAIT;
    use sansio::{Driver, Instant, Now};

    let at = |ms: u64| Now { mono: Instant::from_millis(ms), wall: UnixTime::from_secs(NOW + ms / 1000) };
    let req = |m: &Msg| decode_request(&m.bytes()).unwrap();
    let sender = [2, 0, 0, 0, 0, 1];
    let mut s = probing_server();
    assert_eq!(s.poll_timeout(), None, "idle: no timer");
    s.handle_request(at(0), &req(&msg(1, 1)), sender);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Probe(a)) if a == ip("10.0.0.100")));
    assert!(s.poll_transmit().is_none(), "the offer waits for the probe");
    assert_eq!(s.poll_timeout(), Some(Instant::from_millis(0) + PROBE_WAIT));
    // A retransmission meanwhile gets nothing of its own.
    assert!(s.handle_request(at(100), &req(&msg(1, 1)), sender).is_some());
    assert!(s.poll_transmit().is_none());
    // Someone else answers: quarantine record, and the next candidate is probed.
    let line = s.handle_arp_claim(at(150), ip("10.0.0.100"), [2, 0xee, 0, 0, 0, 9]).expect("a claim");
    assert!(line.contains("10.0.0.100 is in use by 02:ee:00:00:00:09"), "{line}");
    assert!(
        matches!(s.poll_transmit(), Some(Transmit::Record(Record::Decline { addr, .. })) if addr == ip("10.0.0.100"))
    );
    assert!(matches!(s.poll_transmit(), Some(Transmit::Probe(a)) if a == ip("10.0.0.101")));
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, Instant::from_millis(150) + PROBE_WAIT);
    // Early timeouts are harmless; at the deadline the offer leaves, to chaddr.
    s.handle_timeout(Instant::from_millis(200));
    assert!(s.poll_transmit().is_none());
    s.handle_timeout(deadline);
    match s.poll_transmit() {
        Some(Transmit::Reply { reply, mac, durable: None }) => {
            assert_eq!((reply.kind, reply.yiaddr, mac), (MessageType::Offer, ip("10.0.0.101"), [2, 0, 0, 0, 0, 1]));
        }
        other => panic!("expected the offer, got {other:?}"),
    }
    // The REQUEST's ACK comes with the record that must be durable first.
    s.handle_request(at(1000), &req(&msg(3, 1).requested(ip("10.0.0.101")).server_id(SERVER)), sender);
    match s.poll_transmit() {
        Some(Transmit::Reply { reply, durable: Some(Record::Bind { addr, .. }), .. }) => {
            assert_eq!((reply.kind, addr), (MessageType::Ack, ip("10.0.0.101")));
        }
        other => panic!("expected the ACK with its record, got {other:?}"),
    }
    assert!(s.poll_transmit().is_none());
}

/// Lapsed offers return to the pool on the sweep timer, which runs only
/// while offers are out; the wall clock is derived from the last input.
#[test]
fn driver_sweeps_lapsed_offers() {
    use dhcp_core::Transmit;
    use dhcp_core::leases::State;
    use sansio::{Driver, Instant, Now};

    let mut s = server_with(&["10.0.0.100,10.0.0.100,1h"], &[], &[]);
    let now = Now { mono: Instant::from_secs(5), wall: UnixTime::from_secs(NOW) };
    s.handle_request(now, &decode_request(&msg(1, 1).bytes()).unwrap(), [2, 0, 0, 0, 0, 1]);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Reply { .. })));
    let mut t = s.poll_timeout().expect("a sweep while an offer is out");
    let lapse = Instant::from_secs(5 + u64::from(s.config().offer_secs));
    while t < lapse {
        s.handle_timeout(t);
        t = s.poll_timeout().expect("the offer is still out");
    }
    s.handle_timeout(t);
    assert_eq!(s.poll_timeout(), None, "no offers left, no timer");
    let states: Vec<State> = s.table().iter().map(|l| l.state).collect();
    assert_eq!(states, [State::Released], "the lapsed offer is back in the pool");
}

fn with_mac(mut m: Msg, mac: [u8; 6]) -> Msg {
    m.mac = mac;
    m
}

/// DISCOVER/OFFER/REQUEST/ACK for the client with hardware address `mac`;
/// the address, or None when it got no offer or a NAK.
fn obtain_mac(s: &mut Server, mac: [u8; 6]) -> Option<Ipv4Addr> {
    let offer = send(s, &with_mac(msg(1, 0), mac));
    let a = offer.reply.filter(|r| r.kind == MessageType::Offer)?.yiaddr;
    let ack = send(s, &with_mac(msg(3, 0), mac).server_id(SERVER).requested(a));
    (kind(&ack) == Some(MessageType::Ack)).then_some(a)
}

/// RFC 2131 §4.3.3 and §4.3.4: a DECLINE or RELEASE from anybody but the
/// holder of a live binding changes nothing (Kea ignores them too).
#[test]
fn forged_decline_and_release_change_nothing() {
    let mut s = server();
    let a = obtain(&mut s, 1);
    let offered = yiaddr(&send(&mut s, &msg(1, 3)));
    let never = ip("10.0.0.108");
    let forged = [
        // A stranger, by chaddr.
        msg(4, 2).requested(a).server_id(SERVER),
        // The holder's chaddr with a client identifier the holder never sent.
        msg(4, 1).requested(a).server_id(SERVER).opt(61, &[1, 9, 9, 9, 9, 9, 9]),
        // The holder, naming another server.
        msg(4, 1).requested(a).server_id(ip("10.0.0.254")),
        // Never leased; merely offered (a client declines only after its ACK, §3.1).
        msg(4, 2).requested(never).server_id(SERVER),
        msg(4, 3).requested(offered).server_id(SERVER),
        // No address at all.
        msg(4, 1).server_id(SERVER),
    ];
    for m in &forged {
        let o = send(&mut s, m);
        assert!(o.record.is_none() && o.reply.is_none(), "{:?} changed something: {o:?}", m.opts);
    }
    let releases = [
        msg(7, 2).ciaddr(a).server_id(SERVER),
        msg(7, 1).ciaddr(a).server_id(SERVER).opt(61, &[1, 9, 9, 9, 9, 9, 9]),
        msg(7, 1).ciaddr(a).server_id(ip("10.0.0.254")),
        msg(7, 3).ciaddr(offered).server_id(SERVER),
    ];
    for m in &releases {
        let o = send(&mut s, m);
        assert!(o.record.is_none() && o.reply.is_none(), "RELEASE {:?} changed something: {o:?}", m.opts);
    }
    assert_eq!(s.table().get(a).map(|l| l.state), Some(dhcp_core::leases::State::Bound));
    // The owner renews and keeps it; the offered client still gets its offer.
    assert_eq!(kind(&send(&mut s, &msg(3, 1).ciaddr(a))), Some(MessageType::Ack));
    let ack = send(&mut s, &msg(3, 3).server_id(SERVER).requested(offered));
    assert_eq!(kind(&ack), Some(MessageType::Ack));
    // Nobody else is handed the live lease.
    for last in 10..17 {
        assert_ne!(obtain(&mut s, last), a);
    }

    // The same with a client identifier: the holder's identifier from another
    // chaddr is not enough either.
    let mut s = server();
    let id = [1, 2, 0, 0, 0, 0, 0x31];
    let o = send(&mut s, &msg(1, 0x31).opt(61, &id));
    let b = yiaddr(&o);
    assert_eq!(kind(&send(&mut s, &msg(3, 0x31).opt(61, &id).server_id(SERVER).requested(b))), Some(MessageType::Ack));
    for m in [msg(4, 0x32).opt(61, &id).requested(b).server_id(SERVER), msg(7, 0x32).opt(61, &id).ciaddr(b)] {
        assert!(send(&mut s, &m).record.is_none());
    }
    // The holder itself can.
    assert!(matches!(send(&mut s, &msg(7, 0x31).opt(61, &id).ciaddr(b)).record, Some(Record::Release { .. })));
}

/// A flood of forged DECLINEs for every address of a 100-address pool, then
/// a storm of 140 random clients: exactly 100 get leases, the other 40 none;
/// addresses released by their holders are leased again; the reservation
/// goes to its owner throughout.
#[test]
fn forged_declines_do_not_starve_the_pool() {
    let mut s = server_with(&["10.0.0.100,10.0.0.199,1h"], &["02:00:00:00:00:aa,10.0.0.5,printer"], &[]);
    let mut rng = Rng::new(0x5eed_0d1c_e000_0001);
    for _ in 0..5 {
        for last in 100..=199u8 {
            let a = Ipv4Addr::new(10, 0, 0, last);
            let o = send(&mut s, &with_mac(msg(4, 0), rng.mac()).requested(a).server_id(SERVER));
            assert!(o.record.is_none(), "a forged DECLINE of {a} was accepted");
        }
        let o = send(&mut s, &with_mac(msg(4, 0), rng.mac()).requested(ip("10.0.0.5")).server_id(SERVER));
        assert!(o.record.is_none());
    }
    // Strangers that DISCOVER (random hardware addresses) and decline what
    // they are offered, two minutes earlier: the offers lapse, the declines
    // must not have quarantined anything.
    let earlier = UnixTime::from_secs(NOW - 120);
    for _ in 0..100 {
        let mac = rng.mac();
        let o = s.respond(&decode_request(&with_mac(msg(1, 0), mac).bytes()).unwrap(), earlier);
        let a = yiaddr(&o);
        let d = with_mac(msg(4, 0), mac).requested(a).server_id(SERVER);
        assert!(s.respond(&decode_request(&d.bytes()).unwrap(), earlier).record.is_none(), "offered {a} declined");
    }
    assert_eq!(s.stats().decline, 605);
    assert_eq!(obtain(&mut s, 0xaa), ip("10.0.0.5"));
    let clients: Vec<[u8; 6]> = (0..140).map(|_| rng.mac()).collect();
    let got: Vec<Option<Ipv4Addr>> = clients.iter().map(|m| obtain_mac(&mut s, *m)).collect();
    let mut leased: Vec<Ipv4Addr> = got.iter().flatten().copied().collect();
    leased.sort();
    leased.dedup();
    assert_eq!(leased.len(), 100, "distinct leases");
    assert_eq!(got.iter().filter(|a| a.is_none()).count(), 40);
    assert!(leased.iter().all(|a| (100..=199).contains(&a.octets()[3])));
    // A forged flood against the live leases, DECLINE and RELEASE alike.
    for a in &leased {
        for kind in [4u8, 7] {
            let m = with_mac(msg(kind, 0), rng.mac()).server_id(SERVER);
            let m = if kind == 4 { m.requested(*a) } else { m.ciaddr(*a) };
            assert!(send(&mut s, &m).record.is_none());
        }
    }
    // Twenty holders release; twenty of the unserved get exactly those.
    let holders: Vec<(usize, Ipv4Addr)> = got.iter().enumerate().filter_map(|(i, a)| a.map(|a| (i, a))).collect();
    let mut freed = Vec::new();
    for &(i, a) in holders.iter().take(20) {
        let o = send(&mut s, &with_mac(msg(7, 0), clients[i]).ciaddr(a).server_id(SERVER));
        assert!(matches!(o.record, Some(Record::Release { .. })), "holder's RELEASE of {a} ignored");
        freed.push(a);
    }
    let unserved: Vec<usize> = (0..140).filter(|i| got[*i].is_none()).collect();
    let mut again: Vec<Ipv4Addr> = unserved.iter().take(20).map(|i| obtain_mac(&mut s, clients[*i]).unwrap()).collect();
    again.sort();
    freed.sort();
    assert_eq!(again, freed);
    assert!(obtain_mac(&mut s, clients[unserved[20]]).is_none(), "the pool is full again");
    // The reservation's owner renews and, rebooted, gets it back.
    assert_eq!(kind(&send(&mut s, &msg(3, 0xaa).ciaddr(ip("10.0.0.5")))), Some(MessageType::Ack));
    assert_eq!(obtain(&mut s, 0xaa), ip("10.0.0.5"));
}

/// One client has one binding: a REQUEST for a second address while it holds
/// one (SELECTING an address never offered to it, RENEWING another ciaddr)
/// is NAKed, so a single hardware address cannot take the pool.
#[test]
fn one_client_cannot_take_a_second_address() {
    let mut s = server_with(&["10.0.0.100,10.0.0.103,1h"], &[], &[]);
    let a = obtain(&mut s, 1);
    for b in (100..=103).map(|l| Ipv4Addr::new(10, 0, 0, l)).filter(|b| *b != a) {
        let sel = send(&mut s, &msg(3, 1).server_id(SERVER).requested(b));
        assert_eq!(kind(&sel), Some(MessageType::Nak), "SELECTING {b}");
        let renew = send(&mut s, &msg(3, 1).ciaddr(b));
        assert_eq!(kind(&renew), Some(MessageType::Nak), "RENEWING {b}");
        assert!(s.table().get(b).is_none_or(|l| !l.active(NOW)), "{b} was bound");
    }
    // The other three addresses are still there for three other clients.
    let others: Vec<Ipv4Addr> = (2..5).map(|c| obtain(&mut s, c)).collect();
    assert!(!others.contains(&a));
    // Once released, the client may take another address.
    assert!(send(&mut s, &msg(7, 1).ciaddr(a).server_id(SERVER)).record.is_some());
    assert_eq!(kind(&send(&mut s, &msg(3, 1).server_id(SERVER).requested(a))), Some(MessageType::Ack));
}

/// Strangers that only DISCOVER (made-up hardware addresses, never a
/// REQUEST) do not hold the pool: when nothing else is free, the oldest
/// unanswered offer goes to the next client, and the first to REQUEST an
/// address gets it; the other is NAKed (RFC 2131 §4.3.2) and starts over.
/// Bound leases and reservations are never offered to anybody else.
#[test]
fn a_discover_flood_does_not_hold_the_pool() {
    let mut s = server_with(&["10.0.0.100,10.0.0.109,1h"], &["02:00:00:00:00:aa,10.0.0.108"], &[]);
    let held = obtain(&mut s, 1);
    let mut rng = Rng::new(0xf100_d000_0000_0001);
    let mut flooded = Vec::new();
    for _ in 0..100 {
        let mac = rng.mac();
        let o = send(&mut s, &with_mac(msg(1, 0), mac));
        let a = yiaddr(&o);
        assert!(a != held && a != ip("10.0.0.108"), "a bound or reserved address was offered: {a}");
        flooded.push((mac, a));
    }
    // A real client gets an offer and its ACK at once, and the reservation's owner too.
    let a = obtain(&mut s, 2);
    assert_ne!(a, held);
    assert_eq!(obtain(&mut s, 0xaa), ip("10.0.0.108"));
    // The stranger offered `a` earlier is NAKed when it REQUESTs it after all.
    let (mac, _) = *flooded.iter().find(|(_, o)| *o == a).expect("a was offered to a stranger");
    let late = send(&mut s, &with_mac(msg(3, 0), mac).server_id(SERVER).requested(a));
    assert_eq!(kind(&late), Some(MessageType::Nak));
    // Once every address is bound, a newcomer gets nothing.
    for last in 3..=9 {
        obtain(&mut s, last);
    }
    assert!(send(&mut s, &msg(1, 10)).reply.is_none());
    assert_eq!(s.table().bound(NOW).count(), 10);

    // A burst within one second after the flood: the offers taken go round
    // the pool (offer times are whole seconds), so all ten clients are served.
    let mut s = server_with(&["10.0.0.100,10.0.0.109,1h"], &[], &[]);
    for _ in 0..30 {
        send(&mut s, &with_mac(msg(1, 0), rng.mac()));
    }
    let offers: Vec<Ipv4Addr> = (1..=10).map(|c| yiaddr(&send(&mut s, &msg(1, c)))).collect();
    for (c, a) in (1..=10).zip(&offers) {
        let ack = send(&mut s, &msg(3, c).server_id(SERVER).requested(*a));
        assert_eq!(kind(&ack), Some(MessageType::Ack), "client {c}, offered {a}: {offers:?}");
    }
    assert_eq!(s.table().bound(NOW).count(), 10);
}
