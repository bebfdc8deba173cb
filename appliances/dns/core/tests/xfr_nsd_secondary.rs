//! NSD 4 as a secondary of our primary code: it AXFRs the zone from `Server::handle`
//! with TSIG, then, after an UPDATE and our signed outgoing NOTIFY (`Notifier`), IXFRs
//! the change. NSD and a python UDP/TCP bridge (which hands each query to this test
//! and sends back what `Server::handle` returns) run in a network namespace this test
//! creates, started with `ip netns exec`. Readiness is polled (dig against NSD until
//! the answer shows up), never slept for. Skips with a message when not root or when
//! `nsd`/`dig`/`ip`/`python3` are missing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::nsd as common;

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

const BRIDGE: &str = r#"
import select, socket, struct, sys
port = int(sys.argv[1])
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", port))
t.listen(8)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", port))
print("ready", flush=True)
def ask(kind, q):
    print("Q %s %s" % (kind, q.hex()), flush=True)
    n = int(sys.stdin.readline().split()[1])
    return [bytes.fromhex(sys.stdin.readline().strip()) for _ in range(n)]
def exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b
conns = []
while True:
    ready, _, _ = select.select([t, u] + conns, [], [])
    for s in ready:
        if s is t:
            conns.append(t.accept()[0])
        elif s is u:
            q, peer = u.recvfrom(65535)
            for r in ask("udp", q):
                u.sendto(r, peer)
        else:
            h = exact(s, 2)
            q = h and exact(s, struct.unpack(">H", h)[0])
            if not q:
                conns.remove(s)
                s.close()
                continue
            for r in ask("tcp", q):
                s.sendall(struct.pack(">H", len(r)) + r)
"#;

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

/// Answers bridge queries with the shared server; records each TCP query's type.
fn serve(bridge: &mut Child, server: Arc<Mutex<Server>>, seen: Arc<Mutex<Vec<RecordType>>>) {
    let out = BufReader::new(bridge.stdout.take().unwrap());
    let mut tx = bridge.stdin.take().unwrap();
    let mut lines = out.lines().map_while(Result::ok);
    assert_eq!(lines.next().as_deref(), Some("ready"));
    std::thread::spawn(move || {
        for line in lines {
            let mut parts = line.split(' ');
            let (Some("Q"), Some(kind), Some(hex)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let q = data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap();
            let transport = if kind == "tcp" { Transport::Tcp } else { Transport::Udp };
            if let (Transport::Tcp, Ok(m)) = (transport, Message::from_vec(&q)) {
                seen.lock().unwrap().extend(m.queries.first().map(|q| q.query_type()));
            }
            let replies = match server.lock().unwrap().handle(now(), "127.0.0.1:1".parse().unwrap(), transport, &q) {
                Handled::Reply(r) => vec![r],
                Handled::Stream(m) => m,
                _ => vec![],
            };
            let mut text = format!("R {}\n", replies.len());
            for r in replies {
                text.push_str(&data_encoding::HEXLOWER.encode(&r));
                text.push('\n');
            }
            if tx.write_all(text.as_bytes()).and_then(|_| tx.flush()).is_err() {
                break;
            }
        }
    });
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
    let mut bridge = Command::new("ip")
        .args(["netns", "exec", &lab.ns, "python3", "-c", BRIDGE, &OURS.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    serve(&mut bridge, server.clone(), seen.clone());
    let nsd = start_nsd(&lab.ns, &lab.dir);
    let result = std::panic::catch_unwind(|| run(&lab.ns, &server, &keys, &seen));
    drop(nsd);
    // The bridge reads our answers from its pipe until killed.
    let _ = bridge.kill();
    let _ = bridge.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
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
