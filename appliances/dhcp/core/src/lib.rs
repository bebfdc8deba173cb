//! # dhcp-core: the DHCPv4 server, sans-IO
//!
//! * [`config`]: dnsmasq-style settings (`--range`, `--host`, `--option`,
//!   `--domain`) into a checked [`config::Config`];
//! * [`wire`]: DHCP messages in and out (dhcproto, plus option overload,
//!   RFC 3396 long options and option 108 done here);
//! * [`server`]: the RFC 2131 state machine: DISCOVER/REQUEST/DECLINE/
//!   RELEASE/INFORM to OFFER/ACK/NAK, reply addressing (§4.1), relays;
//! * [`driver`]: the server on the shared sans-IO verbs (`sansio::Driver`):
//!   `handle_request`, `handle_arp_claim`, `handle_timeout`, `poll_timeout`,
//!   `poll_transmit`, with the ARP-probe timers;
//! * [`leases`]: the lease table and address allocation;
//! * [`record`] and [`log`]: the durable lease log (checksummed batches,
//!   two alternating regions for compaction, replay at boot).
//!
//! Nothing here reads a clock or touches a device: time comes in as a
//! `sansio::Now` (the monotonic clock for timers, the wall clock for lease
//! expiry, which is written to disk and so must keep its meaning across
//! restarts), storage through the small [`log::Device`] trait.

pub mod config;
pub mod crc32;
pub mod driver;
pub mod leases;
pub mod log;
pub mod record;
pub mod server;
pub mod wire;

pub use config::{Config, ConfigError, Settings};
pub use driver::Transmit;
pub use log::{Device, Log, LogError, Opened};
pub use record::Record;
pub use server::{Destination, LinkDest, Outcome, Reply, Server};
pub use wire::{Request, WireError, decode_request};
