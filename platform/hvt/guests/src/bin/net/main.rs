//! A tiny responder on the manifest net device "service" (attach with
//! `--net:service=TAP`): answers ARP requests for its address, ICMP echo requests, UDP
//! echo (port 7) and TCP echo (port 7, see `tcp.rs`), on raw Ethernet frames.
//!
//! Arguments: `--ipv4=A.B.C.D[/N]` (required), `--count=N` (optional: after N answered
//! requests print SUCCESS and exit 0; an ICMP or UDP echo counts one, a TCP echo
//! connection counts one when it has closed cleanly; default: run forever). Prints
//! `READY` once it listens.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use platform_hvt::heap::HvtAllocator;
use platform_hvt::{Error, Net, entry, manifest, println};

mod tcp;

#[global_allocator]
static ALLOC: HvtAllocator = HvtAllocator;

manifest!(("service", NetBasic));
entry!(main);

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_UDP: u8 = 17;
const UDP_ECHO_PORT: u16 = 7;
const TCP_ECHO_PORT: u16 = 7;

fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let addr = s.split('/').next()?;
    let mut out = [0u8; 4];
    let mut parts = addr.split('.');
    for o in out.iter_mut() {
        *o = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Internet checksum (RFC 1071) over `data`, starting from a partial sum.
fn checksum(mut sum: u32, data: &[u8]) -> u16 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

struct Responder {
    net: Net,
    mac: [u8; 6],
    ip: [u8; 4],
    answered: u64,
    dropped: u64,
    tcp: tcp::TcpEcho,
}

impl Responder {
    /// Handles one received frame in place; returns the length of the reply to send.
    fn handle(&mut self, f: &mut [u8]) -> Option<usize> {
        if f.len() < ETH_HLEN {
            return None;
        }
        let dst = &f[0..6];
        if dst != self.mac && dst != [0xff; 6] {
            return None;
        }
        match be16(f, 12) {
            ETHERTYPE_ARP => self.arp(f),
            ETHERTYPE_IPV4 => self.ipv4(f),
            _ => None,
        }
    }

    /// Sends the frames the TCP responder queued.
    fn flush_tcp(&mut self) {
        for f in self.tcp.outbox.drain(..) {
            if let Err(e) = self.net.write(&f) {
                println!("net write: {e}");
            }
        }
    }

    fn set_eth_reply(&self, f: &mut [u8]) {
        let (dst, src) = f.split_at_mut(6);
        dst.copy_from_slice(&src[..6]);
        src[..6].copy_from_slice(&self.mac);
    }

    fn arp(&mut self, f: &mut [u8]) -> Option<usize> {
        let a = f.get_mut(ETH_HLEN..ETH_HLEN + 28)?;
        // Ethernet/IPv4 request for our address.
        if be16(a, 0) != 1 || be16(a, 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4 || be16(a, 6) != 1 {
            return None;
        }
        if a[24..28] != self.ip {
            return None;
        }
        let mut sender = [0u8; 10];
        sender.copy_from_slice(&a[8..18]); // sha + spa
        a[6..8].copy_from_slice(&2u16.to_be_bytes());
        a[8..14].copy_from_slice(&self.mac);
        a[14..18].copy_from_slice(&self.ip);
        a[18..28].copy_from_slice(&sender);
        self.set_eth_reply(f);
        Some(ETH_HLEN + 28)
    }

    fn ipv4(&mut self, f: &mut [u8]) -> Option<usize> {
        let ip = &f[ETH_HLEN..];
        if ip.len() < 20 || ip[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(ip[0] & 0xf) * 4;
        let total = usize::from(be16(ip, 2));
        if ihl < 20 || total < ihl || total > ip.len() || checksum(0, &ip[..ihl]) != 0 || ip[16..20] != self.ip {
            self.dropped += 1;
            return None;
        }
        if be16(ip, 6) & 0x3fff != 0 {
            self.dropped += 1; // fragments are not reassembled
            return None;
        }
        let proto = ip[9];
        if proto == tcp::IPPROTO_TCP {
            let mut peer_mac = [0u8; 6];
            peer_mac.copy_from_slice(&f[6..12]);
            let mut peer_ip = [0u8; 4];
            peer_ip.copy_from_slice(&ip[12..16]);
            let now = platform_hvt::time::monotonic_ns();
            self.tcp.input(now, peer_mac, peer_ip, &ip[ihl..total]);
            return None; // replies are in the TCP outbox
        }
        let ip = &mut f[ETH_HLEN..ETH_HLEN + total];
        let (hdr, payload) = ip.split_at_mut(ihl);
        match proto {
            IPPROTO_ICMP => {
                if payload.len() < 8 || payload[0] != 8 || checksum(0, payload) != 0 {
                    return None;
                }
                payload[0] = 0; // echo reply
                payload[2..4].fill(0);
                let c = checksum(0, payload);
                payload[2..4].copy_from_slice(&c.to_be_bytes());
            }
            IPPROTO_UDP => {
                if payload.len() < 8 || be16(payload, 2) != UDP_ECHO_PORT {
                    return None;
                }
                let ulen = usize::from(be16(payload, 4));
                if ulen < 8 || ulen > payload.len() {
                    self.dropped += 1;
                    return None;
                }
                let (sp, dp) = (be16(payload, 0), be16(payload, 2));
                payload[0..2].copy_from_slice(&dp.to_be_bytes());
                payload[2..4].copy_from_slice(&sp.to_be_bytes());
                payload[6..8].fill(0);
                // Pseudo-header: the addresses swap below, which does not change the sum.
                let mut sum = u32::from(IPPROTO_UDP) + ulen as u32;
                for c in hdr[12..20].chunks_exact(2) {
                    sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
                }
                let c = match checksum(sum, &payload[..ulen]) {
                    0 => 0xffff,
                    c => c,
                };
                payload[6..8].copy_from_slice(&c.to_be_bytes());
            }
            _ => return None,
        }
        // IP header: swap addresses, fresh TTL, new checksum.
        let mut src = [0u8; 4];
        src.copy_from_slice(&hdr[12..16]);
        hdr.copy_within(16..20, 12);
        hdr[16..20].copy_from_slice(&src);
        hdr[8] = 64;
        hdr[10..12].fill(0);
        let c = checksum(0, hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        self.set_eth_reply(f);
        self.answered += 1;
        Some(ETH_HLEN + total)
    }
}

fn main() -> i32 {
    let mut ip = None;
    let mut count = None;
    for a in platform_hvt::args() {
        if let Some(v) = a.strip_prefix("--ipv4=") {
            ip = parse_ipv4(v);
            if ip.is_none() {
                println!("FAILURE: bad --ipv4 value '{v}'");
                return 1;
            }
        } else if let Some(v) = a.strip_prefix("--count=") {
            match v.parse::<u64>() {
                Ok(n) => count = Some(n),
                Err(_) => {
                    println!("FAILURE: bad --count value '{v}'");
                    return 1;
                }
            }
        } else {
            println!("FAILURE: unknown argument '{a}' (usage: --ipv4=A.B.C.D[/N] [--count=N])");
            return 1;
        }
    }
    let Some(ip) = ip else {
        println!("FAILURE: --ipv4=A.B.C.D is required");
        return 1;
    };
    let net = match Net::acquire("service") {
        Ok(n) => n,
        Err(e) => {
            println!("FAILURE: acquire service: {e}");
            return 1;
        }
    };
    let mac = net.mac();
    println!(
        "service: handle {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} mtu {} ip {}.{}.{}.{}",
        net.handle(),
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5],
        net.mtu(),
        ip[0],
        ip[1],
        ip[2],
        ip[3]
    );
    let mut buf = vec![0u8; net.frame_max()];
    let bit = net.ready_bit();
    let tcp = tcp::TcpEcho::new(mac, ip, TCP_ECHO_PORT, net.mtu());
    let mut r = Responder { net, mac, ip, answered: 0, dropped: 0, tcp };
    println!("READY");
    loop {
        let answered = r.answered + r.tcp.completed;
        if count.is_some_and(|n| answered >= n) {
            println!(
                "answered {answered} requests ({} TCP connections; {} dropped)",
                r.tcp.completed,
                r.dropped + r.tcp.dropped
            );
            println!("SUCCESS");
            return 0;
        }
        let timeout = if r.tcp.pending() { tcp::RTO_NS / 2 } else { 1_000_000_000 };
        let ready = platform_hvt::time::poll(timeout);
        r.tcp.tick(platform_hvt::time::monotonic_ns());
        r.flush_tcp();
        if ready & bit == 0 {
            continue;
        }
        loop {
            let len = match r.net.read(&mut buf) {
                Ok(len) => len,
                Err(Error::Again) => break,
                Err(e) => {
                    println!("FAILURE: net read: {e}");
                    return 1;
                }
            };
            if let Some(n) = r.handle(&mut buf[..len])
                && let Err(e) = r.net.write(&buf[..n])
            {
                println!("net write: {e}");
            }
            r.flush_tcp();
        }
    }
}
