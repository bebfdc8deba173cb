//! `netstack`: smoltcp 0.14 over any [`platform::net::Net`], exposing the
//! platform stack API ([`platform::stack::StackBackend`]).
//!
//! Shape: the smoltcp `Interface`, its `SocketSet` and the device adapter live
//! together in one `Rc<RefCell<..>>`. Socket handles (streams, listeners, UDP
//! and raw sockets) borrow it briefly, register wakers with smoltcp (its
//! `async` feature) and raise a "dirty" flag when they queued output. One
//! driver task per stack polls the interface and then waits for the earliest
//! of smoltcp's next timer, device input, or that flag.
//!
//! What smoltcp does not do and this crate adds:
//! * an accept backlog: smoltcp's TCP socket accepts one connection, so each
//!   listener keeps a few sockets in LISTEN, re-armed before every incoming
//!   SYN, and queues established connections until `accept`;
//! * ownership of closing connections: a dropped stream's socket stays in the
//!   set until its FIN exchange (or RST) is done, then is freed;
//! * raw frame access next to the stack (DHCP servers, firewalls);
//! * UDP send queues per destination, so that a datagram whose neighbour
//!   never answers ARP/NDP is dropped after a few seconds instead of holding
//!   up the socket's other datagrams for ever (`udp_out`, `probe`).

mod core;
mod device;
mod probe;
mod raw;
mod tcp;
mod udp;
mod udp_out;

use std::cell::RefCell;

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use platform::args::NetConfig;
use platform::net::{MacAddr, Net};
use platform::rt::LocalBoxFuture;
use platform::stack::{
    self, FrameFilter, RawFramesBackend, Stack, StackBackend, TcpListenerBackend, TcpStreamBackend, UdpSocketBackend,
};
use platform::time::{self, Duration};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::socket::dhcpv4;
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Cidr, Ipv6Address, Ipv6Cidr};

use crate::core::{Inner, Shared, Tunables, smol_now};

/// Full-sized segments a TCP buffer holds at least (see [`Config::tcp_buffer`]).
pub const MIN_SEGMENTS_IN_FLIGHT: usize = 4;

/// Configuration of one stack instance.
#[derive(Clone, Debug)]
pub struct Config {
    /// Addresses, gateways, DHCP (from the standard boot arguments).
    pub ip: NetConfig,
    /// Seed for initial sequence numbers and ephemeral ports; take it from
    /// the platform's entropy (the simulator passes its seed).
    pub seed: u64,
    /// Receive and send buffer of each TCP socket, in bytes. Raised to
    /// [`MIN_SEGMENTS_IN_FLIGHT`] segments of the device's MTU when that is
    /// more, so that on a jumbo-frame link more than one segment can be in
    /// flight (with a single one, the peer's delayed ACK paces the transfer).
    pub tcp_buffer: usize,
    /// Name of the interface for logs and `describe()` (e.g. "tap0", "service").
    pub name: String,
    /// Payload bytes of each UDP socket's receive and send buffer.
    pub udp_buffer: usize,
    /// Datagrams each UDP socket's receive and send buffer can hold.
    pub udp_packets: usize,
    /// Frames a raw socket queues before new ones are dropped (and counted).
    pub raw_queue: usize,
    /// Handshakes in progress per listener (the SYN queue; the accept
    /// backlog given to `tcp_listen` bounds only completed connections).
    pub syn_backlog: usize,
    /// Overall limit for `tcp_connect` (smoltcp retransmits the SYN with
    /// exponential back-off until then).
    pub connect_timeout: Duration,
    /// Most bytes of TCP socket buffers the stack may hold at once (every TCP
    /// socket costs twice `tcp_buffer`), or `None` for no limit. At the limit
    /// a new SYN is dropped (the client retries) and `tcp_connect` fails with
    /// `OutOfMemory`, so a burst of SYNs cannot exhaust a small guest's memory.
    pub tcp_memory_budget: Option<usize>,
}

impl Config {
    pub fn new(ip: NetConfig, seed: u64, name: &str) -> Config {
        Config {
            ip,
            seed,
            tcp_buffer: 64 * 1024,
            name: name.to_string(),
            udp_buffer: 64 * 1024,
            udp_packets: 64,
            raw_queue: 256,
            syn_backlog: 1024,
            connect_timeout: Duration::from_secs(75),
            tcp_memory_budget: None,
        }
    }
}

