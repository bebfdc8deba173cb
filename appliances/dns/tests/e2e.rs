//! End-to-end tests of the unix DNS appliance (netstack on a tap) with real tools,
//! in network namespaces: scenarios in `common/scenarios.rs`, set-up in
//! `common/mod.rs`. `tests/hvt.rs` runs the same scenarios on the hvt image.

mod common;

use common::Backend;
use common::scenarios;

#[test]
fn answers_from_git_daemon() {
    scenarios::answers_from_git_daemon(&Backend::Unix);
}

#[test]
fn answers_from_smart_http() {
    scenarios::answers_from_smart_http(&Backend::Unix);
}

#[test]
fn answers_from_https() {
    scenarios::answers_from_https(&Backend::Unix);
}

#[test]
fn update_commit_and_notify() {
    scenarios::update_commit_and_notify(&Backend::Unix);
}

#[test]
fn broken_zone_and_malformed_packets() {
    scenarios::broken_zone_and_malformed_packets(&Backend::Unix);
}

#[test]
fn nsd_secondary_transfers_from_us() {
    scenarios::nsd_secondary_transfers_from_us(&Backend::Unix);
}

#[test]
fn secondary_transfers_from_nsd() {
    scenarios::secondary_transfers_from_nsd(&Backend::Unix);
}
