//! The bodies of the DHCP fuzz targets, plain functions that `fuzz_targets/` call and
//! `tests/seeds.rs` runs over `seeds/<target>/` on stable.
//!
//! [`packet`] is the packet path of the DHCP server: frame → parse → decode → the core
//! state machine → reply frame, plus the lease records it produces through the log
//! encoding. The input is a sequence of packets, each a flag byte, a 2-byte big-endian
//! length and that many bytes, handled in order by one server (so REQUESTs can follow
//! OFFERs). The flag's low bit picks a raw Ethernet frame as the stack diverts it, or a
//! bare DHCP payload that is wrapped into a valid broadcast frame first (so most inputs
//! reach the DHCP decoder); bit 1 advances the clock by a lease time, so leases and offers
//! expire. No panic.
//!
//! [`holder`]: who may change a lease (RFC 2131 §4.3.2–§4.3.4).

use std::net::Ipv4Addr;

use dhcp::frame;
use dhcp_core::leases::{State, client_key};
use dhcp_core::server::LinkDest;
use dhcp_core::{Config, Record, Server, Settings, decode_request};
use dhcproto::Decodable;
use dhcproto::v4::Message;
use platform::net::MacAddr;
use platform::time::UnixTime;

const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn config() -> Config {
    let settings = Settings {
        ipv4: (SERVER, 24),
        ranges: vec!["10.0.0.100,10.0.0.103,2m", "10.9.0.10,10.9.0.12,255.255.255.0,30m"],
        hosts: vec!["02:00:00:00:00:07,10.0.0.7,printer", "id:01:02:03,10.0.0.8"],
        options: vec!["router,10.0.0.1,10.9.0.1", "dns-server,10.0.0.53", "mtu,1400", "ipv6-only,600"],
        domain: Some("example.lan"),
        subnet_mask: None,
        lease_time: None,
        probe: None,
    };
    Config::from_settings(&settings).expect("the fuzz configuration is valid")
}

/// The fuzz targets' input framing: each item is a flag byte, a 2-byte big-endian length
/// and that many bytes (fewer at the end of the input); a tail shorter than 3 bytes is
/// ignored. Yields (flag, payload).
pub fn frames(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> + '_ {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&[flag, hi, lo], body) = rest.split_first_chunk::<3>()?;
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let (packet, tail) = body.split_at(len.min(body.len()));
        rest = tail;
        Some((flag, packet))
    })
}

/// The body of the `packet` target: handles every packet of `data` in order; returns
/// how many replies the server made (the seed test checks its inputs reach the core).
pub fn packet(data: &[u8]) -> usize {
    let cfg = config();
    let bcast = cfg.local.broadcast();
    let mut server = Server::new(cfg.clone());
    let mut now = 1_700_000_000u64;
    let mut replies = 0;
    for (flag, packet) in frames(data) {
        if flag & 2 != 0 {
            now += 120;
            server.expire_offers(UnixTime::from_secs(now));
        }
        let wrapped;
        let bytes = if flag & 1 == 0 {
            wrapped = frame::build(
                MacAddr([0x02, 0xcc, 0, 0, 0, 9]),
                [0xff; 6],
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::BROADCAST,
                67,
                packet,
            );
            &wrapped[..]
        } else {
            packet
        };
        let Ok(inc) = frame::parse(bytes, MAC, cfg.server, bcast) else { continue };
        let Ok(req) = decode_request(inc.payload) else { continue };
        let out = server.respond(&req, UnixTime::from_secs(now));
        if let Some(reply) = out.reply {
            replies += 1;
            let dst_mac = match reply.to.link {
                LinkDest::Broadcast => [0xff; 6],
                LinkDest::Sender => inc.src_mac,
                LinkDest::Chaddr => {
                    let mut m = [0u8; 6];
                    let c = req.chaddr();
                    let n = c.len().min(6);
                    m[..n].copy_from_slice(&c[..n]);
                    m
                }
            };
            let f = frame::build(MAC, dst_mac, cfg.server, reply.to.ip, reply.to.port, &reply.payload);
            assert!(f.len() >= 14 + 20 + 8 + 240, "a reply frame of {} bytes", f.len());
            // Our reply is a DHCP message a client's decoder accepts.
            if let Err(e) = Message::from_bytes(&reply.payload) {
                panic!("our reply does not decode: {e}");
            }
        }
        if let Some(record) = out.record {
            let mut buf = Vec::new();
            record.encode(&mut buf);
            let back = Record::decode_all(&buf).expect("a record we wrote decodes");
            assert_eq!(back, vec![record]);
        }
    }
    replies
}

