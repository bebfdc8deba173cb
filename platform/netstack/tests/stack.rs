//! Two netstack instances on an in-memory link, on a virtual clock.

mod harness;

use std::cell::Cell;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use harness::*;
use platform::rt;
use platform::stack::{FrameFilter, Stack, TcpStream};
use platform::time::{self, Duration};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame,
    EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

fn any(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
}

async fn read_to_end(stream: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Echo service: echoes until the client's FIN, then closes.
fn serve_echo(stack: &Stack, port: u16) {
    let mut listener = stack.tcp_listen(any(port)).expect("listen");
    rt::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            rt::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    let n = stream.read(&mut buf).await.expect("server read");
                    if n == 0 {
                        break;
                    }
                    stream.write_all(&buf[..n]).await.expect("server write");
                }
                stream.shutdown().await.expect("server shutdown");
            });
        }
    });
}

async fn echo_once(stack: &Stack, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let stream = stack.tcp_connect(to).await.expect("connect");
    stream.write_all(payload).await.expect("write");
    stream.shutdown().await.expect("shutdown");
    read_to_end(&stream).await.expect("read")
}

#[test]
fn tcp_echo_v4_and_v6() {
    run(|| async {
        let p = pair();
        serve_echo(&p.b, 7);
        for to in [SocketAddr::new(V4_B.into(), 7), SocketAddr::new(V6_B.into(), 7)] {
            let got = echo_once(&p.a, to, b"hello, netstack").await;
            assert_eq!(got, b"hello, netstack", "echo via {to}");
        }
        let stream = p.a.tcp_connect(SocketAddr::new(V4_B.into(), 7)).await.unwrap();
        assert_eq!(stream.peer_addr(), SocketAddr::new(V4_B.into(), 7));
        assert_eq!(stream.local_addr().ip(), IpAddr::V4(V4_A));
        assert!(stream.local_addr().port() >= 49152);
    });
}

#[test]
fn thousand_concurrent_connections_on_one_port() {
    const N: usize = 1000;
    run(|| async {
        // Smaller buffers keep 2,000 sockets light; the logic is the same.
        let p = pair_with(|c| c.tcp_buffer = 8 * 1024);
        serve_echo(&p.b, 80);
        let connected = Rc::new(Cell::new(0usize));
        let mut tasks = Vec::new();
        for i in 0..N {
            let a = p.a.clone();
            let connected = connected.clone();
            tasks.push(rt::spawn(async move {
                let stream = a.tcp_connect(SocketAddr::new(V4_B.into(), 80)).await.expect("connect");
                connected.set(connected.get() + 1);
                // Hold every connection open until all are established.
                while connected.get() < N {
                    time::sleep(Duration::from_millis(10)).await;
                }
                let payload: Vec<u8> = (0..(100 + i % 700)).map(|j| pattern((i * 7919 + j) as u64)).collect();
                stream.write_all(&payload).await.expect("write");
                stream.shutdown().await.expect("shutdown");
                let got = read_to_end(&stream).await.expect("read");
                assert_eq!(got, payload, "connection {i}");
            }));
        }
        for t in tasks {
            t.await;
        }
        // Everything closed: after TIME-WAIT lingering, only the listener's
        // spare sockets remain.
        time::sleep(Duration::from_secs(15)).await;
        let (sa, sb) = (p.a_handle.stats(), p.b_handle.stats());
        assert_eq!(sa.sockets, 0, "client sockets left: {sa:?}");
        assert!(sb.sockets <= 4, "server sockets left: {sb:?}");
        assert_eq!(p.wire_a.dropped() + p.wire_b.dropped(), 0);
    });
}

#[test]
fn ten_megabytes_echoed_intact() {
    const LEN: u64 = 10 * 1000 * 1000;
    run(|| async {
        let p = pair();
        serve_echo(&p.b, 9);
        let stream = p.a.tcp_connect(SocketAddr::new(V4_B.into(), 9)).await.unwrap();
        let (reader, writer) = stream.split();
        let send = rt::spawn(async move {
            let mut buf = vec![0u8; 50_000];
            let mut sent = 0u64;
            while sent < LEN {
                let n = (LEN - sent).min(buf.len() as u64) as usize;
                for (k, b) in buf[..n].iter_mut().enumerate() {
                    *b = pattern(sent + k as u64);
                }
                writer.write_all(&buf[..n]).await.expect("write");
                sent += n as u64;
            }
            writer.shutdown().await.expect("shutdown");
        });
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        loop {
            let n = reader.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            for (k, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, pattern(got + k as u64), "byte {}", got + k as u64);
            }
            got += n as u64;
        }
        send.await;
        assert_eq!(got, LEN);
    });
}

