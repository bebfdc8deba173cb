//! The bodies of the DNS core's fuzz targets, plain functions that `fuzz_targets/` call
//! and `tests/seeds.rs` runs over `seeds/<target>/` on stable.

use std::net::SocketAddr;
use std::sync::OnceLock;

use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::zone::{Zone, Zones};
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

/// The request path: `data` as a request into `Server::handle` over a fixed test zone
/// (with delegation, wildcards, CNAME chains and a big rrset), once as UDP and once as
/// TCP. No panic; every reply is a response to the same id and fits the transport's
/// limit. Returns how many replies were made (the seed test checks its queries are
/// answered).
pub fn query(data: &[u8]) -> usize {
    let mut server = Server::new(zones().clone(), Options::default());
    let src: SocketAddr = "192.0.2.1:5300".parse().unwrap();
    let mut replies = 0;
    for (transport, limit) in [(Transport::Udp, 1232), (Transport::Tcp, 65535)] {
        if let Handled::Reply(r) = server.handle(Now::default(), src, transport, data) {
            assert!(r.len() >= 12 && r.len() <= limit);
            assert_eq!(r[..2], data[..2]);
            assert_ne!(r[2] & 0x80, 0);
            replies += 1;
        }
    }
    replies
}

/// The master-file parser: `data` as zone text into `Zone::parse`. No panic; a zone that
/// parses writes back (`to_master_file`) to text that parses to an equal zone. Returns
/// whether it parsed.
pub fn zonefile(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    match Zone::parse("example.org", text) {
        Ok(zone) => {
            let written = zone.to_master_file();
            let back = Zone::parse("example.org", &written)
                .unwrap_or_else(|e| panic!("written zone does not parse: {e}\n{written}"));
            assert_eq!(back, zone, "{written}");
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}
