//! # caldav: a CalDAV server whose store is a git repository
//!
//! Wiring of [`caldav_core`] to the platform's stack (hyper over [`netio`]) and to
//! a git remote through [`gitstore`]:
//!
//! * boot: fetch `--remote` (an empty or missing branch is an empty store), log
//!   `caldav: serving on ADDR:PORT`;
//! * every request is read whole (bodies over `--max-size` answered 413, by
//!   Content-Length before reading), then answered by the core against the head
//!   commit;
//! * a request that changes the store becomes one commit (author = the user,
//!   message = method, path and user agent) which is pushed before the response
//!   (`--sync=strict`): an acknowledged change is in the remote. If the push is
//!   rejected because someone else pushed, the branch is fetched and the request
//!   is answered again on top of it (its preconditions checked anew), up to
//!   [`REPLAYS`] times; any other push failure is answered 503 and changes nothing;
//! * `--refresh=SECONDS` fetches external pushes periodically.
//!
//! Requests are handled one at a time under one lock: the core is fast and a
//! commit must see the previous one.

use std::cell::RefCell;
use std::convert::Infallible;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;

use caldav_core::{Options, Request, Response, Server, Users};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use netio::{HyperIo, PlatformTimer};
use platform::appliance::AppResult;
use platform::args::{self, ArgError, ArgSpec, Args};
use platform::stack::TcpStream;
use platform::time::{self, Duration};
use platform::{Appliance, Device, Env};

pub mod store;

use store::{Git, PushError, Snapshot};

/// How often a request is answered again after losing a push race.
pub const REPLAYS: usize = 5;

const ARGS: &[ArgSpec] = &[
    args::REMOTE,
    args::TLS_AUTHENTICATOR,
    ArgSpec::value("user", "NAME:HASH", "a user and their bcrypt password hash (htpasswd -nB NAME)").repeatable(),
    ArgSpec::flag("insecure-http", "serve plain HTTP (Basic passwords in clear); required until TLS is offered"),
    ArgSpec::value("port", "PORT", "TCP port to serve HTTP on").default("80"),
    ArgSpec::value("sync", "MODE", "strict: a change is pushed before it is acknowledged").default("strict"),
    ArgSpec::value("refresh", "SECONDS", "fetch the remote this often for external changes (0: never)").default("0"),
    ArgSpec::value("max-size", "BYTES", "largest request body and calendar object").default("1048576"),
];

pub static APPLIANCE: Appliance = Appliance {
    name: "caldav",
    summary: "CalDAV/WebDAV server storing calendars in git",
    version: env!("CARGO_PKG_VERSION"),
    devices: &[Device::net("service")],
    args: ARGS,
    main: |env| Box::pin(serve(env)),
};

/// Settings from the boot arguments.
#[derive(Debug, Clone)]
pub struct Config {
    pub remote: String,
    pub tls_authenticator: Option<String>,
    pub users: Users,
    pub port: u16,
    pub refresh_secs: u64,
    pub max_size: usize,
}

/// Reads the configuration; errors name the argument.
pub fn config_from_args(args: &Args) -> Result<Config, ArgError> {
    let remote = args.get("remote").ok_or_else(|| ArgError::Missing("remote".into()))?.to_string();
    let mut users = Users::default();
    for u in args.all("user") {
        users.add(u).map_err(|why| args.invalid("user", why))?;
    }
    if users.is_empty() {
        return Err(ArgError::Missing("user".into()));
    }
    if !args.flag("insecure-http") {
        return Err(args.invalid("insecure-http", "TLS is not offered yet: give --insecure-http to serve plain HTTP"));
    }
    match args.get("sync").unwrap_or("strict") {
        "strict" => {}
        other => return Err(args.invalid("sync", format!("{other:?}: only strict is offered"))),
    }
    Ok(Config {
        remote,
        tls_authenticator: args.get("tls-authenticator").map(str::to_string),
        users,
        port: args.required("port")?,
        refresh_secs: args.required("refresh")?,
        max_size: args.required("max-size")?,
    })
}

/// Everything the connections share. Borrows never span an await.
pub struct Shared {
    pub server: RefCell<Server>,
    pub git: Git,
    /// Held while a request is answered and committed.
    pub lock: async_lock::Mutex<()>,
    pub max_size: usize,
}

