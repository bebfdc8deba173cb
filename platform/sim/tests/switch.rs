//! The switch: delivery, broadcast, learning, faults, queues, bandwidth.

use std::time::Duration;

use platform::net::{MacAddr, Net};
use platform::time;
use platform_sim::{LinkConfig, World};
use testkit::frames::{frame, number_of, numbered};

#[test]
fn unicast_and_broadcast_between_hosts() {
    let world = World::new(10);
    let (a, b, c) = (world.add_host("a"), world.add_host("b"), world.add_host("c"));
    assert_ne!(a.mac(), b.mac());
    assert!(a.mac().is_unicast() && a.mac().0[0] & 2 == 2, "locally administered unicast");
    let (na, nb, nc) = (a.net(), b.net(), c.net());
    assert_eq!(na.info().mtu, 1500);
    world.run(async {
        // b announces itself; everybody else sees the broadcast.
        nb.send(&frame(MacAddr::BROADCAST, b.mac(), b"hello from b")).unwrap();
        assert_eq!(&na.recv_frame().await[14..], b"hello from b");
        assert_eq!(&nc.recv_frame().await[14..], b"hello from b");
        assert_eq!(nb.queued(), 0, "no echo to the sender");
        // The switch learned b: a unicast to b reaches b only.
        na.send(&frame(b.mac(), a.mac(), b"to b")).unwrap();
        let got = nb.recv_frame().await;
        assert_eq!(&got[..6], &b.mac().0);
        assert_eq!(&got[6..12], &a.mac().0);
        assert_eq!(&got[14..], b"to b");
        time::sleep(Duration::from_millis(1)).await;
        assert_eq!(nc.queued(), 0, "learned unicast is not flooded");
        // Unknown unicast is flooded.
        let stranger = MacAddr([2, 9, 9, 9, 9, 9]);
        na.send(&frame(stranger, a.mac(), b"who?")).unwrap();
        assert_eq!(&nb.recv_frame().await[14..], b"who?");
        assert_eq!(&nc.recv_frame().await[14..], b"who?");
    });
    // The default link has 50 µs latency: everything above is 4 hops of it.
    let s = world.stats();
    assert_eq!((s.sent, s.delivered, s.lost), (3, 5, 0));
    assert_eq!(b.net_stats("service").unwrap().received, 2);
}

#[test]
fn latency_is_exact_and_recv_never_blocks() {
    let world = World::new(11);
    world.set_link(LinkConfig::default().latency(Duration::from_millis(7)));
    let (a, b) = (world.add_host("a"), world.add_host("b"));
    let (na, nb) = (a.net(), b.net());
    let t = world.run(async {
        let mut buf = vec![0u8; nb.info().frame_capacity()];
        assert_eq!(nb.recv(&mut buf).unwrap(), None);
        time::sleep(Duration::from_millis(3)).await;
        na.send(&numbered(MacAddr::BROADCAST, a.mac(), 1)).unwrap();
        nb.recv_frame().await;
        time::now()
    });
    assert_eq!(t.as_millis(), 10);
}

