//! Rough load-time and size check of a large zone (run with --release --ignored
//! --nocapture): one million A records.

use std::time::Instant;

use dns_core::zone::Zone;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "timing, not a check; run by hand with --release"]
fn million_records() {
    let mut text = String::from("$TTL 3600\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
    for i in 0..1_000_000u32 {
        let b = i.to_be_bytes();
        text.push_str(&format!("host{i} A 10.{}.{}.{}\n", b[1], b[2], b[3]));
    }
    let before = rss_kib();
    let start = Instant::now();
    let z = Zone::parse("example.org", &text).unwrap();
    let parsed = start.elapsed();
    drop(text);
    println!("{} records, parsed in {parsed:?}, zone ≈ {} MiB RSS", z.len(), (rss_kib().saturating_sub(before)) / 1024);
}

#[test]
#[ignore = "prints sizes"]
fn sizes() {
    use hickory_proto::rr::{Name, RData};
    println!(
        "Name {} RData {} Node {} Rrset {}",
        std::mem::size_of::<Name>(),
        std::mem::size_of::<RData>(),
        std::mem::size_of::<dns_core::zone::Node>(),
        std::mem::size_of::<dns_core::zone::Rrset>()
    );
}
