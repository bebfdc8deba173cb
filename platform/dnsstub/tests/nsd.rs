//! The resolver over host sockets against real NSD serving `test.`, in a
//! network namespace of its own; each answer is compared with `dig`'s view
//! of the same server. Needs root, NSD, dig and iproute2 (a missing one
//! fails the test).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use dnsstub::{Config, Error, Resolver};
use platform_unix::GetrandomEntropy;
use sansio::Duration;
use testkit::nsd::{Nsd, require_tools};
use testkit::{NetNs, TempDir};

const PORT: u16 = 5300;

/// 40 A records for `big.test.`: 40 × 16 octets of answers, more than a
/// 512-octet UDP reply holds, so NSD sets TC and we must use TCP.
fn zone() -> String {
    let mut z = String::from(
        "$ORIGIN test.\n$TTL 300\n@ SOA ns.test. host.test. 1 3600 900 604800 60\n@ NS ns\nns A 127.0.0.1\n\
         git A 192.0.2.10\ngit AAAA 2001:db8::10\nwww CNAME alias\nalias CNAME git\nv6only AAAA 2001:db8::6\n\
         txtonly TXT \"no addresses\"\n",
    );
    for i in 1..=40 {
        z.push_str(&format!("big A 198.51.100.{i}\n"));
    }
    z
}

fn dig(ns: &NetNs, name: &str) -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    for qtype in ["A", "AAAA"] {
        let o = ns.cmd("dig").args(["@127.0.0.1", "-p", &PORT.to_string(), "+short", name, qtype]).output().unwrap();
        // +short prints CNAME targets too; keep the addresses.
        out.extend(String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.parse::<IpAddr>().ok()));
    }
    out
}

#[test]
fn resolves_through_nsd() {
    require_tools(&[("nsd", "-v", "nsd"), ("dig", "-v", "bind9-dnsutils")]);
    let ns = NetNs::unique("stub").expect("needs root and iproute2");
    ns.ip(&["link", "set", "lo", "up"]).unwrap();
    let dir = TempDir::new("stub-nsd");
    std::fs::write(dir.path("test.zone"), zone()).unwrap();
    let conf =
        format!("{}zone:\n  name: test.\n  zonefile: test.zone\n", testkit::nsd::nsd_server_conf(&dir.0, PORT, ""));
    let _nsd = Nsd::start(ns.name(), &dir.0, &conf);
    let nsd: SocketAddr = ([127, 0, 0, 1], PORT).into();
    // Nothing listens here: the resolver must give up on it and ask NSD.
    let silent: SocketAddr = ([127, 0, 0, 1], PORT + 1).into();
    let fast = Config { timeout: Duration::from_millis(300), attempts: 1, ..Config::default() };

    let results = ns.in_ns(|| {
        platform_unix::block_on(async {
            let stack = platform_unix::host_stack();
            let r = Resolver::new(stack.clone(), vec![nsd], Rc::new(GetrandomEntropy));
            let mut got = Vec::new();
            for name in ["git.test", "WWW.Test.", "big.test", "v6only.test"] {
                got.push((name, r.lookup(name).await));
            }
            let nx = r.lookup("nope.test").await;
            let nodata = r.lookup("txtonly.test").await;
            let refused = r.lookup("example.com").await;
            let failover = Resolver::new(stack, vec![silent, nsd], Rc::new(GetrandomEntropy)).with_config(fast);
            let over = failover.lookup("git.test").await;
            (got, nx, nodata, refused, over)
        })
    });
    let (got, nx, nodata, refused, over) = results;
    for (name, result) in got {
        let ours: BTreeSet<IpAddr> = result.unwrap_or_else(|e| panic!("{name}: {e}")).into_iter().collect();
        assert_eq!(ours, dig(&ns, name), "{name}: we and dig disagree");
        assert!(!ours.is_empty(), "{name}");
    }
    assert_eq!(nx, Err(Error::NxDomain { server: nsd }));
    assert_eq!(nodata, Err(Error::NoAddresses { server: nsd }));
    let refused = refused.unwrap_err().to_string();
    assert!(refused.contains("REFUSED"), "{refused}");
    assert_eq!(over.unwrap(), ["192.0.2.10".parse::<IpAddr>().unwrap(), "2001:db8::10".parse().unwrap()]);
}