#[test]
fn oversized_frames_are_refused_and_short_ones_dropped() {
    let world = World::new(12);
    let (a, _b) = (world.add_host("a"), world.add_host("b"));
    let na = a.net();
    let e = na.send(&vec![0u8; 1515]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    na.send(&vec![0xffu8; 1514]).unwrap();
    na.send(&[0u8; 10]).unwrap();
    assert_eq!(world.stats().malformed, 1);
    assert_eq!(world.frames_in_flight(), 1);
}

#[test]
fn separate_segments_do_not_see_each_other() {
    let world = World::new(13);
    let inside = world.add_segment();
    let (fw, client, outsider) = (world.add_host("fw"), world.add_host("client"), world.add_host("outsider"));
    let fw_in = fw.add_net("clients", inside);
    let client_net = client.add_net("clients", inside);
    world.run(async {
        client_net.send(&frame(MacAddr::BROADCAST, client_net.info().mac, b"dhcp?")).unwrap();
        assert_eq!(&fw_in.recv_frame().await[14..], b"dhcp?");
        time::sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(fw.net().queued(), 0);
    assert_eq!(outsider.net().queued(), 0);
    assert_eq!(fw.net_names(), vec!["service", "clients"]);
}

/// Sends `n` numbered frames a→b, one per 10 µs, and returns the numbers b
/// received, in arrival order.
fn blast(world: &World, n: u32) -> Vec<u32> {
    let (a, b) = (world.add_host("a"), world.add_host("b"));
    let (na, nb) = (a.net(), b.net());
    world.run(async {
        let (dst, src) = (b.mac(), a.mac());
        let sender = a.spawn(async move {
            for i in 0..n {
                na.send(&numbered(dst, src, i)).unwrap();
                time::sleep(Duration::from_micros(10)).await;
            }
        });
        sender.await;
        time::sleep(Duration::from_secs(1)).await;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1514];
        while let Some(len) = nb.recv(&mut buf).unwrap() {
            got.push(number_of(&buf[..len]));
        }
        got
    })
}

#[test]
fn loss_is_roughly_as_configured() {
    let world = World::new(20);
    world.set_link(LinkConfig::default().loss(0.1));
    world.set_rx_queue(100_000);
    let got = blast(&world, 10_000);
    assert!((8_700..9_300).contains(&got.len()), "received {}", got.len());
    assert!(got.windows(2).all(|w| w[0] < w[1]), "loss alone keeps order");
    assert_eq!(world.stats().lost as usize + got.len(), 10_000);
}

#[test]
fn duplication_is_roughly_as_configured() {
    let world = World::new(21);
    world.set_link(LinkConfig::default().duplicate(0.2));
    world.set_rx_queue(100_000);
    let got = blast(&world, 10_000);
    assert!((11_700..12_300).contains(&got.len()), "received {}", got.len());
    assert_eq!(world.stats().duplicated as usize + 10_000, got.len());
}

#[test]
fn reordering_is_roughly_as_configured() {
    let world = World::new(22);
    world.set_link(LinkConfig::default().reorder(0.05, Duration::from_millis(1)));
    world.set_rx_queue(100_000);
    let got = blast(&world, 10_000);
    assert_eq!(got.len(), 10_000);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, (0..10_000).collect::<Vec<_>>(), "nothing lost or duplicated");
    // A held-back frame is overtaken by the ~50 sent during its extra delay
    // on average: count frames that arrive after a higher number.
    let mut max = 0;
    let late = got
        .iter()
        .filter(|&&n| {
            let late = n < max;
            max = max.max(n);
            late
        })
        .count();
    let reordered = world.stats().reordered as usize;
    assert!((400..600).contains(&reordered), "reordered {reordered}");
    assert!(late > reordered / 2 && late <= reordered, "late {late}, reordered {reordered}");
}

#[test]
fn jitter_spreads_delivery_times() {
    let world = World::new(23);
    world.set_link(LinkConfig::instant().latency(Duration::from_millis(1)).jitter(Duration::from_millis(1)));
    let (a, b) = (world.add_host("a"), world.add_host("b"));
    let (na, nb) = (a.net(), b.net());
    let times = world.run(async {
        for i in 0..200 {
            na.send(&numbered(b.mac(), a.mac(), i)).unwrap();
        }
        let mut times = Vec::new();
        for _ in 0..200 {
            nb.recv_frame().await;
            times.push(time::now().as_micros());
        }
        times
    });
    assert!(times.iter().all(|&t| (1000..=2000).contains(&t)));
    let mean = times.iter().sum::<u64>() / 200;
    assert!((1400..1600).contains(&mean), "mean {mean}");
}

#[test]
fn full_receive_queue_drops_and_counts() {
    let world = World::new(24);
    world.set_rx_queue(10);
    let (a, b) = (world.add_host("a"), world.add_host("b"));
    let na = a.net();
    world.run(async {
        for i in 0..100 {
            na.send(&numbered(b.mac(), a.mac(), i)).unwrap();
        }
        time::sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(b.net().queued(), 10);
    let st = b.net_stats("service").unwrap();
    assert_eq!((st.received, st.rx_dropped), (10, 90));
    assert_eq!(world.stats().rx_dropped, 90);
}

#[test]
fn bandwidth_serialises_frames() {
    let world = World::new(25);
    // 12 Mbit/s: a 1500-byte frame takes exactly 1 ms on the wire.
    world.set_link(LinkConfig::instant().bandwidth(12_000_000));
    let (a, b) = (world.add_host("a"), world.add_host("b"));
    let (na, nb) = (a.net(), b.net());
    let times = world.run(async {
        for i in 0..10 {
            let mut f = numbered(b.mac(), a.mac(), i);
            f.resize(1500, 0);
            na.send(&f).unwrap();
        }
        let mut times = Vec::new();
        for _ in 0..10 {
            nb.recv_frame().await;
            times.push(time::now().as_millis());
        }
        times
    });
    assert_eq!(times, (1..=10).collect::<Vec<u64>>());
}

#[test]
fn per_host_link_overrides_the_world() {
    let world = World::new(26);
    let (a, b, c) = (world.add_host("a"), world.add_host("b"), world.add_host("c"));
    c.set_link(Some(LinkConfig::default().loss(1.0)));
    let na = a.net();
    world.run(async {
        na.send(&frame(MacAddr::BROADCAST, a.mac(), b"x")).unwrap();
        time::sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(b.net().queued(), 1);
    assert_eq!(c.net().queued(), 0);
}
