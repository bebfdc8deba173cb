//! # pinata-core: the Bitcoin Piñata without I/O
//!
//! The Piñata holds a secret and hands it out only at the end of a mutually
//! authenticated TLS handshake whose peer certificate chains to the Piñata's
//! own CA — which it generates at boot and whose key never leaves memory. Its
//! services (defaults; every port can be overridden):
//!
//! | port | what happens |
//! | --- | --- |
//! | 10000 | TLS server requiring a client certificate from the CA → secret, close |
//! | 10001 | accept, close, connect back to the peer on 40001, TLS client presenting the Piñata client certificate, server must chain to the CA → secret |
//! | 10002 | TLS *client* handshake on the accepted connection, server must chain to the CA → secret |
//! | 80 / 443 | the rules page (HTTP / HTTPS with the web certificate), `/ca.pem` |
//!
//! This crate holds the parts that need no network and no clock reads: the
//! certificates ([`pki`]), the rustls configurations ([`tls`]), the rules
//! page ([`page`]), the counters ([`stats`]), the connect-back rate limiter
//! ([`limiter`]) and the [`Secret`] type that never prints itself. Time comes
//! in as arguments (the boot wall-clock time, a monotonic `sansio::Instant`,
//! and a rustls `TimeProvider` for validation).

pub mod crypto;
pub mod limiter;
pub mod page;
pub mod pki;
pub mod secret;
pub mod stats;
pub mod tls;

pub use limiter::ConnectBackLimiter;
pub use pki::{CaMode, Pki, PkiError};
pub use secret::Secret;
pub use stats::{Service, Stats};

/// The ports of the Piñata's services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// TLS server requiring a client certificate (10000).
    pub server: u16,
    /// Accept, close, connect back (10001).
    pub connect_back: u16,
    /// TLS client on the accepted connection (10002).
    pub client: u16,
    /// Rules page over HTTP (80).
    pub http: u16,
    /// Rules page over HTTPS (443).
    pub https: u16,
    /// The peer's port the connect-back service connects to (40001).
    pub connect_back_target: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports { server: 10000, connect_back: 10001, client: 10002, http: 80, https: 443, connect_back_target: 40001 }
    }
}

impl Ports {
    /// The listening port of `service`.
    pub fn of(&self, service: Service) -> u16 {
        match service {
            Service::Server => self.server,
            Service::ConnectBack => self.connect_back,
            Service::Client => self.client,
            Service::Http => self.http,
            Service::Https => self.https,
        }
    }
}
