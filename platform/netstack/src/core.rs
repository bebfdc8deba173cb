//! The shared state of one stack (interface, sockets, device adapter, accept
//! queues) and the driver task that moves frames and timers.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use platform::net::Net;
use platform::stack::FrameFilter;
use platform::time::{self, Duration, Instant};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::{Socket, dhcpv4, tcp};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Address, Ipv4Cidr};

use crate::Stats;
use crate::device::{Class, Device, classify};
use crate::probe;
use crate::udp_out::UdpOut;

/// Frames taken from the device per driver turn before other tasks (and the
/// listener re-arming below) get a chance to run.
const INGRESS_BATCH: usize = 64;
/// Sockets kept in LISTEN per listener. A SYN always finds one because the
/// pool is topped up right before each SYN is handed to smoltcp.
const LISTEN_SPARES: usize = 4;
/// A handshake that has not completed within this time is dropped (the peer
/// gave up long ago; smoltcp itself would retransmit the SYN|ACK forever).
const SYN_RECEIVED_TIMEOUT: Duration = Duration::from_secs(30);
/// smoltcp keeps TIME-WAIT for a fixed 10 s; a closed socket nobody owns is
/// freed after this shorter linger, long enough to re-ACK a retransmitted FIN
/// within a LAN round trip (RFC 9293 §3.6.1 asks for 2 MSL; the socket and its
/// buffers are what 1,000 short connections would otherwise pile up).
const TIME_WAIT_LINGER: Duration = Duration::from_secs(2);
/// An orphaned connection stuck in FIN-WAIT-2 (peer never closes) is reset
/// after this, as Linux does with `tcp_fin_timeout`.
const FIN_WAIT_2_TIMEOUT: Duration = Duration::from_secs(60);
/// While housekeeping is pending the driver wakes at least this often.
const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(1);

pub(crate) fn smol_now(now: Instant) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(now.as_micros()).unwrap_or(i64::MAX))
}

/// Tunables copied from [`crate::Config`].
#[derive(Clone, Debug)]
pub(crate) struct Tunables {
    pub tcp_buffer: usize,
    pub udp_buffer: usize,
    pub udp_packets: usize,
    pub raw_queue: usize,
    pub syn_backlog: usize,
    pub connect_timeout: Duration,
    pub tcp_memory_budget: Option<usize>,
}

pub(crate) struct Shared {
    pub net: Rc<dyn Net>,
    pub name: String,
    pub inner: RefCell<Inner>,
}

/// One listening port: sockets in LISTEN, handshakes in progress, and
/// established connections waiting for `accept`.
pub(crate) struct Listener {
    pub endpoint: IpListenEndpoint,
    pub backlog: usize,
    pub listening: Vec<SocketHandle>,
    pub pending: Vec<(SocketHandle, Instant)>,
    pub ready: VecDeque<SocketHandle>,
    pub waker: Option<Waker>,
}

pub(crate) struct RawQueue {
    pub filter: FrameFilter,
    pub frames: VecDeque<Vec<u8>>,
    pub waker: Option<Waker>,
}

/// A TCP socket nobody owns any more; kept until its connection is over.
pub(crate) struct Orphan {
    pub handle: SocketHandle,
    pub since: Instant,
    pub time_wait_since: Option<Instant>,
}

pub(crate) struct Inner {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    pub dev: Device,
    pub listeners: Vec<Option<Listener>>,
    pub raws: Vec<Option<RawQueue>>,
    pub orphans: Vec<Orphan>,
    pub dhcp: Option<SocketHandle>,
    /// UDP datagrams on their way out, queued per destination (see
    /// [`crate::udp_out`]); their sockets live in a set ingress never sees.
    pub udp_out: UdpOut,
    pub rng: u64,
    pub tune: Tunables,
    pub stats: Stats,
    pub driver_waker: Option<Waker>,
    /// Raised by socket operations that have something to transmit, so the
    /// driver runs egress now rather than at its next timer.
    pub dirty: bool,
    pub device_failed: bool,
}

/// What happens to an incoming SYN.
enum Syn {
    /// No listener: smoltcp answers with RST (connection refused).
    NoListener,
    Drop,
    Admit(usize),
}

