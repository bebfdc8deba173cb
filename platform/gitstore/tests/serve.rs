//! The in-process git server (feature `serve`) against this crate's client,
//! on platform-sim: fetch (whole, then incremental), push, pushes refused
//! for a stale old id (caught by the client, and by the server when the
//! branch moves between advertisement and command), the pack without
//! side-band, unknown repositories.

use std::net::SocketAddr;

use futures_lite::io::AsyncReadExt;
use gitstore::serve::{GitServer, Hosted};
use gitstore::{Client, Error, ObjectId, Remote, Repo, Signature};
use platform::stack::{Stack, TcpStream};
use platform_sim::{Host, LinkConfig, World};

const SERVER_IP: &str = "10.0.0.1";
const URL: &str = "git://10.0.0.1/zones.git#main";

fn me() -> Signature {
    Signature { name: "tester".into(), email: "tester@example.org".into() }
}

/// A repository with two commits on main.
fn hosted() -> Hosted {
    let h = Hosted::new();
    h.commit("main", &[("example.org", Some(b"zone v1\n")), ("_keys", Some(b"keys\n"))], &me(), "one", 1).unwrap();
    h.commit("main", &[("sub/file", Some(b"nested\n"))], &me(), "two", 2).unwrap();
    h
}

/// Starts the server on `host` (inside a run) with `hosted` at /zones.git;
/// returns a client stack.
fn start(server: &Host, client: &Host, hosted: &Hosted) -> Stack {
    start_with(server, client, &[("/zones.git", hosted)])
}

fn start_with(server: &Host, client: &Host, repos: &[(&str, &Hosted)]) -> Stack {
    let s = server.stack(&[&format!("--ipv4={SERVER_IP}/24")]).unwrap();
    let listener = s.tcp_listen(SocketAddr::new(SERVER_IP.parse().unwrap(), 9418)).unwrap();
    let git = GitServer::new();
    for (path, h) in repos {
        git.add(path, (*h).clone());
    }
    server.spawn(async move { git.serve(listener).await });
    client.stack(&["--ipv4=10.0.0.2/24"]).unwrap()
}

fn addr() -> SocketAddr {
    SocketAddr::new(SERVER_IP.parse().unwrap(), 9418)
}

fn world(seed: u64) -> (World, Host, Host) {
    let w = World::new(seed);
    let (s, c) = (w.add_host("git"), w.add_host("client"));
    (w, s, c)
}

/// The client story over a lossy link; returns the trace hash.
fn fetch_push_story(seed: u64) -> u64 {
    let (w, server, client) = world(seed);
    w.set_link(LinkConfig::default().loss(0.2));
    let h = hosted();
    w.run(async {
        let stack = start(&server, &client, &h);
        let remote = Remote::parse(URL).unwrap();
        let git = Client::new(stack);
        let mut repo = Repo::new();
        let first = git.fetch(&remote, &mut repo).await.unwrap();
        assert_eq!(Some(first.tip), h.branch("main"));
        assert!(first.changed && first.objects == 8, "objects {}", first.objects);
        let files = repo.files(&first.tip).unwrap();
        assert_eq!(files["example.org"], b"zone v1\n");
        assert_eq!(files["sub/file"], b"nested\n");
        let again = git.fetch(&remote, &mut repo).await.unwrap();
        assert!(!again.changed && again.objects == 0);

        // Push: the server's branch moves and holds our commit and files.
        let who = Signature { name: "key._update.example.org".into(), email: "dns@example.org".into() };
        let ours = repo.commit(Some(first.tip), &[("example.org", Some(b"zone v2\n"))], &who, "update", 3).unwrap();
        git.push(&remote, &mut repo, Some(first.tip), ours).await.unwrap();
        assert_eq!(h.branch("main"), Some(ours));
        assert_eq!(h.with_repo(|r| r.files(&ours).unwrap()["example.org"].clone()), b"zone v2\n");
        let info = h.with_repo(|r| r.get(&ours).map(|o| o.data.clone())).unwrap();
        assert!(String::from_utf8(info).unwrap().contains("author key._update.example.org <dns@example.org> 3"));

        // Someone else commits on the server; the next fetch is incremental
        // (commit, root tree, blob: the server used our have).
        let theirs = h.commit("main", &[("other.net", Some(b"other\n"))], &me(), "theirs", 4).unwrap();
        let second = git.fetch(&remote, &mut repo).await.unwrap();
        assert_eq!((second.tip, second.changed, second.objects), (theirs, true, 3));

        // A push from the old tip is refused (the client sees the
        // advertised tip) and the branch stays.
        let stale = repo.commit(Some(ours), &[("x", Some(b"y"))], &who, "stale", 5).unwrap();
        match git.push(&remote, &mut repo, Some(ours), stale).await {
            Err(Error::PushRejected { reason }) => assert!(reason.contains("stale"), "{reason}"),
            other => panic!("stale push: {other:?}"),
        }
        assert_eq!(h.branch("main"), Some(theirs));
    });
    w.trace_hash()
}

