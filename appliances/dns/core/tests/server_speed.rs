//! A rough speed check of the query path (run with --release --ignored --nocapture):
//! queries per second through `Server::handle` for a mix of answer types.

use std::net::SocketAddr;
use std::time::Instant;

use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use sansio::Now;

#[test]
#[ignore = "timing, not a check; run by hand with --release"]
fn queries_per_second() {
    let mut z = Zones::new();
    z.replace(Zone::parse("example.org", include_str!("data/example.org")).unwrap());
    let mut s = Server::new(z, Options::default());
    let qs: Vec<Vec<u8>> = [
        ("mail.example.org.", RecordType::A),
        ("www.example.org.", RecordType::A),
        ("x.wild.example.org.", RecordType::TXT),
        ("nope.example.org.", RecordType::A),
        ("www.sub.example.org.", RecordType::A),
        ("example.org.", RecordType::NS),
    ]
    .iter()
    .map(|(n, t)| {
        let mut m = Message::new(1, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(n).unwrap(), *t));
        m.set_edns(Edns::new());
        m.to_vec().unwrap()
    })
    .collect();
    let src: SocketAddr = "192.0.2.1:53".parse().unwrap();
    let n = 300_000;
    let start = Instant::now();
    let mut bytes = 0;
    for i in 0..n {
        if let Handled::Reply(r) = s.handle(Now::default(), src, Transport::Udp, &qs[i % qs.len()]) {
            bytes += r.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0} queries/s ({bytes} bytes)", n as f64 / secs);
}