/// What one driver turn found.
struct Turn {
    /// The device may hold more frames than this turn took.
    more_input: bool,
    /// When smoltcp wants to be polled again (`None`: only on input).
    next: Option<Instant>,
}

impl Inner {
    /// Wakes the driver so that it polls now.
    pub fn notify(&mut self) {
        self.dirty = true;
        if let Some(w) = self.driver_waker.take() {
            w.wake();
        }
    }

    /// splitmix64: a small seeded generator for ephemeral ports.
    pub fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A free port in the dynamic range of RFC 6335 (49152–65535), chosen at
    /// random as RFC 6056 recommends.
    pub fn ephemeral_port(&mut self, in_use: impl Fn(&SocketSet<'static>, u16) -> bool) -> io::Result<u16> {
        const FIRST: u16 = 49152;
        const COUNT: u16 = 16384;
        let start = (self.next_random() % u64::from(COUNT)) as u16;
        for i in 0..COUNT {
            let port = FIRST + (start.wrapping_add(i.wrapping_mul(7919)) % COUNT);
            if !in_use(&self.sockets, port) {
                return Ok(port);
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, "no free ephemeral port"))
    }

    /// Whether one more TCP socket fits in [`Tunables::tcp_memory_budget`].
    pub fn tcp_socket_fits(&self) -> bool {
        let Some(budget) = self.tune.tcp_memory_budget else { return true };
        let per_socket = 2 * self.tune.tcp_buffer;
        let sockets = self.sockets.iter().filter(|(_, s)| matches!(s, smoltcp::socket::Socket::Tcp(_))).count();
        (sockets + 1) * per_socket <= budget
    }

    pub fn new_tcp_socket(&self) -> tcp::Socket<'static> {
        let rx = tcp::SocketBuffer::new(vec![0u8; self.tune.tcp_buffer]);
        let tx = tcp::SocketBuffer::new(vec![0u8; self.tune.tcp_buffer]);
        let mut s = tcp::Socket::new(rx, tx);
        s.set_congestion_control(tcp::CongestionControl::Reno);
        s
    }

    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    /// Gives a TCP socket to the garbage collector; it lives on until its
    /// connection is finished (FIN exchange, or RST sent).
    pub fn orphan(&mut self, handle: SocketHandle, now: Instant) {
        self.orphans.push(Orphan { handle, since: now, time_wait_since: None });
        self.notify();
    }

    /// Moves sockets of listener `id` along: LISTEN sockets that got a SYN
    /// become pending, pending ones that completed the handshake become ready
    /// (or are dropped if the handshake failed), and the LISTEN pool is
    /// re-armed within the backlog.
    pub fn refill_listener(&mut self, id: usize, now: Instant) {
        let Some(mut l) = self.listeners.get_mut(id).and_then(Option::take) else { return };
        let mut woke = false;

        let mut i = 0;
        while i < l.listening.len() {
            let h = l.listening[i];
            if self.tcp(h).state() == tcp::State::Listen {
                i += 1;
            } else {
                l.listening.swap_remove(i);
                l.pending.push((h, now));
            }
        }

        let mut i = 0;
        while i < l.pending.len() {
            let (h, since) = l.pending[i];
            let s = self.tcp(h);
            match s.state() {
                tcp::State::SynReceived | tcp::State::SynSent => {
                    if now.saturating_duration_since(since) >= SYN_RECEIVED_TIMEOUT {
                        s.abort();
                        l.pending.swap_remove(i);
                        self.orphan(h, now);
                        log::debug!(target: "netstack", "handshake on {} timed out", l.endpoint);
                    } else {
                        i += 1;
                    }
                }
                // An RST in SYN-RECEIVED puts smoltcp's socket back in LISTEN.
                tcp::State::Listen => {
                    l.pending.swap_remove(i);
                    l.listening.push(h);
                }
                tcp::State::Established | tcp::State::CloseWait => {
                    l.pending.swap_remove(i);
                    l.ready.push_back(h);
                    woke = true;
                }
                _ => {
                    // Reset or closed before the application saw it.
                    l.pending.swap_remove(i);
                    self.tcp(h).abort();
                    self.orphan(h, now);
                }
            }
        }

        // Connections reset before accept() are not handed out.
        let mut kept = VecDeque::with_capacity(l.ready.len());
        while let Some(h) = l.ready.pop_front() {
            match self.tcp(h).state() {
                tcp::State::Closed | tcp::State::TimeWait => {
                    self.tcp(h).abort();
                    self.orphan(h, now);
                }
                _ => kept.push_back(h),
            }
        }
        l.ready = kept;

        // The backlog bounds connections waiting for accept() (Linux's accept
        // queue); handshakes in progress have their own, larger bound so that
        // a burst of SYNs from many clients is not refused.
        let room = if l.ready.len() >= l.backlog || l.pending.len() >= self.tune.syn_backlog.max(l.backlog) {
            0
        } else {
            LISTEN_SPARES
        };
        while l.listening.len() > room {
            if let Some(h) = l.listening.pop() {
                self.sockets.remove(h);
            }
        }
        while l.listening.len() < room {
            if !self.tcp_socket_fits() {
                log::debug!(target: "netstack", "TCP buffer memory budget reached: not re-arming {}", l.endpoint);
                break;
            }
            let mut s = self.new_tcp_socket();
            if let Err(e) = s.listen(l.endpoint) {
                log::warn!(target: "netstack", "cannot listen on {}: {e}", l.endpoint);
                break;
            }
            l.listening.push(self.sockets.add(s));
        }

        if woke && let Some(w) = l.waker.take() {
            w.wake();
        }
        self.listeners[id] = Some(l);
    }

