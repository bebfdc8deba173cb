//! The request path: arbitrary bytes into `Server::handle` over a fixed test zone (with
//! delegation, wildcards, CNAME chains and a big rrset), once as UDP and once as TCP.
//! No panic; every reply is a response to the same id and fits the transport's limit.

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::zone::{Zone, Zones};
use libfuzzer_sys::fuzz_target;
use sansio::Now;

fn zones() -> &'static Zones {
    static ZONES: OnceLock<Zones> = OnceLock::new();
    ZONES.get_or_init(|| {
        let mut z = Zones::new();
        for (name, text) in [
            ("example.org", include_str!("../../core/tests/data/example.org")),
            ("example.net", include_str!("../../core/tests/data/example.net")),
            ("child.example.org", include_str!("../../core/tests/data/child.example.org")),
        ] {
            z.replace(Zone::parse(name, text).expect("test zone parses"));
        }
        z
    })
}

fuzz_target!(|data: &[u8]| {
    let mut server = Server::new(zones().clone(), Options::default());
    let src: SocketAddr = "192.0.2.1:5300".parse().unwrap();
    for (transport, limit) in [(Transport::Udp, 1232), (Transport::Tcp, 65535)] {
        if let Handled::Reply(r) = server.handle(Now::default(), src, transport, data) {
            assert!(r.len() >= 12 && r.len() <= limit);
            assert_eq!(r[..2], data[..2]);
            assert_ne!(r[2] & 0x80, 0);
        }
    }
});
