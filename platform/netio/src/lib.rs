//! # netio: TLS and HTTP over platform streams
//!
//! The IO adapters every appliance shares, so that appliance code drives
//! rustls and hyper without naming a backend (or tokio):
//!
//! * [`tls`]: a TLS stream ([`tls::TlsStream`]) over any `futures_io` byte
//!   stream — in practice a [`platform::stack::TcpStream`] — using rustls'
//!   buffered connections (`read_tls` / `process_new_packets` / `write_tls`
//!   driven by the stream's `poll_read` / `poll_write`). It is itself a
//!   `futures_io` stream, and the handshake is explicit ([`tls::accept`],
//!   [`tls::connect`]) so callers can log and count its outcome.
//! * [`tls::verify`]: the server-certificate verifiers (one signature-checking
//!   base, a policy each: chain only, pinned fingerprint, any) and MirageOS'
//!   `--tls-authenticator=` parser, shared by the Piñata and gitstore.
//! * [`PlatformTime`]: a rustls `TimeProvider` that reads the platform's wall
//!   clock, so certificate validation follows the backend's clock (the
//!   simulator's virtual one included) instead of `SystemTime`.
//! * [`hyper_io::HyperIo`]: hyper 1.x `rt::Read` / `rt::Write` over any
//!   `futures_io` stream (a TCP stream, or a TLS stream over one).
//! * [`timer::PlatformTimer`]: hyper's `rt::Timer` over
//!   [`platform::time::Sleep`].

pub mod hyper_io;
pub mod timer;
pub mod tls;

pub use hyper_io::HyperIo;
pub use timer::PlatformTimer;
pub use tls::{PlatformTime, TlsStream};