#[test]
fn half_close_server_writes_after_client_fin() {
    run(|| async {
        let p = pair();
        let mut listener = p.b.tcp_listen(any(5000)).unwrap();
        rt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let got = read_to_end(&stream).await.unwrap();
            // The client's half is closed; ours is still open.
            stream.write_all(format!("{} bytes\n", got.len()).as_bytes()).await.unwrap();
            stream.write_all(&got).await.unwrap();
            stream.shutdown().await.unwrap();
        });
        let data: Vec<u8> = (0..300_000u64).map(pattern).collect();
        let stream = p.a.tcp_connect(SocketAddr::new(V4_B.into(), 5000)).await.unwrap();
        stream.write_all(&data).await.unwrap();
        stream.flush().await.unwrap();
        stream.shutdown().await.unwrap();
        assert_eq!(stream.write(b"late").await.unwrap_err().kind(), ErrorKind::BrokenPipe);
        let answer = read_to_end(&stream).await.unwrap();
        let header = b"300000 bytes\n";
        assert_eq!(&answer[..header.len()], header);
        assert!(answer[header.len()..] == data[..]);
    });
}

#[test]
fn peer_reset_is_connection_reset() {
    run(|| async {
        let p = pair();
        let mut listener = p.b.tcp_listen(any(5001)).unwrap();
        rt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut one = [0u8; 1];
            stream.read(&mut one).await.unwrap();
            stream.abort();
        });
        let stream = p.a.tcp_connect(SocketAddr::new(V4_B.into(), 5001)).await.unwrap();
        stream.write_all(b"x").await.unwrap();
        let mut buf = [0u8; 8];
        let err = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        let err = stream.write(b"more").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn closed_port_refuses() {
    run(|| async {
        let p = pair();
        for to in [SocketAddr::new(V4_B.into(), 4444), SocketAddr::new(V6_B.into(), 4444)] {
            let err = p.a.tcp_connect(to).await.expect_err("connect must fail");
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{to}");
        }
    });
}

#[test]
fn backlog_holds_connections_until_accepted() {
    run(|| async {
        let p = pair();
        let mut listener = p.b.tcp_listen_with_backlog(any(6000), 3).unwrap();
        // Nobody accepts yet: three clients complete their handshake and
        // wait in the backlog; then two more are held off (their SYNs are
        // ignored, as a full accept queue does on Linux, not refused).
        let mut clients = Vec::new();
        for round in [3, 2] {
            for _ in 0..round {
                let a = p.a.clone();
                clients.push(rt::spawn(async move { a.tcp_connect(SocketAddr::new(V4_B.into(), 6000)).await }));
            }
            time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(clients.iter().filter(|c| c.is_finished()).count(), 3);
        // Accepting drains the queue; the retransmitted SYNs then get in.
        let mut accepted = Vec::new();
        for _ in 0..5 {
            accepted.push(listener.accept().await.unwrap());
        }
        for c in clients {
            let stream = c.await.expect("connect eventually succeeds");
            stream.write_all(b"hi").await.unwrap();
        }
        assert!(p.b_handle.stats().syn_dropped >= 2);
    });
}

#[test]
fn udp_echo_v4_and_v6() {
    run(|| async {
        let p = pair();
        let server = p.b.udp_bind(any(53)).unwrap();
        rt::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        for (local, to) in [
            (SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0), SocketAddr::new(V4_B.into(), 53)),
            (SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0), SocketAddr::new(V6_B.into(), 53)),
        ] {
            let client = p.a.udp_bind(local).unwrap();
            assert!(client.local_addr().port() >= 49152);
            for i in 0..10u8 {
                let msg = vec![i; 100 + usize::from(i) * 100];
                client.send_to(&msg, to).await.unwrap();
                let mut buf = [0u8; 2048];
                let (n, from) = client.recv_from(&mut buf).await.unwrap();
                assert_eq!(from, to);
                assert_eq!(&buf[..n], &msg[..]);
            }
            // Truncation to the reader's buffer.
            client.send_to(&[7u8; 500], to).await.unwrap();
            let mut small = [0u8; 10];
            assert_eq!(client.recv_from(&mut small).await.unwrap().0, 10);
        }
        assert_eq!(p.b.udp_bind(any(53)).err().map(|e| e.kind()), Some(ErrorKind::AddrInUse));
    });
}

