//! A hostile git:// server: a scripted peer that advertises a branch and
//! answers the client's upload-pack request with what a test gives it
//! (malformed ACK or shallow lines, packs missing objects they promised,
//! bad side-band). Every such answer is a clear `Error`, never a panic, and
//! the repository is left exactly as it was. The honest answer, from the
//! same peer, is accepted: the script itself is right.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use gitstore::pack::write_pack;
use gitstore::{Client, Error, ObjectId, Remote, Repo, Signature};

fn me() -> Signature {
    Signature { name: "tester".into(), email: "tester@example.org".into() }
}

fn pkt(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
}

/// One pkt-line holding `payload`.
fn line(payload: &str) -> Vec<u8> {
    let mut out = Vec::new();
    pkt(&mut out, payload.as_bytes());
    out
}

/// `pack` on side-band channel 1, then the flush.
fn sideband(pack: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in pack.chunks(1000) {
        let mut payload = vec![1u8];
        payload.extend_from_slice(part);
        pkt(&mut out, &payload);
    }
    out.extend_from_slice(b"0000");
    out
}

fn read_pkt(conn: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    conn.read_exact(&mut head).ok()?;
    let len = usize::from_str_radix(std::str::from_utf8(&head).ok()?, 16).ok()?;
    let mut data = vec![0u8; len.saturating_sub(4)];
    conn.read_exact(&mut data).ok()?;
    Some(data)
}

/// One connection: the advertisement of `tip` as `main` with `caps`, then,
/// once the client's request ends ("done"), `reply`. Returns the port and
/// a handle giving the request's lines.
fn hostile_server(tip: ObjectId, caps: &str, reply: Vec<u8>) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let caps = caps.to_string();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        read_pkt(&mut conn).unwrap(); // "git-upload-pack /x\0host=…\0"
        let mut advert = Vec::new();
        pkt(&mut advert, format!("{tip} HEAD\0{caps}\n").as_bytes());
        pkt(&mut advert, format!("{tip} refs/heads/main\n").as_bytes());
        advert.extend_from_slice(b"0000");
        conn.write_all(&advert).unwrap();
        let mut request = Vec::new();
        while let Some(line) = read_pkt(&mut conn) {
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let done = line == "done";
            request.push(line);
            if done {
                break;
            }
        }
        let _ = conn.write_all(&reply);
        request
    });
    (port, handle)
}

const CAPS: &str = "shallow side-band-64k ofs-delta no-progress";

/// What the client holds (c1) and what the server's tip is (c2, on c1).
struct Histories {
    client: Repo,
    server: Repo,
    c1: ObjectId,
    c2: ObjectId,
}

fn histories() -> Histories {
    let mut server = Repo::new();
    let c1 = server.commit(None, &[("a", Some(b"one\n")), ("d/b", Some(b"two\n"))], &me(), "one", 1).unwrap();
    let mut client = server.clone();
    client.set_head(Some(c1));
    let c2 = server.commit(Some(c1), &[("c", Some(b"three\n"))], &me(), "two", 2).unwrap();
    Histories { client, server, c1, c2 }
}

/// Fetches from a hostile server that answers `reply`; returns the
/// result, the request lines and whether `repo` was left unchanged.
fn fetch_from(repo: &mut Repo, tip: ObjectId, caps: &str, reply: Vec<u8>) -> (Result<usize, Error>, Vec<String>, bool) {
    let before = (repo.len(), repo.head(), repo.shallow().copied().collect::<Vec<_>>());
    let (port, server) = hostile_server(tip, caps, reply);
    let remote = Remote::parse(&format!("git://127.0.0.1:{port}/x.git")).unwrap();
    let client = Client::new(platform_unix::host_stack());
    let result = platform_unix::block_on(client.fetch(&remote, repo)).map(|f| f.objects);
    let request = server.join().unwrap();
    let after = (repo.len(), repo.head(), repo.shallow().copied().collect::<Vec<_>>());
    (result, request, before == after)
}

fn protocol_error(result: Result<usize, Error>, expect: &str) {
    match result {
        Err(Error::Protocol(msg)) => assert!(msg.contains(expect), "{msg:?} does not say {expect:?}"),
        other => panic!("expected a protocol error saying {expect:?}, got {other:?}"),
    }
}

