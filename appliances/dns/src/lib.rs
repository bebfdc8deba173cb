//! # dns: an authoritative DNS server whose zones live in git
//!
//! Wiring of [`dns_core`] (sans-IO answering, UPDATE, transfers, NOTIFY) to the
//! platform's stack and to a git repository through [`gitstore`]:
//!
//! * boot: fetch `--remote`, parse every zone file at the repository root and the
//!   `_keys` files ([`zones`]); a broken zone is logged with file:line:reason and
//!   skipped, the others are served; then log `dns: serving N zones on ADDR:PORT`;
//! * [`wire`]: the UDP loop and the TCP listener (RFC 7766 framing, several queries
//!   per connection, idle timeout, transfers streamed);
//! * UPDATE: the prepared zone is committed to the in-memory repository (author =
//!   TSIG key name, message naming the client), pushed, and only then answered
//!   (SERVFAIL and the change dropped when the push fails; RFC 2136 §3.5 wants the
//!   change durable first). Updates and fetches hold one [`sync::Gate`], so they
//!   happen one at a time;
//! * signed NOTIFY or the `--refresh` timer: fetch, re-parse changed files, swap
//!   zones, record IXFR history, NOTIFY our secondaries ([`zones::install`]);
//! * `--secondary`: no git; zones come by AXFR/IXFR from the primaries named by
//!   transfer keys given with `--keys` ([`secondary`]).

use std::cell::RefCell;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;

use dns_core::keys::KeyStore;
use dns_core::notify::Notifier;
use dns_core::rrl;
use dns_core::server::{Options, Server};
use dns_core::xfr::History;
use dns_core::zone::Zones;
use platform::appliance::AppResult;
use platform::args::{self, ArgError, ArgSpec, Args};
use platform::stack::{Stack, UdpSocket};
use platform::time;
use platform::{Appliance, Device, Env};

pub mod drive;
pub mod secondary;
pub mod sync;
pub mod wire;
pub mod zones;

const ARGS: &[ArgSpec] = &[
    args::REMOTE,
    args::TLS_AUTHENTICATOR,
    args::DNS_SERVER,
    ArgSpec::flag("axfr", "serve AXFR/IXFR to clients without a TSIG transfer key"),
    ArgSpec::flag("secondary", "secondary mode: transfer the zones of the --keys transfer keys, no git"),
    ArgSpec::value("keys", "NAME:ALG:SECRET", "a TSIG key (ALG sha1|sha256|sha384|sha512, SECRET base64)").repeatable(),
    ArgSpec::value("refresh", "SECONDS", "fetch the repository again this often (0: only on NOTIFY)").default("3600"),
    ArgSpec::value("ixfr-history", "N", "zone versions kept per zone for IXFR").default("5"),
    ArgSpec::value("rrl", "RATE[/SLIP]", "response rate limit per client block and answer, per second (0: off)")
        .default("0"),
    ArgSpec::value("port", "PORT", "UDP and TCP port to serve DNS on").default("53"),
];

pub static APPLIANCE: Appliance = Appliance {
    name: "dns",
    summary: "authoritative DNS primary/secondary with zones in git",
    version: env!("CARGO_PKG_VERSION"),
    devices: &[Device::net("service")],
    args: ARGS,
    main: |env| Box::pin(serve(env)),
};

/// Settings from the boot arguments.
#[derive(Debug, Clone)]
pub struct Config {
    pub remote: Option<String>,
    pub tls_authenticator: Option<String>,
    /// `--dns-server`: resolves a host name in `--remote` (instead of the host's
    /// resolver on unix; the only resolver on hvt).
    pub dns_servers: Vec<SocketAddr>,
    pub secondary: bool,
    pub keys: KeyStore,
    pub refresh_secs: u64,
    pub history: usize,
    pub options: Options,
    pub port: u16,
}

/// Reads the configuration; errors name the argument.
pub fn config_from_args(args: &Args) -> Result<Config, ArgError> {
    let secondary = args.flag("secondary");
    let remote = args.get("remote").map(str::to_string);
    if remote.is_none() && !secondary {
        return Err(ArgError::Missing("remote".into()));
    }
    let mut keys = KeyStore::new();
    for k in args.all("keys") {
        keys.merge(parse_key_arg(k).map_err(|reason| args.invalid("keys", reason))?);
    }
    if secondary && keys.primaries().is_empty() {
        let why = "secondary mode needs transfer keys <primary-ip>.<our-ip>._transfer.<zone> in --keys";
        return Err(args.invalid("secondary", why));
    }
    let dns_servers = dnsstub::parse_servers(args.all("dns-server")).map_err(|r| args.invalid("dns-server", r))?;
    let mut options = Options { axfr_unsigned: args.flag("axfr"), ..Options::default() };
    options.rrl = parse_rrl(args.get("rrl").unwrap_or("0")).map_err(|r| args.invalid("rrl", r))?;
    Ok(Config {
        remote,
        tls_authenticator: args.get("tls-authenticator").map(str::to_string),
        dns_servers,
        secondary,
        keys,
        refresh_secs: args.required("refresh")?,
        history: args.required("ixfr-history")?,
        options,
        port: args.required("port")?,
    })
}

