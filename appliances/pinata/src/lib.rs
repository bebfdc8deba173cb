//! # pinata: the Bitcoin Piñata appliance
//!
//! Wiring of [`pinata_core`] to the platform: five listeners on the service
//! interface's stack, rustls and hyper over the [`netio`] adapters, and one
//! log line per connection with port, peer, TLS version, cipher suite and
//! outcome (the failure reason when it failed). See [`pinata_core`] for the
//! rules and the certificates.
//!
//! The secret is written at exactly one place ([`deliver`]) and only into a
//! TLS session whose handshake completed with a peer certificate that chained
//! to the CA. It is never logged and never rendered.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::error::Error;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, DATE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use netio::tls::verify::{ChainOnly, Verifier};
use netio::tls::{describe_session, tls_error};
use netio::{HyperIo, PlatformTime, PlatformTimer, TlsStream};
use pinata_core::page::{self, PageContext};
use pinata_core::pki::{format_utc, http_date};
use pinata_core::{CaMode, ConnectBackLimiter, Pki, Ports, Secret, Service, Stats};
use platform::appliance::AppResult;
use platform::args::{ArgSpec, Args};
use platform::io::{AsyncRead, AsyncWrite};
use platform::rt;
use platform::stack::{Stack, TcpListener, TcpStream};
use platform::time::{self, Duration, Instant};
use platform::{Appliance, Device, Env};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

/// The secret of `--test` runs without `--secret`; worthless by design.
pub const TEST_MODE_SECRET: &str = "pinata-test-mode-secret (worthless: this Piñata runs with --test)";

/// Connections handled at once, all services together; more are closed at
/// accept.
pub const MAX_CONNECTIONS: usize = 512;

/// After its last TLS record the Piñata waits this long for the peer to close
/// first, so that TIME-WAIT — a socket with its buffers, on the netstack — is
/// the peer's to keep, not the Piñata's (see [`linger`]).
pub const LINGER: Duration = Duration::from_secs(2);

const ARGS: &[ArgSpec] = &[
    ArgSpec::value("secret", "TEXT", "the secret, sent to whoever wins (required unless --test)"),
    ArgSpec::flag(
        "test",
        "TEST ONLY: trust the fixed test CA whose private key is public, so anyone can win (default secret)",
    ),
    ArgSpec::value("hostname", "NAME", "host name of the web certificate").default("pinata.local"),
    ArgSpec::value("server-port", "PORT", "TLS server requiring a client certificate").default("10000"),
    ArgSpec::value("connect-back-port", "PORT", "accept, close, connect back as TLS client").default("10001"),
    ArgSpec::value("client-port", "PORT", "TLS client on the accepted connection").default("10002"),
    ArgSpec::value("http-port", "PORT", "rules page over HTTP").default("80"),
    ArgSpec::value("https-port", "PORT", "rules page over HTTPS").default("443"),
    ArgSpec::value("connect-back-target-port", "PORT", "the peer's port the connect-back goes to").default("40001"),
    ArgSpec::value("port-offset", "N", "added to every listening port, for unprivileged runs").default("0"),
    ArgSpec::value("handshake-timeout", "SECONDS", "limit on every TLS handshake").default("10"),
    ArgSpec::value("connect-back-interval", "SECONDS", "at most one connect-back per source per interval")
        .default("10"),
];

pub static APPLIANCE: Appliance = Appliance {
    name: "pinata",
    summary: "the Bitcoin Piñata: a TLS bounty that hands its secret only to a client holding a certificate \
              signed by its CA",
    version: env!("CARGO_PKG_VERSION"),
    devices: &[Device::net("service")],
    args: ARGS,
    main: |env| Box::pin(run(env)),
};

/// The Piñata's configuration, from its boot arguments.
#[derive(Debug)]
pub struct Config {
    pub secret: Secret,
    pub test: bool,
    pub hostname: String,
    pub ports: Ports,
    pub handshake_timeout: Duration,
    pub connect_back_interval: Duration,
}

fn config_error(msg: impl Into<String>) -> Box<dyn Error> {
    msg.into().into()
}