const VICTIM_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const VICTIM_ID: [u8; 7] = [1, 0x02, 0, 0, 0, 0, 0x99];
const START: u64 = 1_700_000_000;
/// The lease time of the range; the clock stays well inside it.
const LEASE: u64 = 600;

fn holder_config() -> Config {
    let settings = Settings {
        ipv4: (SERVER, 24),
        ranges: vec!["10.0.0.100,10.0.0.103,10m"],
        hosts: vec!["02:00:00:00:00:07,10.0.0.7,printer"],
        ..Settings::default()
    };
    Config::from_settings(&settings).expect("the fuzz configuration is valid")
}

/// A message of the victim: DISCOVER (1) or REQUEST (3) with its client identifier.
fn victim(kind: u8, opts: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 240];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[28..34].copy_from_slice(&VICTIM_MAC);
    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, kind, 61, 7]);
    p.extend_from_slice(&VICTIM_ID);
    p.extend_from_slice(opts);
    p.push(255);
    p
}

/// Who may change a lease (RFC 2131 §4.3.2–§4.3.4): one client, the victim, holds a
/// lease; then any sequence of DHCP messages from anybody else — whatever their type,
/// options, chaddr, ciaddr or server identifier — is handled, with the clock moving
/// forward a little now and then but never past the victim's lease. After every message
/// the victim's lease is still its own, bound, with the same expiry, and no message
/// produced a record for the victim's address. The input is a sequence of DHCP payloads,
/// each a flag byte (bit 0: advance the clock one second), a 2-byte big-endian length and
/// that many bytes. Messages carrying the victim's client key are skipped: those are the
/// victim by definition.
///
/// Returns how many strangers' messages were handled (the seed test checks its inputs
/// get that far).
pub fn holder(data: &[u8]) -> usize {
    let mut server = Server::new(holder_config());
    let mut now = START;
    let offer = server.respond(&decode_request(&victim(1, &[])).unwrap(), UnixTime::from_secs(now));
    let addr = offer.reply.expect("the victim's offer").yiaddr;
    let mut opts = vec![50, 4];
    opts.extend_from_slice(&addr.octets());
    opts.extend_from_slice(&[54, 4]);
    opts.extend_from_slice(&SERVER.octets());
    let ack = server.respond(&decode_request(&victim(3, &opts)).unwrap(), UnixTime::from_secs(now));
    assert!(ack.record.is_some(), "the victim's lease");
    let key = client_key(Some(&VICTIM_ID), 1, &VICTIM_MAC);
    let before = server.table().get(addr).cloned().expect("the victim's lease entry");

    let mut handled = 0;
    for (flag, packet) in frames(data) {
        if flag & 1 != 0 && now < START + LEASE / 2 {
            now += 1;
            server.expire_offers(UnixTime::from_secs(now));
        }
        let Ok(req) = decode_request(packet) else { continue };
        if client_key(req.client_id(), u8::from(req.msg.htype()), req.chaddr()) == key {
            continue;
        }
        let out = server.respond(&req, UnixTime::from_secs(now));
        handled += 1;
        let touched = match &out.record {
            Some(Record::Bind { addr: a, .. } | Record::Release { addr: a, .. } | Record::Decline { addr: a, .. }) => {
                *a == addr
            }
            None => false,
        };
        assert!(!touched, "a stranger's message produced {:?}", out.record);
        if let Some(r) = &out.reply {
            assert!(r.yiaddr != addr, "the victim's address was {:?}ed to a stranger", r.kind);
        }
        let l = server.table().get(addr).expect("the victim's lease entry");
        assert!(l.client == key && l.state == State::Bound && l.expires == before.expires, "{l:?}");
    }
    handled
}
