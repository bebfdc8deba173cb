//! Long histories against real servers (`git daemon`, `git http-backend`):
//! the first fetch is shallow (`deepen 1`), so it transfers one commit's
//! objects however long the history; later fetches are incremental (they
//! send `shallow` and `have` lines and receive only the new commits); a push
//! from the shallow repository is accepted and `git fsck` finds it clean.
//!
//! Run with `--nocapture` to see the time of the first fetch.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use gitstore::{Client, Remote, Repo, Signature};
use testkit::TempDir;
use testkit::git::*;

/// Commits in the long history.
const HISTORY: usize = 10_000;

/// A bare repository `<root>/<name>` whose `main` has `commits` commits,
/// written by `git fast-import` from a generated stream (seconds, not the
/// minutes 10,000 `git commit`s take). The first commit adds three files; each
/// later one rewrites `history` (a commit, a root tree and a blob each).
fn long_history(root: &Path, name: &str, commits: usize) -> PathBuf {
    let bare = root.join(name);
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    git(&bare, &["config", "http.receivepack", "true"]);
    let mut stream = Vec::new();
    let data = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
        out.push(b'\n');
    };
    for i in 1..=commits {
        stream.extend_from_slice(format!("commit refs/heads/main\nmark :{i}\n").as_bytes());
        stream.extend_from_slice(
            format!("committer Tester <tester@example.org> {} +0000\n", 1_600_000_000 + i).as_bytes(),
        );
        data(&mut stream, format!("commit {i}").as_bytes());
        if i > 1 {
            stream.extend_from_slice(format!("from :{}\n", i - 1).as_bytes());
        } else {
            for (path, content) in [("_keys", &b"key data\n"[..]), ("sub/dir/file", b"nested\n")] {
                stream.extend_from_slice(format!("M 100644 inline {path}\n").as_bytes());
                data(&mut stream, content);
            }
        }
        stream.extend_from_slice(b"M 100644 inline history\n");
        data(&mut stream, format!("line {i}\n").as_bytes());
    }
    let mut child = Command::new("git")
        .current_dir(&bare)
        .args(["fast-import", "--quiet"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", root)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success(), "git fast-import failed");
    assert_eq!(git(&bare, &["rev-list", "--count", "main"]), commits.to_string());
    bare
}

/// Every file of `rev` in `bare`, as git sees it (`ls-tree`, `cat-file`).
fn git_files(bare: &Path, rev: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for line in git(bare, &["ls-tree", "-r", rev]).lines() {
        let (meta, path) = line.split_once('\t').unwrap();
        let id = meta.split(' ').nth(2).unwrap();
        let out = Command::new("git").current_dir(bare).args(["cat-file", "blob", id]).output().unwrap();
        assert!(out.status.success());
        files.insert(path.to_string(), out.stdout);
    }
    files
}

/// Makes `n` commits on `main` with the git CLI in a clone and pushes them
/// in one `git push`, as someone else would. Returns the new tip.
fn push_commits_with_git_cli(bare: &Path, n: usize, tag: &str) -> String {
    let work = bare.with_extension(format!("{tag}-work"));
    let parent = bare.parent().unwrap();
    git(parent, &["clone", "-q", "-b", "main", bare.to_str().unwrap(), work.to_str().unwrap()]);
    for i in 0..n {
        std::fs::write(work.join(format!("{tag}-{i}")), format!("{tag} {i}\n")).unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", &format!("{tag} {i}")]);
    }
    git(&work, &["push", "-q", "origin", "main"]);
    let head = git(&work, &["rev-parse", "HEAD"]);
    std::fs::remove_dir_all(&work).unwrap();
    head
}

/// CPU time this thread has used (the fetch runs on it: `block_on` is a
/// single-threaded runtime), from the first field of
/// `/proc/thread-self/schedstat`, in nanoseconds: unlike wall time, it does
/// not grow when other work shares the machine.
fn thread_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    std::time::Duration::from_nanos(stat.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// The story against one server holding `bare` (a long history) at `url`.
fn long_history_story(url: &str, bare: &Path, label: &str) {
    let client = Client::new(platform_unix::host_stack());
    let remote = Remote::parse(url).unwrap();
    platform_unix::block_on(async {
        let mut repo = Repo::new();
        let (started, cpu) = (Instant::now(), thread_cpu());
        let first = client.fetch(&remote, &mut repo).await.unwrap();
        println!(
            "{label}: first fetch of {HISTORY} commits: {} objects in {:?} ({:?} CPU)",
            first.objects,
            started.elapsed(),
            thread_cpu() - cpu
        );
        assert_eq!(first.tip.to_hex(), git(bare, &["rev-parse", "main"]));
        assert_eq!(repo.files(&first.tip).unwrap(), git_files(bare, "main"));
        // One commit, its root tree, `sub`, `sub/dir` and three blobs.
        assert!(first.objects <= 7, "the first fetch received {} objects, not one commit's", first.objects);
        assert_eq!(repo.shallow().collect::<Vec<_>>(), [&first.tip], "the tip is recorded as shallow");

        // Someone pushes 3 commits; the next fetch gets only those (a commit,
        // a root tree and a blob each), though our history is cut short.
        let theirs = push_commits_with_git_cli(bare, 3, "cli");
        let (started, cpu) = (Instant::now(), thread_cpu());
        let second = client.fetch(&remote, &mut repo).await.unwrap();
        println!(
            "{label}: incremental fetch of 3 commits: {} objects in {:?} ({:?} CPU)",
            second.objects,
            started.elapsed(),
            thread_cpu() - cpu
        );
        assert_eq!((second.tip.to_hex(), second.changed), (theirs.clone(), true));
        assert_eq!(second.objects, 9, "the incremental fetch received {} objects", second.objects);
        assert_eq!(repo.files(&second.tip).unwrap(), git_files(bare, "main"));
        assert_eq!(repo.commit_info(&second.tip).unwrap().parents.len(), 1);
        let again = client.fetch(&remote, &mut repo).await.unwrap();
        assert!(!again.changed && again.objects == 0);

        // A push from the shallow repository: the server takes it, and its
        // repository is still whole.
        let me = Signature { name: "key._update.example.com".into(), email: "dns@example.com".into() };
        let ours = repo
            .commit(
                Some(second.tip),
                &[("history", Some(b"ours\n")), ("sub/dir/file", None)],
                &me,
                "ours",
                1_700_000_000,
            )
            .unwrap();
        client.push(&remote, &mut repo, Some(second.tip), ours).await.unwrap();
        assert_eq!(git(bare, &["rev-parse", "main"]), ours.to_hex());
        git(bare, &["fsck", "--strict", "--no-dangling"]);
        assert_eq!(repo.files(&ours).unwrap(), git_files(bare, "main"));
        assert_eq!(git(bare, &["rev-list", "--count", "main"]), (HISTORY + 4).to_string());
    });
}

#[test]
fn long_history_over_git_daemon() {
    let dir = TempDir::new("history-git");
    let bare = long_history(&dir.0, "zones.git", HISTORY);
    let daemon = git_daemon(&dir.0);
    long_history_story(&format!("git://127.0.0.1:{}/zones.git", daemon.port), &bare, "git://");
}

#[test]
fn long_history_over_smart_http() {
    let dir = TempDir::new("history-http");
    let bare = long_history(&dir.0, "zones.git", HISTORY);
    let server = http_server(&dir.0, None);
    long_history_story(&format!("http://127.0.0.1:{}/zones.git#main", server.port), &bare, "http://");
}
