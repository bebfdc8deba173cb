//! End-to-end tests of the Piñata as an hvt unikernel (`dist/pinata.hvt`) under
//! our tender's process engine, with 32 MiB of guest memory, attached to a tap
//! device in a network namespace each test creates. The real clients
//! (`openssl s_client`/`s_server`, `curl`) run inside that namespace with
//! `ip netns exec`; raw TCP helpers run on threads that entered it. All traffic
//! stays inside the namespace.
//!
//! Needs (the tests fail, never pass, without them):
//! - root, iproute2, openssl and curl;
//! - the image: `cargo xtask image pinata` (or `HVT_PINATA_IMAGE=PATH`);
//! - the tender binary: `HVT_TENDER=PATH`, else `tender` built in `target`,
//!   `tender/target`, `$CARGO_TARGET_DIR` or on `PATH`.
//!
//! Ignored by default because they need those artefacts; run them with
//! `cargo test -p pinata --test hvt -- --ignored` after building them.

mod clients;
mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};

use clients::*;
use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
use support::*;
use testkit::certs::{CertFiles, EXPIRED, VALID, ca as other_ca, self_signed_cert, signed_cert};
use testkit::{Appliance, Backend, NetNs, TempDir};

/// The guest's address and the namespace's side of the tap.
const GUEST: &str = "10.79.0.2";
const HOST: &str = "10.79.0.1";
/// The default ports: on hvt the Piñata listens on its real ports.
const SERVER: u16 = 10000;
const CONNECT_BACK: u16 = 10001;
const CLIENT: u16 = 10002;
const TARGET: u16 = 40001;

/// The Piñata image running under the tender in its own namespace; killed on
/// drop, then the namespace is deleted.
struct HvtPinata {
    app: Appliance,
    /// Its console (stdout and stderr).
    log: Lines,
    secret: String,
    ns: NetNs,
}

impl HvtPinata {
    /// Boots the image (with `--test` if `test`) and waits for its ready line and the
    /// hvt boot line.
    fn boot(test: bool, extra: &[&str]) -> HvtPinata {
        require_tools();
        let backend = Backend::hvt("pinata");
        let ns = NetNs::unique("pin-hvt").expect("the hvt tests need root and iproute2");
        ns.ip(&["tuntap", "add", "tap0", "mode", "tap"]).unwrap();
        ns.ip(&["addr", "add", &format!("{HOST}/24"), "dev", "tap0"]).unwrap();
        ns.ip(&["link", "set", "tap0", "up"]).unwrap();
        ns.ip(&["link", "set", "lo", "up"]).unwrap();
        let secret = unique_secret();
        let mut args = vec![format!("--ipv4={GUEST}/24"), format!("--secret={secret}")];
        args.extend(extra.iter().map(|a| a.to_string()));
        if test {
            args.push("--test".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = backend.command(Some(&ns), &["--mem=32"], &["--net:service=tap0"], &args);
        let app = Appliance::boot(&backend, cmd, "pinata.hvt", "the ready line", |l| l.contains(" ready: "));
        let log = app.proc.lines.clone();
        HvtPinata { app, log, secret, ns }
    }

    fn ns(&self) -> Option<&str> {
        Some(self.ns.name())
    }

    /// Runs `f` on a thread inside the namespace.
    fn inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.ns.enter_current_thread().unwrap();
                f()
            })
            .join()
            .expect("thread inside the namespace panicked")
        })
    }

    /// Asserts the guest still runs and the secret never reached its console.
    fn check(&mut self) {
        assert!(self.app.alive(), "the guest stopped:\n{}", self.log.text());
        self.assert_secret_not_logged();
    }

    fn assert_secret_not_logged(&self) {
        let text = self.log.text();
        assert!(!text.contains(&self.secret), "the secret appeared on the console:\n{text}");
    }

    /// Connects to the connect-back port and waits for the Piñata to close.
    fn trigger_connect_back(&self) {
        self.inside(|| {
            let addr: SocketAddr = format!("{GUEST}:{CONNECT_BACK}").parse().unwrap();
            let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
            assert!(sink.is_empty(), "the connect-back port sent data");
        })
    }
}

impl Drop for HvtPinata {
    fn drop(&mut self) {
        self.app.kill();
        if !std::thread::panicking() {
            self.assert_secret_not_logged();
        }
    }
}

