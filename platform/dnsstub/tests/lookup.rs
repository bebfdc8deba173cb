//! The sans-IO lookup against replies written byte by byte from RFC 1035 §4,
//! good and hostile: wrong ID, wrong question, spoofed source, truncation,
//! error RCODEs, CNAME chains, timeouts and failover.

use std::net::{IpAddr, SocketAddr};

use dnsstub::{Answer, Config, Error, Lookup, Name, Transmit};
use sansio::{Driver, Duration, Instant};

const A: u16 = 1;
const CNAME: u16 = 5;
const AAAA: u16 = 28;
const IDS: [u16; 2] = [0x1111, 0x2222];

fn server(i: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, i], 53))
}

/// `name` in uncompressed wire form.
fn wire_name(name: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for l in name.trim_end_matches('.').split('.') {
        w.push(l.len() as u8);
        w.extend_from_slice(l.as_bytes());
    }
    w.push(0);
    w
}

/// A reply: header with `id`, QR, RD, RA, `flags3` OR-ed into octet 2
/// (TC = 0x02) and `rcode`; the question `qname`/`qtype`/IN; `answers` as
/// (owner, type, ttl, rdata).
fn reply(id: u16, flags3: u8, rcode: u8, qname: &str, qtype: u16, answers: &[(&str, u16, u32, Vec<u8>)]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.push(0x81 | flags3);
    m.push(0x80 | rcode);
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&wire_name(qname));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for (owner, t, ttl, rdata) in answers {
        m.extend_from_slice(&wire_name(owner));
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
    }
    m
}

fn a(ip: [u8; 4]) -> Vec<u8> {
    ip.to_vec()
}

fn aaaa(ip: &str) -> Vec<u8> {
    ip.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec()
}

fn start(servers: &[SocketAddr]) -> Lookup {
    Lookup::new(Instant::ZERO, Name::from_host("git.test").unwrap(), servers, Config::default(), IDS)
}

/// A lookup whose first queries have been sent.
fn asked(servers: &[SocketAddr]) -> Lookup {
    let mut l = start(servers);
    drain(&mut l);
    l
}

fn drain(l: &mut Lookup) -> Vec<Transmit> {
    std::iter::from_fn(|| l.poll_transmit()).collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn asks_a_and_aaaa_and_combines_the_answers() {
    let mut l = start(&[server(1)]);
    let sent = drain(&mut l);
    assert_eq!(sent.len(), 2);
    for (t, (id, qtype)) in sent.iter().zip([(IDS[0], A), (IDS[1], AAAA)]) {
        let Transmit::Udp(d) = t else { panic!("UDP first") };
        assert_eq!(d.dst, server(1));
        assert_eq!(&d.payload[..2], &id.to_be_bytes());
        assert_eq!(d.payload[2] & 0x01, 1, "RD set");
        assert_eq!(&d.payload[d.payload.len() - 4..], &[(qtype >> 8) as u8, qtype as u8, 0, 1]);
    }
    l.handle_datagram(
        Instant::ZERO,
        server(1),
        &reply(IDS[1], 0, 0, "git.test", AAAA, &[("git.test", AAAA, 300, aaaa("2001:db8::7"))]),
    );
    assert_eq!(l.poll_result(), None, "still waiting for A");
    l.handle_datagram(
        Instant::ZERO,
        server(1),
        &reply(IDS[0], 0, 0, "GIT.Test", A, &[("git.TEST", A, 60, a([192, 0, 2, 7]))]),
    );
    assert_eq!(l.poll_result(), Some(Ok(Answer { addresses: ips(&["192.0.2.7", "2001:db8::7"]), ttl: 60 })));
    assert_eq!(l.dropped, 0);
}

#[test]
fn replies_that_do_not_match_are_dropped() {
    let mut l = asked(&[server(1)]);
    let good = reply(IDS[0], 0, 0, "git.test", A, &[("git.test", A, 60, a([192, 0, 2, 7]))]);
    // Spoofed source: another address, or the right address from another port.
    l.handle_datagram(Instant::ZERO, server(2), &good);
    l.handle_datagram(Instant::ZERO, SocketAddr::from(([192, 0, 2, 1], 5353)), &good);
    // Wrong ID; the AAAA query's ID on an A question.
    l.handle_datagram(
        Instant::ZERO,
        server(1),
        &reply(0x9999, 0, 0, "git.test", A, &[("git.test", A, 60, a([6, 6, 6, 6]))]),
    );
    l.handle_datagram(
        Instant::ZERO,
        server(1),
        &reply(IDS[1], 0, 0, "git.test", A, &[("git.test", A, 60, a([6, 6, 6, 6]))]),
    );
    // Wrong question name, type, class; no question; QR clear.
    l.handle_datagram(
        Instant::ZERO,
        server(1),
        &reply(IDS[0], 0, 0, "evil.test", A, &[("git.test", A, 60, a([6, 6, 6, 6]))]),
    );
    l.handle_datagram(
        Instant::ZERO,
        server(1),
        &reply(IDS[0], 0, 0, "git.test", 16, &[("git.test", A, 60, a([6, 6, 6, 6]))]),
    );
    let mut chaos = good.clone();
    let q_end = 12 + wire_name("git.test").len() + 4;
    chaos[q_end - 1] = 3;
    l.handle_datagram(Instant::ZERO, server(1), &chaos);
    let mut no_question = good.clone();
    no_question[5] = 0;
    l.handle_datagram(Instant::ZERO, server(1), &no_question[..12]);
    let mut query = good.clone();
    query[2] &= 0x7f;
    l.handle_datagram(Instant::ZERO, server(1), &query);
    // Garbage and a truncated copy.
    l.handle_datagram(Instant::ZERO, server(1), &[0xff; 7]);
    l.handle_datagram(Instant::ZERO, server(1), &good[..good.len() - 1]);
    assert_eq!(l.dropped, 11);
    assert_eq!(l.poll_result(), None);
    assert!(drain(&mut l).is_empty(), "nothing dropped makes us send");
    // The real reply still counts.
    l.handle_datagram(Instant::ZERO, server(1), &good);
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[1], 0, 0, "git.test", AAAA, &[]));
    assert_eq!(l.poll_result(), Some(Ok(Answer { addresses: ips(&["192.0.2.7"]), ttl: 60 })));
    // A second copy after the end is dropped too.
    l.handle_datagram(Instant::ZERO, server(1), &good);
    assert_eq!(l.dropped, 12);
}

