//! `gitstore`: a git client over the platform's [`Stack`], so appliances
//! keep their data in a git repository on unix and on hvt alike (no file
//! system, no host sockets, no threads).
//!
//! * [`Remote::parse`] reads MirageOS `--remote=` URLs: `git://host[:port]/path`,
//!   `http://…`, `https://…`, with `#branch` (default `main`).
//! * [`Repo`] is an in-memory repository for one branch: objects by SHA-1 and
//!   the branch tip ([`Repo::head`]). [`Repo::files`] lists a commit's files
//!   (recursively, by `dir/name` path); [`Repo::commit`] makes a real git
//!   commit applying `(path, Some(bytes) | None)` changes. After a shallow
//!   fetch some commits' parents are absent on purpose ([`Repo::shallow`]):
//!   history walks stop there, and a push sends only what lies between the
//!   server's tip and ours.
//! * [`Client`] talks to servers: [`Client::fetch`] (smart protocol v0/v1,
//!   git-upload-pack over git:// or smart HTTP(S), OFS/REF deltas resolved;
//!   the first fetch into an empty [`Repo`] is shallow, `deepen 1`, when the
//!   server offers `shallow`, so it costs one commit however long the
//!   history; later fetches are incremental: `shallow` lines for the commits
//!   whose parents we lack ([`Repo::shallow`]) and `have`s for those we hold.
//!   Nothing is stored until the pack is read and every object the tip needs
//!   is there, so a failed or cancelled fetch leaves the [`Repo`] as it was) and
//!   [`Client::push`] (git-receive-pack with `report-status`; a stale old tip
//!   or a server's refusal is [`Error::PushRejected`] with the reason).
//! * [`Authenticator::parse`] reads `--tls-authenticator=` (`cert-fp:SHA256:…`,
//!   `key-fp:SHA256:…`, `trust-anchor:…`); https needs one.
//!
//! ```ignore
//! let remote = Remote::parse("git://10.0.0.1/zones.git#main")?;
//! let client = Client::new(stack); // .with_authenticator(&auth)? for https
//! let mut repo = Repo::new();
//! let fetched = client.fetch(&remote, &mut repo).await?;
//! let files = repo.files(&fetched.tip)?;
//! let me = Signature { name: "key.example".into(), email: "dns@example".into() };
//! let new = repo.commit(Some(fetched.tip), &[("example.com", Some(b"..."))], &me, "update", now)?;
//! client.push(&remote, &mut repo, Some(fetched.tip), new).await?; // sets repo.head()
//! ```
//!
//! With feature `serve`, [`serve::GitServer`] answers git:// itself from
//! in-memory repositories (an in-process remote for tests).
//!
//! Host names need a [`Resolver`] ([`Client::with_resolver`]): a
//! [`dnsstub::Resolver`] over the stack (the one on hvt), or a closure; without
//! one only IP literals work and the error says so. There are no
//! timeouts here: callers wrap calls in their own deadline.

mod http;
pub mod object;
pub mod pack;
mod pktline;
mod proto;
pub mod remote;
#[cfg(feature = "serve")]
pub mod serve;
mod transport;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use platform::stack::Stack;

/// `--tls-authenticator=`; the parser and verifiers live in `netio`, shared with other appliances.
pub use netio::tls::verify::Authenticator;
pub use object::{Kind, Object, ObjectId, Repo, Signature, TreeEntry};
pub use remote::{Remote, Scheme};
pub use transport::Resolver;

/// Our agent string, sent in capabilities and User-Agent.
pub const AGENT: &str = "gitstore/0.1";

/// The result of a fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The branch tip on the server (now [`Repo::head`]).
    pub tip: ObjectId,
    /// Whether the tip differs from the repository's previous head.
    pub changed: bool,
    /// Objects received (0 when we already had the tip).
    pub objects: usize,
}

