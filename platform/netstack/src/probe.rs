//! Neighbour probes (ARP requests, NDP neighbour solicitations) sent by
//! netstack itself for destinations whose UDP queue waits on resolution.
//!
//! smoltcp sends these too, but rate-limits them for the whole interface (one
//! per second, whichever socket asks first): a queue that retries for a dead
//! neighbour every second can keep another neighbour from ever being asked.
//! Probing per queue keeps each destination's resolution independent.
//! smoltcp learns the answer as usual (it fills its cache from any ARP packet
//! aimed at our address, RFC 826, and from solicited advertisements, RFC 4861
//! §7.2.5).

use smoltcp::iface::Interface;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv6Packet,
    Icmpv6Repr, IpAddress, IpProtocol, Ipv6Address, Ipv6Packet, Ipv6Repr, NdiscRepr,
};

/// The address whose link-layer address must be known to reach `dst`: `dst`
/// itself on one of our networks, else the default router of its family.
/// `None` when no resolution applies (broadcast, multicast, no route).
pub(crate) fn next_hop(iface: &Interface, dst: IpAddress) -> Option<IpAddress> {
    if dst.is_multicast() || dst.is_unspecified() || matches!(dst, IpAddress::Ipv4(a) if a.is_broadcast()) {
        return None;
    }
    let on_link = iface.ip_addrs().iter().any(|c| c.contains_addr(&dst));
    if on_link {
        // The subnet's directed broadcast needs no ARP either.
        let broadcast = iface.ip_addrs().iter().any(|c| match (c, dst) {
            (smoltcp::wire::IpCidr::Ipv4(c), IpAddress::Ipv4(a)) => c.broadcast() == Some(a),
            _ => false,
        });
        return (!broadcast).then_some(dst);
    }
    let route = match dst {
        IpAddress::Ipv4(_) => iface.routes().get_default_ipv4_route(),
        IpAddress::Ipv6(_) => iface.routes().get_default_ipv6_route(),
    };
    route.map(|r| r.via_router)
}

/// The frame asking who has `target`, from our address of its family.
pub(crate) fn request(iface: &Interface, mac: EthernetAddress, target: IpAddress) -> Option<Vec<u8>> {
    match target {
        IpAddress::Ipv4(target) => {
            let src = iface.get_source_address_ipv4(&target)?;
            let arp = ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_hardware_addr: mac,
                source_protocol_addr: src,
                target_hardware_addr: EthernetAddress([0; 6]),
                target_protocol_addr: target,
            };
            let eth =
                EthernetRepr { src_addr: mac, dst_addr: EthernetAddress::BROADCAST, ethertype: EthernetProtocol::Arp };
            let mut buf = vec![0u8; eth.buffer_len() + arp.buffer_len()];
            let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.emit(&mut frame);
            arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
            Some(buf)
        }
        IpAddress::Ipv6(target) => {
            let src = iface.get_source_address_ipv6(&target);
            // RFC 4861 §7.2.2: to the target's solicited-node multicast
            // address (RFC 4291 §2.7.1), hop limit 255, with our link-layer
            // address as option.
            let t = target.octets();
            let dst =
                Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | u16::from(t[13]), u16::from_be_bytes([t[14], t[15]]));
            let d = dst.octets();
            let eth_dst = EthernetAddress([0x33, 0x33, d[12], d[13], d[14], d[15]]);
            let icmp = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr: target, lladdr: Some(mac.into()) });
            let ip = Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: IpProtocol::Icmpv6,
                payload_len: icmp.buffer_len(),
                hop_limit: 255,
            };
            let eth = EthernetRepr { src_addr: mac, dst_addr: eth_dst, ethertype: EthernetProtocol::Ipv6 };
            let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + icmp.buffer_len()];
            let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.emit(&mut frame);
            let mut packet = Ipv6Packet::new_unchecked(frame.payload_mut());
            ip.emit(&mut packet);
            icmp.emit(
                &src,
                &dst,
                &mut Icmpv6Packet::new_unchecked(packet.payload_mut()),
                &ChecksumCapabilities::default(),
            );
            Some(buf)
        }
    }
}
