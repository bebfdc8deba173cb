//! TCP listeners and streams over smoltcp sockets.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use platform::stack::{TcpListenerBackend, TcpStreamBackend};
use platform::time;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, RecvError, State};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

use crate::core::{Listener, Shared, now_or_zero, tcp_port_in_use};
use crate::listen_addr;

pub(crate) fn listen(shared: &Rc<Shared>, addr: SocketAddr, backlog: usize) -> io::Result<Box<dyn TcpListenerBackend>> {
    let mut inner = shared.inner.borrow_mut();
    let port = match addr.port() {
        0 => inner.ephemeral_port(tcp_port_in_use)?,
        p => p,
    };
    let endpoint = IpListenEndpoint { addr: listen_addr(addr.ip()), port };
    let clash = inner.listeners.iter().flatten().any(|l| {
        l.endpoint.port == port
            && (l.endpoint.addr.is_none() || endpoint.addr.is_none() || l.endpoint.addr == endpoint.addr)
    });
    if clash {
        return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("TCP port {port} is already listening")));
    }
    let listener = Listener {
        endpoint,
        backlog: backlog.max(1),
        listening: Vec::new(),
        pending: Vec::new(),
        ready: VecDeque::new(),
        waker: None,
    };
    let id = match inner.listeners.iter().position(Option::is_none) {
        Some(id) => {
            inner.listeners[id] = Some(listener);
            id
        }
        None => {
            inner.listeners.push(Some(listener));
            inner.listeners.len() - 1
        }
    };
    inner.refill_listener(id, time::now());
    log::debug!(target: "netstack", "listening on {endpoint} (backlog {backlog})");
    Ok(Box::new(TcpListener { shared: shared.clone(), id, local: SocketAddr::new(addr.ip(), port) }))
}

struct TcpListener {
    shared: Rc<Shared>,
    id: usize,
    local: SocketAddr,
}

impl TcpListenerBackend for TcpListener {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Box<dyn TcpStreamBackend>, SocketAddr)>> {
        let mut inner = self.shared.inner.borrow_mut();
        let now = time::now();
        loop {
            let Some(l) = inner.listeners.get_mut(self.id).and_then(Option::as_mut) else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            let Some(h) = l.ready.pop_front() else {
                l.waker = Some(cx.waker().clone());
                return Poll::Pending;
            };
            let s = inner.tcp(h);
            match (s.local_endpoint(), s.remote_endpoint()) {
                (Some(local), Some(remote)) => {
                    // Room in the accept queue again: re-arm at once.
                    inner.refill_listener(self.id, now);
                    let stream = TcpStream::new(self.shared.clone(), h, local, remote);
                    return Poll::Ready(Ok((Box::new(stream), SocketAddr::from(remote))));
                }
                // Reset between the last driver turn and now: skip it.
                _ => {
                    inner.tcp(h).abort();
                    inner.orphan(h, now);
                }
            }
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut inner = self.shared.inner.borrow_mut();
        let Some(l) = inner.listeners.get_mut(self.id).and_then(Option::take) else { return };
        let now = now_or_zero();
        for h in l.listening {
            inner.sockets.remove(h);
        }
        // Connections nobody will accept are reset, as a closed listening
        // socket does on other stacks.
        for h in l.pending.into_iter().map(|(h, _)| h).chain(l.ready) {
            inner.tcp(h).abort();
            inner.orphan(h, now);
        }
        log::debug!(target: "netstack", "stopped listening on {}", l.endpoint);
    }
}

/// Aborts and orphans the socket of a connect that did not complete.
struct ConnectGuard {
    shared: Rc<Shared>,
    handle: Option<SocketHandle>,
}

impl Drop for ConnectGuard {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let mut inner = self.shared.inner.borrow_mut();
            inner.tcp(h).abort();
            inner.orphan(h, now_or_zero());
        }
    }
}

