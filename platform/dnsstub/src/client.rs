//! The driver: runs a [`Lookup`] over the platform's stack and clock.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use platform::entropy::Entropy;
use platform::stack::{Stack, UdpSocket};
use platform::time::{self, Instant};
use sansio::Driver;

use crate::cache::Cache;
use crate::lookup::{Config, Error, Lookup, Transmit};
use crate::wire::Name;

/// Names kept in the cache at most.
const CACHE_ENTRIES: usize = 64;
/// Tries at a free random source port before giving up.
const BIND_TRIES: usize = 16;

/// A stub resolver over a platform stack: asks `servers` in turn, caches
/// answers by TTL. Cheap to share behind an `Rc`; lookups may run
/// concurrently on the one task runtime.
pub struct Resolver {
    stack: Stack,
    servers: Vec<SocketAddr>,
    entropy: Rc<dyn Entropy>,
    config: Config,
    cache: RefCell<Cache>,
}

impl Resolver {
    pub fn new(stack: Stack, servers: Vec<SocketAddr>, entropy: Rc<dyn Entropy>) -> Resolver {
        Resolver { stack, servers, entropy, config: Config::default(), cache: RefCell::new(Cache::new(CACHE_ENTRIES)) }
    }

    pub fn with_config(mut self, config: Config) -> Resolver {
        self.config = config;
        self
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    fn random_u16(&self) -> u16 {
        let mut b = [0u8; 2];
        self.entropy.fill(&mut b);
        u16::from_be_bytes(b)
    }

    /// A UDP socket on a random port (RFC 5452 §4.5: with the random ID, the
    /// port is what a blind spoofer must guess), of `dst`'s address family.
    fn bind(&self, dst: SocketAddr) -> Result<UdpSocket, Error> {
        let any: IpAddr = if dst.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
        let mut last = None;
        for _ in 0..BIND_TRIES {
            // Above the well-known and registered-by-convention range below 1024.
            let port = 1024 + self.random_u16() % (u16::MAX - 1023);
            match self.stack.udp_bind(SocketAddr::new(any, port)) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        let why = last.map_or_else(String::new, |e| e.to_string());
        Err(Error::Io(format!("no UDP port for queries to {dst}: {why}")))
    }

    /// The addresses of `host` (an IP literal is returned as it is).
    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, Error> {
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let name = Name::from_host(host).map_err(Error::BadName)?;
        if let Some(hit) = self.cache.borrow_mut().get(time::now(), &name) {
            return Ok(hit);
        }
        let ids = [self.random_u16(), self.random_u16()];
        let mut lookup = Lookup::new(time::now(), name.clone(), &self.servers, self.config, ids);
        let result = self.run(&mut lookup).await;
        if lookup.dropped > 0 {
            log::warn!("dns: {name}: dropped {} replies (unreadable, or wrong source, ID or question)", lookup.dropped);
        }
        let answer = result?;
        self.cache.borrow_mut().insert(time::now(), &name, answer.addresses.clone(), answer.ttl);
        Ok(answer.addresses)
    }

    /// The driving loop: send what the lookup asks, wait for a reply or its
    /// deadline, repeat until it has a result.
    async fn run(&self, lookup: &mut Lookup) -> Result<crate::Answer, Error> {
        let mut socket: Option<UdpSocket> = None;
        let mut buf = vec![0u8; 65535];
        loop {
            while let Some(t) = lookup.poll_transmit() {
                match t {
                    Transmit::Udp(d) => {
                        if socket.as_ref().is_none_or(|s| s.local_addr().is_ipv4() != d.dst.is_ipv4()) {
                            socket = Some(self.bind(d.dst)?);
                        }
                        if let Some(s) = &socket
                            && let Err(e) = s.send_to(&d.payload, d.dst).await
                        {
                            // Counted as no reply: the timeout retries or moves on.
                            log::debug!("dns: query to {}: {e}", d.dst);
                        }
                    }
                    Transmit::Tcp(d) => {
                        let limit = self.config.timeout * self.config.attempts.max(1);
                        match time::timeout(limit, exchange_tcp(&self.stack, d.dst, &d.payload)).await {
                            Ok(Ok(reply)) => lookup.handle_tcp_reply(time::now(), d.dst, &reply),
                            Ok(Err(e)) => lookup.handle_tcp_failed(time::now(), d.dst, &e.to_string()),
                            Err(_) => lookup.handle_tcp_failed(time::now(), d.dst, "timed out"),
                        }
                    }
                }
            }
            if let Some(result) = lookup.poll_result() {
                return result;
            }
            let deadline = lookup.poll_timeout().unwrap_or(Instant::FAR_FUTURE);
            let received = match &socket {
                Some(s) => time::timeout_at(deadline, s.recv_from(&mut buf)).await.ok(),
                None => None,
            };
            match received {
                Some(Ok((n, from))) => lookup.handle_datagram(time::now(), from, &buf[..n]),
                Some(Err(e)) => {
                    log::debug!("dns: receiving: {e}");
                    time::sleep_until(deadline).await;
                    lookup.handle_timeout(time::now());
                }
                None => {
                    if socket.is_none() {
                        time::sleep_until(deadline).await;
                    }
                    lookup.handle_timeout(time::now());
                }
            }
        }
    }
}

/// One query over a new TCP connection, each message preceded by its 2-octet
/// length (RFC 1035 §4.2.2, RFC 7766 §8); the reply.
async fn exchange_tcp(stack: &Stack, dst: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let tcp = stack.tcp_connect(dst).await?;
    tcp.set_nodelay(true);
    let len = u16::try_from(query.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    tcp.write_all(&framed).await?;
    tcp.flush().await?;
    let mut len = [0u8; 2];
    read_exact(&tcp, &mut len).await?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    read_exact(&tcp, &mut reply).await?;
    let _ = tcp.shutdown().await;
    Ok(reply)
}

async fn read_exact(tcp: &platform::stack::TcpStream, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = tcp.read(buf).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the whole reply"));
        }
        buf = &mut buf[n..];
    }
    Ok(())
}

/// `--dns-server` values: each `IP` (port 53) or `IP:PORT` (`[IPv6]:PORT`),
/// several per value separated by commas. The error names the bad item.
pub fn parse_servers<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<SocketAddr>, String> {
    let mut servers = Vec::new();
    for value in values {
        for item in value.split(',').map(str::trim) {
            let addr = if let Ok(a) = item.parse::<SocketAddr>() {
                a
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                SocketAddr::new(ip, 53)
            } else if item.is_empty() {
                return Err("an empty server in the list".into());
            } else {
                return Err(format!("{item:?} is not IP or IP:PORT (IPv6 with a port: [ADDR]:PORT)"));
            };
            if addr.port() == 0 {
                return Err(format!("{item:?}: port 0"));
            }
            if addr.ip().is_unspecified() || addr.ip().is_multicast() {
                return Err(format!("{item:?}: not a server's address"));
            }
            if !servers.contains(&addr) {
                servers.push(addr);
            }
        }
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lists() {
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(parse_servers(["10.0.0.1"]), Ok(vec![sa("10.0.0.1:53")]));
        assert_eq!(
            parse_servers(["10.0.0.1:5353, 2001:db8::1", "[2001:db8::2]:54"]),
            Ok(vec![sa("10.0.0.1:5353"), sa("[2001:db8::1]:53"), sa("[2001:db8::2]:54")])
        );
        assert_eq!(parse_servers(["10.0.0.1,10.0.0.1:53"]), Ok(vec![sa("10.0.0.1:53")]));
        assert_eq!(parse_servers([]), Ok(vec![]));
        for bad in ["", "10.0.0.1,", "dns.example", "10.0.0.1:0", "10.0.0.1:99999", "0.0.0.0", "224.0.0.1"] {
            assert!(parse_servers([bad]).is_err(), "{bad:?}");
        }
        // Without brackets an IPv6 address takes no port: this is the address ::1:53.
        assert_eq!(parse_servers(["::1:53"]), Ok(vec![sa("[::1:53]:53")]));
    }
}