#[test]
fn incremental_answers_honest_and_hostile() {
    let h = histories();
    let new = h.server.missing_between(&[h.c1], &h.c2);
    let pack = write_pack(&h.server, &new).unwrap();
    let ack = |id: ObjectId| line(&format!("ACK {id}\n"));

    // Honest: an ACK per common have (as git sends), then the pack.
    let mut repo = h.client.clone();
    let reply = [ack(h.c1), ack(h.c1), sideband(&pack)].concat();
    let (result, request, _) = fetch_from(&mut repo, h.c2, CAPS, reply);
    assert_eq!(result.unwrap(), 3);
    assert!(request.contains(&format!("have {}", h.c1)), "{request:?}");
    assert!(!request.iter().any(|l| l.starts_with("deepen")), "a non-empty repository is not deepened: {request:?}");
    assert_eq!(repo.head(), Some(h.c2));

    let hostile: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed ACK", [line("ACK nothex\n"), sideband(&pack)].concat(), "bad object id"),
        ("ACK of a commit we did not offer", [ack(ObjectId([9; 20])), sideband(&pack)].concat(), "did not offer"),
        (
            "unknown ACK status",
            [line(&format!("ACK {} later\n", h.c1)), sideband(&pack)].concat(),
            "unknown ACK status",
        ),
        ("a pack without ACK or NAK", sideband(&pack), "without an ACK or NAK"),
        ("a text line that is no ACK", [line("HELLO!\n"), sideband(&pack)].concat(), "expected ACK or NAK"),
        (
            "the commit without its tree",
            [ack(h.c1), sideband(&write_pack(&h.server, &[h.c2]).unwrap())].concat(),
            "did not send tree",
        ),
        (
            "the tree without the new blob",
            {
                let ids: Vec<ObjectId> =
                    new.iter().copied().filter(|id| h.server.get(id).unwrap().kind != gitstore::Kind::Blob).collect();
                [ack(h.c1), sideband(&write_pack(&h.server, &ids).unwrap())].concat()
            },
            "did not send blob",
        ),
        ("a side-band channel 9 for the pack", [ack(h.c1), line("\x09junk")].concat(), "expected ACK or NAK"),
        (
            "a side-band channel 9 in the pack",
            [ack(h.c1), line("\x01PA"), line("\x09junk")].concat(),
            "bad side-band channel",
        ),
        ("a corrupt pack", [ack(h.c1), sideband(&pack[..pack.len() - 1])].concat(), "malformed pack"),
        ("the connection closed mid-pack", [ack(h.c1), sideband(&pack)[..100].to_vec()].concat(), "closed"),
        ("a flush instead of the pack", [ack(h.c1), b"0000".to_vec()].concat(), "before the pack"),
        ("a flood of ACKs", [ack(h.c1).repeat(100), sideband(&pack)].concat(), "too many ACK lines"),
    ];
    for (what, reply, expect) in hostile {
        let mut repo = h.client.clone();
        let (result, _, unchanged) = fetch_from(&mut repo, h.c2, CAPS, reply);
        println!("{what}: {result:?}");
        protocol_error(result, expect);
        assert!(unchanged, "{what}: the repository changed");
    }

    // The server's own errors reach the caller as such.
    let mut repo = h.client.clone();
    let (result, _, unchanged) = fetch_from(&mut repo, h.c2, CAPS, line("ERR access denied"));
    assert!(matches!(result, Err(Error::Remote(ref m)) if m == "access denied"), "{result:?}");
    assert!(unchanged);
    let mut repo = h.client.clone();
    let reply = [ack(h.c1), line("\x03out of memory")].concat();
    let (result, _, unchanged) = fetch_from(&mut repo, h.c2, CAPS, reply);
    assert!(matches!(result, Err(Error::Remote(ref m)) if m == "out of memory"), "{result:?}");
    assert!(unchanged);
}

