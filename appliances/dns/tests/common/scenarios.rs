//! The scenarios, each against a [`Backend`].

use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::*;

/// Every answer type of issue 7 over git://, asked with dig and kdig.
pub fn answers_from_git_daemon(backend: &Backend) {
    let lab = Lab::standard(backend, "ans");
    let _git = lab.git_daemon();
    let _s = lab.start(&[&lab.git_remote()]);
    // Exact answer, authoritative.
    let out = lab.dig(&["www.example.org", "A"]);
    assert_eq!(rcode(&out), "NOERROR", "{out}");
    assert!(flags(&out).contains("aa"), "{out}");
    assert_eq!(section(&out, "ANSWER").len(), 1, "{out}");
    assert!(out.contains("192.0.2.1"), "{out}");
    // CNAME chain inside the zone.
    let out = lab.dig(&["chain.example.org", "A"]);
    let ans = section(&out, "ANSWER");
    assert_eq!(ans.len(), 3, "{out}");
    assert!(ans[0].contains("CNAME") && ans[1].contains("CNAME") && ans[2].contains("192.0.2.1"), "{out}");
    // Wildcard (RFC 4592): the owner is the query name.
    let out = lab.dig(&["anything.wild.example.org", "TXT"]);
    assert!(
        section(&out, "ANSWER").iter().any(|l| l.starts_with("anything.wild.example.org.") && l.contains("wildcard")),
        "{out}"
    );
    // Delegation with glue: not authoritative, NS in authority, glue in additional.
    let out = lab.dig(&["+norec", "host.sub.example.org", "A"]);
    assert_eq!(rcode(&out), "NOERROR", "{out}");
    assert!(!flags(&out).contains("aa"), "{out}");
    assert!(section(&out, "AUTHORITY").iter().any(|l| l.contains("NS") && l.contains("ns.sub.example.org.")), "{out}");
    assert!(section(&out, "ADDITIONAL").iter().any(|l| l.contains("192.0.2.53")), "{out}");
    // NXDOMAIN and NODATA with the SOA in authority (RFC 2308).
    let out = lab.dig(&["nope.example.org", "A"]);
    assert_eq!(rcode(&out), "NXDOMAIN", "{out}");
    assert!(section(&out, "AUTHORITY").iter().any(|l| l.contains("SOA")), "{out}");
    let out = lab.dig(&["www.example.org", "MX"]);
    assert_eq!(rcode(&out), "NOERROR", "{out}");
    assert!(section(&out, "ANSWER").is_empty(), "{out}");
    assert!(section(&out, "AUTHORITY").iter().any(|l| l.contains("SOA")), "{out}");
    // A zone we don't serve.
    let out = lab.dig(&["example.com", "A"]);
    assert_eq!(rcode(&out), "REFUSED", "{out}");
    // Second zone.
    assert_eq!(lab.short("ns.other.net", "A"), "192.0.2.99");
    // Case preserved in the question.
    let out = lab.dig(&["WwW.ExAmPlE.oRg", "A"]);
    assert!(out.contains("WwW.ExAmPlE.oRg."), "{out}");
    // EDNS: truncated over plain UDP, whole with a big buffer, TCP retry by dig.
    let out = lab.dig(&["+noedns", "+ignore", "big.example.org", "TXT"]);
    assert!(flags(&out).contains("tc"), "{out}");
    let out = lab.dig(&["+bufsize=4096", "+ignore", "big.example.org", "TXT"]);
    assert!(!flags(&out).contains("tc"), "{out}");
    assert_eq!(section(&out, "ANSWER").len(), 8, "{out}");
    let out = lab.dig(&["+noedns", "big.example.org", "TXT"]);
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert_eq!(section(&out, "ANSWER").len(), 8, "{out}");
    // TCP pipelining: several queries on one connection.
    let out = lab.kdig(&["+tcp", "+keepopen", "www.example.org", "A", "mail.example.org", "A", "ns1.example.org", "A"]);
    for ip in ["192.0.2.1", "192.0.2.25", "10.53.0.2"] {
        assert!(out.contains(ip), "{out}");
    }
    // FORMERR (two questions) and NOTIMP (opcode 2) over raw UDP.
    let formerr = raw_query(&lab, &two_questions());
    assert_eq!(formerr.map(|r| r[3] & 0x0f), Some(1), "FORMERR expected");
    let mut status = query_bytes("www.example.org.", RecordType::A);
    status[2] = (status[2] & 0x87) | (2 << 3);
    assert_eq!(raw_query(&lab, &status).map(|r| r[3] & 0x0f), Some(4), "NOTIMP expected");
}

