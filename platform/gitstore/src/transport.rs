//! Connections: TCP over the platform stack, TLS for https.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use futures_io::{AsyncRead, AsyncWrite};
use rustls::pki_types::ServerName;

use crate::remote::{Remote, Scheme};
use crate::{Client, Error};

/// A byte stream: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// Host names are resolved by the caller's resolver (the platform stack
/// has no DNS client of its own): [`dnsstub::Resolver`] over the stack, or
/// a closure (e.g. over the host's resolver on unix).
pub trait Resolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, String>> + 'a>>;
}

impl<F: Fn(&str) -> Result<Vec<IpAddr>, String>> Resolver for F {
    fn resolve<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, String>> + 'a>> {
        Box::pin(std::future::ready(self(host)))
    }
}

impl Resolver for dnsstub::Resolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, String>> + 'a>> {
        Box::pin(async move { self.lookup(host).await.map_err(|e| e.to_string()) })
    }
}

async fn addresses(client: &Client, remote: &Remote) -> Result<Vec<IpAddr>, Error> {
    if let Some(ip) = remote.ip() {
        return Ok(vec![ip]);
    }
    let resolve_err = |reason: String| Error::Resolve { host: remote.host.clone(), reason };
    let resolver = client.resolver.as_ref().ok_or_else(|| {
        resolve_err("no resolver here: give a DNS server (--dns-server=) or the remote as an IP address".into())
    })?;
    let ips = resolver.resolve(&remote.host).await.map_err(resolve_err)?;
    if ips.is_empty() {
        return Err(resolve_err("no addresses".into()));
    }
    Ok(ips)
}

/// Connects to the remote (trying each address in turn) and, for https,
/// runs the TLS handshake.
pub async fn connect(client: &Client, remote: &Remote) -> Result<Box<dyn Io>, Error> {
    let mut last = None;
    for ip in addresses(client, remote).await? {
        let addr = SocketAddr::new(ip, remote.port);
        match client.stack.tcp_connect(addr).await {
            Ok(tcp) => {
                tcp.set_nodelay(true);
                if remote.scheme != Scheme::Https {
                    return Ok(Box::new(tcp));
                }
                return tls_wrap(client, remote, tcp).await;
            }
            Err(source) => last = Some(Error::Connect { addr, source }),
        }
    }
    Err(last.unwrap_or_else(|| Error::Resolve { host: remote.host.clone(), reason: "no addresses".into() }))
}

async fn tls_wrap(client: &Client, remote: &Remote, tcp: platform::stack::TcpStream) -> Result<Box<dyn Io>, Error> {
    let config = client
        .tls
        .clone()
        .ok_or_else(|| Error::Tls("https needs a TLS authenticator (--tls-authenticator=)".into()))?;
    let name = match remote.ip() {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => {
            ServerName::try_from(remote.host.clone()).map_err(|e| Error::BadUrl(format!("{}: {e}", remote.host)))?
        }
    };
    let mut tls = netio::TlsStream::client(tcp, config, name).map_err(|e| Error::Tls(e.to_string()))?;
    tls.handshake().await.map_err(|e| match netio::tls::tls_error(&e) {
        Some(t) => Error::Tls(format!("handshake with {} failed: {t}", remote.host)),
        None => Error::Tls(format!("handshake with {} failed: {e}", remote.host)),
    })?;
    Ok(Box::new(tls))
}