impl Config {
    pub fn from_args(args: &Args) -> Result<Config, Box<dyn Error>> {
        let test = args.flag("test");
        // The secret's value never goes into an error message.
        let secret = match args.get("secret") {
            Some("") => return Err(config_error("argument --secret must not be empty")),
            Some(s) => Secret::new(s),
            None if test => Secret::new(TEST_MODE_SECRET),
            None => return Err(config_error("argument --secret is required (or --test for a test run)")),
        };
        let hostname: String = args.required("hostname")?;
        if !pinata_core::pki::valid_hostname(&hostname) {
            return Err(args.invalid("hostname", "not a valid host name or address").into());
        }
        let offset: u16 = args.required("port-offset")?;
        let port = |name: &str| -> Result<u16, Box<dyn Error>> {
            let p: u16 = args.required(name)?;
            p.checked_add(offset)
                .filter(|p| *p != 0)
                .ok_or_else(|| args.invalid(name, format!("with --port-offset={offset} it is out of range")).into())
        };
        let ports = Ports {
            server: port("server-port")?,
            connect_back: port("connect-back-port")?,
            client: port("client-port")?,
            http: port("http-port")?,
            https: port("https-port")?,
            connect_back_target: args.required("connect-back-target-port")?,
        };
        let mut listening: Vec<u16> = Service::ALL.iter().map(|s| ports.of(*s)).collect();
        listening.sort_unstable();
        if listening.windows(2).any(|w| w[0] == w[1]) {
            return Err(config_error("two services are configured on the same port"));
        }
        let seconds = |name: &str| -> Result<Duration, Box<dyn Error>> {
            let s: u64 = args.required(name)?;
            if s == 0 || s > 3600 {
                return Err(args.invalid(name, "expected 1 to 3600 seconds").into());
            }
            Ok(Duration::from_secs(s))
        };
        Ok(Config {
            secret,
            test,
            hostname,
            ports,
            handshake_timeout: seconds("handshake-timeout")?,
            connect_back_interval: seconds("connect-back-interval")?,
        })
    }
}

/// The running Piñata, shared by its connection tasks.
struct Pinata {
    secret: Secret,
    pki: Pki,
    ports: Ports,
    stack: Stack,
    bounty_server: Arc<ServerConfig>,
    bounty_client: Arc<ClientConfig>,
    web_server: Arc<ServerConfig>,
    stats: RefCell<Stats>,
    limiter: RefCell<ConnectBackLimiter>,
    connect_back_interval: Duration,
    handshake_timeout: Duration,
    boot: Instant,
    active: Cell<usize>,
}

/// Counts a connection in flight for as long as it lives.
struct Active(Rc<Pinata>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get() - 1);
    }
}

/// The server verifier of the connect-back services (10001, 10002): the server must
/// chain to the Piñata CA; no name is matched, the peer is known by address only.
pub fn connect_back_verifier(pki: &Pki) -> Result<Arc<dyn ServerCertVerifier>, rustls::Error> {
    Ok(Verifier::new(ChainOnly::new(pinata_core::tls::roots(pki)?), pinata_core::tls::provider()))
}

/// The appliance's main.
pub async fn run(env: Env) -> AppResult {
    let config = Config::from_args(env.args())?;
    let mode = if config.test { CaMode::Test } else { CaMode::Fresh };
    // Every random byte of the Piñata (keys, certificate and handshake
    // signatures, TLS randoms, key exchange) from the platform's entropy,
    // through one generator seeded here (see `pinata_core::crypto`).
    let mut seed = [0u8; 48];
    env.entropy().fill(&mut seed);
    let rng = pinata_core::crypto::leak_random(&seed);
    let pki = Pki::generate_with(mode, time::sansio_now().wall, &config.hostname, rng)?;
    let clock: Arc<dyn rustls::time_provider::TimeProvider> = Arc::new(PlatformTime);
    let tls = |e: rustls::Error| format!("TLS configuration: {e}");
    let stack = env.stack()?;
    let ports = config.ports;
    let pinata = Rc::new(Pinata {
        bounty_server: pinata_core::tls::bounty_server(&pki, clock.clone()).map_err(tls)?,
        bounty_client: pinata_core::tls::bounty_client(&pki, clock.clone(), connect_back_verifier(&pki).map_err(tls)?)
            .map_err(tls)?,
        web_server: pinata_core::tls::web_server(&pki, clock).map_err(tls)?,
        secret: config.secret,
        pki,
        ports,
        stack: stack.clone(),
        stats: RefCell::new(Stats::default()),
        limiter: RefCell::new(ConnectBackLimiter::new(config.connect_back_interval, 4096)),
        connect_back_interval: config.connect_back_interval,
        handshake_timeout: config.handshake_timeout,
        boot: time::now(),
        active: Cell::new(0),
    });
    if config.test {
        log::warn!("TEST MODE: trusting the fixed test CA whose private key is public; anyone can win");
    }
    log::info!(
        "{} ({}); certificates valid from {} until {}; web certificate for {}",
        if config.test { "loaded the fixed test CA" } else { "made a fresh CA" },
        pinata_core::pki::CA_NAME,
        format_utc(pinata.pki.not_before),
        format_utc(pinata.pki.not_after),
        pinata.pki.hostname
    );
    let mut listeners = Vec::new();
    for service in Service::ALL {
        let port = ports.of(service);
        let listener = stack
            .tcp_listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
            .map_err(|e| format!("cannot listen on port {port} ({}): {e}", service.name()))?;
        listeners.push((listener, service));
    }
    for (listener, service) in listeners {
        rt::spawn(accept_loop(pinata.clone(), listener, service));
    }
    log::info!(
        "ready: tls-server on {}, connect-back on {} (to peer port {}), tls-client on {}, http on {}, https on {}; \
         stack {}{}",
        ports.server,
        ports.connect_back,
        ports.connect_back_target,
        ports.client,
        ports.http,
        ports.https,
        stack.describe(),
        if config.test { "; TEST MODE" } else { "" }
    );
    std::future::pending::<()>().await;
    Ok(())
}