/// Builds an Ethernet frame from a header and a payload writer.
fn frame(dst: EthernetAddress, ethertype: EthernetProtocol, len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let repr = EthernetRepr { src_addr: EthernetAddress(MAC_A.0), dst_addr: dst, ethertype };
    let mut buf = vec![0u8; repr.buffer_len() + len];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    repr.emit(&mut f);
    fill(f.payload_mut());
    buf
}

#[test]
fn ping_is_answered_and_garbage_is_dropped() {
    run(|| async {
        let (raw, wire_b) = wire(MAC_A, MAC_B);
        let cfg = static_config(V4_B, V6_B, 3, "b");
        let (_b, handle) = netstack::new_stack_with_handle(wire_b, cfg).unwrap();
        use platform::net::Net;

        // Garbage first: runt frames, a bad IPv4 header, a truncated UDP header.
        raw.send(&[0u8; 5]).unwrap();
        raw.send(&frame(EthernetAddress(MAC_B.0), EthernetProtocol::Ipv4, 20, |p| p.fill(0x45))).unwrap();
        let bad_udp = frame(EthernetAddress(MAC_B.0), EthernetProtocol::Ipv4, 24, |p| {
            let repr = Ipv4Repr {
                src_addr: V4_A,
                dst_addr: V4_B,
                next_header: IpProtocol::Udp,
                payload_len: 4,
                hop_limit: 64,
            };
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut p[..]), &Default::default());
        });
        raw.send(&bad_udp).unwrap();

        // ARP for B so that we learn its MAC and B learns ours.
        let arp = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress(MAC_A.0),
            source_protocol_addr: V4_A,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: V4_B,
        };
        raw.send(&frame(EthernetAddress::BROADCAST, EthernetProtocol::Arp, arp.buffer_len(), |p| {
            arp.emit(&mut ArpPacket::new_unchecked(p))
        }))
        .unwrap();
        let reply = raw.next_frame().await;
        let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
        assert_eq!(eth.ethertype(), EthernetProtocol::Arp);
        let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert!(matches!(arp, ArpRepr::EthernetIpv4 { operation: ArpOperation::Reply, .. }));

        let data = b"ping payload";
        let echo = Icmpv4Repr::EchoRequest { ident: 0x1234, seq_no: 1, data };
        let ip = Ipv4Repr {
            src_addr: V4_A,
            dst_addr: V4_B,
            next_header: IpProtocol::Icmp,
            payload_len: echo.buffer_len(),
            hop_limit: 64,
        };
        let request =
            frame(EthernetAddress(MAC_B.0), EthernetProtocol::Ipv4, ip.buffer_len() + echo.buffer_len(), |p| {
                let mut pkt = Ipv4Packet::new_unchecked(&mut p[..]);
                ip.emit(&mut pkt, &Default::default());
                echo.emit(&mut Icmpv4Packet::new_unchecked(pkt.payload_mut()), &Default::default());
            });
        raw.send(&request).unwrap();
        let reply = raw.next_frame().await;
        let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.src_addr(), V4_B);
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        let repr = Icmpv4Repr::parse(&icmp, &Default::default()).unwrap();
        assert_eq!(repr, Icmpv4Repr::EchoReply { ident: 0x1234, seq_no: 1, data });
        let stats = handle.stats();
        assert!(stats.rx_malformed >= 3, "{stats:?}");
    });
}

