//! The unix appliance with real clients: curl and litmus over HTTP, `git daemon`
//! as the remote, and git clones to check what an acknowledged change left there.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::git::{git, git_daemon, push_with_git_cli};
use testkit::{Proc, TempDir, free_port, require_tool};

const ALICE: &str = "alice:$2y$04$bD0NkYp8ncik5LljUWVaAOSkH.m9BPKLLT3t0LcHJ7uuua6BKFmBO";
const ABCD1: &[u8] = include_bytes!("../core/tests/data/abcd1.ics");
const ABCD3: &[u8] = include_bytes!("../core/tests/data/abcd3.ics");

struct Lab {
    dir: TempDir,
    bare: PathBuf,
    _daemon: testkit::git::GitServer,
    app: Proc,
    base: String,
}

impl Lab {
    fn start(tag: &str) -> Lab {
        require_tool("curl", &["--version"], "curl");
        let dir = TempDir::new(tag);
        let bare = dir.path("cal.git");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        let daemon = git_daemon(dir.dir());
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_caldav"));
        cmd.arg(format!("--remote=git://127.0.0.1:{}/cal.git#main", daemon.port))
            .arg(format!("--user={ALICE}"))
            .arg("--insecure-http")
            .arg(format!("--port={port}"));
        let mut app = Proc::spawn(&mut cmd, "caldav");
        app.wait_for("the serving line", |l| l.contains("caldav: serving on"));
        Lab { dir, bare, _daemon: daemon, app, base: format!("http://127.0.0.1:{port}") }
    }

    /// curl as alice: returns (status, headers+body text).
    fn curl(&self, args: &[&str], path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-i", "-u", "alice:secret", "-H", "Expect:"])
            .args(args)
            .arg(format!("{}{path}", self.base))
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    }

    fn put(&self, path: &str, file: &Path, extra: &[&str]) -> (u16, String) {
        let file = file.to_str().unwrap();
        let mut args = vec!["-T", file, "-H", "Content-Type: text/calendar"];
        args.extend_from_slice(extra);
        self.curl(&args, path)
    }

    /// A fresh clone of the remote's branch.
    fn clone(&self, name: &str) -> PathBuf {
        let to = self.dir.path(name);
        git(self.dir.dir(), &["clone", "-q", "-b", "main", self.bare.to_str().unwrap(), to.to_str().unwrap()]);
        to
    }
}

fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn changes_are_in_the_remote_when_acknowledged() {
    let lab = Lab::start("caldav-e2e");
    let ev = lab.dir.path("abcd1.ics");
    std::fs::write(&ev, ABCD1).unwrap();
    assert_eq!(lab.curl(&["-X", "MKCALENDAR"], "/alice/cal/").0, 201);
    let (status, text) = lab.put("/alice/cal/abcd1.ics", &ev, &["-H", "If-None-Match: *"]);
    assert_eq!(status, 201, "{text}");
    let etag = header(&text, "ETag").expect("PUT returns an ETag").trim_matches('"').to_string();

    // The commit is in the remote already, with the user as author and the
    // request as message; the ETag is the blob's id there.
    let clone = lab.clone("check1");
    assert_eq!(std::fs::read(clone.join("alice/cal/abcd1.ics")).unwrap(), ABCD1);
    assert_eq!(git(&clone, &["log", "-1", "--format=%an|%s"]), "alice|PUT /alice/cal/abcd1.ics");
    assert_eq!(git(&clone, &["hash-object", "alice/cal/abcd1.ics"]), etag);

    // A second creation of the same name is refused and commits nothing.
    assert_eq!(lab.put("/alice/cal/abcd1.ics", &ev, &["-H", "If-None-Match: *"]).0, 412);
    let (status, text) = lab.curl(&["-X", "PROPFIND", "-H", "Depth: 1"], "/alice/cal/");
    assert_eq!(status, 207, "{text}");
    assert!(text.contains("<D:href>/alice/cal/abcd1.ics</D:href>"), "{text}");
    assert_eq!(lab.curl(&["-X", "PROPFIND"], "/alice/cal/").0, 403, "Depth: infinity is refused");
    let (status, text) = lab.curl(&[], "/alice/cal/abcd1.ics");
    assert!(status == 200 && text.contains("SUMMARY:Event #1"), "{text}");
    assert_eq!(lab.curl(&["-u", "alice:wrong"], "/alice/cal/abcd1.ics").0, 401);

    // Someone else pushes meanwhile: our next PUT is rejected by the remote,
    // fetched, replayed on top, and acknowledged with both changes kept.
    push_with_git_cli(&lab.bare, "main", &[("alice/cal/external.ics", ABCD3)], "an external change");
    let ev3 = lab.dir.path("abcd3.ics");
    std::fs::write(&ev3, ABCD3).unwrap();
    // abcd3's UID is now in external.ics: the replay sees it and refuses (no-uid-conflict).
    let (status, text) = lab.put("/alice/cal/abcd3.ics", &ev3, &[]);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("no-uid-conflict"), "{text}");
    let changed = String::from_utf8_lossy(ABCD1).replace("Event #1", "Event #1, moved");
    std::fs::write(&ev, changed.as_bytes()).unwrap();
    let (status, text) = lab.put("/alice/cal/abcd1.ics", &ev, &["-H", &format!("If-Match: \"{etag}\"")]);
    assert_eq!(status, 204, "{text}");
    let clone = lab.clone("check2");
    assert_eq!(std::fs::read(clone.join("alice/cal/external.ics")).unwrap(), ABCD3);
    assert_eq!(std::fs::read_to_string(clone.join("alice/cal/abcd1.ics")).unwrap(), changed);
    let subjects = git(&clone, &["log", "--format=%s"]);
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        ["PUT /alice/cal/abcd1.ics", "an external change", "PUT /alice/cal/abcd1.ics", "MKCALENDAR /alice/cal/"]
    );
    assert!(lab.app.output().contains("push rejected"), "{}", lab.app.output());

    let (status, text) = lab.curl(&["-X", "DELETE"], "/alice/cal/abcd1.ics");
    assert_eq!(status, 204, "{text}");
    let clone = lab.clone("check3");
    assert!(!clone.join("alice/cal/abcd1.ics").exists());
}