async fn accept_loop(p: Rc<Pinata>, mut listener: TcpListener, service: Service) {
    let port = p.ports.of(service);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!("port {port}: accept failed: {e}");
                time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        p.stats.borrow_mut().connection(service);
        if p.active.get() >= MAX_CONNECTIONS {
            log::warn!("port {port} peer {peer}: closed at once, {MAX_CONNECTIONS} connections in flight");
            stream.abort();
            continue;
        }
        // TLS and HTTP write whole flights and responses; don't let Nagle
        // hold them back waiting for delayed ACKs.
        stream.set_nodelay(true);
        p.active.set(p.active.get() + 1);
        let guard = Active(p.clone());
        let p = p.clone();
        rt::spawn(async move {
            let _guard = guard;
            match service {
                Service::Server => bounty_server(&p, stream, peer).await,
                Service::ConnectBack => connect_back(&p, stream, peer).await,
                Service::Client => bounty_client(&p, stream, peer).await,
                Service::Http => http(&p, stream, peer, Service::Http).await,
                Service::Https => http(&p, stream, peer, Service::Https).await,
            }
        });
    }
}

/// Why a handshake failed, for the log: rustls' reason, or the I/O error.
fn reason(e: &io::Error) -> String {
    match tls_error(e) {
        Some(tls) => tls.to_string(),
        None => e.to_string(),
    }
}

/// Runs a handshake within the handshake timeout.
async fn handshake<IO: AsyncRead + AsyncWrite + Unpin>(p: &Pinata, tls: &mut TlsStream<IO>) -> io::Result<()> {
    match time::timeout(p.handshake_timeout, tls.handshake()).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("handshake timed out after {} s", p.handshake_timeout.as_secs()),
        )),
    }
}

/// Logs and counts the outcome of a handshake.
fn log_handshake<IO>(p: &Pinata, service: Service, peer: SocketAddr, tls: &TlsStream<IO>, r: &io::Result<()>) {
    let port = p.ports.of(service);
    let session = describe_session(tls.connection());
    match r {
        Ok(()) => p.stats.borrow_mut().handshake_done(service),
        Err(e) => {
            p.stats.borrow_mut().handshake_failed(service);
            log::info!("port {port} peer {peer}: {session}: handshake failed: {}", reason(e));
        }
    }
}

