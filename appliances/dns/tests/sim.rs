//! The DNS appliance on platform-sim, with its git remote in process: a
//! `gitstore::serve::GitServer` on a simulated host holds the zone
//! repository the test commits to. Hosts: `git` 10.0.0.1, `primary`
//! 10.0.0.2 (`--remote=git://10.0.0.1/zones.git`), `secondary` 10.0.0.3
//! (our appliance with `--secondary`), `client` 10.0.0.9 (queries, NOTIFY,
//! UPDATE). Every scenario runs twice with one seed (the trace hashes must
//! be equal) and once with another (they must differ).
//!
//! `SIM_LOG=1` echoes the consoles with the virtual time.

use std::net::SocketAddr;
use std::str::FromStr;

use dns_core::tsig::{self, Algorithm, Key};
use futures_lite::io::AsyncReadExt;
use gitstore::Signature;
use gitstore::serve::{GitServer, Hosted};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use platform::stack::{Stack, UdpSocket};
use platform::time::{self, Duration};
use platform_sim::{Host, LinkConfig, World};

const GIT: &str = "10.0.0.1";
const PRIMARY: &str = "10.0.0.2";
const SECONDARY: &str = "10.0.0.3";

const TRANSFER_KEY: (&str, &str) =
    ("10.0.0.2.10.0.0.3._transfer.example.org.", "dHJhbnNmZXItc2VjcmV0LXRyYW5zZmVyLXNlY3JldCE=");
const NOTIFY_KEY: &str = "notifier._notify.example.org.";
const NOTIFY_SECRET: &[u8] = b"notify-secret-notify-secret-ntfy";
const UPDATE_KEY: &str = "updater._update.example.org.";
const UPDATE_SECRET: &[u8] = b"update-secret-update-secret-updt";

/// The repository's `_keys` file (the secrets above, base64).
const KEYS: &str = "\
10.0.0.2.10.0.0.3._transfer.example.org. DNSKEY 0 3 163 dHJhbnNmZXItc2VjcmV0LXRyYW5zZmVyLXNlY3JldCE=
notifier._notify.example.org.            DNSKEY 0 3 163 bm90aWZ5LXNlY3JldC1ub3RpZnktc2VjcmV0LW50Znk=
updater._update.example.org.             DNSKEY 0 3 163 dXBkYXRlLXNlY3JldC11cGRhdGUtc2VjcmV0LXVwZHQ=
";

/// The zone at `serial` with extra records. SOA refresh and retry are long
/// (an hour, ten minutes): within a scenario only NOTIFY moves the secondary.
fn zone(serial: u32, extra: &str) -> Vec<u8> {
    format!(
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\n@ NS ns2\n\
         ns1 A 10.0.0.2\nns2 A 10.0.0.3\nwww A 192.0.2.1\n{extra}"
    )
    .into_bytes()
}

