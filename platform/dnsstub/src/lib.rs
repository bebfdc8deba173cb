//! # dnsstub: host names to addresses through a DNS server
//!
//! A stub resolver (RFC 1035 §7) for appliances that are given a host name
//! (`--remote=git://git.example/…`, CalDAV's remote, the firewall's
//! `dsthost=`) and one or more recursive servers with `--dns-server=`. It is
//! the only way to resolve on hvt, which has no host resolver, and when
//! `--dns-server` is given it is used on unix too, so a name means the same on
//! every target.
//!
//! Layers, as the appliance cores (ARCHITECTURE.md, rule 1):
//! * [`wire`]: the message codec a stub needs (a query; a reply's header,
//!   question and answers; name decompression that rejects loops, forward
//!   pointers and over-long names);
//! * [`lookup`]: the sans-IO lookup — bytes and time in, datagrams and a
//!   deadline out, through the [`sansio::Driver`] verbs;
//! * [`cache`]: answers kept by TTL, bounded;
//! * [`Resolver`]: the driver over the platform's stack API: a UDP socket on a
//!   random port per lookup, TCP when a reply is truncated (RFC 7766), the
//!   platform's entropy for IDs and ports, the platform clock for timeouts.
//!
//! Why a crate of its own under `platform/`: every appliance may depend on
//! `platform` crates, and gitstore (used by dns and caldav) needs it; a module
//! of `netio` would bring rustls and hyper along to whoever only resolves.
//! It has its own minimal codec rather than hickory for the same reason: the
//! crate stays small for hvt images.

pub mod cache;
pub mod lookup;
pub mod wire;

mod client;

pub use client::{Resolver, parse_servers};
pub use lookup::{Answer, Config, Error, Lookup, Transmit};
pub use wire::Name;