#[test]
fn client_fetches_and_pushes_over_a_lossy_link() {
    let a = fetch_push_story(11);
    assert_eq!(a, fetch_push_story(11), "same seed, same trace");
    assert_ne!(a, fetch_push_story(12), "another seed, another trace");
}

fn pkt(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
}

/// Reads pkt-lines up to a flush.
async fn read_pkts(conn: &mut TcpStream) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    loop {
        let mut head = [0u8; 4];
        conn.read_exact(&mut head).await.unwrap();
        let len = usize::from_str_radix(std::str::from_utf8(&head).unwrap(), 16).unwrap();
        if len == 0 {
            return lines;
        }
        let mut data = vec![0u8; len - 4];
        conn.read_exact(&mut data).await.unwrap();
        lines.push(data);
    }
}

fn text(d: &[u8]) -> String {
    String::from_utf8_lossy(d).trim_end().to_string()
}

/// Opens a raw git:// conversation and returns the stream and the advert.
async fn open(stack: &Stack, service: &str, path: &str) -> (TcpStream, Vec<String>) {
    let mut conn = stack.tcp_connect(addr()).await.unwrap();
    let mut req = Vec::new();
    pkt(&mut req, format!("{service} {path}\0host={SERVER_IP}\0").as_bytes());
    conn.write_all(&req).await.unwrap();
    let advert = read_pkts(&mut conn).await.iter().map(|d| text(d)).collect();
    (conn, advert)
}

/// An upload-pack request (git's pack-protocol.txt, "upload-request"): `lines` (wants,
/// shallows, deepen) as pkt-lines, a flush, then `done`.
fn upload_request(lines: &[String]) -> Vec<u8> {
    let mut req = Vec::new();
    for line in lines {
        pkt(&mut req, line.as_bytes());
    }
    req.extend_from_slice(b"0000");
    pkt(&mut req, b"done\n");
    req
}

/// Reads the server's NAK (no common commit), which comes before the pack.
async fn read_nak(conn: &mut TcpStream) {
    let mut nak = [0u8; 8];
    conn.read_exact(&mut nak).await.unwrap();
    assert_eq!(&nak, b"0008NAK\n");
}

/// Reads a pack sent without side-band (the raw bytes up to the end of the stream) into
/// a fresh repository; returns it and how many objects the pack held.
async fn read_raw_pack(conn: &mut TcpStream) -> (Repo, usize) {
    let mut pack = Vec::new();
    conn.read_to_end(&mut pack).await.unwrap();
    let mut repo = Repo::new();
    let objects = gitstore::pack::read_pack(&pack, &mut repo).unwrap();
    (repo, objects)
}

