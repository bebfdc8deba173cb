//! NSD 4 as a secondary of our primary code: it AXFRs the zone from `Server::handle`
//! with TSIG, then, after an UPDATE and our signed outgoing NOTIFY (`Notifier`), IXFRs
//! the change. NSD and `testkit::nsd::DnsBridge` (a python relay that hands each query to
//! this test and sends back what `Server::handle` returns) run in a network namespace this test
//! creates, started with `ip netns exec`. Readiness is polled (dig against NSD until
//! the answer shows up), never slept for. Skips with a message when not root or when
//! `nsd`/`dig`/`ip`/`python3` are missing.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::nsd::{self as common, DnsBridge, Over};

use dns_core::keys::KeyStore;
use dns_core::notify::Notifier;
use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::tsig;
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sansio::{Datagram, Driver, Now, UnixTime};

const OURS: u16 = 5356;
const NSD: u16 = 5357;
const XFR_KEY: &str = "127.0.0.1.127.0.0.1._transfer.example.org.";
const XFR_SECRET: &str = "bnNkLXNlY29uZGFyeS1zZWNyZXQtMzItYnl0ZXMhIQ==";
const UPD_KEY: &str = "u._update.example.org.";
const UPD_SECRET: &str = "dXBkYXRlLXNlY3JldA==";

const SEND_UDP: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(bytes.fromhex(sys.argv[2]), ("127.0.0.1", int(sys.argv[1])))
print(s.recv(65535).hex(), flush=True)
"#;

fn now() -> Now {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    Now { mono: sansio::Instant::from_nanos(d.as_nanos() as u64), wall: UnixTime::from_secs(d.as_secs()) }
}

/// The wiring's loop, once: the timeout passed, drain what is due.
fn poll(nt: &mut Notifier, now: Now) -> Vec<(std::net::SocketAddr, Vec<u8>)> {
    nt.handle_timeout(now.mono);
    std::iter::from_fn(|| nt.poll_transmit()).map(|Datagram { dst, payload }| (dst, payload)).collect()
}

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// Answers a bridged query with the shared server; records each TCP query's type.
fn answer(server: &Mutex<Server>, seen: &Mutex<Vec<RecordType>>, over: Over, q: &[u8]) -> Vec<Vec<u8>> {
    let transport = if over == Over::Tcp { Transport::Tcp } else { Transport::Udp };
    if let (Transport::Tcp, Ok(m)) = (transport, Message::from_vec(q)) {
        seen.lock().unwrap().extend(m.queries.first().map(|q| q.query_type()));
    }
    match server.lock().unwrap().handle(now(), "127.0.0.1:1".parse().unwrap(), transport, q) {
        Handled::Reply(r) => vec![r],
        Handled::Stream(m) => m,
        _ => vec![],
    }
}

fn start_nsd(ns: &str, dir: &std::path::Path) -> common::Nsd {
    let extra = format!(
        "  verbosity: 2\nkey:\n  name: \"{XFR_KEY}\"\n  algorithm: hmac-sha256\n  secret: \"{XFR_SECRET}\"\nzone:\n  name: example.org\n  zonefile: example.org.zone\n  request-xfr: 127.0.0.1@{OURS} {XFR_KEY}\n  allow-notify: 127.0.0.0/8 {XFR_KEY}\n"
    );
    common::Nsd::start(ns, dir, &common::nsd_server_conf(dir, NSD, &extra))
}

/// Polls NSD with dig until `name A` answers `want` (30 s at most).
fn wait_for(ns: &str, name: &str, want: &str) {
    let start = Instant::now();
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "dig", "+short", "+tries=1", "+time=1", "@127.0.0.1", "-p"])
            .arg(NSD.to_string())
            .args([name, "A"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == want) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "NSD never answered {name} A {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nsd_transfers_from_us() {
    common::require_tools(&[("nsd", "-v", "nsd"), ("dig", "-v", "bind9-dnsutils")]);
    let lab = common::Lab::new("dnsnsdsec");
    let mut text = String::from(
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hostmaster 10 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n",
    );
    for i in 0..500 {
        text.push_str(&format!("h{i} A 10.3.{}.{}\n", i / 250, i % 250));
    }
    let mut zones = Zones::new();
    zones.replace(Zone::parse("example.org", &text).unwrap());
    let keys = KeyStore::parse(
        "_keys",
        &format!("{XFR_KEY} DNSKEY 0 3 163 {XFR_SECRET}\n{UPD_KEY} DNSKEY 0 3 163 {UPD_SECRET}\n"),
    )
    .unwrap();
    let mut server = Server::new(zones, Options::default());
    server.keys = Arc::new(keys.clone());
    let server = Arc::new(Mutex::new(server));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (shared, seen_too) = (server.clone(), seen.clone());
    let _bridge = DnsBridge::start(&lab.ns, OURS, move |over, q| answer(&shared, &seen_too, over, q));
    // Dropped before the bridge (declared later), so NSD stops while we still answer.
    let _nsd = start_nsd(&lab.ns, &lab.dir);
    run(&lab.ns, &server, &keys, &seen);
}

fn run(ns: &str, server: &Arc<Mutex<Server>>, keys: &KeyStore, seen: &Arc<Mutex<Vec<RecordType>>>) {
    // 1. NSD loads the zone by AXFR (or an IXFR we answer AXFR-style).
    wait_for(ns, "h499.example.org.", "10.3.1.249");
    // 2. A signed UPDATE adds a record; the change is "pushed" at once.
    let mut m = Message::new(0x5151, MessageType::Query, OpCode::Update);
    m.queries = vec![Query::query(n("example.org."), RecordType::SOA)];
    m.authorities = vec![Record::from_rdata(n("fresh.example.org."), 60, RData::A(A::new(192, 0, 2, 77)))];
    let key = keys.get(&n(UPD_KEY)).unwrap();
    let (bytes, _) = tsig::sign_request(key, &m.to_vec().unwrap(), now().wall);
    {
        let mut s = server.lock().unwrap();
        let Handled::Update(p) = s.handle(now(), "127.0.0.1:9".parse().unwrap(), Transport::Tcp, &bytes) else {
            panic!("update not prepared")
        };
        s.finish_update(*p, true);
    }
    seen.lock().unwrap().clear();
    // 3. Our NOTIFY, signed with the transfer key naming 127.0.0.1, sent to NSD's port.
    let zone = server.lock().unwrap().zones.get(&n("example.org.")).unwrap().clone();
    let mut notifier = Notifier::new(5);
    notifier.handle_zone_changed(now(), &zone, keys);
    let out = poll(&mut notifier, now());
    assert_eq!(out.len(), 1, "{out:?}");
    let (peer, msg) = &out[0];
    assert_eq!(peer.ip().to_string(), "127.0.0.1");
    let reply = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", SEND_UDP, &NSD.to_string()])
        .arg(data_encoding::HEXLOWER.encode(msg))
        .output()
        .unwrap();
    let reply = data_encoding::HEXLOWER.decode(String::from_utf8_lossy(&reply.stdout).trim().as_bytes()).unwrap();
    assert!(notifier.handle_reply(now(), *peer, &reply), "NSD's NOTIFY reply not accepted");
    // 4. NSD fetches the change by IXFR.
    wait_for(ns, "fresh.example.org.", "192.0.2.77");
    let kinds = seen.lock().unwrap().clone();
    assert!(kinds.contains(&RecordType::IXFR), "NSD asked {kinds:?}");
}