async fn serve(env: Env) -> AppResult {
    let cfg = config_from_args(env.args())?;
    let stack = env.stack()?;
    let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, cfg.port));
    let mut listener =
        stack.tcp_listen(bind).map_err(|e| -> Box<dyn Error> { format!("TCP port {}: {e}", cfg.port).into() })?;
    let git = Git::new(&stack, &cfg.remote, cfg.tls_authenticator.as_deref())?;
    git.fetch().await.map_err(|e| -> Box<dyn Error> { format!("fetching {}: {e}", cfg.remote).into() })?;
    let options = Options { max_resource_size: cfg.max_size };
    let shared = Rc::new(Shared {
        server: RefCell::new(Server::new(cfg.users.clone(), options)),
        git,
        lock: async_lock::Mutex::new(()),
        max_size: cfg.max_size,
    });
    if cfg.refresh_secs > 0 {
        platform::rt::spawn(refresh(shared.clone(), cfg.refresh_secs));
    }
    let addrs: Vec<String> = stack.addresses().iter().map(|a| SocketAddr::new(a.addr, cfg.port).to_string()).collect();
    log::info!("caldav: serving on {} ({})", addrs.join(" "), stack.describe());
    loop {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true);
        platform::rt::spawn(connection(shared.clone(), stream, peer));
    }
}

async fn refresh(shared: Rc<Shared>, secs: u64) {
    loop {
        time::sleep(Duration::from_secs(secs)).await;
        let _held = shared.lock.lock().await;
        match shared.git.fetch().await {
            Ok(true) => log::info!("git: fetched external changes"),
            Ok(false) => {}
            Err(e) => log::error!("git: {e}; serving what we have"),
        }
    }
}

/// Longest a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

async fn connection(shared: Rc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(answer(&shared, req, peer).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(PlatformTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(HyperIo::new(stream), service);
    if let Err(e) = conn.await {
        log::debug!("peer {peer}: connection ended: {e}");
    }
}

fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(r.body)));
    *out.status_mut() = hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in r.headers {
        if let (Ok(n), Ok(v)) =
            (hyper::header::HeaderName::from_bytes(name.as_bytes()), hyper::header::HeaderValue::from_str(&value))
        {
            out.headers_mut().append(n, v);
        }
    }
    out
}

async fn answer(shared: &Shared, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let declared = parts.headers.get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = || to_hyper(Response::text(413, "the request body is too large\n"));
    if declared.is_some_and(|n| n > shared.max_size as u64) {
        return too_large();
    }
    let body = match Limited::new(body, shared.max_size).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(),
        Err(e) => return to_hyper(Response::text(400, &format!("reading the body failed: {e}\n"))),
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let request = Request { method: parts.method.as_str().to_string(), target, headers, body };
    let response = handle(shared, &request).await;
    log::info!("peer {peer}: {} {} {}", request.method, request.target, response.status);
    to_hyper(response)
}

/// Answers one request; a change is committed and pushed first (see the crate doc).
pub async fn handle(shared: &Shared, req: &Request) -> Response {
    let _held = shared.lock.lock().await;
    for _ in 0..REPLAYS {
        let outcome = {
            let repo = shared.git.repo.borrow();
            shared.server.borrow_mut().handle_request(req, &Snapshot::of_head(&repo))
        };
        if outcome.changes.is_empty() {
            return outcome.response;
        }
        let user = outcome.user.as_deref().unwrap_or("caldav");
        let agent = req.header("User-Agent").unwrap_or("unknown");
        let message = format!("{} {}\n\nUser-Agent: {agent}\n", req.method, req.target);
        let time_unix = i64::try_from(time::sansio_now().wall.as_secs()).unwrap_or(0);
        match shared.git.commit_and_push(&outcome.changes, user, &message, time_unix).await {
            Ok(id) => {
                log::info!("git: {id} pushed ({} {} by {user})", req.method, req.target);
                return outcome.response;
            }
            Err(PushError::Rejected(why)) => {
                log::info!("git: push rejected ({why}); fetching and answering {} {} again", req.method, req.target);
                if let Err(e) = shared.git.fetch().await {
                    log::error!("git: fetch after a rejected push failed: {e}");
                    return Response::text(503, "the store could not be updated; try again\n");
                }
            }
            Err(PushError::Failed(why)) => {
                log::error!("git: {} {} not stored: {why}", req.method, req.target);
                return Response::text(503, "the store could not be updated; try again\n");
            }
        }
    }
    Response::text(503, "the store kept changing; try again\n")
}
