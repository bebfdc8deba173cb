//! The host-socket stack: the platform stack API over the host kernel's
//! TCP/IP, through tokio sockets.
//!
//! `addresses()` lists the addresses of the host's interfaces (from
//! `getifaddrs`, loopback included), since the host stack answers on all of
//! them. Raw frames are not offered: use a tap with `--net:NAME=TAP` (the
//! netstack path) for appliances that need them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use platform::rt::LocalBoxFuture;
use platform::stack::{
    FrameFilter, IpCidr, RawFramesBackend, Stack, StackBackend, TcpListenerBackend, TcpStreamBackend, UdpSocketBackend,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A handle to the host's TCP/IP stack.
pub fn host_stack() -> Stack {
    Stack::new(Rc::new(HostStack))
}

struct HostStack;

impl StackBackend for HostStack {
    fn describe(&self) -> String {
        "host sockets".to_string()
    }

    fn addresses(&self) -> Vec<IpCidr> {
        interface_addresses().unwrap_or_else(|e| {
            log::warn!("cannot list host addresses: {e}");
            Vec::new()
        })
    }

    fn tcp_listen(&self, addr: SocketAddr, backlog: usize) -> io::Result<Box<dyn TcpListenerBackend>> {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(u32::try_from(backlog).unwrap_or(u32::MAX))?;
        let local = listener.local_addr()?;
        Ok(Box::new(HostListener { listener, local }))
    }

    fn tcp_connect(&self, addr: SocketAddr) -> LocalBoxFuture<'static, io::Result<Box<dyn TcpStreamBackend>>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            Ok(Box::new(HostTcpStream::new(stream)?) as Box<dyn TcpStreamBackend>)
        })
    }

    fn udp_bind(&self, addr: SocketAddr) -> io::Result<Box<dyn UdpSocketBackend>> {
        let std_socket = std::net::UdpSocket::bind(addr)?;
        std_socket.set_nonblocking(true)?;
        let socket = tokio::net::UdpSocket::from_std(std_socket)?;
        let local = socket.local_addr()?;
        Ok(Box::new(HostUdp { socket, local }))
    }

    fn raw_frames(&self, _filter: FrameFilter) -> io::Result<Box<dyn RawFramesBackend>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the host-socket stack gives no raw frame access; attach a tap device with --net:NAME=TAP to use netstack",
        ))
    }
}

struct HostListener {
    listener: tokio::net::TcpListener,
    local: SocketAddr,
}

impl TcpListenerBackend for HostListener {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Box<dyn TcpStreamBackend>, SocketAddr)>> {
        loop {
            let (stream, peer) = match self.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) if is_transient_accept_error(&e) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(pair)) => pair,
            };
            // A connection reset before we looked at it has no addresses; skip it.
            match HostTcpStream::new(stream) {
                Ok(s) => return Poll::Ready(Ok((Box::new(s), peer))),
                Err(_) => continue,
            }
        }
    }
}

/// Errors of `accept` that concern one aborted connection, not the listener.
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset)
}

struct HostTcpStream {
    /// `None` after `abort`.
    stream: Option<tokio::net::TcpStream>,
    local: SocketAddr,
    peer: SocketAddr,
    write_shut: bool,
}

impl HostTcpStream {
    fn new(stream: tokio::net::TcpStream) -> io::Result<HostTcpStream> {
        let local = stream.local_addr()?;
        let peer = stream.peer_addr()?;
        Ok(HostTcpStream { stream: Some(stream), local, peer, write_shut: false })
    }

    fn stream(&mut self) -> io::Result<&mut tokio::net::TcpStream> {
        self.stream.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection was aborted"))
    }

    /// The contract's error kinds: a reset is `ConnectionReset`; writing to a
    /// connection the peer reset (`EPIPE`) is one too, unless we closed the
    /// sending side ourselves.
    fn map_err(&self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::BrokenPipe && !self.write_shut {
            io::Error::new(io::ErrorKind::ConnectionReset, e)
        } else {
            e
        }
    }
}

impl TcpStreamBackend for HostTcpStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let stream = match self.stream() {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let mut read_buf = ReadBuf::new(buf);
        match Pin::new(stream).poll_read(cx, &mut read_buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read_buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.map_err(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let stream = match self.stream() {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        match Pin::new(stream).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.map_err(e))),
            other => other,
        }
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes written to a kernel socket are already handed to the network.
        Poll::Ready(self.stream().map(|_| ()))
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_shut {
            return Poll::Ready(Ok(()));
        }
        let stream = match self.stream() {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        match Pin::new(stream).poll_shutdown(cx) {
            Poll::Ready(Ok(())) => {
                self.write_shut = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.map_err(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn abort(&mut self) {
        if let Some(stream) = self.stream.take() {
            // SO_LINGER with a zero timeout makes close() send RST; on
            // failure the drop still closes the connection (with FIN).
            if let Err(e) = stream.set_zero_linger() {
                log::debug!("cannot set SO_LINGER 0 to reset {}: {e}", self.peer);
            }
            drop(stream);
        }
    }

    fn set_nodelay(&mut self, nodelay: bool) {
        if let Some(stream) = &self.stream
            && let Err(e) = stream.set_nodelay(nodelay)
        {
            log::debug!("cannot set TCP_NODELAY on the connection to {}: {e}", self.peer);
        }
    }
}

struct HostUdp {
    socket: tokio::net::UdpSocket,
    local: SocketAddr,
}

impl UdpSocketBackend for HostUdp {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn poll_recv_from(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut read_buf = ReadBuf::new(buf);
        match self.socket.poll_recv_from(cx, &mut read_buf) {
            Poll::Ready(Ok(from)) => Poll::Ready(Ok((read_buf.filled().len(), from))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_send_to(&mut self, cx: &mut Context<'_>, buf: &[u8], to: SocketAddr) -> Poll<io::Result<usize>> {
        self.socket.poll_send_to(cx, buf, to)
    }
}

/// The host's interface addresses with their prefix lengths.
fn interface_addresses() -> io::Result<Vec<IpCidr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into the pointer we pass; the
    // list is freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list getifaddrs returned,
        // which stays valid until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        // SAFETY: both pointers are null or point to sockaddrs of the family
        // stated in their header, valid until freeifaddrs.
        let (addr, mask) = unsafe { (sockaddr_ip(ifa.ifa_addr), sockaddr_ip(ifa.ifa_netmask)) };
        if let Some(addr) = addr {
            let prefix = match mask {
                Some(IpAddr::V4(m)) => u32::from(m).count_ones() as u8,
                Some(IpAddr::V6(m)) => u128::from(m).count_ones() as u8,
                None if addr.is_ipv4() => 32,
                None => 128,
            };
            out.push(IpCidr { addr, prefix });
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// Reads an IPv4 or IPv6 address out of a sockaddr.
///
/// # Safety
/// `sa` is null or points to a valid sockaddr whose size matches its family.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-null and valid per the caller; the family tells the size,
    // and read_unaligned copes with any alignment.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>());
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))))
            }
            libc::AF_INET6 => {
                let sin6 = std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>());
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}
