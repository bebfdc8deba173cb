//! Our TSIG, AXFR, IXFR and UPDATE against real clients: `dig -y` (AXFR, IXFR, verifying
//! every message's TSIG) and `nsupdate -y` (verifying the signed UPDATE reply), talking
//! to `Server::handle` through `testkit::nsd::DnsBridge`, a python relay in a network
//! namespace this test creates (started with `ip netns exec`, so no `setns` here).
//! Skips with a message when not root or when `dig`/`nsupdate`/`ip`/`python3` are
//! missing.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use testkit::nsd::{self as common, DnsBridge, Over};

use dns_core::keys::KeyStore;
use dns_core::server::{Handled, Options, Server, Transport};
use dns_core::zone::{Zone, Zones};
use hickory_proto::rr::Name;
use sansio::{Instant, Now, UnixTime};

const PORT: u16 = 5355;
const SECRET: &str = "dG9vbHMtc2VjcmV0LWZvci10ZXN0cy0zMi1ieXRlcyE=";
const KEY: &str = "tool._update.example.org.";

fn zone_text() -> String {
    let mut t = String::from(
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hostmaster 10 100 20 1000 60\n@ NS ns1\nns1 A 127.0.0.1\n",
    );
    for i in 0..1200 {
        t.push_str(&format!(
            "h{i} A 10.2.{}.{}\nh{i} TXT \"padding so the AXFR spans several messages {i}\"\n",
            i / 250,
            i % 250
        ));
    }
    t
}

fn now() -> Now {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    Now { mono: Instant::from_nanos(d.as_nanos() as u64), wall: UnixTime::from_secs(d.as_secs()) }
}

/// Answers a bridged query with the shared server. UPDATEs are "pushed" successfully
/// at once.
fn answer(server: &Mutex<Server>, over: Over, q: &[u8]) -> Vec<Vec<u8>> {
    let transport = if over == Over::Tcp { Transport::Tcp } else { Transport::Udp };
    let mut s = server.lock().unwrap();
    match s.handle(now(), "127.0.0.1:1".parse().unwrap(), transport, q) {
        Handled::Reply(r) => vec![r],
        Handled::Stream(m) => m,
        Handled::Update(p) => vec![s.finish_update(*p, true)],
        Handled::Drop => vec![],
        other => panic!("{other:?}"),
    }
}

fn tool(ns: &str, args: &[&str], input: Option<&str>) -> String {
    let mut c = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    if let Some(i) = input {
        stdin.write_all(i.as_bytes()).unwrap();
    }
    drop(stdin);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(c.wait_with_output());
    });
    let out = rx.recv_timeout(Duration::from_secs(60)).expect("tool hung").unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn dig_and_nsupdate_against_us() {
    common::require_tools(&[("dig", "-v", "bind9-dnsutils"), ("nsupdate", "-V", "bind9-dnsutils")]);
    let lab = common::Lab::new("dnstools");
    let mut zones = Zones::new();
    zones.replace(Zone::parse("example.org", &zone_text()).unwrap());
    let mut server = Server::new(zones, Options::default());
    server.keys = Arc::new(KeyStore::parse("_keys", &format!("{KEY} DNSKEY 0 3 163 {SECRET}\n")).unwrap());
    let server = Arc::new(Mutex::new(server));
    let shared = server.clone();
    let _bridge = DnsBridge::start(&lab.ns, PORT, move |over, q| answer(&shared, over, q));
    run(&lab.ns, &server);
}

fn run(ns: &str, server: &Arc<Mutex<Server>>) {
    let y = format!("hmac-sha256:{KEY}:{SECRET}");
    let port = PORT.to_string();
    let dig = |extra: &[&str]| {
        let mut a = vec!["dig", "-y", &y, "@127.0.0.1", "-p", &port, "+tries=1", "+time=20"];
        a.extend_from_slice(extra);
        tool(ns, &a, None)
    };
    // AXFR: dig checks the TSIG on every message and says so on failure.
    let out = dig(&["example.org", "AXFR"]);
    assert!(!out.contains("failed") && !out.contains("TSIG error"), "{out}");
    assert!(out.contains("h1199.example.org."), "{out}");
    assert_eq!(out.matches("\tSOA\t").count(), 2, "{out}");
    // Nothing signed with a wrong key gets through.
    let bad = "hmac-sha256:tool._update.example.org.:b3RoZXI=";
    let out = tool(ns, &["dig", "-y", bad, "@127.0.0.1", "-p", &port, "+tries=1", "example.org", "AXFR"], None);
    assert!(!out.contains("h1199.example.org."), "{out}");
    // UPDATE with nsupdate over TCP: it verifies our signed reply.
    let script = format!(
        "server 127.0.0.1 {PORT}\nzone example.org\nupdate add added.example.org. 60 A 192.0.2.55\nupdate delete h0.example.org. TXT\nsend\n"
    );
    let out = tool(ns, &["nsupdate", "-v", "-t", "20", "-y", &y], Some(&script));
    assert!(out.trim().is_empty(), "nsupdate said: {out}");
    let serial = server.lock().unwrap().zones.get(&Name::from_ascii("example.org.").unwrap()).unwrap().serial();
    assert_eq!(serial, 11);
    // IXFR from serial 10: the difference, signed.
    let out = dig(&["example.org", "IXFR=10"]);
    assert!(!out.contains("failed"), "{out}");
    assert!(out.contains("added.example.org.") && out.contains("192.0.2.55"), "{out}");
    assert!(out.contains("h0.example.org.") && !out.contains("h1199.example.org."), "{out}");
    assert_eq!(out.matches("\tSOA\t").count(), 4, "{out}");
}
