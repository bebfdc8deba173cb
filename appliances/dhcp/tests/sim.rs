//! The whole appliance on platform-sim (netstack, raw frames, SimBlock, the
//! same code path as hvt): smoltcp's own DHCP client (netstack `--dhcp`) on
//! other simulated hosts obtains leases; the server host then crashes (kill
//! -9 and loss of unflushed writes) and reboots on the same disk.

use std::net::{IpAddr, Ipv4Addr};

use platform::stack::Stack;
use platform::time::{Duration, sleep};
use platform_sim::{LinkConfig, World};

const ARGS: &[&str] = &["--ipv4=10.0.0.1/24", "--range=10.0.0.100,10.0.0.199,1h", "--option=router,10.0.0.1"];

async fn address_of(stack: &Stack) -> Ipv4Addr {
    for _ in 0..600 {
        let v4 = stack.addresses().into_iter().find_map(|c| match c.addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        });
        if let Some(a) = v4 {
            return a;
        }
        sleep(Duration::from_millis(100)).await;
    }
    panic!("no DHCP lease within a minute of virtual time");
}

#[test]
fn smoltcp_dhcp_clients_get_distinct_leases_that_survive_a_crash() {
    let world = World::new(7);
    let server = world.add_host("server");
    server.add_block("storage", 512, 2048);
    let clients: Vec<_> = (0..4).map(|i| world.add_host(&format!("client{i}"))).collect();
    let got: Vec<Ipv4Addr> = world.run(async {
        let app = server.run_appliance(&dhcp::APPLIANCE, ARGS);
        server.console().wait_for("; ready").await;
        let stacks: Vec<Stack> = clients.iter().map(|c| c.stack(&["--dhcp"]).expect("client stack")).collect();
        let mut got = Vec::new();
        for s in &stacks {
            got.push(address_of(s).await);
        }
        assert!(!app.is_finished(), "the server stopped");
        got
    });
    let mut distinct = got.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), got.len(), "{got:?}");
    assert!(got.iter().all(|a| (100..=199).contains(&a.octets()[3])), "{got:?}");
    for (c, a) in clients.iter().zip(&got) {
        assert!(
            server.console().contains(&format!("lease {a} granted to {}", c.mac())),
            "no log line for {a}: {:?}",
            server.console_lines()
        );
    }

    // kill -9 / power cut, then boot again on the same disk.
    world.crash(&server);
    world.run(async {
        let _app = server.run_appliance(&dhcp::APPLIANCE, ARGS);
        // The console keeps the first boot's lines: wait for a second "ready".
        while server.console_lines().iter().filter(|l| l.contains("; ready")).count() < 2 {
            sleep(Duration::from_millis(10)).await;
        }
    });
    let replay = server.console_lines().into_iter().rfind(|l| l.contains("lease log:")).unwrap();
    assert!(replay.contains("Replayed") && replay.contains(&format!("{} leases held", got.len())), "{replay}");
}

/// Waits until every stack has an IPv4 address; returns them in order.
async fn addresses_of_all(stacks: &[Stack], limit: Duration) -> Vec<Ipv4Addr> {
    let start = platform::time::now();
    loop {
        let got: Vec<Option<Ipv4Addr>> = stacks
            .iter()
            .map(|s| {
                s.addresses().into_iter().find_map(|c| match c.addr {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                })
            })
            .collect();
        if got.iter().all(Option::is_some) {
            return got.into_iter().flatten().collect();
        }
        let missing = got.iter().filter(|a| a.is_none()).count();
        assert!(platform::time::now() - start < limit, "{missing} clients without a lease after {limit:?}");
        sleep(Duration::from_millis(100)).await;
    }
}

/// Thirty smoltcp DHCP clients start at once on a link that loses 15 % of
/// frames (each way, so DISCOVER, OFFER, REQUEST and ACK all get lost now and
/// then): every client ends with its own lease from the range, the server
/// keeps running, and it logged the grant. Returns the leases and the
/// switch's trace hash.
fn lossy_burst(seed: u64) -> (Vec<Ipv4Addr>, u64) {
    const CLIENTS: usize = 30;
    let world = World::new(seed);
    world.set_link(LinkConfig { loss: 0.15, ..LinkConfig::default() });
    let server = world.add_host("server");
    server.add_block("storage", 512, 2048);
    let clients: Vec<_> = (0..CLIENTS).map(|i| world.add_host(&format!("client{i}"))).collect();
    let got = world.run(async {
        let app = server.run_appliance(&dhcp::APPLIANCE, ARGS);
        server.console().wait_for("; ready").await;
        let stacks: Vec<Stack> = clients.iter().map(|c| c.stack(&["--dhcp"]).expect("client stack")).collect();
        let got = addresses_of_all(&stacks, Duration::from_secs(600)).await;
        assert!(!app.is_finished(), "the server stopped: {:?}", server.console_lines());
        got
    });
    let mut distinct = got.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), CLIENTS, "two clients share a lease: {got:?}");
    assert!(got.iter().all(|a| (100..=199).contains(&a.octets()[3]) && a.octets()[..3] == [10, 0, 0]), "{got:?}");
    for (c, a) in clients.iter().zip(&got) {
        assert!(server.console().contains(&format!("lease {a} granted to {}", c.mac())), "no log line for {a}");
    }
    assert!(world.stats().lost > 0, "the link lost nothing: the test tests no loss");
    (got, world.trace_hash())
}

#[test]
fn a_burst_of_clients_on_a_lossy_link_all_get_distinct_leases_deterministically() {
    let (leases, hash) = lossy_burst(11);
    let (again, hash_again) = lossy_burst(11);
    assert_eq!((&leases, hash), (&again, hash_again), "same seed, different run");
    let (_, other) = lossy_burst(12);
    assert_ne!(hash, other, "another seed gives the same trace: the hash would catch nothing");
}