    fn listener_for(&self, dst: IpAddress, port: u16) -> Option<usize> {
        self.listeners.iter().position(|l| {
            l.as_ref().is_some_and(|l| l.endpoint.port == port && l.endpoint.addr.is_none_or(|a| a == dst))
        })
    }

    /// Decides whether a SYN may reach smoltcp. Re-arms the listener first,
    /// so that every SYN of a burst finds a socket in LISTEN.
    fn admit_syn(&mut self, dst: IpAddress, dst_port: u16, src: IpEndpoint, now: Instant) -> Syn {
        let Some(id) = self.listener_for(dst, dst_port) else { return Syn::NoListener };
        self.refill_listener(id, now);
        let Some(l) = self.listeners[id].as_ref() else { return Syn::NoListener };
        // A retransmitted SYN of a handshake in progress must not reach a
        // fresh LISTEN socket (smoltcp offers a segment to sockets in table
        // order), which would open a second half-connection for the same
        // 4-tuple. The pending socket retransmits its SYN|ACK by itself.
        let duplicate = l.pending.iter().any(|&(h, _)| {
            let s = self.sockets.get::<tcp::Socket>(h);
            s.remote_endpoint() == Some(src) && s.local_endpoint().is_some_and(|e| e.addr == dst)
        });
        if duplicate {
            return Syn::Drop;
        }
        if l.listening.is_empty() {
            // Backlog full: ignore the SYN (RFC 9293 lets a full queue drop
            // it; the client retransmits), rather than refuse with RST.
            return Syn::Drop;
        }
        Syn::Admit(id)
    }

