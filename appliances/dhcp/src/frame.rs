//! Ethernet/IPv4/UDP framing of DHCP messages (smoltcp::wire).
//!
//! Requests arrive as raw frames (the stack diverts UDP port 67 to us);
//! replies leave as raw frames because the client may have no address yet:
//! RFC 2131 §4.1 has us broadcast, or unicast to `yiaddr` at the MAC in
//! `chaddr`, neither of which an IP stack's UDP path can do.

use std::net::Ipv4Addr;

use platform::net::MacAddr;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress,
    IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

/// Why a frame was dropped before DHCP decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Too short or inconsistent lengths, bad IPv4 header checksum.
    Malformed,
    /// Not for us (other MAC or IP, fragment, not UDP to 67).
    NotForUs,
}

/// A DHCP request as received.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub src_port: u16,
    pub payload: &'a [u8],
}

/// Parses a frame the stack diverted to us. `server` is our address and
/// `bcast` our subnet's broadcast address.
pub fn parse(frame: &[u8], mac: MacAddr, server: Ipv4Addr, bcast: Ipv4Addr) -> Result<Incoming<'_>, FrameError> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| FrameError::Malformed)?;
    let dst = eth.dst_addr();
    if !(dst.is_broadcast() || dst.0 == mac.0) {
        return Err(FrameError::NotForUs);
    }
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return Err(FrameError::NotForUs);
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|_| FrameError::Malformed)?;
    if !ip.verify_checksum() {
        return Err(FrameError::Malformed);
    }
    if ip.more_frags() || ip.frag_offset() != 0 || ip.next_header() != IpProtocol::Udp {
        return Err(FrameError::NotForUs);
    }
    let dst_ip = ip.dst_addr();
    if !(dst_ip == Ipv4Addr::BROADCAST || dst_ip == server || dst_ip == bcast) {
        return Err(FrameError::NotForUs);
    }
    let src_ip = ip.src_addr();
    let udp = UdpPacket::new_checked(ip.payload()).map_err(|_| FrameError::Malformed)?;
    // A zero UDP checksum means "none" (RFC 768); otherwise it must verify.
    if udp.checksum() != 0 && !udp.verify_checksum(&IpAddress::Ipv4(src_ip), &IpAddress::Ipv4(dst_ip)) {
        return Err(FrameError::Malformed);
    }
    if udp.dst_port() != 67 {
        return Err(FrameError::NotForUs);
    }
    Ok(Incoming { src_mac: eth.src_addr().0, src_ip, src_port: udp.src_port(), payload: udp.payload() })
}

/// Builds a complete reply frame.
pub fn build(
    src_mac: MacAddr,
    dst_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    dst_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp = UdpRepr { src_port: 67, dst_port };
    let ip = Ipv4Repr {
        src_addr: src_ip,
        dst_addr: dst_ip,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(src_mac.0),
        dst_addr: EthernetAddress(dst_mac),
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + ip.payload_len];
    let caps = ChecksumCapabilities::default();
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut frame);
    let mut ip_packet = Ipv4Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut ip_packet, &caps);
    let mut udp_packet = UdpPacket::new_unchecked(ip_packet.payload_mut());
    udp.emit(
        &mut udp_packet,
        &IpAddress::Ipv4(src_ip),
        &IpAddress::Ipv4(dst_ip),
        payload.len(),
        |b| b.copy_from_slice(payload),
        &caps,
    );
    buf
}

/// An ARP request for `target` from us (`--probe=arp`): "who has `target`,
/// tell `sender`", broadcast.
pub fn arp_probe(mac: MacAddr, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(mac.0),
        source_protocol_addr: sender,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(mac.0),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    };
    let mut buf = vec![0u8; eth.buffer_len() + arp.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    buf
}

/// If `frame` is an ARP message by which a host says it uses an address (a
/// reply, or a request or announcement sent from that address): the address
/// and the host's hardware address. Our own frames (from `mac`) are not.
pub fn arp_claim(frame: &[u8], mac: MacAddr) -> Option<(Ipv4Addr, [u8; 6])> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    let packet = ArpPacket::new_checked(eth.payload()).ok()?;
    match ArpRepr::parse(&packet).ok()? {
        ArpRepr::EthernetIpv4 { source_hardware_addr, source_protocol_addr, .. }
            if source_hardware_addr.0 != mac.0 && !source_protocol_addr.is_unspecified() =>
        {
            Some((source_protocol_addr, source_hardware_addr.0))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_frame_parses_back() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let f = build(mac, [0xff; 6], Ipv4Addr::new(10, 0, 0, 9), Ipv4Addr::BROADCAST, 67, b"hello dhcp");
        let server = Ipv4Addr::new(10, 0, 0, 1);
        let bcast = Ipv4Addr::new(10, 0, 0, 255);
        let inc = parse(&f, MacAddr([2, 0, 0, 0, 0, 2]), server, bcast).unwrap();
        assert_eq!(
            (inc.src_mac, inc.src_ip, inc.src_port, inc.payload),
            (mac.0, Ipv4Addr::new(10, 0, 0, 9), 67, &b"hello dhcp"[..])
        );
        // Every truncation and every single-byte corruption is an error or a
        // frame, never a panic.
        for n in 0..f.len() {
            let _ = parse(&f[..n], mac, server, bcast);
            let mut g = f.clone();
            g[n] ^= 0xff;
            let _ = parse(&g, mac, server, bcast);
        }
        let mut bad = f.clone();
        bad[14 + 10] ^= 1; // IPv4 header checksum
        assert_eq!(parse(&bad, mac, server, bcast).unwrap_err(), FrameError::Malformed);
    }

    #[test]
    fn arp_probe_and_claims() {
        let ours = MacAddr([2, 0, 0, 0, 0, 1]);
        let (server, target) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 100));
        let probe = arp_probe(ours, server, target);
        assert_eq!(probe.len(), 42);
        assert_eq!(&probe[..6], &[0xff; 6]);
        // Our own request claims nothing; seen from another host, it claims our address.
        assert_eq!(arp_claim(&probe, ours), None);
        assert_eq!(arp_claim(&probe, MacAddr([2, 0, 0, 0, 0, 9])), Some((server, ours.0)));
        // The reply of the host using the address.
        let theirs = MacAddr([2, 0xee, 0, 0, 0, 5]);
        let mut reply = arp_probe(theirs, target, server);
        reply[21] = 2; // operation: reply
        assert_eq!(arp_claim(&reply, ours), Some((target, theirs.0)));
        // Not ARP, truncated, or a probe from 0.0.0.0 (RFC 5227): no claim.
        let dhcp = build(ours, [0xff; 6], server, Ipv4Addr::BROADCAST, 68, b"x");
        assert_eq!(arp_claim(&dhcp, MacAddr([2, 0, 0, 0, 0, 9])), None);
        for n in 0..reply.len() {
            let _ = arp_claim(&reply[..n], ours);
        }
        let unspecified = arp_probe(theirs, Ipv4Addr::UNSPECIFIED, target);
        assert_eq!(arp_claim(&unspecified, ours), None);
    }
}
