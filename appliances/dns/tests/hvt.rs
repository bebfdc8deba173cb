//! The end-to-end scenarios of `tests/e2e.rs` against the hvt image: `dist/dns.hvt`
//! under `tender --engine=process --net:service=tap0`, in the namespace each test
//! makes, with the same git servers, clients and NSD.
//!
//! Needs (each test fails, never passes, without them): root, iproute2 and the tools
//! of `tests/common/mod.rs`; the image (`cargo xtask image dns`, or
//! `HVT_DNS_IMAGE=PATH`); the tender (`HVT_TENDER=PATH`, else one built in `target`).
//! Ignored by default; the CI hvt stage runs
//! `cargo test -p dns --test hvt -- --ignored` after building them.

#[macro_use]
mod common;

dns_scenarios!(common::Backend::hvt("dns"), #[ignore = "needs root, dist/dns.hvt and the tender; see the module docs"]);