#[test]
fn truncated_reply_goes_over_tcp() {
    let mut l = asked(&[server(1)]);
    // TC=1 with a (forged-looking) partial answer: not used.
    l.handle_datagram(
        Instant::ZERO,
        server(1),
        &reply(IDS[0], 0x02, 0, "git.test", A, &[("git.test", A, 60, a([6, 6, 6, 6]))]),
    );
    let sent = drain(&mut l);
    let [Transmit::Tcp(d)] = &sent[..] else { panic!("one TCP query expected: {sent:?}") };
    assert_eq!(d.dst, server(1));
    assert_eq!(&d.payload[..2], &IDS[0].to_be_bytes());
    // A UDP copy of the reply no longer counts for A; TCP from elsewhere neither.
    let full = reply(IDS[0], 0, 0, "git.test", A, &[("git.test", A, 60, a([192, 0, 2, 9]))]);
    l.handle_datagram(Instant::ZERO, server(1), &full);
    l.handle_tcp_reply(Instant::ZERO, server(2), &full);
    assert_eq!(l.dropped, 2);
    l.handle_tcp_reply(Instant::ZERO, server(1), &full);
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[1], 0, 0, "git.test", AAAA, &[]));
    assert_eq!(l.poll_result(), Some(Ok(Answer { addresses: ips(&["192.0.2.9"]), ttl: 60 })));
}

#[test]
fn tcp_failure_moves_to_the_next_server() {
    let mut l = asked(&[server(1), server(2)]);
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[0], 0x02, 0, "git.test", A, &[]));
    drain(&mut l);
    l.handle_tcp_failed(Instant::ZERO, server(1), "connection refused");
    let sent = drain(&mut l);
    assert_eq!(sent.len(), 2, "both queries again, to server 2: {sent:?}");
    assert!(sent.iter().all(|t| matches!(t, Transmit::Udp(d) if d.dst == server(2))));
}

#[test]
fn cname_chain_in_the_answer_is_followed() {
    let mut l = asked(&[server(1)]);
    let chain = [
        ("git.test", CNAME, 300, wire_name("Alias.test")),
        ("alias.test", CNAME, 30, wire_name("host.test")),
        ("host.test", A, 120, a([192, 0, 2, 80])),
        // Not on the chain: ignored.
        ("other.test", A, 1, a([6, 6, 6, 6])),
    ];
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[0], 0, 0, "git.test", A, &chain));
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[1], 0, 0, "git.test", AAAA, &chain[..2]));
    assert_eq!(l.poll_result(), Some(Ok(Answer { addresses: ips(&["192.0.2.80"]), ttl: 30 })));
}

#[test]
fn cname_loops_and_long_chains_end_the_lookup() {
    // a -> b -> a: a loop never reaches an address.
    let mut l = asked(&[server(1)]);
    let looped = [("git.test", CNAME, 60, wire_name("b.test")), ("b.test", CNAME, 60, wire_name("git.test"))];
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[0], 0, 0, "git.test", A, &looped));
    assert_eq!(l.poll_result(), Some(Err(Error::LongChain { server: server(1) })));
    // Nine links: one more than we follow.
    let mut l = asked(&[server(1)]);
    let names: Vec<String> = (0..10).map(|i| if i == 0 { "git.test".into() } else { format!("c{i}.test") }).collect();
    let mut long: Vec<(&str, u16, u32, Vec<u8>)> =
        (0..9).map(|i| (names[i].as_str(), CNAME, 60, wire_name(&names[i + 1]))).collect();
    long.push((names[9].as_str(), A, 60, a([192, 0, 2, 1])));
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[0], 0, 0, "git.test", A, &long));
    assert_eq!(l.poll_result(), Some(Err(Error::LongChain { server: server(1) })));
    // Eight links are fine.
    let mut l = asked(&[server(1)]);
    let mut eight: Vec<(&str, u16, u32, Vec<u8>)> =
        (0..8).map(|i| (names[i].as_str(), CNAME, 60, wire_name(&names[i + 1]))).collect();
    eight.push((names[8].as_str(), A, 60, a([192, 0, 2, 1])));
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[0], 0, 0, "git.test", A, &eight));
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[1], 0, 0, "git.test", AAAA, &[]));
    assert_eq!(l.poll_result(), Some(Ok(Answer { addresses: ips(&["192.0.2.1"]), ttl: 60 })));
}