#[test]
fn report_time_range_over_http() {
    let lab = Lab::start("caldav-report");
    assert_eq!(lab.curl(&["-X", "MKCALENDAR"], "/alice/cal/").0, 201);
    for (name, data) in [("abcd1.ics", ABCD1), ("abcd3.ics", ABCD3)] {
        let f = lab.dir.path(name);
        std::fs::write(&f, data).unwrap();
        assert_eq!(lab.put(&format!("/alice/cal/{name}"), &f, &[]).0, 201);
    }
    // RFC 4791 §7.8.1's range.
    let query = r#"<?xml version="1.0" encoding="utf-8" ?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20060104T000000Z" end="20060105T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"#;
    let (status, text) = lab.curl(
        &["-X", "REPORT", "-H", "Depth: 1", "-H", "Content-Type: application/xml", "--data-binary", query],
        "/alice/cal/",
    );
    assert_eq!(status, 207, "{text}");
    assert!(text.contains("/alice/cal/abcd3.ics") && !text.contains("/alice/cal/abcd1.ics"), "{text}");
    // sync-collection (RFC 6578): tokens name git commits.
    let sync = |token: &str| {
        let body = format!(
            r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#
        );
        lab.curl(&["-X", "REPORT", "--data-binary", &body], "/alice/cal/")
    };
    let (status, text) = sync("");
    assert_eq!(status, 207, "{text}");
    let token =
        text.split("<D:sync-token>").nth(1).and_then(|s| s.split("</D:sync-token>").next()).unwrap().to_string();
    assert_eq!(lab.curl(&["-X", "DELETE"], "/alice/cal/abcd1.ics").0, 204);
    let (_, text) = sync(&token);
    assert!(text.contains("<D:href>/alice/cal/abcd1.ics</D:href><D:status>HTTP/1.1 404 Not Found"), "{text}");
    assert!(!text.contains("abcd3.ics"), "{text}");
    let big = lab.dir.path("big.ics");
    std::fs::write(&big, vec![b'x'; 2 << 20]).unwrap();
    assert_eq!(lab.put("/alice/cal/big.ics", &big, &[]).0, 413);
}

/// litmus' WebDAV suites that this server passes in full (props needs PROPPATCH, not offered yet).
#[test]
fn litmus_basic_copymove_http() {
    require_tool("litmus", &["--version"], "litmus");
    let lab = Lab::start("caldav-litmus");
    // litmus writes debug.log and child.log into its working directory.
    let out = Command::new("litmus")
        .current_dir(lab.dir.dir())
        .env("TESTS", "basic copymove http")
        .args(["-k", &format!("{}/alice/", lab.base), "alice", "secret"])
        .output()
        .expect("litmus runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("<- summary for `basic': of 16 tests run: 16 passed"), "{text}");
    assert!(text.contains("<- summary for `copymove': of 13 tests run: 13 passed"), "{text}");
    assert!(text.contains("<- summary for `http': of 4 tests run: 4 passed"), "{text}");
}
