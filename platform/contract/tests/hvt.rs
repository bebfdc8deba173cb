//! The platform contract on hvt: the contract server as a unikernel image
//! (`dist/contract.hvt`) under our tender's process engine, attached to a tap device in
//! a network namespace this test creates; the checks run from the kernel's TCP/IP stack
//! inside that namespace (host sockets of a thread that entered it).
//!
//! Needs (the test fails, never passes, without them):
//! - root and iproute2 (namespace, tap);
//! - the image: `cargo xtask image contract` (or `HVT_CONTRACT_IMAGE=PATH`);
//! - the tender binary: `HVT_TENDER=PATH`, else `tender` built in `tender/target`,
//!   `$CARGO_TARGET_DIR` or on `PATH`.
//!
//! Ignored by default because it needs those artefacts; run it with
//! `cargo test -p platform-contract --test hvt -- --ignored` after building them.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use platform_contract::Ports;
use platform_contract::checks::{self, Profile};
use testkit::{NetNs, hvt};

const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 79, 0, 2));
const BOOT_LIMIT: Duration = Duration::from_secs(60);

/// The tender with the image; killed on drop. Console lines arrive on `lines`.
struct Guest {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Guest {
    /// Waits (up to `limit`) for a console line containing `what`; fails with the log
    /// so far if the guest exits or the time runs out.
    fn wait_for(&mut self, what: &str, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(what);
                    self.log.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("no '{what}' within {limit:?}; console:\n{}", self.log.join("\n")));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    return Err(format!(
                        "the guest ended ({status}) before '{what}'; console:\n{}",
                        self.log.join("\n")
                    ));
                }
            }
        }
    }

    fn saw(&self, what: &str) -> bool {
        self.log.iter().any(|l| l.contains(what))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn boot(ns: &NetNs, image: &Path, block: &Path) -> Guest {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(hvt::tender())
        .args(["--engine=process", "--net:service=tap0"])
        .arg(format!("--block:storage={}", block.display()))
        .arg(image)
        .arg(format!("--ipv4={SERVER}/24"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start the tender");
    let out = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            println!("guest: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Guest { child, lines, log: Vec::new() }
}

#[test]
#[ignore = "needs root, dist/contract.hvt and the tender; see the module docs"]
fn contract_on_hvt_under_the_process_engine() {
    let image = hvt::image("contract", "HVT_CONTRACT_IMAGE");
    let ns = NetNs::unique("pc-hvt").expect("the hvt contract test needs root and iproute2");
    ns.ip(&["tuntap", "add", "tap0", "mode", "tap"]).unwrap();
    ns.ip(&["addr", "add", "10.79.0.1/24", "dev", "tap0"]).unwrap();
    ns.ip(&["link", "set", "tap0", "up"]).unwrap();
    ns.ip(&["link", "set", "lo", "up"]).unwrap();

    let block = std::env::temp_dir().join(format!("pc-hvt-{}.img", std::process::id()));
    std::fs::File::create(&block).and_then(|f| f.set_len(4 << 20)).expect("block file");
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _remove = Remove(block.clone());

    let mut guest = boot(&ns, &image, &block);
    guest.wait_for("ready:", BOOT_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(guest.saw("block: SUCCESS"), "the server did not pass its block check:\n{}", guest.log.join("\n"));
    assert!(guest.saw("starting on hvt"), "no boot line:\n{}", guest.log.join("\n"));

    let started = Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter_current_thread().unwrap();
            platform_unix::block_on(async {
                let stack = platform_unix::host_stack();
                checks::network(&stack, SERVER, Ports::default(), Profile::FULL).await
            })
        })
        .join()
        .expect("client thread panicked")
    });
    println!("network checks (full profile: 1,000 connections, 100 MB) took {:?}", started.elapsed());
    let still_running = guest.child.try_wait().expect("try_wait").is_none();
    if let Err(e) = result {
        panic!("contract failed on hvt: {e}");
    }
    assert!(still_running, "the guest stopped during the checks:\n{}", guest.log.join("\n"));
    drop(guest);
    drop(ns);
}
