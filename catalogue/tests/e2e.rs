//! The catalogue as a new user meets it: a published catalogue served over
//! HTTP, `appliance list/info/fetch/verify/run`, and every refusal of issue 9
//! (tampered image, tampered or unsigned catalogue, wrong key, unknown name,
//! a download cut short, a device the host can't give).
//!
//! Needs a published catalogue and the tender, so it is ignored by default;
//! the CI hvt stage runs it after `cargo xtask publish --prebuilt`:
//! `APPLIANCE_TEST_CATALOGUE=DIR APPLIANCE_TEST_KEY=PKCS8 HVT_TENDER=PATH
//! cargo test -p appliance --test e2e -- --ignored`. The `run` test also needs
//! root, iproute2 and curl (it boots the Piñata in a network namespace).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use testkit::{NetNs, Proc};

const TOOL: &str = env!("CARGO_BIN_EXE_appliance");

/// A copy of the published catalogue in a fresh directory, its key, a cache.
struct Lab {
    dir: PathBuf,
    published: PathBuf,
    public_key: String,
    cache: PathBuf,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let src = PathBuf::from(
            std::env::var("APPLIANCE_TEST_CATALOGUE")
                .expect("APPLIANCE_TEST_CATALOGUE=DIR (made by `cargo xtask publish --prebuilt --out DIR`)"),
        );
        let key = std::fs::read(std::env::var("APPLIANCE_TEST_KEY").expect("APPLIANCE_TEST_KEY=the PKCS#8 key used"))
            .unwrap();
        let (_, public) = appliance::sign(&key, b"").unwrap();
        let dir = std::env::temp_dir().join(format!("appliance-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let published = dir.join("catalogue");
        std::fs::create_dir_all(published.join("images")).unwrap();
        for f in [appliance::CATALOGUE_FILE, appliance::SIGNATURE_FILE] {
            std::fs::copy(src.join(f), published.join(f)).unwrap();
        }
        for e in std::fs::read_dir(src.join("images")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), published.join("images").join(e.file_name())).unwrap();
        }
        Lab { cache: dir.join("cache"), dir, published, public_key: appliance::base64(&public) }
    }

    fn tool(&self, catalogue: &str, args: &[&str]) -> Output {
        Command::new(TOOL)
            .args(["--catalogue", catalogue, "--cache"])
            .arg(&self.cache)
            .args(["--public-key", &self.public_key])
            .args(args)
            .output()
            .unwrap()
    }

    fn file_url(&self) -> String {
        format!("file://{}/", self.published.display())
    }

    fn image_of(&self, name: &str) -> PathBuf {
        let catalogue: appliance::Catalogue =
            serde_json::from_slice(&std::fs::read(self.published.join("catalogue.json")).unwrap()).unwrap();
        self.published.join(&catalogue.find(name).unwrap().image)
    }

    /// Files in the cache's image folder (none may be a bootable name unless verified).
    fn cached(&self) -> Vec<String> {
        match std::fs::read_dir(self.cache.join("images")) {
            Ok(d) => d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
            Err(_) => vec![],
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ok(out: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "expected success, got {}:\n{text}", out.status);
    text
}

fn refused(out: &Output, expect: &str) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "expected a refusal, got success:\n{text}");
    assert!(text.contains(expect), "expected `{expect}` in:\n{text}");
    text
}

/// An HTTP/1.1 file server with `Range` support, on 127.0.0.1. With `cut_at`,
/// image bodies stop after that many bytes and the connection is closed (a
/// network failure mid-download).
struct Server {
    port: u16,
    cut_at: Arc<AtomicU64>,
}

impl Server {
    fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut_at = Arc::new(AtomicU64::new(u64::MAX));
        let (root, cut) = (root.to_path_buf(), cut_at.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (root, cut) = (root.clone(), cut.clone());
                std::thread::spawn(move || serve(conn, &root, cut.load(Ordering::SeqCst)));
            }
        });
        Server { port, cut_at }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

fn serve(conn: TcpStream, root: &Path, cut_at: u64) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut from = 0u64;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            from = v.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/');
    let mut conn = conn;
    let Ok(body) = std::fs::read(root.join(path)) else {
        let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let len = body.len() as u64;
    let head = if from > 0 {
        format!("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{len}\r\n", len - 1)
    } else {
        "HTTP/1.1 200 OK\r\n".to_string()
    };
    let _ = conn.write_all(format!("{head}Content-Length: {}\r\nConnection: close\r\n\r\n", len - from).as_bytes());
    let mut rest = &body[from as usize..];
    if path.starts_with("images/") && cut_at < rest.len() as u64 {
        rest = &rest[..cut_at as usize];
    }
    let _ = conn.write_all(rest);
}

