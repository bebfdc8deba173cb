//! The network stack API appliances program against.
//!
//! [`Stack`] is a cheap, clonable handle to one IP stack: either `netstack`
//! (our smoltcp stack over a [`crate::net::Net`] device, on every backend) or
//! the host's sockets (unix only). Both implement [`StackBackend`]; appliance
//! code only sees the concrete handle types below.
//!
//! Semantics every backend keeps:
//! * [`Stack::tcp_listen`] keeps an accept backlog: up to `backlog`
//!   connections complete their handshake before the appliance accepts them.
//! * [`TcpStream`] reads return `Ok(0)` at the peer's FIN; a reset is an
//!   error of kind `ConnectionReset`. [`TcpStream::shutdown`] sends FIN after
//!   queued data (half-close); reading still works afterwards.
//! * Dropping a [`TcpStream`] closes it gracefully (FIN); [`TcpStream::abort`]
//!   resets it.
//! * UDP datagrams are delivered whole or not at all; a datagram larger than
//!   the receive buffer is truncated to it.
//! * ICMP echo requests to the stack's addresses are answered by the stack.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::rt::LocalBoxFuture;

/// Default number of connections that may wait to be accepted: enough for a
/// burst of a thousand clients (the kernel caps it at net.core.somaxconn).
pub const DEFAULT_BACKLOG: usize = 1024;

/// An address with its prefix length, as configured on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpCidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which frames an appliance wants to see raw, next to the IP stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFilter {
    /// IPv4 UDP datagrams to this destination port (e.g. 67 for a DHCP server).
    /// They are handed to the raw socket instead of the IP stack.
    Ipv4UdpPort(u16),
    /// Every frame of the interface; the IP stack still sees them too.
    All,
}

/// One IP stack. See the module documentation for the semantics.
pub trait StackBackend {
    /// Human-readable description for the boot log ("netstack on tap0").
    fn describe(&self) -> String;
    /// Addresses currently configured (empty while DHCP is pending).
    fn addresses(&self) -> Vec<IpCidr>;
    fn tcp_listen(&self, addr: SocketAddr, backlog: usize) -> io::Result<Box<dyn TcpListenerBackend>>;
    fn tcp_connect(&self, addr: SocketAddr) -> LocalBoxFuture<'static, io::Result<Box<dyn TcpStreamBackend>>>;
    fn udp_bind(&self, addr: SocketAddr) -> io::Result<Box<dyn UdpSocketBackend>>;
    /// Raw access to frames; `Unsupported` where the backend has none.
    fn raw_frames(&self, filter: FrameFilter) -> io::Result<Box<dyn RawFramesBackend>> {
        let _ = filter;
        Err(io::Error::new(io::ErrorKind::Unsupported, "this stack gives no raw frame access"))
    }
}

pub trait TcpListenerBackend {
    fn local_addr(&self) -> SocketAddr;
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Box<dyn TcpStreamBackend>, SocketAddr)>>;
}

pub trait TcpStreamBackend {
    fn local_addr(&self) -> SocketAddr;
    fn peer_addr(&self) -> SocketAddr;
    /// `Ok(0)` at end of stream; `Pending` registers the waker.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Queues bytes for sending; `Pending` when the send buffer is full.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Ready once queued data is in the stack's hands: it will be sent (and
    /// retransmitted) without further calls. Not a wait for acknowledgement.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Sends FIN after queued data; reading continues to work.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Resets the connection.
    fn abort(&mut self);
    fn set_nodelay(&mut self, nodelay: bool);
}