/// Normal mode: the rules page over 80 and 443 (curl trusts the CA served on
/// /ca.pem), and no path to the secret without a CA-signed certificate.
#[test]
#[ignore = "needs root, dist/pinata.hvt and the tender; see the module docs"]
fn hvt_rules_page_and_refusals() {
    let mut pinata = HvtPinata::boot(false, &[]);
    let ns = pinata.ns();
    let dir = TempDir::new("hvt-refuse");

    let page = curl_in(ns, &[&format!("http://{GUEST}/")]);
    assert!(page.contains("Piñata") && page.contains("BEGIN CERTIFICATE"), "{page}");
    assert!(page.contains(&format!("<strong>{GUEST}</strong>")), "{page}");
    assert!(!page.contains("TEST MODE"), "{page}");
    let ca = curl_in(ns, &[&format!("http://{GUEST}/ca.pem")]);
    assert!(ca.trim_start().starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let ca_path = dir.path("ca.pem");
    std::fs::write(&ca_path, ca.trim()).unwrap();
    let resolve = format!("pinata.local:443:{GUEST}");
    let secure = curl_in(ns, &["--cacert", path_str(&ca_path), "--resolve", &resolve, "https://pinata.local/"]);
    assert!(secure.contains("Piñata") && secure.contains("BEGIN CERTIFICATE"), "{secure}");
    let untrusted = curl_in(ns, &["--resolve", &resolve, "https://pinata.local/"]);
    assert!(!untrusted.contains("BEGIN CERTIFICATE"), "curl trusted the page without the CA:\n{untrusted}");
    pinata.log.wait_for("an HTTPS request line", |l| l.contains("port 443 peer") && l.contains("GET / 200"));

    // 10000: no certificate, self-signed, another CA claiming the Piñata CA's name.
    let cases: Vec<(&str, Option<CertFiles>)> = vec![
        ("no certificate", None),
        ("self-signed", Some(self_signed_cert(&dir, "self", ClientAuth))),
        (
            "forged Piñata CA name",
            Some(signed_cert(&dir, "forged", &other_ca(pinata_core::pki::CA_NAME), ClientAuth, VALID)),
        ),
        ("public test CA", Some(signed_cert(&dir, "testca", &test_ca(), ClientAuth, VALID))),
    ];
    let mut failures = 0;
    for (what, cert) in &cases {
        for version in ["-tls1_3", "-tls1_2"] {
            let out = s_client_to(ns, GUEST, SERVER, cert.as_ref(), &[version]);
            assert!(!out.contains(&pinata.secret), "{what} {version}: got the secret:\n{out}");
            failures += 1;
            pinata.log.wait_for_nth(&format!("a refusal of {what} {version}"), failures, handshake_failed_on(SERVER));
        }
    }
    let refusal = pinata.log.wait_for("the no-certificate refusal", handshake_failed_on(SERVER));
    assert!(refusal.contains("TLSv1_3") && refusal.contains("no certificates"), "{refusal}");

    // 10001: a connect-back to an s_server with a self-signed certificate.
    let server_cert = self_signed_cert(&dir, "server", ServerAuth);
    let server = SServer::start_at(ns, HOST, TARGET, &server_cert);
    pinata.trigger_connect_back();
    let line = pinata.log.wait_for("connect-back refusal", handshake_failed_on(CONNECT_BACK));
    assert!(line.contains(&format!("{HOST}:{TARGET}")), "{line}");
    assert!(!server.out.text().contains(&pinata.secret));

    assert_eq!(pinata.log.count(|l| l.contains("secret sent")), 0, "{}", pinata.log.text());
    let page = curl_in(ns, &[&format!("http://{GUEST}/")]);
    assert!(
        page.contains(&format!("<tr><td>{SERVER}</td><td>tls-server</td><td>8</td><td>0</td><td>8</td>")),
        "{page}"
    );
    pinata.check();
}

/// Test mode (the fixed test CA whose key is public): a certificate the test
/// signs with that key wins on 10000, 10001 and 10002; an expired one does not.
#[test]
#[ignore = "needs root, dist/pinata.hvt and the tender; see the module docs"]
fn hvt_test_mode_positive_paths() {
    let mut pinata = HvtPinata::boot(true, &[]);
    let ns = pinata.ns();
    let dir = TempDir::new("hvt-win");
    let page = curl_in(ns, &[&format!("http://{GUEST}/")]);
    assert!(page.contains("TEST MODE"), "{page}");

    // 10000, TLS 1.3 and 1.2.
    let good = signed_cert(&dir, "good", &test_ca(), ClientAuth, VALID);
    for (n, version) in ["-tls1_3", "-tls1_2"].into_iter().enumerate() {
        let out = s_client_to(ns, GUEST, SERVER, Some(&good), &[version]);
        assert!(out.contains(&pinata.secret), "{version}: no secret:\n{out}");
        let line = pinata.log.wait_for_nth("secret sent", n + 1, secret_sent_on(SERVER));
        assert!(line.contains(if n == 0 { "TLSv1_3" } else { "TLSv1_2" }), "{line}");
    }
    let expired = signed_cert(&dir, "expired", &test_ca(), ClientAuth, EXPIRED);
    let out = s_client_to(ns, GUEST, SERVER, Some(&expired), &[]);
    assert!(!out.contains(&pinata.secret), "expired: got the secret:\n{out}");
    let line = pinata.log.wait_for("the expired refusal", handshake_failed_on(SERVER));
    assert!(line.to_lowercase().contains("expired"), "{line}");

    // 10001: connect-back to an s_server whose certificate the test CA signed.
    let server_cert = signed_cert(&dir, "server", &test_ca(), ServerAuth, VALID);
    let server = SServer::start_at(ns, HOST, TARGET, &server_cert);
    pinata.trigger_connect_back();
    let secret = pinata.secret.clone();
    server.out.wait_for("the secret at s_server (connect-back)", |l| l.contains(&secret));
    pinata.log.wait_for("secret sent on connect-back", secret_sent_on(CONNECT_BACK));
    drop(server);

    // 10002: relay the Piñata's TLS client to an s_server in the namespace.
    let relay_target = TARGET + 1;
    let server = SServer::start_at(ns, HOST, relay_target, &server_cert);
    let guest: SocketAddr = format!("{GUEST}:{CLIENT}").parse().unwrap();
    let target: SocketAddr = format!("{HOST}:{relay_target}").parse().unwrap();
    pinata.inside(|| relay_addrs(guest, target)).join().unwrap();
    server.out.wait_for("the secret at s_server (client port)", |l| l.contains(&secret));
    pinata.log.wait_for("secret sent on the client port", secret_sent_on(CLIENT));
    pinata.check();
}