/// Waits (at most [`LINGER`]) for the peer to close its side, discarding
/// what it sends, before the caller drops the connection: a peer that closes
/// after the Piñata's last record (an alert, or the secret and close_notify)
/// keeps TIME-WAIT itself. A peer that does not is closed on anyway.
async fn linger<IO: AsyncRead + Unpin>(mut io: IO) {
    let _ = time::timeout(LINGER, async {
        let mut sink = [0u8; 512];
        while let Ok(n) = io.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Writes the secret into an authenticated session, then close_notify, then
/// lingers for the peer's close. The only place the secret's bytes are used.
async fn deliver<IO: AsyncRead + AsyncWrite + Unpin>(
    p: &Pinata,
    service: Service,
    peer: SocketAddr,
    mut tls: TlsStream<IO>,
) {
    let port = p.ports.of(service);
    let session = describe_session(tls.connection());
    // The handshake completed, so the verifier accepted the peer's chain; the
    // peer must also have presented one (belt and braces).
    if tls.connection().peer_certificates().is_none_or(|c| c.is_empty()) {
        log::error!("port {port} peer {peer}: {session}: no peer certificate after the handshake; not sending");
        return;
    }
    let sent = time::timeout(p.handshake_timeout, async {
        tls.write_all(p.secret.expose()).await?;
        tls.flush().await?;
        // close_notify without closing the TCP connection: the peer closes first.
        let (mut io, mut conn) = tls.into_inner();
        conn.send_close_notify();
        let mut last = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut last)?;
        }
        io.write_all(&last).await?;
        io.flush().await?;
        Ok::<_, io::Error>(io)
    })
    .await;
    match sent {
        Ok(Ok(io)) => {
            log::info!(
                "port {port} peer {peer}: {session}: peer certificate chains to the Piñata CA: secret sent ({} bytes)",
                p.secret.len()
            );
            linger(io).await;
        }
        Ok(Err(e)) => log::info!("port {port} peer {peer}: {session}: authenticated, but sending failed: {e}"),
        Err(_) => log::info!("port {port} peer {peer}: {session}: authenticated, but sending timed out"),
    }
}

/// Port 10000: TLS server, client certificate required.
async fn bounty_server(p: &Pinata, stream: TcpStream, peer: SocketAddr) {
    let mut tls = match TlsStream::server(stream, p.bounty_server.clone()) {
        Ok(tls) => tls,
        Err(e) => return log::error!("port {} peer {peer}: {e}", p.ports.server),
    };
    let r = handshake(p, &mut tls).await;
    log_handshake(p, Service::Server, peer, &tls, &r);
    if r.is_ok() {
        deliver(p, Service::Server, peer, tls).await;
    } else {
        linger(tls.into_inner().0).await;
    }
}

/// Port 10002: TLS client on the accepted connection.
async fn bounty_client(p: &Pinata, stream: TcpStream, peer: SocketAddr) {
    let name = ServerName::IpAddress(peer.ip().into());
    let mut tls = match TlsStream::client(stream, p.bounty_client.clone(), name) {
        Ok(tls) => tls,
        Err(e) => return log::error!("port {} peer {peer}: {e}", p.ports.client),
    };
    let r = handshake(p, &mut tls).await;
    log_handshake(p, Service::Client, peer, &tls, &r);
    if r.is_ok() {
        deliver(p, Service::Client, peer, tls).await;
    } else {
        linger(tls.into_inner().0).await;
    }
}

/// Port 10001: close, then connect back to the peer and run a TLS client.
async fn connect_back(p: &Pinata, stream: TcpStream, peer: SocketAddr) {
    let port = p.ports.connect_back;
    drop(stream);
    if !p.limiter.borrow_mut().allow(peer.ip(), time::now()) {
        p.stats.borrow_mut().rate_limited(Service::ConnectBack);
        log::info!(
            "port {port} peer {peer}: connect-back refused: rate limited (one per {} s per source)",
            p.connect_back_interval.as_secs()
        );
        return;
    }
    let target = SocketAddr::new(peer.ip(), p.ports.connect_back_target);
    let stream = match time::timeout(p.handshake_timeout, p.stack.tcp_connect(target)).await {
        Ok(Ok(s)) => {
            s.set_nodelay(true);
            s
        }
        Ok(Err(e)) => return log::info!("port {port} peer {peer}: connect-back to {target} failed: {e}"),
        Err(_) => return log::info!("port {port} peer {peer}: connect-back to {target} timed out"),
    };
    let name = ServerName::IpAddress(peer.ip().into());
    let mut tls = match TlsStream::client(stream, p.bounty_client.clone(), name) {
        Ok(tls) => tls,
        Err(e) => return log::error!("port {port} peer {peer}: {e}"),
    };
    let r = handshake(p, &mut tls).await;
    log_handshake(p, Service::ConnectBack, target, &tls, &r);
    if r.is_ok() {
        deliver(p, Service::ConnectBack, target, tls).await;
    } else {
        linger(tls.into_inner().0).await;
    }
}

/// Longest an HTTP connection may stay open.
const HTTP_CONNECTION_LIMIT: Duration = Duration::from_secs(60);

/// Ports 80 and 443: the rules page.
async fn http(p: &Rc<Pinata>, stream: TcpStream, peer: SocketAddr, service: Service) {
    let local = stream.local_addr();
    let port = p.ports.of(service);
    let result = if service == Service::Https {
        let mut tls = match TlsStream::server(stream, p.web_server.clone()) {
            Ok(tls) => tls,
            Err(e) => return log::error!("port {port} peer {peer}: {e}"),
        };
        let r = handshake(p, &mut tls).await;
        log_handshake(p, service, peer, &tls, &r);
        if r.is_err() {
            return;
        }
        let session = describe_session(tls.connection());
        serve_http(p, HyperIo::new(tls), local, peer, port, session).await
    } else {
        serve_http(p, HyperIo::new(stream), local, peer, port, "plain HTTP".into()).await
    };
    match result {
        Ok(0) => log::info!("port {port} peer {peer}: closed without a request"),
        Ok(_) => {}
        Err(e) => log::info!("port {port} peer {peer}: HTTP connection failed: {e}"),
    }
}

async fn serve_http<T: AsyncRead + AsyncWrite + Unpin + 'static>(
    p: &Rc<Pinata>,
    io: HyperIo<T>,
    local: SocketAddr,
    peer: SocketAddr,
    port: u16,
    session: String,
) -> Result<u64, String> {
    let pinata = p.clone();
    let requests = Rc::new(Cell::new(0u64));
    let counter = requests.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        counter.set(counter.get() + 1);
        let response = respond(&pinata, &req, local);
        log::info!("port {port} peer {peer}: {session}: {} {} {}", req.method(), req.uri().path(), response.status());
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(PlatformTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(io, service);
    match time::timeout(HTTP_CONNECTION_LIMIT, conn).await {
        Ok(Ok(())) => Ok(requests.get()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("closed after the limit of {} s", HTTP_CONNECTION_LIMIT.as_secs())),
    }
}

fn respond(p: &Pinata, req: &Request<Incoming>, local: SocketAddr) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &'static str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        // The Date header from the platform's wall clock (hyper would read the
        // host's, which the simulator does not drive).
        if let Some(date) = http_date(time::sansio_now().wall).and_then(|d| HeaderValue::from_str(&d).ok()) {
            r.headers_mut().insert(DATE, date);
        }
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "only GET and HEAD\n".into());
    }
    match req.uri().path() {
        "/" | "/index.html" => {
            let stats = p.stats.borrow();
            let address = local.ip().to_string();
            let page = page::render(&PageContext {
                address: &address,
                hostname: &p.pki.hostname,
                ports: p.ports,
                ca_pem: p.pki.ca_pem(),
                test_mode: p.pki.mode == CaMode::Test,
                uptime: time::now() - p.boot,
                stats: &stats,
                connect_back_interval: p.connect_back_interval,
                version: env!("CARGO_PKG_VERSION"),
                valid_from: &format_utc(p.pki.not_before),
                valid_until: &format_utc(p.pki.not_after),
            });
            reply(StatusCode::OK, "text/html; charset=utf-8", page)
        }
        "/ca.pem" => reply(StatusCode::OK, "application/x-pem-file", p.pki.ca_pem().to_string()),
        _ => reply(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::args::Parsed;

    fn config(argv: &[&str]) -> Result<Config, String> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        match Args::parse(&APPLIANCE.arg_specs(), &argv).map_err(|e| e.to_string())? {
            Parsed::Run(args) => Config::from_args(&args).map_err(|e| e.to_string()),
            Parsed::Help(_) => Err("help".into()),
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&["--secret=s3cr3t-value"]).unwrap();
        assert_eq!(c.ports, Ports::default());
        assert!(!c.test);
        assert_eq!(c.hostname, "pinata.local");
        let c =
            config(&["--test", "--port-offset=20000", "--https-port=8443", "--connect-back-target-port=5"]).unwrap();
        assert_eq!((c.ports.server, c.ports.http, c.ports.https), (30000, 20080, 28443));
        assert_eq!(c.ports.connect_back_target, 5);
        assert_eq!(c.secret.expose(), TEST_MODE_SECRET.as_bytes());
    }

    #[test]
    fn errors_never_show_the_secret() {
        assert!(config(&[]).unwrap_err().contains("--secret is required"));
        assert!(config(&["--secret="]).unwrap_err().contains("must not be empty"));
        for bad in [
            &["--secret=s3cr3t-value", "--port-offset=60000"][..],
            &["--secret=s3cr3t-value", "--hostname=bad name"],
            &["--secret=s3cr3t-value", "--http-port=10000"],
            &["--secret=s3cr3t-value", "--secret=s3cr3t-value"],
            &["--secret=s3cr3t-value", "--handshake-timeout=0"],
        ] {
            let e = config(bad).unwrap_err();
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        let c = config(&["--secret=s3cr3t-value"]).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