/// `--keys=NAME:ALG:SECRET` as a `_keys` record (one parser for both).
fn parse_key_arg(arg: &str) -> Result<KeyStore, String> {
    let mut parts = arg.splitn(3, ':');
    let (Some(name), Some(alg), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected NAME:ALG:SECRET".into());
    };
    let number = match alg.to_ascii_lowercase().trim_start_matches("hmac-") {
        "sha1" => 161,
        "sha256" => 163,
        "sha384" => 164,
        "sha512" => 165,
        other => return Err(format!("unknown algorithm {other:?} (sha1, sha256, sha384, sha512)")),
    };
    let name = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
    KeyStore::parse("_keys", &format!("{name} DNSKEY 0 3 {number} {secret}\n")).map_err(|e| e.to_string())
}

/// `--rrl=RATE[/SLIP]`; slip 2 by default (every second limited reply goes out TC=1).
fn parse_rrl(text: &str) -> Result<rrl::Config, String> {
    let (rate, slip) = text.split_once('/').unwrap_or((text, "2"));
    let rate: u32 = rate.parse().map_err(|_| "the rate is not a number".to_string())?;
    let slip: u32 = slip.parse().map_err(|_| "the slip is not a number".to_string())?;
    Ok(rrl::Config { responses_per_second: rate, slip, ..rrl::Config::default() })
}

/// The time as the core wants it: both clocks.
pub fn now() -> sansio::Now {
    time::sansio_now()
}

/// Everything the tasks share. Borrows of the `RefCell`s never span an await.
pub struct Shared {
    pub server: RefCell<Server>,
    pub notifier: RefCell<Notifier>,
    /// Wakes the NOTIFY sender after a zone change.
    pub notify_wake: sync::Signal,
    /// Asks the git task to fetch now (signed NOTIFY, failed push).
    pub refetch: sync::Signal,
    /// Held by whoever changes zones (update, fetch, transfer in).
    pub gate: sync::Gate,
    pub udp: UdpSocket,
    pub git: Option<zones::GitSync>,
    pub secondary: Option<RefCell<dns_core::secondary::Secondary>>,
    /// Wakes the secondary driver (NOTIFY from the primary).
    pub secondary_wake: sync::Signal,
    pub stack: Stack,
}

impl Shared {
    /// Queues NOTIFY for a changed zone and wakes the sender.
    pub fn zone_changed(&self, origin: &dns_core::zone::Zone) {
        let keys = self.server.borrow().keys.clone();
        self.notifier.borrow_mut().handle_zone_changed(now(), origin, &keys);
        self.notify_wake.raise();
    }
}

fn seed(env: &Env) -> u64 {
    let mut b = [0u8; 8];
    env.entropy().fill(&mut b);
    u64::from_le_bytes(b)
}

async fn serve(env: Env) -> AppResult {
    let cfg = config_from_args(env.args())?;
    let stack = env.stack()?;
    let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, cfg.port));
    let udp = stack.udp_bind(bind).map_err(|e| -> Box<dyn Error> { format!("UDP port {}: {e}", cfg.port).into() })?;
    let listener =
        stack.tcp_listen(bind).map_err(|e| -> Box<dyn Error> { format!("TCP port {}: {e}", cfg.port).into() })?;
    let mut server = Server::new(Zones::new(), cfg.options.clone());
    server.history = History::new(cfg.history);
    let (git, secondary) = if cfg.secondary {
        server.keys = std::sync::Arc::new(cfg.keys.clone());
        let sec = dns_core::secondary::Secondary::new(cfg.keys.primaries(), seed(&env), now());
        // Until its first transfer a zone is configured but not servable: SERVFAIL.
        server.unavailable.extend(sec.zones().map(|z| z.to_lowercase()));
        (None, Some(RefCell::new(sec)))
    } else {
        (Some(zones::GitSync::new(&stack, &cfg, env.entropy())?), None)
    };
    let shared = Rc::new(Shared {
        server: RefCell::new(server),
        notifier: RefCell::new(Notifier::new(seed(&env))),
        notify_wake: sync::Signal::default(),
        refetch: sync::Signal::default(),
        gate: sync::Gate::default(),
        udp,
        git,
        secondary,
        secondary_wake: sync::Signal::default(),
        stack: stack.clone(),
    });
    if shared.git.is_some() {
        zones::initial_load(&shared, &cfg).await?;
        platform::rt::spawn(zones::refresh_task(shared.clone(), cfg.refresh_secs));
    } else {
        platform::rt::spawn(secondary::run(shared.clone()));
    }
    let count = if cfg.secondary { cfg.keys.primaries().len() } else { shared.server.borrow().zones.len() };
    let addrs: Vec<String> = stack.addresses().iter().map(|a| SocketAddr::new(a.addr, cfg.port).to_string()).collect();
    let mode = if cfg.secondary { "secondary for" } else { "serving" };
    log::info!("dns: {mode} {count} zones on {} ({})", addrs.join(" "), stack.describe());
    platform::rt::spawn(wire::notify_sender(shared.clone()));
    platform::rt::spawn(wire::tcp_accept(shared.clone(), listener));
    wire::udp_loop(shared).await
}