#[test]
fn raw_filter_diverts_udp_67_and_all_copies() {
    run(|| async {
        let p = pair();
        let mut dhcp_raw = p.b.raw_frames(FrameFilter::Ipv4UdpPort(67)).unwrap();
        assert_eq!(dhcp_raw.mac(), MAC_B);
        let mut all = p.b.raw_frames(FrameFilter::All).unwrap();
        let bound_67 = p.b.udp_bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 67)).unwrap();
        let echo = p.b.udp_bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 7)).unwrap();

        let client = p.a.udp_bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 68)).unwrap();
        client.send_to(b"DISCOVER", SocketAddr::new(V4_B.into(), 67)).await.unwrap();
        let mut buf = vec![0u8; 1600];
        let n = dhcp_raw.recv(&mut buf).await.unwrap();
        let eth = EthernetFrame::new_checked(&buf[..n]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((udp.src_port(), udp.dst_port(), udp.payload()), (68, 67, &b"DISCOVER"[..]));

        // Port 7 is not diverted: the stack gets it, and `All` sees a copy.
        client.send_to(b"to seven", SocketAddr::new(V4_B.into(), 7)).await.unwrap();
        let (n, _) = echo.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"to seven");
        let mut seen_seven = false;
        while !seen_seven {
            let n = all.recv(&mut buf).await.unwrap();
            let eth = EthernetFrame::new_checked(&buf[..n]).unwrap();
            if eth.ethertype() == EthernetProtocol::Ipv4 {
                let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                if ip.next_header() == IpProtocol::Udp {
                    seen_seven |= UdpPacket::new_checked(ip.payload()).unwrap().dst_port() == 7;
                }
            }
        }
        // The diverted datagram never reached the UDP socket bound to 67.
        let nothing = time::timeout(Duration::from_millis(100), bound_67.recv_from(&mut buf)).await;
        assert!(nothing.is_err());

        // Raw send goes straight to the wire.
        let reply = frame(EthernetAddress(MAC_A.0), EthernetProtocol::Arp, 0, |_| {});
        dhcp_raw.send(&reply).unwrap();
        assert_eq!(p.b.raw_frames(FrameFilter::Ipv4UdpPort(67)).err().map(|e| e.kind()), Some(ErrorKind::AddrInUse));
    });
}

#[test]
fn dropped_streams_are_collected() {
    run(|| async {
        let p = pair();
        let base_b = p.b_handle.stats().sockets;
        let mut listener = p.b.tcp_listen(any(7000)).unwrap();
        let listening = p.b_handle.stats().sockets;
        assert!(listening > base_b);
        rt::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                // Drop without reading: a graceful close from the server.
                stream.write_all(b"bye").await.unwrap();
            }
        });
        for _ in 0..20 {
            let stream = p.a.tcp_connect(SocketAddr::new(V4_B.into(), 7000)).await.unwrap();
            assert_eq!(read_to_end(&stream).await.unwrap(), b"bye");
        }
        time::sleep(Duration::from_secs(20)).await;
        assert_eq!(p.a_handle.stats().sockets, 0, "{:?}", p.a_handle.stats());
        assert_eq!(p.b_handle.stats().sockets, listening, "{:?}", p.b_handle.stats());
        assert_eq!(p.b_handle.stats().orphans, 0);
    });
}

#[test]
fn addresses_include_link_local() {
    run(|| async {
        let p = pair();
        let addrs = p.a.addresses();
        assert!(addrs.iter().any(|c| c.addr == IpAddr::V4(V4_A) && c.prefix == 24));
        assert!(addrs.iter().any(|c| c.addr == IpAddr::V6(V6_A) && c.prefix == 64));
        let ll: Ipv6Addr = "fe80::ff:fe00:a".parse().unwrap();
        assert!(addrs.iter().any(|c| c.addr == IpAddr::V6(ll)), "{addrs:?}");
        assert!(p.a.describe().contains("netstack on a"));
    });
}