#[test]
fn server_refuses_a_command_whose_old_id_went_stale() {
    let (w, server, client) = world(3);
    let h = hosted();
    w.run(async {
        let stack = start(&server, &client, &h);
        let tip = h.branch("main").unwrap();
        let (mut conn, advert) = open(&stack, "git-receive-pack", "/zones.git").await;
        assert!(advert[0].starts_with(&format!("{tip} HEAD\0")), "{advert:?}");
        assert!(advert[0].contains("report-status"), "{advert:?}");
        assert!(advert.contains(&format!("{tip} refs/heads/main")), "{advert:?}");

        // Our commit on the advertised tip, in our own copy of the objects.
        let mut mine = h.with_repo(Repo::clone);
        let new = mine.commit(Some(tip), &[("a", Some(b"mine\n"))], &me(), "mine", 10).unwrap();
        let ids = mine.missing_between(&[tip], &new);
        let pack = gitstore::pack::write_pack(&mine, &ids).unwrap();

        // Meanwhile someone else moves the branch.
        let theirs = h.commit("main", &[("b", Some(b"theirs\n"))], &me(), "theirs", 11).unwrap();

        let mut req = Vec::new();
        pkt(&mut req, format!("{tip} {new} refs/heads/main\0report-status\n").as_bytes());
        req.extend_from_slice(b"0000");
        req.extend_from_slice(&pack);
        conn.write_all(&req).await.unwrap();
        let report: Vec<String> = read_pkts(&mut conn).await.iter().map(|d| text(d)).collect();
        assert_eq!(report[0], "unpack ok");
        assert!(report[1].starts_with("ng refs/heads/main stale old id"), "{report:?}");
        assert_eq!(h.branch("main"), Some(theirs), "the branch did not move");

        // The same command from the right old id is taken.
        let (mut conn, _) = open(&stack, "git-receive-pack", "/zones.git").await;
        let ids = h.with_repo(|r| r.missing_between(&[], &theirs));
        let mut both = mine.clone();
        for id in ids {
            let o = h.with_repo(|r| r.get(&id).cloned()).unwrap();
            both.insert(o.kind, o.data);
        }
        let on_theirs = both.commit(Some(theirs), &[("d", Some(b"d\n"))], &me(), "on theirs", 13).unwrap();
        let pack = gitstore::pack::write_pack(&both, &both.missing_between(&[theirs], &on_theirs)).unwrap();
        let mut req = Vec::new();
        pkt(&mut req, format!("{theirs} {on_theirs} refs/heads/main\0report-status\n").as_bytes());
        req.extend_from_slice(b"0000");
        req.extend_from_slice(&pack);
        conn.write_all(&req).await.unwrap();
        let report: Vec<String> = read_pkts(&mut conn).await.iter().map(|d| text(d)).collect();
        assert_eq!(report, ["unpack ok", "ok refs/heads/main"]);
        assert_eq!(h.branch("main"), Some(on_theirs));

        // A tip whose objects never came is refused.
        let (mut conn, _) = open(&stack, "git-receive-pack", "/zones.git").await;
        let ghost = ObjectId([7; 20]);
        let mut req = Vec::new();
        pkt(&mut req, format!("{on_theirs} {ghost} refs/heads/main\0report-status\n").as_bytes());
        req.extend_from_slice(b"0000");
        req.extend_from_slice(&gitstore::pack::write_pack(&both, &[]).unwrap());
        conn.write_all(&req).await.unwrap();
        let report: Vec<String> = read_pkts(&mut conn).await.iter().map(|d| text(d)).collect();
        assert!(report[1].starts_with("ng refs/heads/main missing necessary objects"), "{report:?}");
        assert_eq!(h.branch("main"), Some(on_theirs));
    });
}