pub(crate) async fn connect(shared: Rc<Shared>, addr: SocketAddr) -> io::Result<Box<dyn TcpStreamBackend>> {
    let (handle, limit) = {
        let mut inner = shared.inner.borrow_mut();
        let port = inner.ephemeral_port(tcp_port_in_use)?;
        if !inner.tcp_socket_fits() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("cannot connect to {addr}: the stack's TCP buffer memory budget is used up"),
            ));
        }
        let mut socket = inner.new_tcp_socket();
        let remote = IpEndpoint::from(addr);
        socket.connect(inner.iface.context(), remote, port).map_err(|e| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("cannot connect to {addr}: {e} (no route or address)"),
            )
        })?;
        let h = inner.sockets.add(socket);
        inner.notify();
        (h, inner.tune.connect_timeout)
    };
    let mut guard = ConnectGuard { shared: shared.clone(), handle: Some(handle) };
    let outcome = time::timeout(
        limit,
        poll_fn(|cx| {
            let mut inner = shared.inner.borrow_mut();
            let s = inner.tcp(handle);
            match s.state() {
                State::SynSent | State::SynReceived => {
                    s.register_send_waker(cx.waker());
                    Poll::Pending
                }
                // Reset in reply to our SYN (RFC 9293 §3.10.7.3): refused.
                State::Closed => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("connection to {addr} refused"),
                ))),
                // Established, or already past it (the peer sent data+FIN).
                _ => Poll::Ready(Ok(())),
            }
        }),
    )
    .await;
    match outcome {
        Ok(Ok(())) => {
            guard.handle = None;
            let mut inner = shared.inner.borrow_mut();
            let s = inner.tcp(handle);
            let local = s.local_endpoint().unwrap_or(IpEndpoint::new(addr.ip().into(), 0));
            let remote = s.remote_endpoint().unwrap_or(IpEndpoint::from(addr));
            drop(inner);
            Ok(Box::new(TcpStream::new(shared, handle, local, remote)))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("connection to {addr} timed out"))),
    }
}

pub(crate) struct TcpStream {
    shared: Rc<Shared>,
    handle: SocketHandle,
    local: SocketAddr,
    peer: SocketAddr,
    /// We reset the connection ourselves.
    aborted: bool,
}

impl TcpStream {
    fn new(shared: Rc<Shared>, handle: SocketHandle, local: IpEndpoint, peer: IpEndpoint) -> TcpStream {
        TcpStream { shared, handle, local: local.into(), peer: peer.into(), aborted: false }
    }

    fn gone(&self) -> io::Error {
        if self.aborted {
            io::Error::new(io::ErrorKind::NotConnected, "connection was aborted locally")
        } else {
            io::Error::new(io::ErrorKind::ConnectionReset, format!("connection reset by {}", self.peer))
        }
    }
}

impl TcpStreamBackend for TcpStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut inner = self.shared.inner.borrow_mut();
        let s = inner.tcp(self.handle);
        match s.recv_slice(buf) {
            Ok(0) if !buf.is_empty() => {
                s.register_recv_waker(cx.waker());
                Poll::Pending
            }
            Ok(n) => {
                // Reading opens the receive window; let the driver advertise it.
                inner.notify();
                Poll::Ready(Ok(n))
            }
            Err(RecvError::Finished) => Poll::Ready(Ok(0)),
            Err(RecvError::InvalidState) => {
                drop(inner);
                Poll::Ready(Err(self.gone()))
            }
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut inner = self.shared.inner.borrow_mut();
        let s = inner.tcp(self.handle);
        match s.send_slice(buf) {
            Ok(0) => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            Ok(n) => {
                inner.notify();
                Poll::Ready(Ok(n))
            }
            Err(_) => {
                let state = s.state();
                drop(inner);
                if state == State::Closed {
                    Poll::Ready(Err(self.gone()))
                } else {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after shutdown")))
                }
            }
        }
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.shared.inner.borrow_mut();
        // Bytes in the send buffer are the stack's to deliver: the driver
        // sends and retransmits them without further calls, as a kernel
        // socket does. Waiting for their acknowledgement here would cost a
        // round trip per HTTP response.
        if inner.tcp(self.handle).state() == State::Closed && inner.tcp(self.handle).send_queue() > 0 {
            drop(inner);
            return Poll::Ready(Err(self.gone()));
        }
        inner.notify();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.shared.inner.borrow_mut();
        // close() queues FIN behind the data already in the send buffer and
        // leaves the receive half open (RFC 9293 §3.6 half-close).
        inner.tcp(self.handle).close();
        inner.notify();
        Poll::Ready(Ok(()))
    }

    fn abort(&mut self) {
        let mut inner = self.shared.inner.borrow_mut();
        inner.tcp(self.handle).abort();
        inner.notify();
        self.aborted = true;
    }

    fn set_nodelay(&mut self, nodelay: bool) {
        self.shared.inner.borrow_mut().tcp(self.handle).set_nagle_enabled(!nodelay);
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let mut inner = self.shared.inner.borrow_mut();
        let s: &mut tcp::Socket = inner.tcp(self.handle);
        // A graceful close: FIN after whatever is still queued. The socket
        // stays in the set until the exchange is over (see collect_orphans).
        if !self.aborted {
            s.close();
        }
        inner.orphan(self.handle, now_or_zero());
    }
}