#[test]
fn first_fetch_answers_honest_and_hostile() {
    let h = histories();
    let tip_only = h.server.missing_between(&[h.c1], &h.c2);
    // What a tip-only answer needs besides the new objects: c2's whole tree.
    let tree = h.server.commit_info(&h.c2).unwrap().tree;
    let mut ids = tip_only.clone();
    ids.extend(h.server.reachable(&[tree]));
    ids.sort();
    ids.dedup();
    let pack = write_pack(&h.server, &ids).unwrap();
    let shallow_update = |ids: &[ObjectId]| {
        let mut out = Vec::new();
        for id in ids {
            pkt(&mut out, format!("shallow {id}").as_bytes()); // git sends these without a newline
        }
        out.extend_from_slice(b"0000");
        out
    };

    // Honest: the tip is shallow; its parent is absent and that is fine.
    let mut repo = Repo::new();
    let reply = [shallow_update(&[h.c2]), line("NAK\n"), sideband(&pack)].concat();
    let (result, request, _) = fetch_from(&mut repo, h.c2, CAPS, reply);
    assert_eq!(result.unwrap(), ids.len());
    assert!(request.contains(&"deepen 1".to_string()), "{request:?}");
    assert!(request[0].contains(" shallow"), "the want asks for the capability: {request:?}");
    assert_eq!(repo.shallow().collect::<Vec<_>>(), [&h.c2]);
    assert!(!repo.contains(&h.c1));
    assert_eq!(repo.files(&h.c2).unwrap().len(), 3);

    // The next fetch is incremental: it names our shallow commit and our
    // have, and deepens no more.
    let mut server = h.server.clone();
    let c3 = server.commit(Some(h.c2), &[("e", Some(b"four\n"))], &me(), "three", 3).unwrap();
    let pack3 = write_pack(&server, &server.missing_between(&[h.c2], &c3)).unwrap();
    let reply = [line(&format!("ACK {}\n", h.c2)), sideband(&pack3)].concat();
    let (result, request, _) = fetch_from(&mut repo, c3, CAPS, reply);
    assert_eq!(result.unwrap(), 3);
    assert!(request.contains(&format!("shallow {}", h.c2)), "{request:?}");
    assert!(request.contains(&format!("have {}", h.c2)), "{request:?}");
    assert!(!request.iter().any(|l| l.starts_with("deepen")), "{request:?}");
    assert_eq!(repo.shallow().collect::<Vec<_>>(), [&h.c2]);
    assert_eq!(repo.files(&c3).unwrap().len(), 4);

    let hostile: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a malformed shallow line",
            [[line("shallow zzzz\n"), b"0000".to_vec()].concat(), line("NAK\n"), sideband(&pack)].concat(),
            "bad object id",
        ),
        (
            "a line that is neither shallow nor unshallow",
            [[line("deepen 1\n"), b"0000".to_vec()].concat(), line("NAK\n"), sideband(&pack)].concat(),
            "expected a shallow line",
        ),
        (
            "the parent is missing and the tip not marked shallow",
            [shallow_update(&[]), line("NAK\n"), sideband(&pack)].concat(),
            "did not send commit",
        ),
        (
            "a shallow commit that never came",
            [shallow_update(&[h.c2, ObjectId([5; 20])]), line("NAK\n"), sideband(&pack)].concat(),
            "did not send commit",
        ),
        (
            "unshallow of a commit that was not shallow",
            {
                let mut u = Vec::new();
                pkt(&mut u, format!("unshallow {}\n", h.c1).as_bytes());
                [u, shallow_update(&[h.c2]), line("NAK\n"), sideband(&pack)].concat()
            },
            "was not shallow",
        ),
        (
            "a flood of shallow lines",
            [line(&format!("shallow {}\n", h.c2)).repeat(5000), b"0000".to_vec(), line("NAK\n"), sideband(&pack)]
                .concat(),
            "too many shallow lines",
        ),
        ("no shallow list at all", [line("NAK\n"), sideband(&pack)].concat(), "expected a shallow line"),
    ];
    for (what, reply, expect) in hostile {
        let mut repo = Repo::new();
        let (result, _, unchanged) = fetch_from(&mut repo, h.c2, CAPS, reply);
        println!("{what}: {result:?}");
        protocol_error(result, expect);
        assert!(unchanged && repo.is_empty(), "{what}: the repository changed");
    }
}

#[test]
fn a_server_without_shallow_gets_a_full_fetch() {
    let h = histories();
    let all = h.server.missing_between(&[], &h.c2);
    let pack = write_pack(&h.server, &all).unwrap();
    let mut repo = Repo::new();
    let caps = "side-band-64k ofs-delta";
    let (result, request, _) = fetch_from(&mut repo, h.c2, caps, [line("NAK\n"), sideband(&pack)].concat());
    assert_eq!(result.unwrap(), all.len());
    assert!(!request.iter().any(|l| l.starts_with("deepen") || l.contains("shallow")), "{request:?}");
    assert!(repo.shallow().next().is_none());
    assert_eq!(repo.commit_info(&h.c2).unwrap().parents, [h.c1]);
    assert!(repo.contains(&h.c1));

    // Without side-band the raw pack follows the NAK.
    let mut repo = Repo::new();
    let (result, _, _) = fetch_from(&mut repo, h.c2, "ofs-delta", [line("NAK\n"), pack.clone()].concat());
    assert_eq!(result.unwrap(), all.len());
    // ... and a raw pack with nothing before it is refused.
    let mut repo = Repo::new();
    let (result, _, unchanged) = fetch_from(&mut repo, h.c2, "ofs-delta", pack);
    protocol_error(result, "without an ACK or NAK");
    assert!(unchanged);
}