#[test]
fn nxdomain_is_final_and_servfail_moves_on() {
    let mut l = asked(&[server(1), server(2)]);
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[0], 0, 2, "git.test", A, &[]));
    let sent = drain(&mut l);
    assert!(sent.iter().all(|t| matches!(t, Transmit::Udp(d) if d.dst == server(2))) && sent.len() == 2);
    // Server 1's late replies no longer count.
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[1], 0, 0, "git.test", AAAA, &[]));
    assert_eq!(l.dropped, 1);
    l.handle_datagram(Instant::ZERO, server(2), &reply(IDS[0], 0, 3, "git.test", A, &[]));
    let result = l.poll_result();
    assert_eq!(result, Some(Err(Error::NxDomain { server: server(2) })));
    assert!(result.unwrap().unwrap_err().to_string().contains("NXDOMAIN from 192.0.2.2:53"));
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn every_server_failing_says_why_for_each() {
    let mut l = asked(&[server(1), server(2)]);
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[1], 0, 5, "git.test", AAAA, &[]));
    drain(&mut l);
    l.handle_datagram(Instant::ZERO, server(2), &reply(IDS[0], 0, 2, "git.test", A, &[]));
    let Some(Err(e)) = l.poll_result() else { panic!("an error expected") };
    let text = e.to_string();
    assert!(
        text.contains("192.0.2.1:53: refused (REFUSED)") && text.contains("192.0.2.2:53: server failure (SERVFAIL)"),
        "{text}"
    );
}

#[test]
fn nodata_for_both_types_is_no_addresses() {
    let mut l = asked(&[server(1)]);
    l.handle_datagram(Instant::ZERO, server(1), &reply(IDS[0], 0, 0, "git.test", A, &[]));
    // A CNAME whose target is not in the answer: nothing to use either.
    l.handle_datagram(
        Instant::ZERO,
        server(1),
        &reply(IDS[1], 0, 0, "git.test", AAAA, &[("git.test", CNAME, 5, wire_name("elsewhere.example"))]),
    );
    assert_eq!(l.poll_result(), Some(Err(Error::NoAddresses { server: server(1) })));
}

#[test]
fn timeouts_retry_then_fail_over_then_give_up() {
    let cfg = Config::default();
    let mut l = Lookup::new(Instant::ZERO, Name::from_host("git.test").unwrap(), &[server(1), server(2)], cfg, IDS);
    assert_eq!(drain(&mut l).len(), 2);
    let mut now = Instant::ZERO;
    // Early calls do nothing.
    l.handle_timeout(now + Duration::from_millis(1));
    assert!(drain(&mut l).is_empty());
    let mut destinations = Vec::new();
    while let Some(deadline) = l.poll_timeout() {
        assert!(deadline > now);
        now = deadline;
        l.handle_timeout(now);
        for t in drain(&mut l) {
            let Transmit::Udp(d) = t else { panic!("UDP only") };
            destinations.push(d.dst);
        }
    }
    // A and AAAA each round: the retry to server 1, then two rounds to server 2.
    assert_eq!(destinations, [server(1), server(1), server(2), server(2), server(2), server(2)]);
    assert_eq!(now, Instant::ZERO + cfg.timeout * 4);
    let Some(Err(Error::NoAnswer(why))) = l.poll_result() else { panic!("NoAnswer expected") };
    assert_eq!(why.len(), 2);
    assert!(why[0].starts_with("192.0.2.1:53: no reply to 2 queries"), "{why:?}");
}

#[test]
fn no_servers_and_a_compression_loop_reply() {
    let mut l = start(&[]);
    assert_eq!(l.poll_result(), Some(Err(Error::NoServers)));
    assert!(drain(&mut l).is_empty());
    // A reply whose answer owner points at itself: unreadable, dropped, no panic.
    let mut l = asked(&[server(1)]);
    let mut bad = reply(IDS[0], 0, 0, "git.test", A, &[]);
    bad[7] = 1;
    let at = bad.len() as u16;
    bad.extend_from_slice(&[0xc0 | (at >> 8) as u8, at as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    l.handle_datagram(Instant::ZERO, server(1), &bad);
    assert_eq!((l.dropped, l.poll_result()), (1, None));
}
