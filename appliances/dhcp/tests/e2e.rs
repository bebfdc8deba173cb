//! End-to-end tests of the unix DHCP server with real clients in network namespaces
//! (scenarios in `common/mod.rs`; root and Debian packages `busybox isc-dhcp-client
//! isc-dhcp-relay iproute2`). `tests/hvt.rs` runs the same scenarios on the hvt image.

#[macro_use]
mod common;

use std::process::Command;

use common::{Backend, Lab, Server};

dhcp_scenarios!(Backend::unix(env!("CARGO_BIN_EXE_dhcp")));

/// A bad setting is refused with a message naming it; a foreign block
/// device is reported and left alone unless --format.
#[test]
fn bad_settings_and_foreign_storage_are_refused() {
    let lab = Lab::new(&Backend::unix(env!("CARGO_BIN_EXE_dhcp")), "refuse", 0);
    let run = |extra: &[&str]| {
        let block = format!("--block:storage={}", lab.dir.path("leases.img").display());
        let mut args = vec!["netns", "exec", lab.server_ns.name(), env!("CARGO_BIN_EXE_dhcp"), "--net:service=tap0"];
        args.extend_from_slice(&["--ipv4=10.77.0.1/24", &block, "--status-port=0"]);
        args.extend_from_slice(extra);
        let out = Command::new("ip").args(&args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, out) = run(&["--range=10.77.0.100,10.77.0.300"]);
    assert_ne!(code, Some(0));
    assert!(out.contains("--range") && out.contains("10.77.0.300"), "{out}");
    let (code, out) = run(&["--range=10.77.0.100,10.77.0.120", "--option=router,nope"]);
    assert_ne!(code, Some(0));
    assert!(out.contains("--option"), "{out}");
    let foreign: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(lab.dir.path("leases.img"), &foreign).unwrap();
    let (code, out) = run(&["--range=10.77.0.100,10.77.0.120"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not a lease log") && out.contains("--format"), "{out}");
    assert_eq!(std::fs::read(lab.dir.path("leases.img")).unwrap(), foreign, "the foreign device was written");
    // With --format it is replaced and the server comes up.
    let mut server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.120", "--format"]);
    assert!(server.alive());
}

/// `--conf=FILE`: settings from a file, merged with the command line; a
/// malformed line is refused naming the file, the line and the setting.
#[test]
fn settings_from_a_config_file() {
    let lab = Lab::new(&Backend::unix(env!("CARGO_BIN_EXE_dhcp")), "conf", 2);
    let conf = lab.dir.path("dhcp.conf");
    let text = format!(
        "# test configuration\nrange=10.77.0.120,10.77.0.129,5m\n\nhost={},10.77.0.8,laptop\nlease-time=7m\n",
        lab.clients[1].mac
    );
    std::fs::write(&conf, text).unwrap();
    let conf_arg = format!("--conf={}", conf.display());
    // The command line adds a second range.
    let server = Server::start(&lab, &[&conf_arg, "--range=10.77.0.130,10.77.0.139,5m"]);
    for i in [0, 1] {
        let mut c = lab.udhcpc(i, &["-q", "-n", "-t", "10", "-T", "1"]);
        assert!(c.wait().unwrap().success(), "udhcpc {i} got no lease");
    }
    let bound = |i: usize| lab.events(i).into_iter().find(|l| l.starts_with("bound")).unwrap();
    assert!(common::in_range(lab.wait_event(0, "bound", 1), 120, 129), "{}", bound(0));
    assert_eq!(common::field(&bound(0), "lease"), "300");
    assert_eq!(lab.wait_event(1, "bound", 1), std::net::Ipv4Addr::new(10, 77, 0, 8));
    assert_eq!(common::field(&bound(1), "lease"), "420", "lease-time from the file");
    let leases = lab.leases();
    assert!(leases.iter().any(|(_, mac, name)| *mac == lab.clients[1].mac && name == "laptop"), "{leases:?}");

    drop(server); // frees the tap

    // A malformed line: exit 2, the message names the file, line and setting.
    std::fs::write(&conf, "range=10.77.0.120,10.77.0.129\n# fine so far\nrange=10.77.0.200,10.77.0.300\n").unwrap();
    let block = format!("--block:storage={}", lab.dir.path("leases.img").display());
    let out = Command::new("ip")
        .args(["netns", "exec", lab.server_ns.name(), env!("CARGO_BIN_EXE_dhcp"), "--net:service=tap0"])
        .args(["--ipv4=10.77.0.1/24", &block, "--status-port=0", &conf_arg])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let named = format!("{} line 3: range=10.77.0.200,10.77.0.300", conf.display());
    assert!(text.contains(&named), "{text}");
}