#[test]
fn pack_without_side_band_and_unknown_repositories() {
    let (w, server, client) = world(5);
    let h = hosted();
    let empty = Hosted::new();
    w.run(async {
        let stack = start_with(&server, &client, &[("/zones.git", &h), ("/empty.git", &empty)]);
        let tip = h.branch("main").unwrap();
        let (mut conn, advert) = open(&stack, "git-upload-pack", "/zones.git").await;
        assert!(advert[0].contains("side-band-64k"), "{advert:?}");
        conn.write_all(&upload_request(&[format!("want {tip}\n")])).await.unwrap();
        read_nak(&mut conn).await;
        let (repo, objects) = read_raw_pack(&mut conn).await;
        assert_eq!(objects, 8);
        assert_eq!(repo.files(&tip).unwrap()["sub/file"], b"nested\n");

        // With (small) side-band: the pack on channel 1 in pkt-lines of at
        // most 1000 bytes, then a flush. A big blob makes several of them.
        // Incompressible bytes (xorshift), so the pack stays big.
        let mut x = 0x9e37_79b9_u32;
        let big: Vec<u8> = (0..50_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let tip = h.commit("main", &[("big", Some(&big))], &me(), "big", 3).unwrap();
        let (mut conn, _) = open(&stack, "git-upload-pack", "/zones.git").await;
        conn.write_all(&upload_request(&[format!("want {tip} side-band\n")])).await.unwrap();
        read_nak(&mut conn).await;
        let mut pack = Vec::new();
        let mut lines = 0;
        loop {
            let mut head = [0u8; 4];
            conn.read_exact(&mut head).await.unwrap();
            let len = usize::from_str_radix(std::str::from_utf8(&head).unwrap(), 16).unwrap();
            if len == 0 {
                break;
            }
            assert!(len <= 1000, "side-band pkt-line of {len} bytes");
            let mut data = vec![0u8; len - 4];
            conn.read_exact(&mut data).await.unwrap();
            assert_eq!(data[0], 1, "channel");
            pack.extend_from_slice(&data[1..]);
            lines += 1;
        }
        assert!(lines > 2, "{lines} lines");
        let mut repo = Repo::new();
        gitstore::pack::read_pack(&pack, &mut repo).unwrap();
        assert_eq!(repo.files(&tip).unwrap()["big"], big);

        // Asking for an object that is no ref tip is refused.
        let (mut conn, _) = open(&stack, "git-upload-pack", "/zones.git").await;
        let mut req = Vec::new();
        pkt(&mut req, format!("want {}\n", ObjectId([1; 20])).as_bytes());
        req.extend_from_slice(b"0000");
        conn.write_all(&req).await.unwrap();
        let err = read_pkts_until_eof(&mut conn).await;
        assert!(err.contains("ERR upload-pack: not our ref"), "{err}");

        // Unknown path: the client reports the server's reason.
        let git = Client::new(stack.clone());
        let remote = Remote::parse("git://10.0.0.1/absent.git").unwrap();
        match git.fetch(&remote, &mut Repo::new()).await {
            Err(Error::Remote(m)) => assert!(m.contains("no repository at /absent.git"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Unknown branch: the advertisement names the branches there are.
        let remote = Remote::parse("git://10.0.0.1/zones.git#nope").unwrap();
        match git.fetch(&remote, &mut Repo::new()).await {
            Err(e @ Error::RefNotFound { .. }) => assert!(e.to_string().contains("branches: main"), "{e}"),
            other => panic!("{other:?}"),
        }
        // An empty repository: a push creates the branch.
        let remote = Remote::parse("git://10.0.0.1/empty.git").unwrap();
        let mut repo = Repo::new();
        let root = repo.commit(None, &[("f", Some(b"1\n"))], &me(), "root", 1).unwrap();
        git.push(&remote, &mut repo, None, root).await.unwrap();
        assert_eq!(empty.branch("main"), Some(root));
    });
}

async fn read_pkts_until_eof(conn: &mut TcpStream) -> String {
    let mut all = Vec::new();
    conn.read_to_end(&mut all).await.unwrap();
    String::from_utf8_lossy(&all).into_owned()
}

/// A server offering `shallow` (GitServer::with_shallow) with `h` at /zones.git.
fn start_shallow(server: &Host, client: &Host, h: &Hosted) -> Stack {
    let s = server.stack(&[&format!("--ipv4={SERVER_IP}/24")]).unwrap();
    let listener = s.tcp_listen(addr()).unwrap();
    let git = GitServer::new().with_shallow();
    git.add("/zones.git", h.clone());
    server.spawn(async move { git.serve(listener).await });
    client.stack(&["--ipv4=10.0.0.2/24"]).unwrap()
}

/// 50 commits, each rewriting `history`; the first also adds `_keys`.
fn long_hosted() -> (Hosted, Vec<ObjectId>) {
    let h = Hosted::new();
    let mut ids = vec![h.commit("main", &[("_keys", Some(b"keys\n"))], &me(), "keys", 1).unwrap()];
    for i in 1..50 {
        let line = format!("line {i}\n");
        ids.push(h.commit("main", &[("history", Some(line.as_bytes()))], &me(), "more", 1 + i).unwrap());
    }
    (h, ids)
}

#[test]
fn shallow_first_fetch_then_incremental_and_push() {
    let (w, server, client) = world(21);
    let (h, ids) = long_hosted();
    w.run(async {
        let stack = start_shallow(&server, &client, &h);
        let remote = Remote::parse(URL).unwrap();
        let git = Client::new(stack);
        let mut repo = Repo::new();
        // The tip alone: the commit, its tree, two blobs.
        let first = git.fetch(&remote, &mut repo).await.unwrap();
        assert_eq!((first.tip, first.objects), (ids[49], 4));
        assert_eq!(repo.shallow().collect::<Vec<_>>(), [&ids[49]]);
        assert_eq!(repo.files(&first.tip).unwrap(), h.with_repo(|r| r.files(&ids[49]).unwrap()));

        // Two more on the server: the next fetch gets their 2 × 3 objects.
        h.commit("main", &[("history", Some(b"51\n"))], &me(), "51", 60).unwrap();
        let tip = h.commit("main", &[("history", Some(b"52\n"))], &me(), "52", 61).unwrap();
        let second = git.fetch(&remote, &mut repo).await.unwrap();
        assert_eq!((second.tip, second.objects), (tip, 6));
        assert_eq!(repo.shallow().collect::<Vec<_>>(), [&ids[49]], "still cut at the first tip");

        // A push from the shallow repository lands whole on the server.
        let ours = repo.commit(Some(tip), &[("_keys", None), ("new", Some(b"n\n"))], &me(), "ours", 70).unwrap();
        git.push(&remote, &mut repo, Some(tip), ours).await.unwrap();
        assert_eq!(h.branch("main"), Some(ours));
        assert_eq!(h.with_repo(|r| r.files(&ours).unwrap()), repo.files(&ours).unwrap());
        assert_eq!(h.with_repo(|r| r.commit_info(&ours).unwrap().parents), [tip]);
    });
}

#[test]
fn deepen_sends_the_shallow_update() {
    let (w, server, client) = world(22);
    let (h, ids) = long_hosted();
    w.run(async {
        let stack = start_shallow(&server, &client, &h);
        let (mut conn, advert) = open(&stack, "git-upload-pack", "/zones.git").await;
        assert!(advert[0].contains(" shallow"), "{advert:?}");
        // A client cut at ids[48] deepens to 3 from the tip ids[49]: ids[47]
        // becomes its boundary and ids[48] gets its parent.
        let req = upload_request(&[
            format!("want {} shallow\n", ids[49]),
            format!("shallow {}\n", ids[48]),
            "deepen 3\n".to_string(),
        ]);
        conn.write_all(&req).await.unwrap();
        let update: Vec<String> = read_pkts(&mut conn).await.iter().map(|d| text(d)).collect();
        assert_eq!(update, [format!("shallow {}", ids[47]), format!("unshallow {}", ids[48])]);
        read_nak(&mut conn).await;
        let (repo, objects) = read_raw_pack(&mut conn).await;
        // Three commits (49, 48, 47) with their trees and `history` blobs, and `_keys`.
        assert_eq!(objects, 10);
        assert!(repo.contains(&ids[47]) && !repo.contains(&ids[46]));

        // A depth of 0 asks for nothing: refused with the reason.
        let (mut conn, _) = open(&stack, "git-upload-pack", "/zones.git").await;
        let mut req = Vec::new();
        pkt(&mut req, format!("want {} shallow\n", ids[49]).as_bytes());
        pkt(&mut req, b"deepen 0\n");
        req.extend_from_slice(b"0000");
        conn.write_all(&req).await.unwrap();
        let err = read_pkts_until_eof(&mut conn).await;
        assert!(err.contains("ERR bad depth"), "{err}");
    });
}