#[test]
#[ignore = "needs a published catalogue and the tender; run by the CI hvt stage"]
fn list_info_fetch_verify_over_http() {
    let lab = Lab::new("fetch");
    let server = Server::start(&lab.published);
    let url = server.url();
    let list = ok(&lab.tool(&url, &["list"]));
    assert!(list.contains("pinata") && list.contains("service:net"), "{list}");
    let info = ok(&lab.tool(&url, &["info", "pinata"]));
    assert!(info.contains("--secret=TEXT") && info.contains("source commit:"), "{info}");

    // Cut the download half-way: an error, a partial file that is not the image.
    let size = std::fs::metadata(lab.image_of("pinata")).unwrap().len();
    server.cut_at.store(size / 2, Ordering::SeqCst);
    refused(&lab.tool(&url, &["fetch", "pinata"]), "run the command again to resume");
    assert_eq!(lab.cached(), vec!["pinata-0.1.0.hvt.part".to_string()]);
    // Then the rest, resumed from where it stopped.
    server.cut_at.store(u64::MAX, Ordering::SeqCst);
    let fetched = ok(&lab.tool(&url, &["fetch", "pinata"]));
    assert!(fetched.contains(&format!("resuming {url}images/pinata-")), "{fetched}");
    assert!(fetched.contains("SHA-256 verified"), "{fetched}");
    let path = fetched.lines().find(|l| l.ends_with(".hvt")).unwrap().trim().to_string();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(lab.image_of("pinata")).unwrap());
    let verified = ok(&lab.tool(&url, &["verify", &path]));
    assert!(verified.contains("pinata@0.1.0 as published"), "{verified}");

    refused(&lab.tool(&url, &["fetch", "nosuch"]), "no appliance `nosuch` in the catalogue");
    refused(&lab.tool("http://127.0.0.1:1/", &["list"]), "cannot download");
}

#[test]
#[ignore = "needs a published catalogue; run by the CI hvt stage"]
fn tampered_images_and_catalogues_are_refused() {
    let lab = Lab::new("tamper");
    let url = lab.file_url();
    ok(&lab.tool(&url, &["list"]));

    // One byte of the image: the download is deleted, nothing bootable left.
    let image = lab.image_of("pinata");
    let mut bytes = std::fs::read(&image).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&image, &bytes).unwrap();
    refused(&lab.tool(&url, &["fetch", "pinata"]), "the download was deleted");
    assert!(lab.cached().is_empty(), "left behind: {:?}", lab.cached());
    refused(&lab.tool(&url, &["verify", image.to_str().unwrap()]), "but the catalogue says");
    refused(&lab.tool(&url, &["run", "pinata", "--tender", "/bin/true"]), "the download was deleted");

    // One byte of the catalogue.
    let json_path = lab.published.join(appliance::CATALOGUE_FILE);
    let original = std::fs::read(&json_path).unwrap();
    let mut json = original.clone();
    let at = json.len() / 2;
    json[at] ^= 0x01;
    std::fs::write(&json_path, &json).unwrap();
    refused(&lab.tool(&url, &["list"]), "signature does not verify");
    std::fs::write(&json_path, &original).unwrap();

    // Signed by another key, and unsigned.
    let other = appliance::base64(&appliance::sign(&appliance::generate_key().unwrap(), b"").unwrap().1);
    let out = Command::new(TOOL).args(["--catalogue", &url, "--public-key", &other, "list"]).output().unwrap();
    refused(&out, "signature does not verify");
    std::fs::remove_file(lab.published.join(appliance::SIGNATURE_FILE)).unwrap();
    refused(&lab.tool(&url, &["list"]), "unsigned");
}

#[test]
#[ignore = "needs a published catalogue; run by the CI hvt stage"]
fn a_device_the_host_cannot_give_is_named() {
    let lab = Lab::new("device");
    let key = appliance::generate_key().unwrap();
    let json_path = lab.published.join(appliance::CATALOGUE_FILE);
    let mut catalogue: appliance::Catalogue = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let entry = catalogue.appliances.iter_mut().find(|e| e.name == "pinata").unwrap();
    entry.devices.push(appliance::Device { name: "gpu0".into(), kind: "gpu".into() });
    let json = serde_json::to_vec(&catalogue).unwrap();
    let (sig, public) = appliance::sign(&key, &json).unwrap();
    std::fs::write(&json_path, &json).unwrap();
    std::fs::write(lab.published.join(appliance::SIGNATURE_FILE), sig).unwrap();
    let out = Command::new(TOOL)
        .args(["--catalogue", &lab.file_url(), "--cache"])
        .arg(&lab.cache)
        .args(["--public-key", &appliance::base64(&public), "run", "pinata", "--tender", "/bin/true"])
        .output()
        .unwrap();
    refused(&out, "asks for a device `gpu0` of kind `gpu`, which this host can't give");
}

#[test]
#[ignore = "needs a published catalogue, the tender and root; run by the CI hvt stage"]
fn run_pinata_and_read_its_rules_page() {
    let lab = Lab::new("run");
    let tender = testkit::hvt::tender();
    let ns = NetNs::unique("app-run").expect("needs root and iproute2");
    ns.ip(&["link", "set", "lo", "up"]).unwrap();
    let mut cmd = ns.cmd(TOOL);
    cmd.args(["--catalogue", &lab.file_url(), "--cache"])
        .arg(&lab.cache)
        .args(["--public-key", &lab.public_key, "run", "pinata", "--engine", "process", "--mem", "32", "--tender"])
        .arg(&tender)
        .args(["--", "--secret=catalogue-e2e-secret"]);
    let mut child = Proc::spawn(&mut cmd, "appliance run");
    // The tender's console: wait for the Piñata's ready line.
    child.wait_for("the Piñata's ready line", |l| l.contains(" ready: "));
    let page = Command::new("ip")
        .args(["netns", "exec", ns.name(), "curl", "-sS", "--max-time", "20", "http://10.0.0.2/"])
        .output()
        .unwrap();
    child.kill();
    let seen = child.output();
    let body = String::from_utf8_lossy(&page.stdout);
    assert!(page.status.success(), "curl failed: {}", String::from_utf8_lossy(&page.stderr));
    assert!(body.contains("BEGIN CERTIFICATE"), "no CA certificate on the rules page:\n{body}");
    assert!(!body.contains("catalogue-e2e-secret"), "the secret is on the page");
    assert!(seen.contains("starting on hvt"), "{seen}");
}