/// A DHCP server's answer to `req`, addressed to the client's MAC.
fn dhcp_reply(req: &DhcpRepr, message_type: DhcpMessageType) -> Vec<u8> {
    let server = Ipv4Addr::new(10, 0, 0, 254);
    let reply = DhcpRepr {
        message_type,
        transaction_id: req.transaction_id,
        secs: 0,
        client_hardware_address: req.client_hardware_address,
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: Ipv4Addr::new(10, 0, 0, 77),
        server_ip: server,
        router: Some(server),
        subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(server),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: Some(3600),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let udp = UdpRepr { src_port: 67, dst_port: 68 };
    let dhcp_len = reply.buffer_len();
    let ip = Ipv4Repr {
        src_addr: server,
        dst_addr: Ipv4Addr::BROADCAST,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + dhcp_len,
        hop_limit: 64,
    };
    frame(req.client_hardware_address, EthernetProtocol::Ipv4, ip.buffer_len() + ip.payload_len, |p| {
        let mut pkt = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.emit(&mut pkt, &Default::default());
        udp.emit(
            &mut UdpPacket::new_unchecked(pkt.payload_mut()),
            &server.into(),
            &Ipv4Addr::BROADCAST.into(),
            dhcp_len,
            |buf| reply.emit(&mut DhcpPacket::new_unchecked(buf)).expect("emit dhcp"),
            &Default::default(),
        );
    })
}

#[test]
fn dhcp_client_configures_address_and_route() {
    run(|| async {
        use platform::net::Net;
        let (server_port, wire_client) = wire(MAC_A, MAC_B);
        let mut cfg = static_config(V4_B, V6_B, 4, "dhcp");
        cfg.ip.ipv4 = None;
        cfg.ip.dhcp = true;
        let (client, _) = netstack::new_stack_with_handle(wire_client, cfg).unwrap();
        assert!(!client.addresses().iter().any(|c| c.addr.is_ipv4()));
        loop {
            let f = server_port.next_frame().await;
            let Ok(eth) = EthernetFrame::new_checked(&f[..]) else { continue };
            let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else { continue };
            let Ok(udp) = UdpPacket::new_checked(ip.payload()) else { continue };
            if udp.dst_port() != 67 {
                continue;
            }
            let pkt = DhcpPacket::new_checked(udp.payload()).unwrap();
            let req = DhcpRepr::parse(&pkt).unwrap();
            match req.message_type {
                DhcpMessageType::Discover => server_port.send(&dhcp_reply(&req, DhcpMessageType::Offer)).unwrap(),
                DhcpMessageType::Request => {
                    server_port.send(&dhcp_reply(&req, DhcpMessageType::Ack)).unwrap();
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        while !client.addresses().iter().any(|c| c.addr == IpAddr::V4(Ipv4Addr::new(10, 0, 0, 77)) && c.prefix == 24) {
            time::sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn tcp_memory_budget_bounds_sockets_and_late_clients_retry() {
    const BUF: usize = 8 * 1024;
    const MAX_SOCKETS: usize = 7;
    const CLIENTS: usize = 12;
    run(|| async {
        // Only the server (b) has a budget: room for seven TCP sockets.
        let p = pair_with(|c| {
            c.tcp_buffer = BUF;
            if c.name == "b" {
                c.tcp_memory_budget = Some(MAX_SOCKETS * 2 * BUF);
            }
        });
        serve_echo(&p.b, 80);
        let peak = Rc::new(Cell::new(0usize));
        let watch = {
            let (peak, b) = (peak.clone(), p.b_handle.clone());
            rt::spawn(async move {
                loop {
                    peak.set(peak.get().max(b.stats().sockets));
                    time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let a = p.a.clone();
            tasks.push(rt::spawn(async move {
                let stream = a.tcp_connect(SocketAddr::new(V4_B.into(), 80)).await.expect("connect");
                let payload: Vec<u8> = (0..(200 + i)).map(|j| pattern(j as u64)).collect();
                stream.write_all(&payload).await.expect("write");
                stream.shutdown().await.expect("shutdown");
                assert_eq!(read_to_end(&stream).await.expect("read"), payload, "connection {i}");
            }));
        }
        for t in tasks {
            t.await;
        }
        watch.abort();
        assert!(peak.get() <= MAX_SOCKETS, "server held {} TCP sockets, budget {MAX_SOCKETS}", peak.get());
        assert!(p.b_handle.stats().syn_dropped > 0, "the budget never pushed a client back");
    });
}

#[test]
fn udp_to_our_own_address_fails_at_once() {
    run(|| async {
        let p = pair();
        let socket = p.a.udp_bind(any(0)).unwrap();
        for own in [IpAddr::V4(V4_A), IpAddr::V6(V6_A)] {
            // Without the check this never completes: smoltcp asks ARP/NDP for itself.
            let err = socket.send_to(b"x", SocketAddr::new(own, 53)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrNotAvailable, "{own}: {err}");
        }
        socket.send_to(b"x", SocketAddr::new(V4_B.into(), 53)).await.unwrap();
    });
}

/// A datagram to an address whose ARP is never answered must not hold up
/// datagrams to other destinations (Linux keeps a short queue per
/// unresolved neighbour and drops it when resolution fails, ~3 s); and a
/// flood to unresolvable addresses is bounded.
#[test]
fn udp_to_an_unresolvable_neighbour_does_not_block_others() {
    run(|| async {
        let p = pair();
        let receiver = p.b.udp_bind(any(7000)).unwrap();
        let sender = p.a.udp_bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 5300)).unwrap();
        let nobody = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 99).into(), 7000);
        let to_b = SocketAddr::new(V4_B.into(), 7000);
        let start = time::now();

        // First the dead end, then B, from the same socket.
        sender.send_to(b"to nobody", nobody).await.unwrap();
        for i in 0..20u8 {
            sender.send_to(&[i; 64], to_b).await.unwrap();
        }
        let mut buf = [0u8; 2048];
        for i in 0..20u8 {
            let (n, from) = receiver.recv_from(&mut buf).await.unwrap();
            assert_eq!(from.port(), 5300);
            assert_eq!(&buf[..n], &[i; 64], "datagram {i} out of order or damaged");
        }
        // smoltcp rate-limits ARP requests stack-wide to one a second, so B
        // may wait that long for its turn; never for the dead end's timeout.
        let took = time::now().saturating_duration_since(start);
        assert!(took < Duration::from_secs(2), "B's datagrams waited {took:?} behind the unresolved one");

        // A flood to many unresolvable addresses (each gets a few datagrams)
        // keeps a bounded number of queues, and B still gets through.
        for round in 0..40u16 {
            for host in 3..=254u8 {
                let to = SocketAddr::new(Ipv4Addr::new(10, 0, 0, host).into(), 7000);
                sender.send_to(&round.to_be_bytes(), to).await.unwrap();
            }
            let queues = p.a_handle.stats().udp_queues;
            assert!(queues <= netstack::UDP_MAX_QUEUES, "{queues} queues after round {round}");
            // Let the stack's driver run between rounds, as it does between
            // a real sender's turns.
            rt::yield_now().await;
        }
        sender.send_to(b"still here", to_b).await.unwrap();
        let (n, _) = receiver.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"still here");
        assert!(p.a_handle.stats().udp_unresolved_dropped > 0, "the flood was not bounded");

        // After the resolution timeout nothing is left queued, and every
        // datagram to an unresolvable address was dropped, none sent.
        time::sleep(Duration::from_secs(6)).await;
        let stats = p.a_handle.stats();
        assert_eq!(stats.udp_queues, 0);
        assert_eq!(stats.udp_unresolved_dropped, 1 + 40 * 252);
        // B's neighbour entry is still good: a new datagram goes straight out.
        let before = time::now();
        sender.send_to(b"again", to_b).await.unwrap();
        let (n, _) = receiver.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"again");
        assert!(time::now().saturating_duration_since(before) < Duration::from_millis(100));
    });
}

/// smoltcp rate-limits ARP/NDP requests for the whole interface (one a
/// second, whichever socket asks first). A dead neighbour retried every
/// second must not starve a live one: its datagrams are delivered, over
/// IPv4 (ARP) and IPv6 (neighbour solicitation), and only the dead one's
/// datagram is dropped, after the resolution timeout.
#[test]
fn udp_to_a_live_neighbour_is_not_starved_by_a_dead_one() {
    run(|| async {
        let p = pair();
        let receiver = p.b.udp_bind(any(7000)).unwrap();
        let sender = p.a.udp_bind(any(0)).unwrap();
        let blocker = p.a.udp_bind(any(0)).unwrap();
        for (round, (dead, live)) in [
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 77)), IpAddr::V4(V4_B)),
            (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x77)), IpAddr::V6(V6_B)),
        ]
        .into_iter()
        .enumerate()
        {
            blocker.send_to(b"x", SocketAddr::new(dead, 9)).await.unwrap();
            for i in 0..3u8 {
                sender.send_to(&[i], SocketAddr::new(live, 7000)).await.unwrap();
            }
            let mut buf = [0u8; 16];
            for i in 0..3u8 {
                let (n, _) = receiver.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &[i], "to {live}");
            }
            assert_eq!(p.a_handle.stats().udp_unresolved_dropped, round as u64, "to {live}");
            time::sleep(Duration::from_secs(5)).await;
            assert_eq!(p.a_handle.stats().udp_unresolved_dropped, round as u64 + 1, "to {dead}");
        }
    });
}
