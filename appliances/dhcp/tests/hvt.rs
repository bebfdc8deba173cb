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

#[macro_use]
mod common;

dhcp_scenarios!(common::Backend::hvt("dhcp"), #[ignore = "needs root, dist/dhcp.hvt and the tender; see the module docs"]);