pub trait UdpSocketBackend {
    fn local_addr(&self) -> SocketAddr;
    fn poll_recv_from(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>>;
    fn poll_send_to(&mut self, cx: &mut Context<'_>, buf: &[u8], to: SocketAddr) -> Poll<io::Result<usize>>;
}

pub trait RawFramesBackend {
    /// One frame, Ethernet header included.
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Sends one frame, Ethernet header included.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;
    /// MAC address of the interface.
    fn mac(&self) -> crate::net::MacAddr;
}

/// A handle to one IP stack.
#[derive(Clone)]
pub struct Stack {
    backend: Rc<dyn StackBackend>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack").field("backend", &self.backend.describe()).finish()
    }
}

impl Stack {
    pub fn new(backend: Rc<dyn StackBackend>) -> Stack {
        Stack { backend }
    }
    pub fn describe(&self) -> String {
        self.backend.describe()
    }
    pub fn addresses(&self) -> Vec<IpCidr> {
        self.backend.addresses()
    }
    /// Listens with [`DEFAULT_BACKLOG`].
    pub fn tcp_listen(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        self.tcp_listen_with_backlog(addr, DEFAULT_BACKLOG)
    }
    pub fn tcp_listen_with_backlog(&self, addr: SocketAddr, backlog: usize) -> io::Result<TcpListener> {
        Ok(TcpListener { inner: self.backend.tcp_listen(addr, backlog.max(1))? })
    }
    pub async fn tcp_connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        Ok(TcpStream::from_backend(self.backend.tcp_connect(addr).await?))
    }
    pub fn udp_bind(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        Ok(UdpSocket { inner: Rc::new(RefCell::new(self.backend.udp_bind(addr)?)) })
    }
    pub fn raw_frames(&self, filter: FrameFilter) -> io::Result<RawFrames> {
        Ok(RawFrames { inner: self.backend.raw_frames(filter)? })
    }
}

pub struct TcpListener {
    inner: Box<dyn TcpListenerBackend>,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("local", &self.local_addr()).finish()
    }
}

impl TcpListener {
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = poll_fn(|cx| self.inner.poll_accept(cx)).await?;
        Ok((TcpStream::from_backend(stream), peer))
    }
}

/// A TCP connection. Implements `futures_io::{AsyncRead, AsyncWrite}`.
pub struct TcpStream {
    inner: Rc<RefCell<Box<dyn TcpStreamBackend>>>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("TcpStream").field("local", &inner.local_addr()).field("peer", &inner.peer_addr()).finish()
    }
}

impl TcpStream {
    pub fn from_backend(inner: Box<dyn TcpStreamBackend>) -> TcpStream {
        TcpStream { inner: Rc::new(RefCell::new(inner)) }
    }
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.borrow().local_addr()
    }
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.borrow().peer_addr()
    }
    pub fn set_nodelay(&self, nodelay: bool) {
        self.inner.borrow_mut().set_nodelay(nodelay)
    }
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.borrow_mut().poll_read(cx, buf)).await
    }
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.borrow_mut().poll_write(cx, buf)).await
    }
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.borrow_mut().poll_flush(cx)).await
    }
    /// Half-close: sends FIN after queued data.
    pub async fn shutdown(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.borrow_mut().poll_shutdown(cx)).await
    }
    /// Resets the connection (RST).
    pub fn abort(self) {
        self.inner.borrow_mut().abort()
    }
    /// Two handles on the same connection, one for each direction, so that
    /// two tasks can read and write at once.
    pub fn split(self) -> (TcpStream, TcpStream) {
        (TcpStream { inner: self.inner.clone() }, self)
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.inner.borrow_mut().poll_read(cx, buf)
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.borrow_mut().poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.borrow_mut().poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.borrow_mut().poll_shutdown(cx)
    }
}

/// A UDP socket. Clones share the socket (one receiver at a time).
#[derive(Clone)]
pub struct UdpSocket {
    inner: Rc<RefCell<Box<dyn UdpSocketBackend>>>,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("local", &self.local_addr()).finish()
    }
}

impl UdpSocket {
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.borrow().local_addr()
    }
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.inner.borrow_mut().poll_recv_from(cx, buf)).await
    }
    pub async fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| self.inner.borrow_mut().poll_send_to(cx, buf, to)).await
    }
}

/// Raw Ethernet frames of the stack's interface, selected by a [`FrameFilter`].
pub struct RawFrames {
    inner: Box<dyn RawFramesBackend>,
}

impl fmt::Debug for RawFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawFrames").field("mac", &self.mac()).finish()
    }
}

impl RawFrames {
    pub async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_recv(cx, buf)).await
    }
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.inner.send(frame)
    }
    pub fn mac(&self) -> crate::net::MacAddr {
        self.inner.mac()
    }
}
