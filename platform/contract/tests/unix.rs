//! The platform contract on unix: with host sockets, and with a tap device
//! and netstack (the path hvt uses). The server services run in this process
//! on the stack under test; the checks connect with the host kernel's TCP.

use std::net::{IpAddr, Ipv4Addr};

use platform::stack::Stack;
use platform_contract::checks::{self, Profile};
use platform_contract::{Ports, start_services};
use testkit::NetNs;

/// Unprivileged ports, so the host-socket run needs no root.
const HIGH_PORTS: Ports = Ports { echo: 17007, discard: 17009, source: 17019, reset: 17013 };

#[test]
fn contract_with_host_sockets() {
    platform_unix::block_on(async {
        let stack = platform_unix::host_stack();
        start_services(&stack, HIGH_PORTS).expect("bind contract services on loopback");
        checks::network(&stack, IpAddr::V4(Ipv4Addr::LOCALHOST), HIGH_PORTS, Profile::FULL).await
    })
    .unwrap_or_else(|e| panic!("contract failed with host sockets: {e}"));
}

#[test]
fn clock_and_block_contract_on_unix() {
    let dir = std::env::temp_dir().join(format!("contract-block-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("disk.img");
    std::fs::write(&path, vec![0u8; 64 * 4096]).unwrap();
    let block = platform_unix::file_block(&path, 4096).expect("open block file");
    let result = checks::block(&*block);
    std::fs::remove_dir_all(&dir).unwrap();
    result.expect("block contract");
    platform_unix::block_on(checks::clock()).expect("clock contract");
}

#[test]
fn contract_with_netstack_on_a_tap() {
    let ns = NetNs::unique("pc-tap").expect("tap contract test needs root and iproute2");
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter_current_thread().expect("enter namespace");
            drop(platform_unix::create_tap("tap0").expect("create tap0"));
            ns.ip(&["link", "set", "lo", "up"]).unwrap();
            ns.ip(&["addr", "add", "10.66.0.1/24", "dev", "tap0"]).unwrap();
            ns.ip(&["link", "set", "tap0", "up"]).unwrap();
            platform_unix::block_on(async {
                let tap = platform_unix::tap_net("tap0", None).map_err(|e| format!("attach tap0: {e}"))?;
                let config = platform::args::NetConfig {
                    ipv4: Some("10.66.0.2/24".parse().expect("literal")),
                    ipv4_gateway: None,
                    ipv6: None,
                    ipv6_gateway: None,
                    dhcp: false,
                };
                let server: Stack = netstack::new_stack(tap, netstack::Config::new(config, 0x5eed, "tap0"))
                    .map_err(|e| format!("netstack: {e}"))?;
                start_services(&server, Ports::default()).map_err(|e| format!("bind services: {e}"))?;
                let client = platform_unix::host_stack();
                checks::network(&client, IpAddr::V4(Ipv4Addr::new(10, 66, 0, 2)), Ports::default(), Profile::FULL).await
            })
        })
        .join()
        .expect("test thread")
    });
    result.unwrap_or_else(|e| panic!("contract failed with netstack on a tap: {e}"));
}
