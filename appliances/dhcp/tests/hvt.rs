//! The end-to-end scenarios of `tests/e2e.rs` against the hvt image: `dist/dhcp.hvt`
//! under `tender --engine=process --net:service=tap0 --block:storage=FILE`, in the
//! server namespace each test makes, with the same real clients (udhcpc, dhclient,
//! dhcrelay) in their own namespaces. The tender opens the block file with O_DSYNC, so
//! the crash test (kill -9 of the tender during a burst) checks the image's group commit
//! against what the clients were told.
//!
//! Needs (each test fails, never passes, without them):
//! - root, iproute2 and the clients (Debian `busybox isc-dhcp-client isc-dhcp-relay`);
//! - the image: `cargo xtask image dhcp` (or `HVT_DHCP_IMAGE=PATH`);
//! - the tender binary: `HVT_TENDER=PATH`, else `tender` built in `target`,
//!   `tender/target`, `$CARGO_TARGET_DIR` or on `PATH`.
//!
//! Ignored by default because it needs those artefacts; run it with
//! `cargo test -p dhcp --test hvt -- --ignored` after building them.

mod common;

use common::Backend;

#[test]
#[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]
fn udhcpc_obtains_renews_releases_and_reobtains() {
    common::udhcpc_obtains_renews_releases_and_reobtains(&Backend::hvt("dhcp"));
}

#[test]
#[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]
fn dhclient_obtains_reboots_and_releases() {
    common::dhclient_obtains_reboots_and_releases(&Backend::hvt("dhcp"));
}

#[test]
#[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]
fn static_reservation_by_mac() {
    common::static_reservation_by_mac(&Backend::hvt("dhcp"));
}

#[test]
#[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]
fn clients_never_share_an_address() {
    common::clients_never_share_an_address(&Backend::hvt("dhcp"));
}

#[test]
#[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]
fn kill_during_burst_loses_no_acknowledged_lease() {
    common::kill_during_burst_loses_no_acknowledged_lease(&Backend::hvt("dhcp"));
}

#[test]
#[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]
fn malformed_and_truncated_packets_never_stop_the_server() {
    common::malformed_and_truncated_packets_never_stop_the_server(&Backend::hvt("dhcp"));
}

#[test]
#[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]
fn relayed_client_gets_an_address_of_the_relay_subnet() {
    common::relayed_client_gets_an_address_of_the_relay_subnet(&Backend::hvt("dhcp"));
}

#[test]
#[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]
fn probe_skips_an_address_in_use() {
    common::probe_skips_an_address_in_use(&Backend::hvt("dhcp"));
}
