//! End-to-end tests of the unix DHCP server with real clients in network namespaces
//! (scenarios in `common/mod.rs`; root and Debian packages `busybox isc-dhcp-client
//! isc-dhcp-relay iproute2`). `tests/hvt.rs` runs the same scenarios on the hvt image.

mod common;

use std::process::Command;

use common::{Backend, Lab, Server};

#[test]
fn udhcpc_obtains_renews_releases_and_reobtains() {
    common::udhcpc_obtains_renews_releases_and_reobtains(&Backend::Unix);
}

#[test]
fn dhclient_obtains_reboots_and_releases() {
    common::dhclient_obtains_reboots_and_releases(&Backend::Unix);
}

#[test]
fn static_reservation_by_mac() {
    common::static_reservation_by_mac(&Backend::Unix);
}

#[test]
fn clients_never_share_an_address() {
    common::clients_never_share_an_address(&Backend::Unix);
}

#[test]
fn kill_during_burst_loses_no_acknowledged_lease() {
    common::kill_during_burst_loses_no_acknowledged_lease(&Backend::Unix);
}

#[test]
fn malformed_and_truncated_packets_never_stop_the_server() {
    common::malformed_and_truncated_packets_never_stop_the_server(&Backend::Unix);
}

#[test]
fn relayed_client_gets_an_address_of_the_relay_subnet() {
    common::relayed_client_gets_an_address_of_the_relay_subnet(&Backend::Unix);
}

/// A bad setting is refused with a message naming it; a foreign block
/// device is reported and left alone unless --format.
#[test]
fn bad_settings_and_foreign_storage_are_refused() {
    let lab = Lab::new(&Backend::Unix, "refuse", 0);
    let run = |extra: &[&str]| {
        let block = format!("--block:storage={}", lab.dir.path("leases.img").display());
        let mut args = vec!["netns", "exec", lab.server_ns.name(), env!("CARGO_BIN_EXE_dhcp"), "--net:service=tap0"];
        args.extend_from_slice(&["--ipv4=10.77.0.1/24", &block, "--status-port=0"]);
        args.extend_from_slice(extra);
        let out = Command::new("ip").args(&args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, out) = run(&["--range=10.77.0.100,10.77.0.300"]);
    assert_ne!(code, Some(0));
    assert!(out.contains("--range") && out.contains("10.77.0.300"), "{out}");
    let (code, out) = run(&["--range=10.77.0.100,10.77.0.120", "--option=router,nope"]);
    assert_ne!(code, Some(0));
    assert!(out.contains("--option"), "{out}");
    let foreign: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(lab.dir.path("leases.img"), &foreign).unwrap();
    let (code, out) = run(&["--range=10.77.0.100,10.77.0.120"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not a lease log") && out.contains("--format"), "{out}");
    assert_eq!(std::fs::read(lab.dir.path("leases.img")).unwrap(), foreign, "the foreign device was written");
    // With --format it is replaced and the server comes up.
    let mut server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.120", "--format"]);
    assert!(server.alive());
}
