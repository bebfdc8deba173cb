//! Fetch and push against real git servers: `git daemon` (git://) and
//! `git http-backend` behind a small HTTP(S) server, checked with the git CLI.

use std::path::Path;
use std::process::Command;

use gitstore::{Authenticator, Client, Error, Remote, Repo, Signature};
use testkit::TempDir;
use testkit::certs;
use testkit::git::*;

const ZONE: &[u8] = b"$ORIGIN example.com.\n@ 3600 IN SOA ns hostmaster 1 3600 900 604800 300\n";

fn initial_files() -> Vec<(&'static str, &'static [u8])> {
    vec![("example.com", ZONE), ("_keys", b"key data\n"), ("sub/dir/file", b"nested\n")]
}

/// The whole story against one server: fetch, commit, push, check with git,
/// someone else pushes, incremental fetch, stale push refused.
fn scenario(client: &Client, url: &str, bare: &Path) {
    let remote = Remote::parse(url).unwrap();
    platform_unix::block_on(async {
        let mut repo = Repo::new();
        let first = client.fetch(&remote, &mut repo).await.unwrap();
        assert!(first.changed && first.objects > 0);
        assert_eq!(first.tip.to_hex(), git(bare, &["rev-parse", "main"]));
        let files = repo.files(&first.tip).unwrap();
        // `files` is a sorted map; compare in that order.
        let mut expected: Vec<(String, Vec<u8>)> =
            initial_files().into_iter().map(|(p, c)| (p.to_string(), c.to_vec())).collect();
        expected.sort();
        assert_eq!(files.into_iter().collect::<Vec<_>>(), expected);

        // Commit and push; git sees our author and message; fsck is clean.
        let me = Signature { name: "update-key._update.example.com".into(), email: "dns@example.com".into() };
        let changes: [(&str, Option<&[u8]>); 2] = [("example.com", Some(b"changed zone\n")), ("sub/dir/file", None)];
        let ours = repo.commit(Some(first.tip), &changes, &me, "update from 10.0.0.9", 1_700_000_000).unwrap();
        client.push(&remote, &mut repo, Some(first.tip), ours).await.unwrap();
        assert_eq!(repo.head(), Some(ours));
        assert_eq!(git(bare, &["rev-parse", "main"]), ours.to_hex());
        assert_eq!(
            git(bare, &["log", "-1", "--format=%an|%ae|%s|%at", "main"]),
            "update-key._update.example.com|dns@example.com|update from 10.0.0.9|1700000000"
        );
        git(bare, &["fsck", "--strict", "--no-dangling"]);
        assert_eq!(git(bare, &["show", "main:example.com"]), "changed zone");
        assert_eq!(git(bare, &["ls-tree", "-r", "--name-only", "main"]), "_keys\nexample.com");

        // Someone else pushes with the git CLI; our next fetch is incremental.
        let theirs = push_with_git_cli(bare, "main", &[("other.org", b"other zone\n")], "add other.org");
        let second = client.fetch(&remote, &mut repo).await.unwrap();
        assert_eq!(second.tip.to_hex(), theirs);
        assert!(second.changed);
        // Only the new commit, its root tree and the new blob: the server
        // knew what we have.
        assert!(second.objects <= 3, "incremental fetch received {} objects", second.objects);
        assert_eq!(repo.files(&second.tip).unwrap()["other.org"], b"other zone\n");
        let again = client.fetch(&remote, &mut repo).await.unwrap();
        assert!(!again.changed && again.objects == 0);

        // A push from a stale tip is refused with the reason; nothing changes.
        let stale = repo.commit(Some(ours), &[("x", Some(b"y"))], &me, "stale", 1_700_000_100).unwrap();
        match client.push(&remote, &mut repo, Some(ours), stale).await {
            Err(Error::PushRejected { reason }) => assert!(reason.contains("stale"), "{reason}"),
            other => panic!("stale push: {other:?}"),
        }
        assert_eq!(git(bare, &["rev-parse", "main"]), theirs);
    });
}

fn setup(tag: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(tag);
    let bare = make_bare_repo(&dir.0, "zones.git", "main", &initial_files());
    (dir, bare)
}

#[test]
fn git_protocol_fetch_commit_push() {
    let (dir, bare) = setup("git");
    let daemon = git_daemon(&dir.0);
    let client = Client::new(platform_unix::host_stack());
    scenario(&client, &format!("git://127.0.0.1:{}/zones.git", daemon.port), &bare);
}