/// What went wrong, in terms a user can act on.
#[derive(Debug)]
pub enum Error {
    BadUrl(String),
    BadAuthenticator(String),
    Resolve {
        host: String,
        reason: String,
    },
    Connect {
        addr: SocketAddr,
        source: io::Error,
    },
    /// The connection failed mid-conversation.
    Io(io::Error),
    Tls(String),
    /// The HTTP server answered with a status other than 200.
    HttpStatus {
        url: String,
        status: u16,
        detail: String,
    },
    /// Malformed HTTP.
    Http(String),
    /// The server broke the git protocol (or sent a malformed pack/object).
    Protocol(String),
    /// The server reported an error ("ERR …" or side-band channel 3).
    Remote(String),
    RefNotFound {
        branch: String,
        available: String,
    },
    PushRejected {
        reason: String,
    },
    MissingObject(ObjectId),
    BadPath(String),
}

impl From<netio::tls::verify::BadAuthenticator> for Error {
    fn from(e: netio::tls::verify::BadAuthenticator) -> Error {
        Error::BadAuthenticator(e.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadUrl(m) => write!(f, "bad git remote URL {m}"),
            Error::BadAuthenticator(m) => write!(f, "bad TLS authenticator: {m}"),
            Error::Resolve { host, reason } => write!(f, "cannot resolve {host}: {reason}"),
            Error::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            Error::Io(e) => write!(f, "connection to the git server failed: {e}"),
            Error::Tls(m) => write!(f, "TLS: {m}"),
            Error::HttpStatus { url, status, detail } => write!(f, "{url}: HTTP status {status} {detail}"),
            Error::Http(m) => write!(f, "bad HTTP response: {m}"),
            Error::Protocol(m) => write!(f, "git protocol error: {m}"),
            Error::Remote(m) => write!(f, "the git server reported: {m}"),
            Error::RefNotFound { branch, available } => {
                write!(f, "branch {branch:?} not found on the server (branches: {available})")
            }
            Error::PushRejected { reason } => write!(f, "push rejected: {reason}"),
            Error::MissingObject(id) => write!(f, "object {id} is missing from the repository"),
            Error::BadPath(p) => write!(f, "bad path in repository: {p:?}"),
        }
    }
}

impl std::error::Error for Error {}

/// A git client: the stack to connect over, a resolver for host names, the
/// TLS configuration for https.
#[derive(Clone)]
pub struct Client {
    stack: Stack,
    resolver: Option<Rc<dyn Resolver>>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Client {
    pub fn new(stack: Stack) -> Client {
        Client { stack, resolver: None, tls: None }
    }

    /// Resolves host names in URLs (a [`dnsstub::Resolver`], or e.g. a closure
    /// over std's lookup on unix).
    pub fn with_resolver(mut self, resolver: Rc<dyn Resolver>) -> Client {
        self.resolver = Some(resolver);
        self
    }

    /// Resolves host names with the host's resolver (std's lookup) on unix; on
    /// hvt there is none, so `--remote` needs an IP literal there. Shared by the
    /// appliances that take a `--remote`.
    pub fn with_system_resolver(self) -> Client {
        #[cfg(not(solo5_hvt))]
        {
            use std::net::ToSocketAddrs;
            let lookup = |host: &str| -> Result<Vec<std::net::IpAddr>, String> {
                let addrs = (host, 0).to_socket_addrs().map_err(|e| e.to_string())?;
                Ok(addrs.map(|a| a.ip()).collect())
            };
            self.with_resolver(Rc::new(lookup))
        }
        #[cfg(solo5_hvt)]
        self
    }

    /// Authenticates https servers this way.
    pub fn with_authenticator(mut self, auth: &Authenticator) -> Result<Client, Error> {
        self.tls = Some(auth.client_config()?);
        Ok(self)
    }

    /// Fetches the remote's branch into `repo` and sets [`Repo::head`]:
    /// shallow into an empty `repo`, incremental into one that holds a
    /// previous fetch. On error `repo` is unchanged.
    pub async fn fetch(&self, remote: &Remote, repo: &mut Repo) -> Result<Fetched, Error> {
        proto::fetch(self, remote, repo).await
    }

    /// Updates the remote's branch from `old` (None: create it) to `new`,
    /// sending the objects the server lacks. On success [`Repo::head`] is
    /// `new`.
    pub async fn push(
        &self,
        remote: &Remote,
        repo: &mut Repo,
        old: Option<ObjectId>,
        new: ObjectId,
    ) -> Result<(), Error> {
        proto::push(self, remote, repo, old, new).await
    }
}
