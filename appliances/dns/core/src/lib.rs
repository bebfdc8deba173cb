//! The authoritative DNS server without I/O: bytes and the time in, bytes and
//! the next deadline out, in the shared vocabulary of crate `sansio`.
//!
//! Modules in layers, each importing only from the layers below it (checked by
//! `tests/module_layers.rs`):
//! 1. leaves: `serial` (RFC 1982), `section`, `tsig`, `rrl`, `zone`;
//! 2. `keys` (TSIG key store), `query` (answering from zones), `handled` (what a
//!    request turns into: `Transport`, `Handled`), `transfer` (transfers in);
//! 3. the features: `update`, `xfr`, `notify` (dispatched by the server) and
//!    `secondary` (driven by the wiring);
//! 4. `server`, the dispatcher: the only module that imports the features, and the
//!    only one with `impl Server`.

pub mod handled;
pub mod keys;
pub mod notify;
pub mod query;
pub mod rrl;
pub mod secondary;
pub mod section;
pub mod serial;
pub mod server;
pub mod transfer;
pub mod tsig;
pub mod update;
pub mod xfr;
pub mod zone;