    /// One driver turn: a bounded batch of input, housekeeping, all output.
    fn turn(&mut self, net: &Rc<dyn Net>, now: Instant) -> Turn {
        self.dirty = false;
        let ts = smol_now(now);
        self.iface.poll_maintenance(ts);

        let mut more_input = false;
        if !self.device_failed {
            for taken in 0..INGRESS_BATCH {
                let len = match net.recv(&mut self.dev.rx_buf) {
                    Ok(Some(len)) => len.min(self.dev.rx_buf.len()),
                    Ok(None) => break,
                    Err(e) => {
                        log::error!(target: "netstack", "device failed, stopping input: {e}");
                        self.device_failed = true;
                        break;
                    }
                };
                self.stats.rx_frames += 1;
                if self.ingress(len, now) {
                    self.stats.rx_dropped += 1;
                }
                if taken + 1 == INGRESS_BATCH {
                    more_input = true;
                }
            }
        }

        for id in 0..self.listeners.len() {
            if self.listeners[id].is_some() {
                self.refill_listener(id, now);
            }
        }
        self.poll_dhcp();
        loop {
            if self.iface.poll_egress(ts, &mut self.dev, &mut self.sockets) == smoltcp::iface::PollResult::None {
                break;
            }
        }
        loop {
            if self.iface.poll_egress(ts, &mut self.dev, &mut self.udp_out.sockets) == smoltcp::iface::PollResult::None
            {
                break;
            }
        }
        for dst in self.udp_out.after_egress(now) {
            self.probe_neighbour(net, dst);
        }
        // Everything queued before this turn has been offered to the wire.
        self.dirty = false;
        self.collect_orphans(now);

        let to_instant = |at: SmolInstant| {
            let micros = (at - ts).total_micros();
            if at <= ts { now } else { now + Duration::from_micros(micros) }
        };
        let mut next = self.iface.poll_at(ts, &self.sockets).map(to_instant);
        if let Some(at) = self.iface.poll_at(ts, &self.udp_out.sockets).map(to_instant) {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        let housekeeping = self.udp_out.busy()
            || !self.orphans.is_empty()
            || self.listeners.iter().flatten().any(|l| !l.pending.is_empty() || !l.ready.is_empty());
        if housekeeping {
            let by = now + HOUSEKEEPING_PERIOD;
            next = Some(next.map_or(by, |n| n.min(by)));
        }
        Turn { more_input, next }
    }

    /// Sends our own ARP request or neighbour solicitation for the next hop
    /// towards `dst` (see `probe`).
    fn probe_neighbour(&mut self, net: &Rc<dyn Net>, dst: IpAddress) {
        let Some(hop) = probe::next_hop(&self.iface, dst) else { return };
        let mac = EthernetAddress(net.info().mac.0);
        let Some(frame) = probe::request(&self.iface, mac, hop) else { return };
        match net.send(&frame) {
            Ok(()) => self.stats.tx_frames += 1,
            Err(_) => self.stats.tx_errors += 1,
        }
    }

    /// Offers the frame staged in `rx_buf[..len]` to raw sockets and smoltcp.
    /// Returns true when the frame was dropped.
    fn ingress(&mut self, len: usize, now: Instant) -> bool {
        let class = classify(&self.dev.rx_buf[..len]);
        for raw in self.raws.iter_mut().flatten() {
            if raw.filter == FrameFilter::All {
                push_raw(raw, &self.dev.rx_buf[..len], self.tune.raw_queue, &mut self.stats);
            }
        }
        let mut syn_listener = None;
        match class {
            // smoltcp would drop these too; counting them here is the point.
            Class::Malformed => {
                self.stats.rx_malformed += 1;
                return true;
            }
            Class::Ipv4Udp { dst_port } => {
                let diverted = self.raws.iter_mut().flatten().find(|r| r.filter == FrameFilter::Ipv4UdpPort(dst_port));
                if let Some(raw) = diverted {
                    push_raw(raw, &self.dev.rx_buf[..len], self.tune.raw_queue, &mut self.stats);
                    return false;
                }
            }
            Class::TcpSyn { dst, dst_port, src } => match self.admit_syn(dst, dst_port, src, now) {
                Syn::Drop => {
                    self.stats.syn_dropped += 1;
                    return true;
                }
                Syn::Admit(id) => syn_listener = Some(id),
                Syn::NoListener => {}
            },
            Class::Other => {}
        }
        self.dev.rx_staged = Some(len);
        self.iface.poll_ingress_single(smol_now(now), &mut self.dev, &mut self.sockets);
        self.dev.rx_staged = None;
        if let Some(id) = syn_listener {
            self.refill_listener(id, now);
        }
        false
    }

    fn poll_dhcp(&mut self) {
        let Some(h) = self.dhcp else { return };
        let event = match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(c)) => Some((c.address, c.router)),
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match event {
            Some((address, router)) => {
                log::info!(
                    target: "netstack",
                    "DHCP: configured {address}{}",
                    router.map(|r| format!(" via {r}")).unwrap_or_default()
                );
                self.set_ipv4(Some(address), router);
            }
            None => {
                log::info!(target: "netstack", "DHCP: lease lost, IPv4 deconfigured");
                self.set_ipv4(None, None);
            }
        }
    }

