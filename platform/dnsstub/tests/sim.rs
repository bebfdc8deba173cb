//! The resolver over `netstack` on the simulator, against a hostile server
//! written here: before each real reply it sends a copy with the right ID
//! from another port and one with a wrong ID from port 53, each carrying a
//! bad address; it answers A with TC=1 so that A must come over TCP. The
//! resolver must return only the real addresses, and the second lookup must
//! come from its cache. Deterministic: one seed gives one trace.

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use dnsstub::Resolver;
use platform::stack::Stack;
use platform_sim::World;

const SERVER: &str = "10.0.0.1";

/// The reply to `query` (our own query, so an uncompressed single question):
/// QR set, `tc` as given, and if `address` is given one answer record
/// pointing back at the question's name (RFC 1035 §4.1.4, offset 12).
fn answer(query: &[u8], tc: bool, address: Option<IpAddr>) -> Vec<u8> {
    let mut r = query.to_vec();
    r[2] |= 0x80 | if tc { 0x02 } else { 0 };
    r[3] = 0x80; // RA, NOERROR
    let qtype = [query[query.len() - 4], query[query.len() - 3]];
    if let Some(ip) = address {
        let rdata = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, qtype[0], qtype[1], 0, 1, 0, 0, 0x0e, 0x10, 0, rdata.len() as u8]);
        r.extend_from_slice(&rdata);
    }
    r
}

fn is_a(query: &[u8]) -> bool {
    query[query.len() - 4..query.len() - 2] == [0, 1]
}

const REAL_A: &str = "192.0.2.10";
const REAL_AAAA: &str = "2001:db8::10";
const FORGED: &str = "6.6.6.6";

/// The server's tasks: UDP on 53 (with the forgeries), TCP on 53; counts the
/// UDP queries it gets.
fn serve(stack: &Stack, queries: Rc<Cell<u32>>) {
    let udp = stack.udp_bind(SocketAddr::new(SERVER.parse().unwrap(), 53)).unwrap();
    let other = stack.udp_bind(SocketAddr::new(SERVER.parse().unwrap(), 5353)).unwrap();
    platform::rt::spawn(async move {
        let mut buf = vec![0u8; 1500];
        loop {
            let Ok((n, from)) = udp.recv_from(&mut buf).await else { return };
            let q = buf[..n].to_vec();
            queries.set(queries.get() + 1);
            let forged = Some(FORGED.parse().unwrap());
            let _ = other.send_to(&answer(&q, false, forged), from).await;
            let mut wrong_id = answer(&q, false, forged);
            wrong_id[1] ^= 1;
            let _ = udp.send_to(&wrong_id, from).await;
            let real =
                if is_a(&q) { answer(&q, true, None) } else { answer(&q, false, Some(REAL_AAAA.parse().unwrap())) };
            let _ = udp.send_to(&real, from).await;
        }
    });
    let mut tcp = stack.tcp_listen(SocketAddr::new(SERVER.parse().unwrap(), 53)).unwrap();
    platform::rt::spawn(async move {
        while let Ok((conn, _)) = tcp.accept().await {
            let mut len = [0u8; 2];
            let mut got = 0;
            while got < 2 {
                match conn.read(&mut len[got..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
            let mut got = 0;
            while got < q.len() {
                match conn.read(&mut q[got..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            let r = answer(&q, false, Some(REAL_A.parse().unwrap()));
            let mut framed = (r.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&r);
            let _ = conn.write_all(&framed).await;
            let _ = conn.shutdown().await;
        }
    });
}

fn scenario(seed: u64) -> u64 {
    let world = World::new(seed);
    let server = world.add_host("server");
    let client = world.add_host("client");
    let queries = Rc::new(Cell::new(0));
    let seen = queries.clone();
    world.run(async move {
        let s = server.stack(&[&format!("--ipv4={SERVER}/24")]).unwrap();
        server.spawn(async move { serve(&s, seen) }).await;
        let stack = client.stack(&["--ipv4=10.0.0.9/24"]).unwrap();
        let r = Resolver::new(stack, vec![SocketAddr::new(SERVER.parse().unwrap(), 53)], client.entropy());
        let expected: Vec<IpAddr> = vec![REAL_A.parse().unwrap(), REAL_AAAA.parse().unwrap()];
        assert_eq!(r.lookup("git.test").await, Ok(expected.clone()));
        assert_eq!(queries.get(), 2, "one A and one AAAA query");
        assert_eq!(r.lookup("GIT.test.").await, Ok(expected), "from the cache");
        assert_eq!(queries.get(), 2, "the cache answered");
    });
    world.trace_hash()
}

#[test]
fn forged_replies_are_ignored_and_truncation_goes_to_tcp() {
    let first = scenario(7);
    assert_eq!(first, scenario(7), "one seed, one trace");
}
