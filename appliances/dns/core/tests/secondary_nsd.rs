//! Our secondary state machine and TSIG against a real primary: NSD 4 serving a zone
//! with `provide-xfr` and a TSIG key, in a network namespace this test creates.
//!
//! Checks that NSD accepts our signed SOA query and AXFR/IXFR requests, that we verify
//! NSD's signed replies (including multi-message streams where NSD leaves messages
//! between signed ones unsigned, RFC 8945 §5.3.1), and that the transferred zone equals
//! the file NSD serves. Bytes go through a small python client run with
//! `ip netns exec` (no `setns` in this test). Skips with a message when not root or
//! when `nsd`/`ip`/`python3` are missing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use testkit::nsd as common;

use dns_core::keys::KeyStore;
use dns_core::secondary::{Action, Secondary};
use dns_core::zone::Zone;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, RecordType};
use sansio::{Driver, Instant, Now, UnixTime};

const PORT: u16 = 5354;
const SECRET: &str = "bnNkLXhmci1zZWNyZXQtMzItYnl0ZXMtbG9uZyE=";
const KEY: &str = "127.0.0.1.127.0.0.2._transfer.example.org.";

const CLIENT: &str = r#"
import socket, struct, sys
mode, port, q = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
if mode == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(10)
    s.sendto(q, ("127.0.0.1", port))
    print(s.recv(65535).hex(), flush=True)
else:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(struct.pack(">H", len(q)) + q)
    f = s.makefile("rb")
    while True:
        h = f.read(2)
        if len(h) < 2:
            break
        print(f.read(struct.unpack(">H", h)[0]).hex(), flush=True)
"#;

fn zone_text(serial: u32, hosts: usize) -> String {
    let mut t = format!(
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 100 20 1000 60\n@ NS ns1\nns1 A 127.0.0.1\n"
    );
    for i in 0..hosts {
        t.push_str(&format!(
            "h{i} A 10.1.{}.{}\nh{i} TXT \"padding to make the transfer span messages {i}\"\n",
            i / 250,
            i % 250
        ));
    }
    t
}

fn start_nsd(ns: &str, dir: &Path) -> common::Nsd {
    let extra = format!(
        "  verbosity: 1\nkey:\n  name: \"{KEY}\"\n  algorithm: hmac-sha256\n  secret: \"{SECRET}\"\nzone:\n  name: example.org\n  zonefile: example.org\n  provide-xfr: 127.0.0.0/8 {KEY}\n"
    );
    common::Nsd::start(ns, dir, &common::nsd_server_conf(dir, PORT, &extra))
}

fn exchange(ns: &str, mode: &str, bytes: &[u8]) -> Vec<Vec<u8>> {
    let hex = data_encoding::HEXLOWER.encode(bytes);
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", CLIENT, mode, &PORT.to_string(), &hex])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut msgs = Vec::new();
    let mut soas: Vec<u32> = Vec::new();
    let mut records = 0;
    for line in out.lines().map_while(Result::ok) {
        let m = data_encoding::HEXLOWER.decode(line.trim().as_bytes()).unwrap();
        let parsed = Message::from_vec(&m).unwrap();
        for r in &parsed.answers {
            records += 1;
            if let RData::SOA(s) = &r.data {
                soas.push(s.serial);
            }
        }
        msgs.push(m);
        if mode == "udp" || stream_done(&soas, records, &parsed) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    msgs
}

/// AXFR ends at the second SOA; IXFR at the third SOA carrying the new serial; a lone
/// SOA (up to date) or an error ends at once.
fn stream_done(soas: &[u32], records: usize, last: &Message) -> bool {
    let Some(first) = soas.first() else { return true };
    let again = soas.iter().filter(|s| *s == first).count();
    let ixfr = soas.len() >= 2 && soas[1] != *first;
    last.metadata.response_code != hickory_proto::op::ResponseCode::NoError
        || records == 1
        || (!ixfr && again >= 2)
        || (ixfr && again >= 3)
}

/// The wiring's loop, once: the timeout passed, drain what is due.
fn poll(s: &mut Secondary, now: Now) -> Vec<Action> {
    s.handle_timeout(now.mono);
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn at(s: u64) -> Now {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    Now { mono: Instant::from_secs(s), wall: UnixTime::from_secs(unix) }
}

#[test]
fn transfers_from_nsd() {
    common::require_tools(&[("nsd", "-v", "nsd")]);
    let lab = common::Lab::new("dnssec");
    let v1 = zone_text(1, 1500);
    std::fs::write(lab.dir.join("example.org"), &v1).unwrap();
    let nsd = start_nsd(&lab.ns, &lab.dir);
    let mut sec = first_version(&lab.ns, &v1);
    drop(nsd);
    // NSD serves version 2; after a NOTIFY our IXFR request gets it (NSD 4.6 keeps no
    // differences for zones read from files, so it answers in AXFR form, RFC 1995 §4).
    let v2 = zone_text(2, 1501);
    std::fs::write(lab.dir.join("example.org"), &v2).unwrap();
    let _nsd = start_nsd(&lab.ns, &lab.dir);
    second_version(&lab.ns, &mut sec, &v2);
}

fn second_version(ns: &str, s: &mut Secondary, text: &str) {
    let want = Zone::parse("example.org", text).unwrap();
    let origin = Name::from_ascii("example.org.").unwrap();
    s.handle_notify(at(200), &origin);
    let acts = poll(s, at(200));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert_eq!(Message::from_vec(bytes).unwrap().queries[0].query_type(), RecordType::IXFR);
    let msgs = exchange(ns, "tcp", bytes);
    let got = s.handle_transfer(at(200), &origin, &msgs).expect("version 2");
    assert_eq!(got, want);
    assert_eq!(got.serial(), 2);
}

fn first_version(ns: &str, text: &str) -> Secondary {
    let keys = KeyStore::parse("_keys", &format!("{KEY} DNSKEY 0 3 163 {SECRET}\n")).unwrap();
    let want = Zone::parse("example.org", text).unwrap();
    let origin = Name::from_ascii("example.org.").unwrap();
    let mut s = Secondary::new(keys.primaries(), 99, at(0));
    // First transfer: AXFR, multi-message.
    let acts = poll(&mut s, at(0));
    let [Action::Transfer { bytes, primary, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert_eq!(primary.ip().to_string(), "127.0.0.1");
    let msgs = exchange(ns, "tcp", bytes);
    assert!(msgs.len() > 1, "{} messages", msgs.len());
    let got = s.handle_transfer(at(0), &origin, &msgs).expect("AXFR from NSD");
    assert_eq!(got, want);
    // SOA check at refresh: signed query, NSD's signed answer verifies, same serial.
    let acts = poll(&mut s, at(100));
    let [Action::QuerySoa { bytes, primary, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    let reply = exchange(ns, "udp", bytes);
    assert!(s.handle_soa_reply(at(100), *primary, &reply[0]), "SOA reply not accepted");
    assert!(poll(&mut s, at(101)).is_empty());
    // NOTIFY → IXFR request; NSD answers with a single SOA (up to date) or the zone.
    s.handle_notify(at(102), &origin);
    let acts = poll(&mut s, at(102));
    let [Action::Transfer { bytes, .. }] = acts.as_slice() else { panic!("{acts:?}") };
    assert_eq!(Message::from_vec(bytes).unwrap().queries[0].query_type(), RecordType::IXFR);
    let msgs = exchange(ns, "tcp", bytes);
    let _ = s.handle_transfer(at(102), &origin, &msgs);
    assert_eq!(**s.zone(&origin).unwrap(), want);
    s
}