fn someone() -> Signature {
    Signature { name: "Zone Admin".into(), email: "admin@example.org".into() }
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn key(name: &str, secret: &[u8]) -> Key {
    Key::new(n(name), Algorithm::HmacSha256, secret.to_vec())
}

fn wall_secs() -> platform::time::UnixTime {
    time::sansio_now().wall
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// The simulated network of a scenario.
struct Lab {
    world: World,
    git: Host,
    primary: Host,
    secondary: Host,
    client: Host,
    repo: Hosted,
}

impl Lab {
    fn new(seed: u64) -> Lab {
        let world = World::new(seed);
        let repo = Hosted::new();
        repo.commit(
            "main",
            &[("example.org", Some(&zone(1, ""))), ("_keys", Some(KEYS.as_bytes()))],
            &someone(),
            "zones",
            1,
        )
        .unwrap();
        Lab {
            git: world.add_host("git"),
            primary: world.add_host("primary"),
            secondary: world.add_host("secondary"),
            client: world.add_host("client"),
            world,
            repo,
        }
    }

    /// Starts the git server (inside a run).
    fn start_git(&self) {
        let stack = self.git.stack(&[&format!("--ipv4={GIT}/24")]).unwrap();
        let listener = stack.tcp_listen(addr(GIT, 9418)).unwrap();
        let server = GitServer::new();
        server.add("/zones.git", self.repo.clone());
        self.git.spawn(async move { server.serve(listener).await });
    }

    /// Boots the primary and waits until it serves.
    async fn start_primary(&self) {
        let ip = format!("--ipv4={PRIMARY}/24");
        let remote = format!("--remote=git://{GIT}/zones.git#main");
        let app = self.primary.run_appliance(&dns::APPLIANCE, &[&ip, &remote, "--refresh=0"]);
        let console = self.primary.console();
        let ready = console.wait_for("dns: serving 1 zones");
        futures_lite::future::or(async { Err(app.await) }, async { Ok(ready.await) })
            .await
            .unwrap_or_else(|e| panic!("the primary stopped: {e:?}"));
    }

    /// Boots the secondary (it then transfers the zone by itself).
    fn start_secondary(&self) {
        let ip = format!("--ipv4={SECONDARY}/24");
        let keys = format!("--keys={}:sha256:{}", TRANSFER_KEY.0, TRANSFER_KEY.1);
        let _app = self.secondary.run_appliance(&dns::APPLIANCE, &[&ip, "--secondary", &keys]);
    }

    /// The git remote, the primary and the secondary, once the secondary has
    /// transferred serial 1 (within `secs` of virtual time); the client's stack
    /// and a UDP socket on it.
    async fn start_pair(&self, secs: u64) -> (Stack, UdpSocket) {
        self.start_git();
        self.start_primary().await;
        self.start_secondary();
        line(&self.secondary, "zone example.org. serial 1 transferred", secs).await;
        let stack = self.client_stack();
        let sock = stack.udp_bind(addr("0.0.0.0", 5300)).unwrap();
        (stack, sock)
    }

    fn client_stack(&self) -> Stack {
        self.client.stack(&["--ipv4=10.0.0.9/24"]).unwrap()
    }
}

/// Waits for a console line, at most `secs` of virtual time.
async fn line(host: &Host, needle: &str, secs: u64) -> String {
    match time::timeout(Duration::from_secs(secs), host.console().wait_for(needle)).await {
        Ok(l) => l,
        Err(_) => panic!("{}: no line {needle:?} within {secs} s: {:#?}", host.name(), host.console_lines()),
    }
}

/// Sends `bytes` over UDP until a reply with the same id comes (one try a
/// second, at most 20): the links may lose either direction.
async fn exchange(sock: &UdpSocket, to: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    for _ in 0..20 {
        sock.send_to(bytes, to).await.unwrap();
        let deadline = time::now() + Duration::from_secs(1);
        while let Ok(Ok((len, from))) = time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
            if from == to && len >= 2 && buf[..2] == bytes[..2] {
                return buf[..len].to_vec();
            }
        }
    }
    panic!("no reply from {to} in 20 tries");
}

/// A query to `server`; the answer's A addresses and the rcode.
async fn ask_a(sock: &UdpSocket, server: &str, name: &str, id: u16) -> (ResponseCode, Vec<String>) {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.queries = vec![Query::query(n(name), RecordType::A)];
    let reply = Message::from_vec(&exchange(sock, addr(server, 53), &m.to_vec().unwrap()).await).unwrap();
    let ips = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    (reply.metadata.response_code, ips)
}

/// The serial `server` answers for example.org's SOA.
async fn serial(sock: &UdpSocket, server: &str, id: u16) -> u32 {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.queries = vec![Query::query(n("example.org."), RecordType::SOA)];
    let reply = Message::from_vec(&exchange(sock, addr(server, 53), &m.to_vec().unwrap()).await).unwrap();
    match reply.answers.first().map(|r| &r.data) {
        Some(RData::SOA(soa)) => soa.serial,
        other => panic!("no SOA from {server}: {other:?}"),
    }
}

/// A NOTIFY for example.org signed with the notify key, to the primary,
/// until it is answered; the rcode.
async fn signed_notify(sock: &UdpSocket, id: u16) -> ResponseCode {
    let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.queries = vec![Query::query(n("example.org."), RecordType::SOA)];
    let (bytes, state) = tsig::sign_request(&key(NOTIFY_KEY, NOTIFY_SECRET), &m.to_vec().unwrap(), wall_secs());
    let reply = exchange(sock, addr(PRIMARY, 53), &bytes).await;
    tsig::verify_response(&state, &reply, wall_secs()).expect("the NOTIFY reply is signed");
    Message::from_vec(&reply).unwrap().metadata.response_code
}

/// NOTIFY under loss: 30 % of the frames the primary and the secondary send
/// are lost. After a push to the git remote and a signed NOTIFY to the
/// primary, the primary fetches and NOTIFYs the secondary (retransmitted at
/// 2, 4, 8, 16 s), which transfers the new serial and answers from it.
fn notify_under_loss(seed: u64) -> u64 {
    let lab = Lab::new(seed);
    for h in [&lab.primary, &lab.secondary] {
        h.set_link(Some(LinkConfig::default().loss(0.3)));
    }
    lab.world.run(async {
        let (_stack, sock) = lab.start_pair(300).await;
        assert_eq!(ask_a(&sock, SECONDARY, "new.example.org.", 1).await.0, ResponseCode::NXDomain);

        let notified = |h: &Host| h.console_lines().iter().filter(|l| l.contains("notify for example.org.")).count();
        let before = notified(&lab.secondary);

        // A change pushed by someone else, then a signed NOTIFY to the primary.
        let extra = "new A 192.0.2.2\n";
        lab.repo.commit("main", &[("example.org", Some(&zone(2, extra)))], &someone(), "add new", 2).unwrap();
        assert_eq!(signed_notify(&sock, 2).await, ResponseCode::NoError);
        line(&lab.primary, "zone example.org.: serial 2 loaded", 120).await;
        line(&lab.secondary, "zone example.org. serial 2 transferred", 120).await;
        assert!(notified(&lab.secondary) > before, "the secondary got no NOTIFY from the primary");
        assert_eq!(
            ask_a(&sock, SECONDARY, "new.example.org.", 3).await,
            (ResponseCode::NoError, vec!["192.0.2.2".into()])
        );
        assert_eq!(serial(&sock, SECONDARY, 4).await, 2);
    });
    lab.world.trace_hash()
}

#[test]
fn secondary_follows_a_push_and_notify_under_loss() {
    let a = notify_under_loss(2);
    assert_eq!(a, notify_under_loss(2), "same seed, same trace");
    assert_ne!(a, notify_under_loss(3), "another seed, another trace");
}

/// The secondary crashes; meanwhile the zone changes (its NOTIFYs go
/// nowhere); booted again with nothing, it transfers the zone anew and
/// answers from the new serial.
fn secondary_restart(seed: u64) -> u64 {
    let lab = Lab::new(seed);
    lab.world.run(async {
        let (_stack, sock) = lab.start_pair(60).await;
        assert_eq!(ask_a(&sock, SECONDARY, "www.example.org.", 1).await.1, ["192.0.2.1"]);

        lab.world.crash(&lab.secondary);
        let extra = "later A 192.0.2.3\n";
        lab.repo.commit("main", &[("example.org", Some(&zone(3, extra)))], &someone(), "while down", 3).unwrap();
        assert_eq!(signed_notify(&sock, 2).await, ResponseCode::NoError);
        line(&lab.primary, "zone example.org.: serial 3 loaded", 60).await;
        // Let the primary's NOTIFY retransmissions (2+4+8+16 s) run out.
        time::sleep(Duration::from_secs(60)).await;
        assert!(!lab.secondary.console().contains("serial 3"), "a crashed host logged");

        lab.start_secondary();
        line(&lab.secondary, "zone example.org. serial 3 transferred", 60).await;
        let boots = lab.secondary.console_lines().iter().filter(|l| l.contains("dns: secondary for")).count();
        assert_eq!(boots, 2);
        assert_eq!(ask_a(&sock, SECONDARY, "later.example.org.", 3).await.1, ["192.0.2.3"]);
        assert_eq!(serial(&sock, SECONDARY, 4).await, 3);
    });
    lab.world.trace_hash()
}

#[test]
fn secondary_transfers_again_after_a_crash() {
    let a = secondary_restart(3);
    assert_eq!(a, secondary_restart(3), "same seed, same trace");
    assert_ne!(a, secondary_restart(4), "another seed, another trace");
}

/// An UPDATE over TCP signed with the update key, adding `name` A `ip`;
/// the reply's rcode (its TSIG checked) and the remote's branch tip at the
/// moment the reply arrived.
async fn update(
    lab: &Lab,
    stack: &Stack,
    id: u16,
    name: &str,
    ip: [u8; 4],
) -> (ResponseCode, Option<gitstore::ObjectId>) {
    let mut m = Message::new(id, MessageType::Query, OpCode::Update);
    m.queries = vec![Query::query(n("example.org."), RecordType::SOA)];
    m.authorities = vec![Record::from_rdata(n(name), 300, RData::A(A::new(ip[0], ip[1], ip[2], ip[3])))];
    let (bytes, state) = tsig::sign_request(&key(UPDATE_KEY, UPDATE_SECRET), &m.to_vec().unwrap(), wall_secs());
    let mut conn = stack.tcp_connect(addr(PRIMARY, 53)).await.unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    conn.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).await.unwrap();
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut reply).await.unwrap();
    // Nothing can run between the last read and this: the remote's state
    // is the one the primary had when it answered.
    let tip = lab.repo.branch("main");
    tsig::verify_response(&state, &reply, wall_secs()).expect("the UPDATE reply is signed");
    (Message::from_vec(&reply).unwrap().metadata.response_code, tip)
}