/// A query's bytes.
pub fn query_bytes(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.queries = vec![Query::query(Name::from_ascii(name).unwrap(), qtype)];
    m.to_vec().unwrap()
}

fn two_questions() -> Vec<u8> {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.queries = vec![
        Query::query(Name::from_ascii("www.example.org.").unwrap(), RecordType::A),
        Query::query(Name::from_ascii("mail.example.org.").unwrap(), RecordType::A),
    ];
    m.to_vec().unwrap()
}

/// Sends `bytes` over UDP from inside the namespace; the reply, if one came.
pub fn raw_query(lab: &Lab, bytes: &[u8]) -> Option<Vec<u8>> {
    lab.in_ns(|| {
        let s = UdpSocket::bind((HOST, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(bytes, (SERVER, 53)).unwrap();
        let mut buf = vec![0u8; 65535];
        s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    })
}

/// The zones come over smart HTTP too.
pub fn answers_from_smart_http(backend: &Backend) {
    let lab = Lab::standard(backend, "http");
    let (_http, port) = lab.http_server();
    let remote = format!("--remote=http://{HOST}:{port}/zones.git#main");
    let _s = lab.start(&[&remote]);
    assert_eq!(lab.short("www.example.org", "A"), "192.0.2.1");
    assert_eq!(lab.short("ns.other.net", "A"), "192.0.2.99");
}

/// The zones come over HTTPS, the server checked by its certificate's fingerprint;
/// a wrong fingerprint stops the boot with a TLS error.
pub fn answers_from_https(backend: &Backend) {
    let lab = Lab::standard(backend, "https");
    let (cert, key, fp) = lab.host_cert();
    let (_https, port) = lab.http_server_tls(Some((&cert, &key)));
    let remote = format!("--remote=https://{HOST}:{port}/zones.git#main");
    let wrong = format!("--tls-authenticator=cert-fp:SHA256:{}", "00".repeat(32));
    let out = lab.cmd_output(&[&remote, &wrong]);
    assert!(out.to_lowercase().contains("tls") || out.contains("certificate"), "{out}");
    assert!(!out.contains("dns: serving"), "{out}");
    let auth = format!("--tls-authenticator=cert-fp:SHA256:{fp}");
    let _s = lab.start(&[&remote, &auth]);
    assert_eq!(lab.short("www.example.org", "A"), "192.0.2.1");
}

/// A signed NOTIFY for `zone` with the notify key, sent from the namespace; the reply rcode.
pub fn signed_notify(lab: &Lab, zone: &str) -> Option<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.queries = vec![Query::query(Name::from_ascii(zone).unwrap(), RecordType::SOA)];
    let key = dns_core::tsig::Key {
        name: Name::from_ascii(format!("{}.", NOTIFY_KEY.0)).unwrap(),
        algorithm: dns_core::tsig::Algorithm::HmacSha256,
        secret: base64_decode(NOTIFY_KEY.1),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (bytes, _) = dns_core::tsig::sign_request(&key, &m.to_vec().unwrap(), sansio::UnixTime::from_secs(now));
    raw_query(lab, &bytes).map(|r| r[3] & 0x0f)
}

fn base64_decode(s: &str) -> Vec<u8> {
    let out = Command::new("sh").arg("-c").arg(format!("printf %s '{s}' | base64 -d")).output().unwrap();
    out.stdout
}

/// nsupdate adds a record: answered, committed (author = key, message names the
/// client) and pushed; unsigned and wrong-key updates refused; a push by someone
/// else plus a signed NOTIFY changes the answers.
pub fn update_commit_and_notify(backend: &Backend) {
    let lab = Lab::standard(backend, "upd");
    let _git = lab.git_daemon();
    let mut s = lab.start(&[&lab.git_remote(), "--refresh=0"]);
    let before = lab.git(&["rev-parse", "main"]);
    let out = lab.nsupdate(Some(UPDATE_KEY), "zone example.org\nupdate add new.example.org 300 A 192.0.2.77");
    assert!(out.status.success(), "nsupdate failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lab.short("new.example.org", "A"), "192.0.2.77");
    let soa = lab.short("example.org", "SOA");
    assert!(soa.contains(" 2 "), "serial bumped: {soa}");
    let after = lab.git(&["rev-parse", "main"]);
    assert_ne!(before, after, "no new commit");
    let author = lab.git(&["log", "-1", "--format=%an"]);
    assert_eq!(author.trim_end_matches('.'), UPDATE_KEY.0);
    let msg = lab.git(&["log", "-1", "--format=%B"]);
    assert!(msg.contains(HOST), "message names the client: {msg}");
    let file = lab.git(&["show", "main:example.org"]);
    assert!(file.contains("192.0.2.77"), "{file}");
    // The same over TCP (nsupdate -v).
    let out = lab.nsupdate_tcp(UPDATE_KEY, "zone example.org\nupdate add tcp.example.org 300 A 192.0.2.78");
    assert!(out.status.success(), "nsupdate -v failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lab.short("tcp.example.org", "A"), "192.0.2.78");
    let after = lab.git(&["rev-parse", "main"]);
    assert!(lab.git(&["show", "main:example.org"]).contains("192.0.2.78"));
    // Unsigned and wrong key: refused, nothing committed.
    let out = lab.nsupdate(None, "zone example.org\nupdate add evil.example.org 300 A 192.0.2.66");
    assert!(!out.status.success(), "unsigned update succeeded");
    let out = lab.nsupdate(
        Some((UPDATE_KEY.0, "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC0wMDAwMDA=")),
        "zone example.org\nupdate add evil.example.org 300 A 192.0.2.66",
    );
    assert!(!out.status.success(), "wrong-key update succeeded");
    let out = lab.nsupdate(Some(NOTIFY_KEY), "zone example.org\nupdate add evil.example.org 300 A 192.0.2.66");
    assert!(!out.status.success(), "a notify key may not update");
    assert_eq!(lab.short("evil.example.org", "A"), "");
    assert_eq!(lab.git(&["rev-parse", "main"]), after);
    // Someone pushes with the git CLI, then NOTIFYs us.
    let current = lab.git(&["show", "main:example.org"]);
    let edited = current.replace(" 3 3600 900", " 10 3600 900") + "\npushed.example.org. 300 IN A 192.0.2.88\n";
    assert!(edited.contains(" 10 3600 900"), "serial not found in {current}");
    git_support::push_with_git_cli(&lab.repo, "main", &[("example.org", edited.as_bytes())], "by hand");
    assert_eq!(lab.short("pushed.example.org", "A"), "", "served before the NOTIFY");
    assert_eq!(signed_notify(&lab, "example.org."), Some(0), "signed NOTIFY not accepted");
    until("the pushed record", || (lab.short("pushed.example.org", "A") == "192.0.2.88").then_some(()));
    // Unsigned NOTIFY is refused.
    let mut m = Message::new(9, MessageType::Query, OpCode::Notify);
    m.queries = vec![Query::query(Name::from_ascii("example.org.").unwrap(), RecordType::SOA)];
    assert_eq!(raw_query(&lab, &m.to_vec().unwrap()).map(|r| r[3] & 0x0f), Some(5));
    s.wait_for("the fetch log line", |l| l.contains("git: fetched"));
}

/// A broken zone file is reported as file:line and skipped; garbage over UDP and TCP
/// never stops the server.
pub fn broken_zone_and_malformed_packets(backend: &Backend) {
    let broken = "$TTL 60\nbroken.test. IN SOA ns.broken.test. a.broken.test. 1 2 3 4 5\nwww IN A 999.1.1.1\n";
    let keys = keys_file();
    let lab = Lab::new(
        backend,
        "bad",
        &[("example.org", EXAMPLE_ORG.as_bytes()), ("broken.test", broken.as_bytes()), ("_keys", keys.as_bytes())],
    );
    let _git = lab.git_daemon();
    let mut s = lab.start(&[&lab.git_remote()]);
    let line = s.wait_for("the zone error", |l| l.contains("broken.test:3"));
    assert!(line.contains("not loaded"), "{line}");
    assert!(s.output().contains("serving 1 zones"), "{}", s.output());
    assert_eq!(lab.short("www.example.org", "A"), "192.0.2.1");
    assert_eq!(rcode(&lab.dig(&["www.broken.test", "A"])), "REFUSED");
    // Random bytes over UDP, some shaped like queries.
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = query_bytes("www.example.org.", RecordType::A);
    lab.in_ns(|| {
        let sock = UdpSocket::bind((HOST, 0)).unwrap();
        for i in 0..2000 {
            let mut pkt: Vec<u8> = if i % 2 == 0 { valid.clone() } else { vec![0; (next() % 600) as usize] };
            for _ in 0..(next() % 8 + 1) {
                if pkt.is_empty() {
                    break;
                }
                let at = (next() as usize) % pkt.len();
                pkt[at] = next() as u8;
            }
            let _ = sock.send_to(&pkt, (SERVER, 53));
        }
        // TCP: a wrong length, garbage, then a connection closed half-way.
        for len in [0usize, 1, 5, 300] {
            if let Ok(mut t) = TcpStream::connect((SERVER, 53)) {
                let mut bytes = vec![0x01u8, 0x00];
                bytes.extend((0..len).map(|_| next() as u8));
                let _ = std::io::Write::write_all(&mut t, &bytes);
            }
        }
    });
    assert_eq!(lab.short("www.example.org", "A"), "192.0.2.1");
    let out = lab.kdig(&["+tcp", "mail.example.org", "A"]);
    assert!(out.contains("192.0.2.25"), "{out}");
    assert!(s.proc.alive());
}

/// NSD on HOST with `zones` (a `zone:` clause each) and a key; runs in the
/// foreground, ready once it answers the SOA of `probe` (or any reply for a secondary).
pub fn start_nsd(lab: &Lab, key: (&str, &str), zones: &str) -> Proc {
    require("nsd", &["-v"], "nsd");
    let dir = lab.dir.0.join("nsd");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    let conf = format!(
        "server:\n  ip-address: {HOST}\n  port: 53\n  zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  \
         xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  username: \"\"\n  server-count: 1\n  \
         verbosity: 2\n  logfile: \"{d}/nsd.log\"\nremote-control:\n  control-enable: no\n\
         key:\n  name: \"{}\"\n  algorithm: hmac-sha256\n  secret: \"{}\"\n{zones}",
        key.0, key.1
    );
    std::fs::write(dir.join("nsd.conf"), conf).unwrap();
    let child = lab
        .cmd("nsd")
        .args(["-d", "-c"])
        .arg(dir.join("nsd.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nsd starts");
    let p = Proc::adopt(child, "nsd");
    until("NSD to answer", || {
        let out = lab
            .cmd("dig")
            .args([&format!("@{HOST}"), "+tries=1", "+time=1", "version.server", "CH", "TXT"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).contains("status:").then_some(())
    });
    p
}

pub fn nsd_log(lab: &Lab) -> String {
    std::fs::read_to_string(lab.dir.0.join("nsd/nsd.log")).unwrap_or_default()
}

fn dig_at(lab: &Lab, server: &str, name: &str, qtype: &str) -> String {
    let out =
        lab.cmd("dig").args([&format!("@{server}"), "+tries=1", "+time=2", "+short", name, qtype]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// NSD as our secondary: TSIG AXFR at start, then an IXFR after an update that our
/// NOTIFY announces.
pub fn nsd_secondary_transfers_from_us(backend: &Backend) {
    let lab = Lab::standard(backend, "nsd2");
    let _git = lab.git_daemon();
    let _s = lab.start(&[&lab.git_remote(), "--refresh=0"]);
    let zone = format!(
        "zone:\n  name: example.org\n  zonefile: example.org.zone\n  request-xfr: {SERVER} {k}\n  allow-notify: {SERVER} {k}\n",
        k = TRANSFER_KEY.0
    );
    let _nsd = start_nsd(&lab, TRANSFER_KEY, &zone);
    until("NSD to transfer example.org", || (dig_at(&lab, HOST, "www.example.org", "A") == "192.0.2.1").then_some(()));
    assert!(dig_at(&lab, HOST, "example.org", "SOA").contains(" 1 "));
    // Unsigned AXFR is refused.
    let out = lab.dig(&["example.org", "AXFR"]);
    assert!(!out.contains("192.0.2.1"), "unsigned AXFR served: {out}");
    let out = lab.nsupdate(Some(UPDATE_KEY), "zone example.org\nupdate add fresh.example.org 300 A 192.0.2.111");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    until("NSD to pick up the update", || {
        (dig_at(&lab, HOST, "fresh.example.org", "A") == "192.0.2.111").then_some(())
    });
    // NSD logs the size of each transfer it applied: the second, an IXFR of one
    // added record, is much smaller than the AXFR of the whole zone.
    let size = |serial: u32| -> Option<usize> {
        let log = nsd_log(&lab);
        let line = log
            .lines()
            .find(|l| l.contains(&format!("received update to serial {serial} at")) && l.contains(" bytes"))?;
        line.split(" of ").nth(1)?.split(' ').next()?.parse().ok()
    };
    let (axfr, ixfr) = until("NSD to log both transfers", || Some((size(1)?, size(2)?)));
    assert!(ixfr * 3 < axfr, "second transfer ({ixfr} bytes) not an IXFR (AXFR was {axfr} bytes)\n{}", nsd_log(&lab));
    assert!(dig_at(&lab, HOST, "example.org", "SOA").contains(" 2 "));
}

/// Our secondary mode transfers a zone from NSD as primary (TSIG).
pub fn secondary_transfers_from_nsd(backend: &Backend) {
    let lab = Lab::new(backend, "sec", &[("README", b"unused")]);
    let key = ("10.53.0.1.10.53.0.2._transfer.example.org", TRANSFER_KEY.1);
    std::fs::create_dir_all(lab.dir.0.join("nsd")).unwrap();
    std::fs::write(lab.dir.0.join("nsd/example.org.zone"), EXAMPLE_ORG).unwrap();
    let zone = format!(
        "zone:\n  name: example.org\n  zonefile: example.org.zone\n  provide-xfr: {SERVER} {k}\n  notify: {SERVER} {k}\n",
        k = key.0
    );
    let _nsd = start_nsd(&lab, key, &zone);
    let keys = format!("--keys={}:sha256:{}", key.0, key.1);
    let _s = lab.start(&["--secondary", &keys]);
    until("our secondary to transfer", || {
        let out = lab.dig(&["www.example.org", "A"]);
        eprintln!("{out}");
        out.contains("192.0.2.1").then_some(())
    });
    assert!(lab.short("example.org", "SOA").contains(" 1 "));
    assert_eq!(lab.short("chain.example.org", "A").lines().last(), Some("192.0.2.1"));
}

/// An expired secondary zone answers SERVFAIL, as NSD does (RFC 1035 §4.3.5: the
/// data is no longer authoritative), not REFUSED; so does a zone not yet
/// transferred. Once the primary is back, answers again. NSD is the primary; the
/// zone's SOA has refresh 2 s, retry 1 s, expire 8 s.
pub fn expired_secondary_answers_servfail(backend: &Backend) {
    let lab = Lab::new(backend, "exp", &[("README", b"unused")]);
    let key = ("10.53.0.1.10.53.0.2._transfer.example.org", TRANSFER_KEY.1);
    std::fs::create_dir_all(lab.dir.0.join("nsd")).unwrap();
    let zone_text = EXAMPLE_ORG.replace("1 3600 900 604800 300", "1 2 1 8 300");
    assert_ne!(zone_text, EXAMPLE_ORG);
    std::fs::write(lab.dir.0.join("nsd/example.org.zone"), zone_text).unwrap();
    let nsd_zone = format!(
        "zone:\n  name: example.org\n  zonefile: example.org.zone\n  provide-xfr: {SERVER} {k}\n  notify: {SERVER} {k}\n",
        k = key.0
    );
    let keys = format!("--keys={}:sha256:{}", key.0, key.1);
    let s = lab.start(&["--secondary", &keys]);
    // No primary yet: configured, never transferred.
    let out = lab.dig(&["www.example.org", "A"]);
    assert_eq!(rcode(&out), "SERVFAIL", "{out}");
    assert!(!flags(&out).contains("aa"), "{out}");
    assert_eq!(rcode(&lab.dig(&["www.other.net", "A"])), "REFUSED", "a zone we are not configured for");

    let nsd = start_nsd(&lab, key, &nsd_zone);
    until("our secondary to transfer", || (lab.short("www.example.org", "A") == "192.0.2.1").then_some(()));
    drop(nsd);
    // Expire is 8 s after the last successful refresh (every 2 s).
    let out = until("the zone to expire", || {
        let out = lab.dig(&["www.example.org", "A"]);
        (rcode(&out) == "SERVFAIL").then_some(out)
    });
    assert!(!flags(&out).contains("aa"), "{out}");
    assert!(section(&out, "ANSWER").is_empty(), "{out}");
    assert_eq!(rcode(&lab.dig(&["www.other.net", "A"])), "REFUSED");

    let _nsd = start_nsd(&lab, key, &nsd_zone);
    until("the zone to be served again", || {
        let out = lab.dig(&["www.example.org", "A"]);
        (rcode(&out) == "NOERROR" && out.contains("192.0.2.1")).then_some(())
    });
    assert!(flags(&lab.dig(&["www.example.org", "A"])).contains("aa"));
    let mut s = s;
    assert!(s.proc.alive());
}

/// `--refresh=N`: a commit pushed to the remote without a NOTIFY is served within
/// about N seconds (polled with a deadline; no timing assertion beyond it).
pub fn refresh_picks_up_a_push_without_notify(backend: &Backend) {
    let lab = Lab::standard(backend, "rfr");
    let _git = lab.git_daemon();
    let _s = lab.start(&[&lab.git_remote(), "--refresh=2"]);
    assert_eq!(lab.short("www.example.org", "A"), "192.0.2.1");
    let current = lab.git(&["show", "main:example.org"]);
    let edited = current.replace(" 1 3600 900", " 2 3600 900") + "\npolled.example.org. 300 IN A 192.0.2.42\n";
    assert!(edited.contains(" 2 3600 900"), "serial not found in {current}");
    git_support::push_with_git_cli(&lab.repo, "main", &[("example.org", edited.as_bytes())], "no notify");
    until("the polled record", || (lab.short("polled.example.org", "A") == "192.0.2.42").then_some(()));
    assert!(lab.short("example.org", "SOA").contains(" 2 3600 900"));
}

/// Sends `count` copies of `query` from `src` as fast as it can, then collects
/// replies for a second: (full answers, TC=1 replies).
fn udp_burst(lab: &Lab, src: &str, query: &[u8], count: usize) -> (usize, usize) {
    lab.in_ns(|| {
        let s = UdpSocket::bind((src, 0)).unwrap();
        for _ in 0..count {
            s.send_to(query, (SERVER, 53)).unwrap();
        }
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let (mut full, mut tc) = (0, 0);
        let mut buf = vec![0u8; 65535];
        while let Ok(n) = s.recv(&mut buf) {
            let m = Message::from_vec(&buf[..n]).expect("a reply parses");
            if m.metadata.truncation {
                assert!(m.answers.is_empty(), "a slipped reply carries no answer");
                tc += 1;
            } else {
                assert_eq!(m.answers.len(), 1, "a full answer");
                full += 1;
            }
        }
        (full, tc)
    })
}

/// `--rrl=RATE/SLIP`: a burst of identical queries from one client gets some
/// replies dropped and every SLIP-th limited one sent truncated (TC=1); a client
/// in another /24 is unaffected; with no `--rrl`, every query is answered.
pub fn rrl_limits_a_burst_from_one_source(backend: &Backend) {
    // A second client outside the server's /24 (RRL groups IPv4 clients by /24),
    // reached through HOST as gateway.
    const OTHER: &str = "10.54.0.1";
    let lab = Lab::standard(backend, "rrl");
    lab.ns.ip(&["addr", "add", &format!("{OTHER}/32"), "dev", "br0"]).unwrap();
    let _git = lab.git_daemon();
    let query = query_bytes("www.example.org.", RecordType::A);
    const BURST: usize = 40;
    {
        let _s = lab.start(&[&lab.git_remote(), &format!("--ipv4-gateway={HOST}")]);
        let (full, tc) = udp_burst(&lab, HOST, &query, BURST);
        assert_eq!((full, tc), (BURST, 0), "rate limiting is off by default");
    }
    let s = lab.start(&[&lab.git_remote(), &format!("--ipv4-gateway={HOST}"), "--rrl=5/2"]);
    let (full, tc) = udp_burst(&lab, HOST, &query, BURST);
    let limited = BURST - full;
    assert!((5..BURST / 2).contains(&full), "{full} of {BURST} answered in full at 5/s");
    // Slip 2: every second limited response goes out truncated, the others are dropped.
    assert!(tc.abs_diff(limited / 2) <= 1, "{tc} truncated of {limited} limited");
    assert!(tc > 0 && tc < limited, "{tc} truncated of {limited} limited: none dropped");
    // Another client block has its own account.
    let (full, tc) = udp_burst(&lab, OTHER, &query, 3);
    assert_eq!((full, tc), (3, 0), "a second source was limited");
    let mut s = s;
    assert!(s.proc.alive());
}

/// `--remote` by host name, resolved through `--dns-server` (NSD at HOST serves
/// `test.`, where `repo.test` is a CNAME to `git.test` at HOST; no host resolver
/// knows these names, so this also shows `--dns-server` is what is used). A bad
/// `--dns-server` and a name that does not exist stop the boot with an error
/// naming them; when the server stops answering later, each refresh logs why and
/// the zones stay served.
pub fn remote_by_name_through_dns_server(backend: &Backend) {
    let lab = Lab::standard(backend, "rslv");
    let _git = lab.git_daemon();
    std::fs::create_dir_all(lab.dir.0.join("nsd")).unwrap();
    // TTL 1: the resolver's cache forgets the answer quickly, so the refreshes
    // after NSD stops must ask again.
    let zone = format!(
        "$ORIGIN test.\n$TTL 1\n@ SOA ns.test. host.test. 1 3600 900 604800 1\n@ NS ns\nns A {HOST}\n\
         git A {HOST}\nrepo CNAME git\n"
    );
    std::fs::write(lab.dir.0.join("nsd/test.zone"), zone).unwrap();
    let nsd = start_nsd(&lab, TRANSFER_KEY, "zone:\n  name: test.\n  zonefile: test.zone\n");
    let remote = "--remote=git://repo.test/zones.git#main";
    let dns = format!("--dns-server={HOST}");

    let out = lab.cmd_output(&[remote, "--dns-server=ns.test"]);
    assert!(out.contains("--dns-server") && out.contains("ns.test"), "{out}");
    let out = lab.cmd_output(&["--remote=git://nope.test/zones.git#main", &dns]);
    assert!(out.contains("nope.test") && out.contains("NXDOMAIN"), "{out}");
    assert!(!out.contains("dns: serving"), "{out}");

    let mut s = lab.start(&[remote, &format!("--dns-server=192.0.2.254:53,{HOST}:53"), "--refresh=1"]);
    assert_eq!(lab.short("www.example.org", "A"), "192.0.2.1");
    assert_eq!(lab.short("ns.other.net", "A"), "192.0.2.99");
    drop(nsd);
    s.wait_for("a refresh to fail for want of DNS", |l| {
        l.contains("repo.test") && l.contains("no DNS server answered") && l.contains("still serving")
    });
    assert_eq!(lab.short("www.example.org", "A"), "192.0.2.1");
    assert!(s.proc.alive());
}

// Every scenario above, as `dns_scenarios!(BACKEND, #[attrs]...)` for the test files of
// each backend (`tests/e2e.rs`, `tests/hvt.rs`).
testkit::scenario_list!(
    dns_scenarios = common::scenarios {
        answers_from_git_daemon,
        answers_from_smart_http,
        answers_from_https,
        update_commit_and_notify,
        broken_zone_and_malformed_packets,
        nsd_secondary_transfers_from_us,
        secondary_transfers_from_nsd,
        expired_secondary_answers_servfail,
        refresh_picks_up_a_push_without_notify,
        rrl_limits_a_burst_from_one_source,
        remote_by_name_through_dns_server,
    }
);
