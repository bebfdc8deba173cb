//! Counters per service, shown on the rules page.

/// The Piñata's services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// TLS server, client certificate required (10000).
    Server,
    /// Connect-back TLS client (10001).
    ConnectBack,
    /// TLS client on the accepted connection (10002).
    Client,
    /// Rules page over HTTP (80).
    Http,
    /// Rules page over HTTPS (443).
    Https,
}

impl Service {
    pub const ALL: [Service; 5] =
        [Service::Server, Service::ConnectBack, Service::Client, Service::Http, Service::Https];

    fn index(self) -> usize {
        self as usize
    }

    /// Short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Service::Server => "tls-server",
            Service::ConnectBack => "connect-back",
            Service::Client => "tls-client",
            Service::Http => "http",
            Service::Https => "https",
        }
    }

    /// Whether a successful handshake on this service hands out the secret.
    pub fn is_bounty(self) -> bool {
        matches!(self, Service::Server | Service::ConnectBack | Service::Client)
    }
}

/// The counters of one service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// TLS handshakes that failed (any reason: bad certificate, garbage, timeout).
    pub handshake_failures: u64,
    /// TLS handshakes that completed.
    pub handshakes: u64,
    /// Connect-backs refused by the rate limiter (10001 only).
    pub rate_limited: u64,
}

/// Counters of every service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    per: [ServiceStats; 5],
}

impl Stats {
    pub fn get(&self, s: Service) -> &ServiceStats {
        &self.per[s.index()]
    }
    pub fn connection(&mut self, s: Service) {
        self.per[s.index()].connections += 1;
    }
    pub fn handshake_failed(&mut self, s: Service) {
        self.per[s.index()].handshake_failures += 1;
    }
    pub fn handshake_done(&mut self, s: Service) {
        self.per[s.index()].handshakes += 1;
    }
    pub fn rate_limited(&mut self, s: Service) {
        self.per[s.index()].rate_limited += 1;
    }
}
