//! The smoltcp device adapter over a platform [`Net`], and the frame
//! classifier that runs before smoltcp sees a frame.

use std::rc::Rc;

use platform::net::Net;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpAddress, IpEndpoint, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket,
};

/// Hands smoltcp one staged received frame at a time (the driver decides
/// which frames it sees) and writes transmitted frames straight to the `Net`.
pub(crate) struct Device {
    net: Rc<dyn Net>,
    caps: DeviceCapabilities,
    /// Receive buffer of `frame_capacity()` bytes, filled by the driver.
    pub(crate) rx_buf: Vec<u8>,
    /// Length of the staged frame in `rx_buf`, taken by the next `receive`.
    pub(crate) rx_staged: Option<usize>,
    tx_buf: Vec<u8>,
    pub(crate) tx_frames: u64,
    pub(crate) tx_errors: u64,
}

impl Device {
    pub(crate) fn new(net: Rc<dyn Net>) -> Device {
        let info = net.info();
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // For Ethernet, smoltcp's MTU counts the Ethernet header.
        caps.max_transmission_unit = info.frame_capacity();
        Device {
            net,
            caps,
            rx_buf: vec![0; info.frame_capacity()],
            rx_staged: None,
            tx_buf: vec![0; info.frame_capacity()],
            tx_frames: 0,
            tx_errors: 0,
        }
    }
}

pub(crate) struct Rx<'a> {
    frame: &'a [u8],
}

pub(crate) struct Tx<'a> {
    net: &'a Rc<dyn Net>,
    buf: &'a mut Vec<u8>,
    frames: &'a mut u64,
    errors: &'a mut u64,
}

impl phy::Device for Device {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _timestamp: SmolInstant) -> Option<(Rx<'_>, Tx<'_>)> {
        let len = self.rx_staged.take()?;
        Some((
            Rx { frame: &self.rx_buf[..len] },
            Tx { net: &self.net, buf: &mut self.tx_buf, frames: &mut self.tx_frames, errors: &mut self.tx_errors },
        ))
    }

    fn transmit(&mut self, _timestamp: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx { net: &self.net, buf: &mut self.tx_buf, frames: &mut self.tx_frames, errors: &mut self.tx_errors })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let out = f(&mut self.buf[..len]);
        // `Net::send` drops what the device cannot take, like a wire; an
        // error means the device itself failed, which we count and log.
        match self.net.send(&self.buf[..len]) {
            Ok(()) => *self.frames += 1,
            Err(e) => {
                *self.errors += 1;
                if *self.errors == 1 || (*self.errors).is_power_of_two() {
                    log::warn!(target: "netstack", "send failed ({} failures so far): {e}", self.errors);
                }
            }
        }
        out
    }
}

/// What the driver needs to know about a frame before smoltcp sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Too short or with an inconsistent IP header: smoltcp would drop it.
    Malformed,
    /// An unfragmented IPv4 UDP datagram (for raw `Ipv4UdpPort` filters).
    Ipv4Udp {
        dst_port: u16,
    },
    /// A TCP segment opening a connection (SYN without ACK).
    TcpSyn {
        dst: IpAddress,
        dst_port: u16,
        src: IpEndpoint,
    },
    Other,
}

pub(crate) fn classify(frame: &[u8]) -> Class {
    let Ok(eth) = EthernetFrame::new_checked(frame) else { return Class::Malformed };
    match eth.ethertype() {
        EthernetProtocol::Ipv4 => {
            let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else { return Class::Malformed };
            // Later fragments carry no transport header; only whole datagrams
            // are classified (a first fragment goes to smoltcp's reassembly).
            if ip.more_frags() || ip.frag_offset() != 0 {
                return Class::Other;
            }
            let (src, dst) = (IpAddress::Ipv4(ip.src_addr()), IpAddress::Ipv4(ip.dst_addr()));
            match ip.next_header() {
                IpProtocol::Udp => match UdpPacket::new_checked(ip.payload()) {
                    Ok(udp) => Class::Ipv4Udp { dst_port: udp.dst_port() },
                    Err(_) => Class::Malformed,
                },
                IpProtocol::Tcp => tcp_class(ip.payload(), src, dst),
                _ => Class::Other,
            }
        }
        EthernetProtocol::Ipv6 => {
            let Ok(ip) = Ipv6Packet::new_checked(eth.payload()) else { return Class::Malformed };
            let (src, dst) = (IpAddress::Ipv6(ip.src_addr()), IpAddress::Ipv6(ip.dst_addr()));
            match ip.next_header() {
                IpProtocol::Tcp => tcp_class(ip.payload(), src, dst),
                _ => Class::Other,
            }
        }
        _ => Class::Other,
    }
}

fn tcp_class(payload: &[u8], src: IpAddress, dst: IpAddress) -> Class {
    match TcpPacket::new_checked(payload) {
        Ok(tcp) if tcp.syn() && !tcp.ack() && !tcp.rst() => {
            Class::TcpSyn { dst, dst_port: tcp.dst_port(), src: IpEndpoint::new(src, tcp.src_port()) }
        }
        Ok(_) => Class::Other,
        Err(_) => Class::Malformed,
    }
}
