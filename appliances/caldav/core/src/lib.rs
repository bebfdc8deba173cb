//! # caldav-core: WebDAV and CalDAV without IO
//!
//! [`Server::handle_request`] takes one HTTP [`Request`] (body in memory) and a
//! read-only [`Store`] — one version of the data, for the appliance a git commit —
//! and returns an [`Outcome`]: the [`Response`] and the [`Change`]s to the store
//! the request makes. The wiring applies the changes (one commit, pushed) and only
//! then sends the response; if the push loses a race it re-runs the request on the
//! new version, so preconditions (If-Match, UID conflicts) are checked against what
//! is really stored.
//!
//! Modules: [`xml`] (request bodies; no DTDs), [`path`] (decoding, nothing escapes
//! a home), [`auth`] (Basic against bcrypt), [`ical`] (RFC 5545 via the
//! `icalendar` crate, RFC 4791 §4.1 checks, time ranges), [`collection`] (the
//! `.collection` file), [`props`], [`report`], [`server`].

pub mod auth;
pub mod collection;
pub mod http;
pub mod ical;
pub mod path;
pub mod props;
pub mod report;
pub mod server;
pub mod store;
pub mod xml;

pub use auth::Users;
pub use http::{Request, Response};
pub use server::{Options, Outcome, Server};
pub use store::{Change, Entry, MemStore, Store};