/// Counters of one stack (for tests, logs and metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames read from the device.
    pub rx_frames: u64,
    /// Frames read and then dropped before smoltcp (malformed, or a SYN
    /// that found the backlog full).
    pub rx_dropped: u64,
    /// Frames too short or with an inconsistent IP/UDP/TCP header.
    pub rx_malformed: u64,
    /// SYNs ignored because the listener's queues were full, or because
    /// they repeated a handshake in progress.
    pub syn_dropped: u64,
    /// Frames a raw socket's full queue could not take.
    pub raw_dropped: u64,
    /// Frames written to the device by the stack (raw sends included).
    pub tx_frames: u64,
    /// Device send errors.
    pub tx_errors: u64,
    /// Sockets in smoltcp's socket set right now (all kinds).
    pub sockets: usize,
    /// Closed TCP connections still finishing their FIN/RST exchange.
    pub orphans: usize,
    /// UDP datagrams dropped on the way out: their destination's neighbour
    /// did not answer ARP/NDP in time, or its short queue was full.
    pub udp_unresolved_dropped: u64,
    /// Per-destination UDP send queues right now (bounded; see
    /// [`UDP_MAX_QUEUES`]).
    pub udp_queues: usize,
}

/// Most per-destination UDP send queues a stack keeps at once.
pub const UDP_MAX_QUEUES: usize = udp_out::MAX_QUEUES;

/// A handle for inspecting a running stack beside its [`Stack`].
#[derive(Clone)]
pub struct StackHandle {
    shared: Rc<Shared>,
}

impl StackHandle {
    pub fn stats(&self) -> Stats {
        let inner = self.shared.inner.borrow();
        let mut s = inner.stats;
        s.tx_frames += inner.dev.tx_frames;
        s.tx_errors += inner.dev.tx_errors;
        s.sockets = inner.socket_count();
        s.orphans = inner.orphans.len();
        s.udp_unresolved_dropped = inner.udp_out.dropped;
        s.udp_queues = inner.udp_out.queue_count();
        s
    }
}

/// Builds a stack on `net` and spawns its driver task on the current
/// platform runtime (call it from inside a backend's runtime).
pub fn new_stack(net: Rc<dyn Net>, config: Config) -> io::Result<Stack> {
    new_stack_with_handle(net, config).map(|(stack, _)| stack)
}

/// Like [`new_stack`], also returning a [`StackHandle`] for counters.
pub fn new_stack_with_handle(net: Rc<dyn Net>, config: Config) -> io::Result<(Stack, StackHandle)> {
    let info = net.info();
    if !info.mac.is_unicast() || info.mac == MacAddr::default() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: MAC {} is not unicast", config.name, info.mac),
        ));
    }
    if info.mtu < 576 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: MTU {} is too small", config.name, info.mtu),
        ));
    }
    let mut dev = device::Device::new(net.clone());
    let mut icfg = IfaceConfig::new(EthernetAddress(info.mac.0).into());
    icfg.random_seed = config.seed;
    let now = time::now();
    let iface = Interface::new(icfg, &mut dev, smol_now(now));
    let tune = Tunables {
        tcp_buffer: config.tcp_buffer.max(1024).max(MIN_SEGMENTS_IN_FLIGHT * info.mtu),
        udp_buffer: config.udp_buffer.max(1024),
        udp_packets: config.udp_packets.max(1),
        raw_queue: config.raw_queue.max(1),
        syn_backlog: config.syn_backlog.max(1),
        connect_timeout: config.connect_timeout,
        tcp_memory_budget: config.tcp_memory_budget,
    };
    let mut inner = Inner {
        iface,
        sockets: SocketSet::new(Vec::new()),
        dev,
        listeners: Vec::new(),
        raws: Vec::new(),
        orphans: Vec::new(),
        dhcp: None,
        udp_out: udp_out::UdpOut::new(),
        // Keep the port generator apart from smoltcp's own use of the seed.
        rng: config.seed ^ 0x6e65_7473_7461_636b,
        tune,
        stats: Stats::default(),
        driver_waker: None,
        dirty: true,
        device_failed: false,
    };
    configure(&mut inner, &config, info.mac)?;
    let shared = Rc::new(Shared { net, name: config.name.clone(), inner: RefCell::new(inner) });
    platform::rt::spawn(core::drive(shared.clone()));
    log::info!(target: "netstack", "{}: up, {}", config.name, describe_addrs(&shared));
    Ok((Stack::new(Rc::new(NetStack { shared: shared.clone() })), StackHandle { shared }))
}

