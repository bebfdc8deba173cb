//! End-to-end tests of the unix DNS appliance (netstack on a tap) with real tools,
//! in network namespaces: scenarios in `common/scenarios.rs`, set-up in
//! `common/mod.rs`. `tests/hvt.rs` runs the same scenarios on the hvt image.

#[macro_use]
mod common;

dns_scenarios!(common::Backend::unix(env!("CARGO_BIN_EXE_dns")));
