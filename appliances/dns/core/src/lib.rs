//! The authoritative DNS server without I/O: bytes and the time in, bytes and
//! the next deadline out.
//!
//! Module owners while the crate is being built (keep to your own files):
//! zone, query, server, rrl — the zone store and answering;
//! tsig, keys, update, xfr, notify, secondary — the dynamic parts.

pub mod keys;
pub mod notify;
pub mod query;
pub mod rrl;
pub mod secondary;
pub mod server;
pub mod tsig;
pub mod update;
pub mod xfr;
pub mod zone;
