//! Who may change a lease (RFC 2131 §4.3.2–§4.3.4): one client, the victim, holds a
//! lease; then any sequence of DHCP messages from anybody else — whatever their type,
//! options, chaddr, ciaddr or server identifier — is handled, with the clock moving
//! forward a little now and then but never past the victim's lease. After every message
//! the victim's lease is still its own, bound, with the same expiry, and no message
//! produced a record for the victim's address. The input is a sequence of DHCP payloads,
//! each a flag byte (bit 0: advance the clock one second), a 2-byte big-endian length and
//! that many bytes. Messages carrying the victim's client key are skipped: those are the
//! victim by definition.

#![no_main]

use std::net::Ipv4Addr;

use dhcp_core::leases::{State, client_key};
use dhcp_core::{Config, Record, Server, Settings, decode_request};
use libfuzzer_sys::fuzz_target;
use platform::time::UnixTime;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const VICTIM_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const VICTIM_ID: [u8; 7] = [1, 0x02, 0, 0, 0, 0, 0x99];
const START: u64 = 1_700_000_000;
/// The lease time of the range; the clock stays well inside it.
const LEASE: u64 = 600;

fn config() -> Config {
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

fuzz_target!(|data: &[u8]| {
    let mut server = Server::new(config());
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

    for (flag, packet) in dhcp_fuzz::frames(data) {
        if flag & 1 != 0 && now < START + LEASE / 2 {
            now += 1;
            server.expire_offers(UnixTime::from_secs(now));
        }
        let Ok(req) = decode_request(packet) else { continue };
        if client_key(req.client_id(), u8::from(req.msg.htype()), req.chaddr()) == key {
            continue;
        }
        let out = server.respond(&req, UnixTime::from_secs(now));
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
});