fn commit_text(lab: &Lab, id: gitstore::ObjectId) -> String {
    lab.repo.with_repo(|r| String::from_utf8(r.get(&id).unwrap().data.clone()).unwrap())
}

fn zone_file(lab: &Lab, id: gitstore::ObjectId) -> String {
    lab.repo.with_repo(|r| String::from_utf8(r.files(&id).unwrap()["example.org"].clone()).unwrap())
}

/// UPDATE against the in-process remote: NOERROR only once the commit
/// (author = the key's name) is on the remote, then answered; when the push
/// is refused (the branch moved meanwhile) SERVFAIL and nothing of it on the
/// remote; after the primary caught up, the same UPDATE goes through.
fn update_scenario(seed: u64) -> u64 {
    let lab = Lab::new(seed);
    lab.world.run(async {
        // The secondary runs too: the primary NOTIFYs it after each update.
        let (stack, sock) = lab.start_pair(60).await;
        let before = lab.repo.branch("main").unwrap();

        let (rcode, tip) = update(&lab, &stack, 1, "upd.example.org.", [192, 0, 2, 9]).await;
        assert_eq!(rcode, ResponseCode::NoError);
        let tip = tip.unwrap();
        assert_ne!(tip, before, "answered before the push");
        let commit = commit_text(&lab, tip);
        assert!(commit.contains(&format!("\nparent {before}\n")), "{commit}");
        assert!(commit.contains("\nauthor updater._update.example.org"), "author is the key: {commit}");
        assert!(commit.contains("10.0.0.9"), "the message names the client: {commit}");
        let file = zone_file(&lab, tip);
        assert!(file.contains("192.0.2.9"), "{file}");
        assert_eq!(
            ask_a(&sock, PRIMARY, "upd.example.org.", 2).await,
            (ResponseCode::NoError, vec!["192.0.2.9".into()])
        );
        assert_eq!(serial(&sock, PRIMARY, 3).await, 2);

        // Someone else pushes (no NOTIFY): our push is stale, refused.
        let theirs = lab
            .repo
            .commit("main", &[("example.org", Some(&zone(5, "theirs A 192.0.2.5\n")))], &someone(), "by hand", 5)
            .unwrap();
        let (rcode, tip) = update(&lab, &stack, 4, "late.example.org.", [192, 0, 2, 10]).await;
        assert_eq!(rcode, ResponseCode::ServFail);
        assert_eq!(tip, Some(theirs), "a refused push left a commit");
        assert_eq!(ask_a(&sock, PRIMARY, "late.example.org.", 5).await.1, Vec::<String>::new());
        // The refused push makes the primary fetch; then the UPDATE lands on theirs.
        line(&lab.primary, "zone example.org.: serial 5 loaded", 60).await;
        let (rcode, tip) = update(&lab, &stack, 6, "late.example.org.", [192, 0, 2, 10]).await;
        assert_eq!(rcode, ResponseCode::NoError);
        let tip = tip.unwrap();
        assert!(commit_text(&lab, tip).contains(&format!("\nparent {theirs}\n")));
        let file = zone_file(&lab, tip);
        assert!(file.contains("192.0.2.5") && file.contains("192.0.2.10"), "{file}");
        assert_eq!(ask_a(&sock, PRIMARY, "late.example.org.", 7).await.1, ["192.0.2.10"]);
        assert_eq!(serial(&sock, PRIMARY, 8).await, 6);
        // The secondary follows by NOTIFY and IXFR.
        line(&lab.secondary, "zone example.org. serial 6 transferred", 60).await;
        assert_eq!(ask_a(&sock, SECONDARY, "late.example.org.", 9).await.1, ["192.0.2.10"]);
    });
    lab.world.trace_hash()
}

#[test]
fn update_is_answered_after_the_push_to_the_remote() {
    let a = update_scenario(5);
    assert_eq!(a, update_scenario(5), "same seed, same trace");
    assert_ne!(a, update_scenario(6), "another seed, another trace");
}

/// A primary whose secondary (an NS glue address and a transfer-key peer)
/// is not on the network must still answer over UDP: the NOTIFY to 10.0.0.3
/// sent at boot waits for an ARP answer that never comes, and must not hold
/// back the answers queued behind it (netstack queues per destination).
#[test]
fn primary_answers_while_its_secondary_is_absent() {
    let lab = Lab::new(7);
    lab.world.run(async {
        lab.start_git();
        lab.start_primary().await;
        let stack = lab.client_stack();
        let sock = stack.udp_bind(addr("0.0.0.0", 5300)).unwrap();
        assert_eq!(ask_a(&sock, PRIMARY, "www.example.org.", 1).await.1, ["192.0.2.1"]);
    });
}