#[test]
fn smart_http_fetch_commit_push() {
    let (dir, bare) = setup("http");
    let server = http_server(&dir.0, None);
    let client = Client::new(platform_unix::host_stack());
    scenario(&client, &format!("http://127.0.0.1:{}/zones.git#main", server.port), &bare);
}

fn openssl_b64_sha256(input: &[u8]) -> String {
    let mut child = Command::new("sh")
        .args(["-c", "openssl dgst -sha256 -binary | openssl base64 -A"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim().to_string()
}

fn spki_der(cert_pem: &Path) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der", cert_pem.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn https_with_pinned_fingerprints_and_trust_anchor() {
    let (dir, bare) = setup("https");
    let c = certs::ip_server_cert(&dir, [127, 0, 0, 1].into());
    let (cert, key, der) = (c.cert, c.key, c.der);
    std::fs::write(dir.path("cert.der"), &der).unwrap();
    let server = http_server(&dir.0, Some((&cert, &key)));
    let url = format!("https://127.0.0.1:{}/zones.git", server.port);
    let stack = platform_unix::host_stack();

    let cert_fp = Authenticator::parse(&format!("cert-fp:SHA256:{}", openssl_b64_sha256(&der))).unwrap();
    let client = Client::new(stack.clone()).with_authenticator(&cert_fp).unwrap();
    scenario(&client, &url, &bare);

    let remote = Remote::parse(&url).unwrap();
    let key_fp = Authenticator::parse(&format!("key-fp:SHA256:{}", openssl_b64_sha256(&spki_der(&cert)))).unwrap();
    let b64_der = {
        let out = Command::new("openssl").args(["base64", "-A", "-in"]).arg(dir.0.join("cert.der")).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let anchor = Authenticator::parse(&format!("trust-anchor:{}", b64_der.trim())).unwrap();
    let wrong = Authenticator::parse(&format!("cert-fp:SHA256:{}", openssl_b64_sha256(b"not the cert"))).unwrap();
    let wrong_key = Authenticator::parse(&format!("key-fp:SHA256:{}", openssl_b64_sha256(&der))).unwrap();
    platform_unix::block_on(async {
        for auth in [&key_fp, &anchor] {
            let client = Client::new(stack.clone()).with_authenticator(auth).unwrap();
            let fetched = client.fetch(&remote, &mut Repo::new()).await.unwrap();
            assert_eq!(fetched.tip.to_hex(), git(&bare, &["rev-parse", "main"]), "{auth:?}");
        }
        for auth in [&wrong, &wrong_key] {
            let client = Client::new(stack.clone()).with_authenticator(auth).unwrap();
            match client.fetch(&remote, &mut Repo::new()).await {
                Err(Error::Tls(msg)) => assert!(msg.contains("handshake"), "{msg}"),
                other => panic!("wrong fingerprint accepted: {other:?}"),
            }
        }
        let no_auth = Client::new(stack.clone());
        assert!(matches!(no_auth.fetch(&remote, &mut Repo::new()).await, Err(Error::Tls(_))));
    });
}

#[test]
fn missing_branch_repo_and_host_are_clear_errors() {
    let (dir, _bare) = setup("errors");
    let daemon = git_daemon(&dir.0);
    let http = http_server(&dir.0, None);
    let client = Client::new(platform_unix::host_stack());
    platform_unix::block_on(async {
        let r = Remote::parse(&format!("git://127.0.0.1:{}/zones.git#nope", daemon.port)).unwrap();
        match client.fetch(&r, &mut Repo::new()).await {
            Err(e @ Error::RefNotFound { .. }) => assert!(e.to_string().contains("branches: main"), "{e}"),
            other => panic!("{other:?}"),
        }
        let r = Remote::parse(&format!("git://127.0.0.1:{}/absent.git", daemon.port)).unwrap();
        assert!(client.fetch(&r, &mut Repo::new()).await.is_err());
        let r = Remote::parse(&format!("http://127.0.0.1:{}/absent.git", http.port)).unwrap();
        assert!(matches!(client.fetch(&r, &mut Repo::new()).await, Err(Error::HttpStatus { status: 404, .. })));
        let r = Remote::parse("git://git.example.invalid/zones.git").unwrap();
        match client.fetch(&r, &mut Repo::new()).await {
            Err(e @ Error::Resolve { .. }) => assert!(e.to_string().contains("IP address"), "{e}"),
            other => panic!("{other:?}"),
        }
    });
}
