//! pcap capture and determinism.

mod common;

use std::time::Duration;

use common::temp_path;
use platform::net::{MacAddr, Net};
use platform::time;
use platform_sim::{CapturePoint, LinkConfig, WALL_ORIGIN_UNIX_SECS, World};
use testkit::frames::{number_of, numbered, parse_pcap};

/// Three hosts chatting over a faulty link; returns the trace hash, the
/// pcap bytes and the order b received frames in.
fn scenario(seed: u64, point: CapturePoint, file: &str) -> (u64, Vec<u8>, Vec<u32>) {
    let world = World::new(seed);
    world.set_link(
        LinkConfig::default()
            .jitter(Duration::from_micros(200))
            .loss(0.05)
            .duplicate(0.05)
            .reorder(0.1, Duration::from_millis(2)),
    );
    let path = temp_path(file);
    world.capture_at(&path, point).unwrap();
    let (a, b, c) = (world.add_host("a"), world.add_host("b"), world.add_host("c"));
    let (na, nb, nc) = (a.net(), b.net(), c.net());
    let order = world.run(async {
        let (am, bm, cm) = (a.mac(), b.mac(), c.mac());
        let t1 = a.spawn(async move {
            for i in 0..300 {
                na.send(&numbered(if i % 10 == 0 { MacAddr::BROADCAST } else { bm }, am, i)).unwrap();
                time::sleep(Duration::from_micros(100)).await;
            }
        });
        let t2 = c.spawn(async move {
            for i in 0..100 {
                nc.send(&numbered(bm, cm, 1000 + i)).unwrap();
                time::sleep(Duration::from_micros(333)).await;
            }
        });
        t1.await;
        t2.await;
        time::sleep(Duration::from_millis(10)).await;
        let mut got = Vec::new();
        let mut buf = vec![0u8; nb.info().frame_capacity()];
        while let Some(n) = nb.recv(&mut buf).unwrap() {
            got.push(number_of(&buf[..n]));
        }
        got
    });
    let hash = world.trace_hash();
    drop(world);
    let bytes = std::fs::read(&path).unwrap();
    (hash, bytes, order)
}

#[test]
fn pcap_records_every_frame_as_sent() {
    let (_, bytes, _) = scenario(1, CapturePoint::Sent, "sent.pcap");
    let records = parse_pcap(&bytes);
    assert_eq!(records.len(), 400);
    let mut last = 0u64;
    for r in &records {
        let t = r.secs as u64 * 1_000_000 + r.micros as u64;
        assert!(t >= last, "timestamps never go back");
        last = t;
        assert_eq!(r.orig_len as usize, r.data.len());
        assert_eq!(r.data.len(), 60);
        assert_eq!(&r.data[12..14], &[0x88, 0xb5]);
    }
    assert_eq!(records[0].secs as u64, WALL_ORIGIN_UNIX_SECS);
    // The 300 frames of a, one per 100 µs, end 29.9 ms after the start.
    let first_of_a: Vec<_> = records.iter().filter(|r| number_of(&r.data) < 1000).collect();
    assert_eq!(first_of_a.len(), 300);
    assert_eq!(first_of_a[299].micros, 29_900);
}

#[test]
fn pcap_as_delivered_shows_duplicates_and_reordering() {
    let (_, bytes, order) = scenario(1, CapturePoint::Delivered, "delivered.pcap");
    let records = parse_pcap(&bytes);
    let times: Vec<u64> = records.iter().map(|r| r.secs as u64 * 1_000_000 + r.micros as u64).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "records are in delivery order");
    let numbers: Vec<u32> = records.iter().map(|r| number_of(&r.data)).collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert!(sorted.windows(2).any(|w| w[0] == w[1]), "duplicates appear");
    assert_ne!(sorted, numbers, "reordering appears");
    // Every frame b received is in the capture.
    assert!(order.iter().all(|n| numbers.contains(n)));
}

#[test]
fn same_seed_same_run_byte_for_byte() {
    let (h1, p1, o1) = scenario(77, CapturePoint::Sent, "det1.pcap");
    let (h2, p2, o2) = scenario(77, CapturePoint::Sent, "det2.pcap");
    assert_eq!(h1, h2);
    assert_eq!(p1, p2);
    assert_eq!(o1, o2);
    let (h3, p3, o3) = scenario(78, CapturePoint::Sent, "det3.pcap");
    assert_ne!(h1, h3);
    assert_ne!(p1, p3, "MACs derive from the seed");
    assert_ne!(o1, o3, "faults derive from the seed");
}

#[test]
fn capture_is_flushed_after_each_run() {
    let world = World::new(3);
    let path = temp_path("flush.pcap");
    world.capture(&path).unwrap();
    let a = world.add_host("a");
    let _b = world.add_host("b");
    let na = a.net();
    world.run(async {
        na.send(&numbered(MacAddr::BROADCAST, a.mac(), 1)).unwrap();
        time::sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(parse_pcap(&std::fs::read(&path).unwrap()).len(), 1);
    world.stop_capture();
}