    /// Replaces the interface's IPv4 address and default route.
    pub fn set_ipv4(&mut self, address: Option<Ipv4Cidr>, router: Option<Ipv4Address>) {
        self.iface.update_ip_addrs(|addrs| {
            addrs.retain(|a| !matches!(a, IpCidr::Ipv4(_)));
            if let Some(a) = address
                && addrs.push(IpCidr::Ipv4(a)).is_err()
            {
                log::warn!(target: "netstack", "no room for address {a}");
            }
        });
        let routes = self.iface.routes_mut();
        routes.remove_default_ipv4_route();
        if let Some(r) = router
            && routes.add_default_ipv4_route(r).is_err()
        {
            log::warn!(target: "netstack", "no room for default route via {r}");
        }
    }

    /// Frees orphaned sockets whose connection is over.
    fn collect_orphans(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.orphans.len() {
            let o = &mut self.orphans[i];
            let s = self.sockets.get_mut::<tcp::Socket>(o.handle);
            // Nobody will read: discard input so the window stays open and
            // the peer can finish sending and close.
            while s.can_recv() {
                if s.recv(|b| (b.len(), ())).is_err() {
                    break;
                }
            }
            let done = match s.state() {
                // After an abort the socket stays CLOSED with its endpoint set
                // until the RST has gone out.
                tcp::State::Closed => {
                    // The RST could not go out (e.g. the neighbour vanished);
                    // do not keep the socket for ever.
                    s.remote_endpoint().is_none() || now.saturating_duration_since(o.since) >= FIN_WAIT_2_TIMEOUT
                }
                tcp::State::Listen => true,
                tcp::State::TimeWait => {
                    let since = *o.time_wait_since.get_or_insert(now);
                    now.saturating_duration_since(since) >= TIME_WAIT_LINGER
                }
                tcp::State::FinWait2 if now.saturating_duration_since(o.since) >= FIN_WAIT_2_TIMEOUT => {
                    s.abort();
                    false
                }
                _ => false,
            };
            if done {
                let h = o.handle;
                self.orphans.swap_remove(i);
                self.sockets.remove(h);
            } else {
                i += 1;
            }
        }
    }

    pub fn socket_count(&self) -> usize {
        self.sockets.iter().count()
    }
}

pub(crate) fn push_raw(raw: &mut RawQueue, frame: &[u8], cap: usize, stats: &mut Stats) {
    if raw.frames.len() >= cap {
        stats.raw_dropped += 1;
        return;
    }
    raw.frames.push_back(frame.to_vec());
    if let Some(w) = raw.waker.take() {
        w.wake();
    }
}

/// Is `port` taken by a TCP socket (listening or connected)?
pub(crate) fn tcp_port_in_use(sockets: &SocketSet<'static>, port: u16) -> bool {
    sockets.iter().any(|(_, s)| match s {
        Socket::Tcp(s) => s.listen_endpoint().port == port || s.local_endpoint().is_some_and(|e| e.port == port),
        _ => false,
    })
}

/// The driver task: polls the interface, then sleeps until smoltcp's next
/// timer, device input, or a socket operation that needs output.
pub(crate) async fn drive(shared: Rc<Shared>) {
    let mut immediate_turns = 0u32;
    loop {
        let now = time::now();
        let turn = shared.inner.borrow_mut().turn(&shared.net, now);
        if turn.more_input {
            platform::rt::yield_now().await;
            continue;
        }
        let mut deadline = turn.next;
        if deadline.is_some_and(|d| d <= now) {
            // smoltcp wants another turn at once (e.g. more queued output).
            // Let other tasks run; guard against a spin if it never settles.
            immediate_turns += 1;
            if immediate_turns < 1000 {
                platform::rt::yield_now().await;
                continue;
            }
            deadline = Some(now + Duration::from_millis(1));
        }
        immediate_turns = 0;
        let mut sleep = deadline.map(time::sleep_until);
        poll_fn(|cx| {
            {
                let mut inner = shared.inner.borrow_mut();
                if inner.dirty {
                    return Poll::Ready(());
                }
                inner.driver_waker = Some(cx.waker().clone());
                if !inner.device_failed && shared.net.poll_readable(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            if let Some(s) = sleep.as_mut()
                && Pin::new(s).poll(cx).is_ready()
            {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
    }
}

/// The current time, or zero when no runtime is installed (handles may be
/// dropped after their runtime ended; ages are only used for housekeeping).
pub(crate) fn now_or_zero() -> Instant {
    platform::rt::try_with(|cx| cx.runtime.now()).unwrap_or(Instant::ZERO)
}
