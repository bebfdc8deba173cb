//! The end-to-end scenarios of `tests/e2e.rs` against the hvt image: `dist/dns.hvt`
//! under `tender --engine=process --net:service=tap0`, in the namespace each test
//! makes, with the same git servers, clients and NSD.
//!
//! Needs (each test fails, never passes, without them): root, iproute2 and the tools
//! of `tests/common/mod.rs`; the image (`cargo xtask image dns`, or
//! `HVT_DNS_IMAGE=PATH`); the tender (`HVT_TENDER=PATH`, else one built in `target`).
//! Ignored by default; the CI hvt stage runs
//! `cargo test -p dns --test hvt -- --ignored` after building them.

mod common;

use common::Backend;
use common::scenarios;

#[test]
#[ignore = "needs root, dist/dns.hvt and the tender; see the module docs"]
fn answers_from_git_daemon() {
    scenarios::answers_from_git_daemon(&Backend::hvt());
}

#[test]
#[ignore = "needs root, dist/dns.hvt and the tender; see the module docs"]
fn answers_from_smart_http() {
    scenarios::answers_from_smart_http(&Backend::hvt());
}

#[test]
#[ignore = "needs root, dist/dns.hvt and the tender; see the module docs"]
fn answers_from_https() {
    scenarios::answers_from_https(&Backend::hvt());
}

#[test]
#[ignore = "needs root, dist/dns.hvt and the tender; see the module docs"]
fn update_commit_and_notify() {
    scenarios::update_commit_and_notify(&Backend::hvt());
}

#[test]
#[ignore = "needs root, dist/dns.hvt and the tender; see the module docs"]
fn broken_zone_and_malformed_packets() {
    scenarios::broken_zone_and_malformed_packets(&Backend::hvt());
}

#[test]
#[ignore = "needs root, dist/dns.hvt and the tender; see the module docs"]
fn nsd_secondary_transfers_from_us() {
    scenarios::nsd_secondary_transfers_from_us(&Backend::hvt());
}

#[test]
#[ignore = "needs root, dist/dns.hvt and the tender; see the module docs"]
fn secondary_transfers_from_nsd() {
    scenarios::secondary_transfers_from_nsd(&Backend::hvt());
}