/// Static addresses, routes and the DHCP client from `NetConfig`.
fn configure(inner: &mut Inner, config: &Config, mac: MacAddr) -> io::Result<()> {
    let ip = &config.ip;
    let mut addrs: Vec<IpCidr> = Vec::new();
    if let Some(v4) = ip.ipv4 {
        addrs.push(IpCidr::Ipv4(Ipv4Cidr::new(v4.addr, v4.prefix)));
    }
    if let Some(v6) = ip.ipv6 {
        addrs.push(IpCidr::Ipv6(Ipv6Cidr::new(v6.addr, v6.prefix)));
    }
    // RFC 4862 §5.3: every IPv6 interface has a link-local address; NDP
    // (RFC 4861) needs it as source for router and neighbour messages.
    addrs.push(IpCidr::Ipv6(Ipv6Cidr::new(link_local(mac), 64)));
    let mut overflow = false;
    inner.iface.update_ip_addrs(|a| {
        for cidr in addrs {
            overflow |= a.push(cidr).is_err();
        }
    });
    if overflow {
        return Err(io::Error::other("more addresses than SMOLTCP_IFACE_MAX_ADDR_COUNT allows"));
    }
    let routes = inner.iface.routes_mut();
    if let Some(gw) = ip.ipv4_gateway {
        routes.add_default_ipv4_route(gw).map_err(|_| io::Error::other("IPv4 route table full"))?;
    }
    if let Some(gw) = ip.ipv6_gateway {
        routes.add_default_ipv6_route(gw).map_err(|_| io::Error::other("IPv6 route table full"))?;
    }
    if ip.dhcp {
        let mut socket = dhcpv4::Socket::new();
        // The lease may carry a shorter time; smoltcp renews at half of it.
        socket.set_max_lease_duration(None);
        inner.dhcp = Some(inner.sockets.add(socket));
        log::info!(target: "netstack", "{}: DHCP client started", config.name);
    }
    Ok(())
}

/// The modified EUI-64 link-local address of RFC 4291 appendix A.
fn link_local(mac: MacAddr) -> Ipv6Address {
    let m = mac.0;
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    )
}

fn describe_addrs(shared: &Shared) -> String {
    let inner = shared.inner.borrow();
    let addrs: Vec<String> = inner.iface.ip_addrs().iter().map(|a| a.to_string()).collect();
    format!("mac {}, {}", shared.net.info().mac, if addrs.is_empty() { "no address".into() } else { addrs.join(" ") })
}

struct NetStack {
    shared: Rc<Shared>,
}

impl StackBackend for NetStack {
    fn describe(&self) -> String {
        format!("netstack on {} ({})", self.shared.name, describe_addrs(&self.shared))
    }

    fn addresses(&self) -> Vec<stack::IpCidr> {
        let inner = self.shared.inner.borrow();
        inner
            .iface
            .ip_addrs()
            .iter()
            .map(|c| stack::IpCidr { addr: IpAddr::from(c.address()), prefix: c.prefix_len() })
            .collect()
    }

    fn tcp_listen(&self, addr: SocketAddr, backlog: usize) -> io::Result<Box<dyn TcpListenerBackend>> {
        tcp::listen(&self.shared, addr, backlog)
    }

    fn tcp_connect(&self, addr: SocketAddr) -> LocalBoxFuture<'static, io::Result<Box<dyn TcpStreamBackend>>> {
        Box::pin(tcp::connect(self.shared.clone(), addr))
    }

    fn udp_bind(&self, addr: SocketAddr) -> io::Result<Box<dyn UdpSocketBackend>> {
        udp::bind(&self.shared, addr)
    }

    fn raw_frames(&self, filter: FrameFilter) -> io::Result<Box<dyn RawFramesBackend>> {
        raw::open(&self.shared, filter)
    }
}

/// `0.0.0.0` and `::` mean "any address of the stack".
pub(crate) fn listen_addr(addr: IpAddr) -> Option<smoltcp::wire::IpAddress> {
    if addr.is_unspecified() { None } else { Some(addr.into()) }
}
