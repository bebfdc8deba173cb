//! Per-destination UDP send queues.
//!
//! smoltcp's UDP socket has one FIFO send buffer. A datagram whose next hop
//! never answers ARP (or NDP) stays at its head for ever, and every datagram
//! behind it, to any destination, waits too: a DNS primary whose secondary is
//! switched off stops answering queries. A real stack queues a few packets
//! per unresolved neighbour and drops them when resolution fails (Linux:
//! `unres_qlen`, three probes a second apart), other destinations unaffected.
//!
//! Here every (socket, destination address) pair gets its own small smoltcp
//! UDP socket for sending, bound like its owner, kept in a socket set of its
//! own that ingress never sees (smoltcp hands an incoming datagram to the
//! first socket that accepts it; these must never take one). smoltcp still
//! does routing, ARP/NDP, fragmentation and checksums. After each egress
//! pass a queue that still holds datagrams is blocked on its neighbour (the
//! device never refuses a frame); after [`RESOLVE_TIMEOUT`] its datagrams are
//! dropped. The number of queues is bounded, so a flood of datagrams to
//! unresolvable addresses cannot exhaust memory.

use platform::time::{Duration, Instant};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

/// How long a queue may wait for its neighbour before its datagrams are
/// dropped: smoltcp re-sends ARP/NDP once a second, so about three probes,
/// like Linux's default (`mcast_solicit` 3 × `retrans_time` 1 s).
pub(crate) const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Time between probes for one blocked queue (smoltcp's own pace, and
/// Linux's `retrans_time`).
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// A drained queue stays bound to its destination this long, so that a
/// steady sender keeps one queue (and its back-pressure) instead of making a
/// new one every turn.
const IDLE_LINGER: Duration = Duration::from_secs(2);
/// Most queues at once (every one costs a send buffer).
pub(crate) const MAX_QUEUES: usize = 128;
/// Smallest send buffer of a queue. A queue is sized for a few datagrams of
/// the first one's size: what it holds while its neighbour is unresolved is
/// bounded like Linux's `unres_qlen_bytes`.
const MIN_QUEUE_BYTES: usize = 4096;

struct Queue {
    /// The owning (application) socket in the main socket set.
    owner: SocketHandle,
    dst: IpAddress,
    /// This queue's socket in [`UdpOut::sockets`].
    handle: SocketHandle,
    /// Datagrams given to the queue since it was last empty.
    queued: usize,
    /// Since when the queue has been blocked on its neighbour.
    blocked_since: Option<Instant>,
    /// Since when the queue has been empty.
    idle_since: Option<Instant>,
    /// When netstack last sent its own ARP/NDP probe for this queue.
    probed_at: Option<Instant>,
    /// The queue has delivered to this destination before: its neighbour
    /// answers, so a full queue means back-pressure rather than a dead end.
    delivered: bool,
}

/// What happened to a datagram offered to [`UdpOut::send`].
pub(crate) enum Sent {
    /// Queued; it goes out on the next egress pass.
    Queued,
    /// Dropped (unresolved destination with a full queue, or no queue free).
    Dropped,
    /// The queue of a destination known to answer is full: wait on this
    /// socket's send waker.
    Full(SocketHandle),
}

pub(crate) struct UdpOut {
    pub sockets: SocketSet<'static>,
    queues: Vec<Queue>,
    /// Datagrams dropped because their destination did not resolve in time
    /// or its queue was full.
    pub dropped: u64,
}

impl UdpOut {
    pub fn new() -> UdpOut {
        UdpOut { sockets: SocketSet::new(Vec::new()), queues: Vec::new(), dropped: 0 }
    }

    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// True while some queue holds datagrams or lingers (the driver then
    /// wakes periodically to time them out).
    pub fn busy(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Queues `data` for `to`, sent from `endpoint` (the owner's binding).
    /// `capacity` is the owner's send buffer size (the largest datagram).
    pub fn send(
        &mut self,
        owner: SocketHandle,
        endpoint: IpListenEndpoint,
        data: &[u8],
        to: IpEndpoint,
        capacity: usize,
        packets: usize,
    ) -> Sent {
        let i = match self.queues.iter().position(|q| q.owner == owner && q.dst == to.addr) {
            Some(i) => i,
            None => match self.open(owner, endpoint, to.addr, data.len(), capacity, packets) {
                Some(i) => i,
                None => {
                    self.dropped += 1;
                    return Sent::Dropped;
                }
            },
        };
        let q = &mut self.queues[i];
        let known_good = q.delivered && q.blocked_since.is_none();
        let s = self.sockets.get_mut::<udp::Socket>(q.handle);
        match s.send_slice(data, to) {
            Ok(()) => {
                q.queued += 1;
                q.idle_since = None;
                Sent::Queued
            }
            Err(udp::SendError::BufferFull) if known_good => Sent::Full(q.handle),
            // A full queue whose neighbour has not answered (yet): drop
            // rather than make the sender wait on a neighbour that may never
            // answer.
            Err(_) => {
                self.dropped += 1;
                Sent::Dropped
            }
        }
    }

    /// Makes a queue for (`owner`, `dst`), evicting the longest-blocked or a
    /// drained queue when at [`MAX_QUEUES`].
    fn open(
        &mut self,
        owner: SocketHandle,
        endpoint: IpListenEndpoint,
        dst: IpAddress,
        len: usize,
        capacity: usize,
        packets: usize,
    ) -> Option<usize> {
        if self.queues.len() >= MAX_QUEUES {
            // The queue blocked longest is the likeliest dead end; then a
            // drained one; a queue whose datagrams may still go out is kept.
            let blocked = self.queues.iter().enumerate().filter_map(|(i, q)| q.blocked_since.map(|t| (t, i)));
            let victim = blocked.min().map(|(_, i)| i).or_else(|| self.queues.iter().position(|q| q.queued == 0))?;
            self.close(victim);
        }
        // Room for a few datagrams of this size; a queue that turns out to
        // carry a steady flow applies back-pressure at this size.
        let bytes = len.saturating_mul(4).clamp(MIN_QUEUE_BYTES, capacity.max(MIN_QUEUE_BYTES));
        let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; packets.max(1)], vec![0u8; bytes]);
        let rx = udp::PacketBuffer::new(Vec::new(), Vec::new());
        let mut socket = udp::Socket::new(rx, tx);
        socket.bind(endpoint).ok()?;
        let handle = self.sockets.add(socket);
        self.queues.push(Queue {
            owner,
            dst,
            handle,
            queued: 0,
            blocked_since: None,
            idle_since: None,
            probed_at: None,
            delivered: false,
        });
        Some(self.queues.len() - 1)
    }

    /// Removes queue `i`; its datagrams are lost and a sender waiting on it
    /// is woken (smoltcp's `close` wakes the send waker).
    fn close(&mut self, i: usize) {
        let q = self.queues.swap_remove(i);
        self.dropped += q.queued as u64;
        self.sockets.get_mut::<udp::Socket>(q.handle).close();
        self.sockets.remove(q.handle);
    }

    /// Drops every queue of a closed application socket.
    pub fn remove_owner(&mut self, owner: SocketHandle) {
        let mut i = 0;
        while i < self.queues.len() {
            if self.queues[i].owner == owner {
                self.close(i);
            } else {
                i += 1;
            }
        }
    }

    /// Bookkeeping after an egress pass: a queue still holding datagrams is
    /// blocked on its neighbour, and is dropped once that lasted
    /// [`RESOLVE_TIMEOUT`]; drained queues linger, then are freed. Returns
    /// the destinations of blocked queues due for a probe of their own (see
    /// `probe`), at most one a second per queue.
    pub fn after_egress(&mut self, now: Instant) -> Vec<IpAddress> {
        let mut probes = Vec::new();
        let mut i = 0;
        while i < self.queues.len() {
            let q = &mut self.queues[i];
            let pending = self.sockets.get::<udp::Socket>(q.handle).send_queue() > 0;
            let expired = if pending {
                let since = *q.blocked_since.get_or_insert(now);
                if q.probed_at.is_none_or(|t| now.saturating_duration_since(t) >= PROBE_INTERVAL) {
                    q.probed_at = Some(now);
                    probes.push(q.dst);
                }
                now.saturating_duration_since(since) >= RESOLVE_TIMEOUT
            } else {
                if q.queued > 0 || q.blocked_since.is_some() {
                    q.delivered = true;
                }
                q.queued = 0;
                q.blocked_since = None;
                q.probed_at = None;
                let since = *q.idle_since.get_or_insert(now);
                now.saturating_duration_since(since) >= IDLE_LINGER
            };
            if expired {
                if pending {
                    log::debug!(
                        target: "netstack",
                        "no neighbour answered for {} within {RESOLVE_TIMEOUT:?}: {} datagrams dropped",
                        q.dst,
                        q.queued
                    );
                }
                self.close(i);
            } else {
                i += 1;
            }
        }
        probes
    }
}
