//! UDP sockets.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::task::{Context, Poll};

use platform::stack::UdpSocketBackend;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{Socket, udp};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

use crate::core::Shared;
use crate::listen_addr;
use crate::udp_out::Sent;

fn udp_port_in_use(sockets: &SocketSet<'static>, port: u16) -> bool {
    sockets.iter().any(|(_, s)| matches!(s, Socket::Udp(s) if s.endpoint().port == port))
}

pub(crate) fn bind(shared: &Rc<Shared>, addr: SocketAddr) -> io::Result<Box<dyn UdpSocketBackend>> {
    let mut inner = shared.inner.borrow_mut();
    let port = match addr.port() {
        0 => inner.ephemeral_port(udp_port_in_use)?,
        p => p,
    };
    let endpoint = IpListenEndpoint { addr: listen_addr(addr.ip()), port };
    let clash = inner.sockets.iter().any(|(_, s)| match s {
        Socket::Udp(s) => {
            let e = s.endpoint();
            e.port == port && (e.addr.is_none() || endpoint.addr.is_none() || e.addr == endpoint.addr)
        }
        _ => false,
    });
    if clash {
        return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("UDP port {port} is already bound")));
    }
    let t = &inner.tune;
    let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; t.udp_packets], vec![0u8; t.udp_buffer]);
    // Sending goes through the per-destination queues of `udp_out`; this
    // socket only receives.
    let tx = udp::PacketBuffer::new(Vec::new(), Vec::new());
    let mut socket = udp::Socket::new(rx, tx);
    socket.bind(endpoint).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("bind {addr}: {e}")))?;
    let handle = inner.sockets.add(socket);
    Ok(Box::new(UdpSocket { shared: shared.clone(), handle, local: SocketAddr::new(addr.ip(), port) }))
}

struct UdpSocket {
    shared: Rc<Shared>,
    handle: SocketHandle,
    local: SocketAddr,
}

impl UdpSocketBackend for UdpSocket {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn poll_recv_from(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut inner = self.shared.inner.borrow_mut();
        let s = inner.sockets.get_mut::<udp::Socket>(self.handle);
        match s.recv() {
            Ok((data, meta)) => {
                // The contract: a datagram larger than `buf` is truncated.
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Poll::Ready(Ok((n, SocketAddr::from(meta.endpoint))))
            }
            Err(_) => {
                s.register_recv_waker(cx.waker());
                Poll::Pending
            }
        }
    }

    fn poll_send_to(&mut self, cx: &mut Context<'_>, buf: &[u8], to: SocketAddr) -> Poll<io::Result<usize>> {
        let mut inner = self.shared.inner.borrow_mut();
        // There is no loopback path: smoltcp would ARP for its own address and
        // the datagram would wait forever. Say so at once instead.
        if inner.iface.ip_addrs().iter().any(|a| IpAddr::from(a.address()) == to.ip()) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("cannot send to {to}: it is this stack's own address (no loopback)"),
            )));
        }
        let capacity = inner.tune.udp_buffer;
        if buf.len() > capacity {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("datagram of {} bytes exceeds the send buffer", buf.len()),
            )));
        }
        let to_ep = IpEndpoint::from(to);
        if to_ep.port == 0 || to_ep.addr.is_unspecified() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidInput, format!("cannot send to {to}"))));
        }
        // Each destination has its own queue (see `udp_out`), so a datagram
        // to a neighbour that never answers ARP holds up no other.
        let endpoint = inner.sockets.get::<udp::Socket>(self.handle).endpoint();
        let packets = inner.tune.udp_packets;
        match inner.udp_out.send(self.handle, endpoint, buf, to_ep, capacity, packets) {
            // A dropped datagram is reported as sent, as a host stack does
            // when its neighbour queue overflows: UDP promises no delivery.
            Sent::Queued | Sent::Dropped => {
                inner.notify();
                Poll::Ready(Ok(buf.len()))
            }
            Sent::Full(queue) => {
                inner.udp_out.sockets.get_mut::<udp::Socket>(queue).register_send_waker(cx.waker());
                inner.notify();
                Poll::Pending
            }
        }
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        // Datagrams still queued are lost, as on a closed host socket.
        let mut inner = self.shared.inner.borrow_mut();
        inner.udp_out.remove_owner(self.handle);
        inner.sockets.remove(self.handle);
    }
}
