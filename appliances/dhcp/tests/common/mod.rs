//! End-to-end scenarios with real clients: busybox `udhcpc`, ISC `dhclient`
//! and `dhcrelay` (Debian packages `busybox`, `isc-dhcp-client`,
//! `isc-dhcp-relay`, `iproute2`; needs root), against the server on a
//! [`Backend`]: the unix binary (`tests/e2e.rs`) or `dist/dhcp.hvt` under the
//! tender's process engine (`tests/hvt.rs`), both attached to the same tap.
//!
//! Topology, all in namespaces each test makes (test traffic never leaves
//! them): a server namespace holding the tap the server attaches
//! (netstack on the tap) and a bridge `br0` joining that tap to one veth per
//! client; every client runs in its own namespace on the other end of its
//! veth, as interface `eth0` with a fixed MAC. `br0` carries 10.77.0.2, from
//! which the tests read the status page and send garbage. Waits poll for
//! lines or files with a deadline, never a fixed sleep.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use testkit::TempDir;
use testkit::rng::Rng;
pub use testkit::wait::{WAIT, until, until_ctx};
use testkit::{NetNs, Proc};

pub const SERVER: &str = "10.77.0.1";
pub const BRIDGE_IP: &str = "10.77.0.2";

pub use testkit::tool::require_tool as require;

fn require_tools() {
    require("busybox", &["udhcpc", "--help"], "busybox");
    require("dhclient", &["--version"], "isc-dhcp-client");
    require("ip", &["-V"], "iproute2");
}

pub use testkit::Backend;

/// The command line (run inside the server namespace) of the server on `tap0` with
/// lease storage `block` and appliance arguments `args`.
fn server_argv(backend: &Backend, block: &Path, args: &[&str]) -> Vec<OsString> {
    let storage = format!("--block:storage={}", block.display());
    backend.argv(&[], &["--net:service=tap0", &storage], args)
}

/// The running server: its output lines and process; killed on drop.
pub struct Server {
    proc: Proc,
}

impl Server {
    pub fn start(lab: &Lab, extra: &[&str]) -> Server {
        let mut args = vec!["--ipv4=10.77.0.1/24", "--option=dns-server,10.77.0.53", "--domain=example.lan"];
        if !extra.iter().any(|a| a.starts_with("--option=router")) {
            args.push("--option=router,10.77.0.1");
        }
        args.extend_from_slice(extra);
        let argv = server_argv(&lab.backend, &lab.dir.path("leases.img"), &args);
        let (program, rest) = argv.split_first().expect("a program");
        let mut cmd = lab.server_ns.cmd(program);
        cmd.args(rest);
        let mut s = Server { proc: Proc::spawn(&mut cmd, "dhcp") };
        s.wait_for("the readiness line", |l| l.contains("; ready"));
        if lab.backend.is_hvt() {
            // The image, not a host binary, answered.
            s.wait_for("the hvt boot line", |l| l.contains("starting on hvt"));
        }
        s
    }

    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.proc.wait_for(what, pred)
    }

    pub fn alive(&mut self) -> bool {
        self.proc.alive()
    }

    pub fn kill9(&mut self) {
        self.proc.kill(); // SIGKILL
    }
}

/// Namespaces: the server's (tap0 + br0) and one per client.
pub struct Lab {
    pub backend: Backend,
    pub dir: TempDir,
    pub server_ns: NetNs,
    pub clients: Vec<Client>,
}

pub struct Client {
    pub ns: NetNs,
    pub mac: String,
    pub events: PathBuf,
}

const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# Records what udhcpc was told and configures the address (renewals are unicast from it).
echo "$1 ip=$ip mask=$mask router=$router dns=$dns lease=$lease serverid=$serverid domain=$domain" >> "$EVENTS"
# The address is left in place on deconfig: udhcpc runs the script right
# after sending its RELEASE, which may still wait for ARP, and removing the
# address would drop it.
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;
esac
exit 0
"#;

const DHCLIENT_SCRIPT: &str = r#"#!/bin/sh
echo "$reason ip=$new_ip_address mask=$new_subnet_mask router=$new_routers lease=$new_dhcp_lease_time" >> "$EVENTS"
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip addr flush dev "$interface"; ip addr add "$new_ip_address/24" dev "$interface" ;;
  # Not on RELEASE: dhclient runs the script while its RELEASE may still
  # wait for ARP, and removing the address would drop it.
  EXPIRE|FAIL|STOP) ip addr flush dev "$interface" ;;
esac
exit 0
"#;

impl Lab {
    pub fn new(backend: &Backend, tag: &str, clients: usize) -> Lab {
        require_tools();
        let dir = TempDir::new(tag);
        std::fs::write(dir.path("leases.img"), vec![0u8; 1 << 20]).unwrap();
        std::fs::write(dir.path("udhcpc.sh"), UDHCPC_SCRIPT).unwrap();
        assert!(Command::new("chmod").arg("+x").arg(dir.path("udhcpc.sh")).status().unwrap().success());
        let server_ns = NetNs::unique("dhcp-s").expect("the DHCP e2e tests need root and iproute2");
        server_ns.tap_on_bridge("tap0", "br0", &format!("{BRIDGE_IP}/24")).unwrap();
        let mut lab = Lab { backend: backend.clone(), dir, server_ns, clients: Vec::new() };
        for _ in 0..clients {
            lab.add_client();
        }
        lab
    }

    pub fn add_client(&mut self) -> usize {
        let i = self.clients.len();
        let ns = NetNs::unique("dhcp-c").unwrap();
        let (outside, inside) = (format!("vs{i}"), format!("vc{i}"));
        let s = &self.server_ns;
        s.ip(&["link", "add", &outside, "type", "veth", "peer", "name", &inside]).unwrap();
        s.ip(&["link", "set", &inside, "netns", ns.name()]).unwrap();
        s.ip(&["link", "set", &outside, "master", "br0"]).unwrap();
        s.ip(&["link", "set", &outside, "up"]).unwrap();
        let mac = format!("02:dd:00:00:{:02x}:{:02x}", i / 256, i % 256);
        ns.ip(&["link", "set", &inside, "name", "eth0"]).unwrap();
        ns.ip(&["link", "set", "eth0", "address", &mac]).unwrap();
        ns.ip(&["link", "set", "lo", "up"]).unwrap();
        ns.ip(&["link", "set", "eth0", "up"]).unwrap();
        let events = self.dir.path(&format!("events-{i}"));
        self.clients.push(Client { ns, mac, events });
        i
    }

    /// Runs udhcpc in client `i` (extra arguments appended); killed on drop.
    pub fn udhcpc(&self, i: usize, extra: &[&str]) -> Reaped {
        let c = &self.clients[i];
        let script = self.dir.path("udhcpc.sh");
        let mut args = vec!["netns", "exec", c.ns.name(), "busybox", "udhcpc", "-i", "eth0", "-f"];
        let script = script.to_str().unwrap();
        args.extend_from_slice(&["-s", script]);
        args.extend_from_slice(extra);
        Command::new("ip")
            .args(&args)
            .env("EVENTS", &c.events)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Reaped)
            .expect("run udhcpc")
    }

    pub fn dhclient(&self, i: usize, extra: &[&str]) -> std::process::Output {
        let c = &self.clients[i];
        // dhclient runs its script with a clean environment: name the file in it.
        let script = self.dir.path(&format!("dhclient-{i}.sh"));
        let body = DHCLIENT_SCRIPT.replacen("\n", &format!("\nEVENTS='{}'\n", c.events.display()), 1);
        std::fs::write(&script, body).unwrap();
        assert!(Command::new("chmod").arg("+x").arg(&script).status().unwrap().success());
        let lf = self.dir.path(&format!("dhclient-{i}.leases"));
        let pf = self.dir.path(&format!("dhclient-{i}.pid"));
        let mut args = vec!["netns", "exec", c.ns.name(), "dhclient", "-4", "-1"];
        let (script, lf, pf) = (script.to_str().unwrap(), lf.to_str().unwrap(), pf.to_str().unwrap());
        args.extend_from_slice(&["-sf", script, "-lf", lf, "-pf", pf]);
        args.extend_from_slice(extra);
        args.push("eth0");
        Command::new("ip").args(&args).env("EVENTS", &c.events).output().expect("run dhclient")
    }

    pub fn events(&self, i: usize) -> Vec<String> {
        std::fs::read_to_string(&self.clients[i].events).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// Waits for the `n`-th event of client `i` starting with `kind`; returns its ip=.
    pub fn wait_event(&self, i: usize, kind: &str, n: usize) -> Ipv4Addr {
        let ctx = || self.events(i).join("\n");
        let line = until_ctx(&format!("event {kind} #{n} of client {i}"), ctx, || {
            self.events(i).into_iter().filter(|l| l.starts_with(&format!("{kind} "))).nth(n - 1)
        });
        field(&line, "ip").parse().unwrap_or_else(|_| panic!("no address in {line}"))
    }

    /// Runs `f` on a thread inside the server namespace.
    pub fn in_server_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.server_ns.in_ns(f)
    }

    pub fn status_page(&self) -> String {
        self.in_server_ns(|| {
            let mut s = TcpStream::connect((SERVER, 80)).expect("connect to the status page");
            s.set_read_timeout(Some(WAIT)).unwrap();
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
    }

    /// The server's lease listing: (address, mac, hostname).
    pub fn leases(&self) -> Vec<(Ipv4Addr, String, String)> {
        let body = self.status_page();
        let body = body.split("\r\n\r\n").nth(1).unwrap_or_else(|| panic!("not HTTP: {body}"));
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].parse().unwrap(), f[1].to_string(), f[3].to_string())
            })
            .collect()
    }
}

/// A client process, killed when the test ends (also when it fails).
pub struct Reaped(Child);

impl Reaped {
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the dhclient daemon of client `i` when the test ends.
pub struct DhclientStopper<'a>(pub &'a Lab, pub usize);

impl Drop for DhclientStopper<'_> {
    fn drop(&mut self) {
        let pf = self.0.dir.path(&format!("dhclient-{}.pid", self.1));
        if let Some(pid) = std::fs::read_to_string(pf).ok().and_then(|p| p.trim().parse::<u32>().ok()) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

pub fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}="))).unwrap_or("")
}

pub fn in_range(a: Ipv4Addr, lo: u8, hi: u8) -> bool {
    let o = a.octets();
    o[..3] == [10, 77, 0] && (lo..=hi).contains(&o[3])
}

/// udhcpc: obtain (4-way), renew (SIGUSR1: unicast REQUEST), release
/// (SIGUSR2), and re-obtain the same address.
pub fn udhcpc_obtains_renews_releases_and_reobtains(backend: &Backend) {
    let lab = Lab::new(backend, "udhcpc", 1);
    let mut server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.149,2m"]);
    let client = lab.udhcpc(0, &["-t", "10", "-T", "1"]);
    let pid = client.id().to_string();
    let a = lab.wait_event(0, "bound", 1);
    assert!(in_range(a, 100, 149), "{a}");
    let granted = format!("lease {a} granted to {} for 120s", lab.clients[0].mac);
    server.wait_for("the lease log line", |l| l.contains(&granted));
    let bound = lab.events(0).into_iter().find(|l| l.starts_with("bound")).unwrap();
    assert_eq!(field(&bound, "router"), SERVER, "{bound}");
    assert_eq!(field(&bound, "dns"), "10.77.0.53", "{bound}");
    assert_eq!(field(&bound, "domain"), "example.lan", "{bound}");
    assert_eq!(field(&bound, "lease"), "120", "{bound}");
    assert_eq!(field(&bound, "serverid"), SERVER, "{bound}");
    assert!(lab.leases().iter().any(|(ip, mac, _)| *ip == a && *mac == lab.clients[0].mac));

    // Renew: udhcpc unicasts a REQUEST with ciaddr from its configured address.
    Command::new("kill").args(["-USR1", &pid]).status().unwrap();
    assert_eq!(lab.wait_event(0, "renew", 1), a);

    // Release: the lease leaves the listing.
    Command::new("kill").args(["-USR2", &pid]).status().unwrap();
    let ctx = || format!("{}\n{}", lab.events(0).join("\n"), lab.status_page());
    until_ctx("the released lease to leave the listing", ctx, || {
        (!lab.leases().iter().any(|(ip, _, _)| *ip == a)).then_some(())
    });

    // Re-obtain: the same address comes back.
    Command::new("kill").args(["-USR1", &pid]).status().unwrap();
    assert_eq!(lab.wait_event(0, "bound", 2), a);
    drop(client);
}

/// ISC dhclient: obtain, restart from its lease file (INIT-REBOOT), release.
pub fn dhclient_obtains_reboots_and_releases(backend: &Backend) {
    let lab = Lab::new(backend, "dhclient", 1);
    let _server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.149,10m"]);
    let _stop = DhclientStopper(&lab, 0);
    let out = lab.dhclient(0, &[]);
    assert!(out.status.success(), "dhclient failed: {}", String::from_utf8_lossy(&out.stderr));
    let a = lab.wait_event(0, "BOUND", 1);
    assert!(in_range(a, 100, 149), "{a}");
    // Stop it without releasing, then start again: it asks for its
    // remembered address (INIT-REBOOT) and gets it.
    let out = lab.dhclient(0, &["-x"]);
    assert!(out.status.success(), "dhclient -x: {}", String::from_utf8_lossy(&out.stderr));
    let out = lab.dhclient(0, &[]);
    assert!(out.status.success(), "dhclient: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lab.wait_event(0, "REBOOT", 1), a);
    let out = lab.dhclient(0, &["-r"]);
    assert!(out.status.success(), "dhclient -r: {}", String::from_utf8_lossy(&out.stderr));
    let ctx = || format!("{}\n{}", lab.events(0).join("\n"), lab.status_page());
    until_ctx("the released lease to leave the listing", ctx, || {
        (!lab.leases().iter().any(|(ip, _, _)| *ip == a)).then_some(())
    });
}

/// A reservation by MAC gives that address and name, outside the range too.
pub fn static_reservation_by_mac(backend: &Backend) {
    let lab = Lab::new(backend, "host", 2);
    let host = format!("--host={},10.77.0.7,printer", lab.clients[1].mac);
    let _server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.149", &host]);
    for i in [0, 1] {
        let mut c = lab.udhcpc(i, &["-q", "-n", "-t", "10", "-T", "1"]);
        assert!(c.wait().unwrap().success(), "udhcpc {i} got no lease");
    }
    assert!(in_range(lab.wait_event(0, "bound", 1), 100, 149));
    assert_eq!(lab.wait_event(1, "bound", 1), Ipv4Addr::new(10, 77, 0, 7));
    let leases = lab.leases();
    assert!(
        leases.contains(&(Ipv4Addr::new(10, 77, 0, 7), lab.clients[1].mac.clone(), "printer".into())),
        "{leases:?}"
    );
}

/// Five clients at once on a range of four: four distinct addresses, one
/// client goes without.
pub fn clients_never_share_an_address(backend: &Backend) {
    let lab = Lab::new(backend, "share", 5);
    let _server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.103"]);
    let mut children: Vec<Reaped> = (0..5).map(|i| lab.udhcpc(i, &["-q", "-n", "-t", "4", "-T", "1"])).collect();
    let ok: Vec<bool> = children.iter_mut().map(|c| c.wait().unwrap().success()).collect();
    assert_eq!(ok.iter().filter(|o| **o).count(), 4, "{ok:?}");
    let mut got: Vec<Ipv4Addr> = (0..5).filter(|i| ok[*i]).map(|i| lab.wait_event(i, "bound", 1)).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 4, "two clients share an address: {got:?}");
    assert!(got.iter().all(|a| in_range(*a, 100, 103)));
}

/// kill -9 during a burst of leases, restart on the same block file: every
/// lease a client was told is still held for that client, and new clients
/// get other addresses.
pub fn kill_during_burst_loses_no_acknowledged_lease(backend: &Backend) {
    const N: usize = 16;
    let mut lab = Lab::new(backend, "crash", N);
    let mut server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.199,1h"]);
    let mut children: Vec<Reaped> = (0..N).map(|i| lab.udhcpc(i, &["-q", "-t", "30", "-T", "1"])).collect();
    until("some leases granted", || {
        ((0..N).filter(|i| lab.events(*i).iter().any(|l| l.starts_with("bound"))).count() >= 4).then_some(())
    });
    server.kill9();
    let told_before: Vec<(usize, Ipv4Addr)> = (0..N)
        .filter_map(|i| {
            lab.events(i).iter().find(|l| l.starts_with("bound ")).map(|l| (i, field(l, "ip").parse().unwrap()))
        })
        .collect();
    assert!(!told_before.is_empty());
    drop(server);
    let _server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.199,1h"]);
    // The clients still waiting finish against the restarted server.
    for c in &mut children {
        assert!(c.wait().unwrap().success(), "a client got no lease after the restart");
    }
    let told: Vec<(usize, Ipv4Addr)> = (0..N).map(|i| (i, lab.wait_event(i, "bound", 1))).collect();
    let leases = lab.leases();
    for (i, a) in &told {
        assert!(
            leases.iter().any(|(ip, mac, _)| ip == a && *mac == lab.clients[*i].mac),
            "client {i} was told {a} but the server lists {leases:?}"
        );
    }
    let mut addrs: Vec<Ipv4Addr> = told.iter().map(|(_, a)| *a).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), N, "an address was given to two clients: {told:?}");
    // New clients never get an address somebody was told.
    for _ in 0..3 {
        let i = lab.add_client();
        let mut c = lab.udhcpc(i, &["-q", "-n", "-t", "10", "-T", "1"]);
        assert!(c.wait().unwrap().success());
        let a = lab.wait_event(i, "bound", 1);
        assert!(!addrs.contains(&a), "new client {i} got {a}, already held");
    }
    eprintln!("{} leases told before the kill, {N} after the restart", told_before.len());
}

/// Garbage, truncated and malformed DHCP packets to port 67 (unicast and
/// broadcast) never stop the server; a real client is served afterwards.
pub fn malformed_and_truncated_packets_never_stop_the_server(backend: &Backend) {
    let lab = Lab::new(backend, "garbage", 1);
    let mut server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.149"]);
    let mut valid = vec![0u8; 240];
    valid[0] = 1;
    valid[1] = 1;
    valid[2] = 6;
    valid[28..34].copy_from_slice(&[2, 0xee, 0, 0, 0, 1]);
    valid[236..240].copy_from_slice(&[99, 130, 83, 99]);
    valid.extend_from_slice(&[53, 1, 1, 61, 7, 1, 2, 0xee, 0, 0, 0, 1, 55, 3, 1, 3, 6, 255]);
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for n in 0..valid.len() {
        packets.push(valid[..n].to_vec());
    }
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..400 {
        let len = (rnd() % 600) as usize;
        let mut p: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        if rnd() % 2 == 0 && p.len() >= 240 {
            // Keep the header plausible so the option parser is exercised.
            p[..240].copy_from_slice(&valid[..240]);
            p[2] = (rnd() % 40) as u8;
        }
        packets.push(p);
    }
    for (code, len) in [(53u8, 0u8), (50, 3), (54, 200), (61, 0), (55, 255), (82, 1), (52, 1), (52, 3)] {
        let mut p = valid[..243].to_vec();
        p.extend_from_slice(&[code, len, 1, 2]);
        packets.push(p);
    }
    let sent = lab.in_server_ns(|| {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_broadcast(true).unwrap();
        let mut sent = 0;
        for p in &packets {
            for to in [SERVER, "10.77.0.255"] {
                if s.send_to(p, (to, 67)).is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    });
    assert!(sent > 1000, "only {sent} garbage datagrams sent");
    assert!(server.alive(), "dhcp died on garbage");
    let mut c = lab.udhcpc(0, &["-q", "-n", "-t", "10", "-T", "1"]);
    assert!(c.wait().unwrap().success(), "no lease after the garbage");
    assert!(in_range(lab.wait_event(0, "bound", 1), 100, 149));
    assert!(server.alive());
}

/// ISC `dhcrelay` (Debian package isc-dhcp-relay) relays from a second
/// subnet: the client there gets an address of that subnet's range and its
/// router, and the relay's agent information (option 82, `-a`) comes back.
pub fn relayed_client_gets_an_address_of_the_relay_subnet(backend: &Backend) {
    require("dhcrelay", &["--version"], "isc-dhcp-relay");
    let mut lab = Lab::new(backend, "relay", 0);
    // Router namespace: up0 on the server's bridge, down0 towards the client.
    let router = NetNs::unique("dhcp-r").unwrap();
    let s = &lab.server_ns;
    s.ip(&["link", "add", "vr0", "type", "veth", "peer", "name", "up0"]).unwrap();
    s.ip(&["link", "set", "up0", "netns", router.name()]).unwrap();
    s.ip(&["link", "set", "vr0", "master", "br0"]).unwrap();
    s.ip(&["link", "set", "vr0", "up"]).unwrap();
    let client = NetNs::unique("dhcp-c").unwrap();
    router.ip(&["link", "add", "down0", "type", "veth", "peer", "name", "eth0"]).unwrap();
    router.ip(&["link", "set", "eth0", "netns", client.name()]).unwrap();
    router.ip(&["link", "set", "lo", "up"]).unwrap();
    router.ip(&["addr", "add", "10.77.0.254/24", "dev", "up0"]).unwrap();
    router.ip(&["addr", "add", "10.88.0.1/24", "dev", "down0"]).unwrap();
    router.ip(&["link", "set", "up0", "up"]).unwrap();
    router.ip(&["link", "set", "down0", "up"]).unwrap();
    client.ip(&["link", "set", "eth0", "address", "02:dd:00:00:88:01"]).unwrap();
    client.ip(&["link", "set", "lo", "up"]).unwrap();
    client.ip(&["link", "set", "eth0", "up"]).unwrap();
    let events = lab.dir.path("events-relay");
    lab.clients.push(Client { ns: client, mac: "02:dd:00:00:88:01".into(), events });

    let _server = Server::start(
        &lab,
        &[
            "--range=10.77.0.100,10.77.0.149",
            "--range=10.88.0.100,10.88.0.149,255.255.255.0,30m",
            "--option=router,10.77.0.1,10.88.0.1",
        ],
    );
    let pidfile = lab.dir.path("dhcrelay.pid");
    let mut relay = Command::new("ip")
        .args(["netns", "exec", router.name(), "dhcrelay", "-4", "-d", "-a", "-pf"])
        .arg(&pidfile)
        .args(["-id", "down0", "-iu", "up0", SERVER])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run dhcrelay");
    let mut c = lab.udhcpc(0, &["-q", "-n", "-t", "15", "-T", "1"]);
    let ok = c.wait().unwrap().success();
    let _ = relay.kill();
    let _ = relay.wait();
    assert!(ok, "no lease through the relay");
    let a = lab.wait_event(0, "bound", 1);
    let o = a.octets();
    assert!(o[..3] == [10, 88, 0] && (100..=149).contains(&o[3]), "{a}");
    let bound = lab.events(0).into_iter().find(|l| l.starts_with("bound")).unwrap();
    assert_eq!(field(&bound, "router"), "10.88.0.1", "{bound}");
    assert_eq!(field(&bound, "lease"), "1800", "{bound}");
    assert!(lab.leases().iter().any(|(ip, mac, _)| *ip == a && mac == "02:dd:00:00:88:01"));
}

/// `--probe=arp`: a host that is not a DHCP client already uses the first
/// address of the range (a static address); the server's ARP probe finds it,
/// quarantines the address and offers the next one.
pub fn probe_skips_an_address_in_use(backend: &Backend) {
    let lab = Lab::new(backend, "probe", 2);
    // Client 1 is the squatter: a static address, no DHCP.
    let squatter = &lab.clients[1];
    squatter.ns.ip(&["addr", "add", "10.77.0.100/24", "dev", "eth0"]).unwrap();
    let mut server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.109", "--probe=arp"]);
    let mut c = lab.udhcpc(0, &["-q", "-n", "-t", "10", "-T", "1"]);
    assert!(c.wait().unwrap().success(), "udhcpc got no lease with probing on");
    let a = lab.wait_event(0, "bound", 1);
    assert!(in_range(a, 101, 109), "got {a}, which the squatter uses");
    let claimed = format!("address 10.77.0.100 is in use by {}", squatter.mac);
    server.wait_for("the probe to find the squatter", |l| l.contains(&claimed));
    assert!(!lab.leases().iter().any(|(ip, _, _)| *ip == Ipv4Addr::new(10, 77, 0, 100)));
}

pub fn mac_bytes(mac: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (b, h) in m.iter_mut().zip(mac.split(':')) {
        *b = u8::from_str_radix(h, 16).unwrap();
    }
    m
}

/// A client message as RFC 2131 §2 lays it out: BOOTREQUEST, Ethernet,
/// the broadcast flag set (so that replies reach a socket on the bridge,
/// §4.1), then the message type (option 53) and `opts`.
pub fn dhcp_packet(kind: u8, mac: [u8; 6], xid: u32, ciaddr: Ipv4Addr, opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![0u8; 240];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10] = 0x80;
    p[12..16].copy_from_slice(&ciaddr.octets());
    p[28..34].copy_from_slice(&mac);
    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, kind]);
    for (code, v) in opts {
        p.push(*code);
        p.push(v.len() as u8);
        p.extend_from_slice(v);
    }
    p.push(255);
    p
}

const DISCOVER: u8 = 1;
const OFFER: u8 = 2;
const REQUEST: u8 = 3;
const DECLINE: u8 = 4;
const ACK: u8 = 5;
const NAK: u8 = 6;
const RELEASE: u8 = 7;

fn server_id() -> (u8, Vec<u8>) {
    (54, SERVER.parse::<Ipv4Addr>().unwrap().octets().to_vec())
}

/// A DECLINE of `addr` from `mac` (RFC 2131 table 5: requested address and
/// server identifier).
pub fn decline(mac: [u8; 6], addr: Ipv4Addr) -> Vec<u8> {
    dhcp_packet(DECLINE, mac, 0xdec1_0000, Ipv4Addr::UNSPECIFIED, &[(50, addr.octets().to_vec()), server_id()])
}

/// A RELEASE of `addr` (in ciaddr) from `mac` naming `server`.
pub fn release(mac: [u8; 6], addr: Ipv4Addr, server: Ipv4Addr) -> Vec<u8> {
    dhcp_packet(RELEASE, mac, 0x7e1e_0000, addr, &[(54, server.octets().to_vec())])
}

/// Sends `packets` to port 67 from the bridge, to the server's address and
/// to the subnet broadcast in turn.
pub fn send_raw(lab: &Lab, packets: &[Vec<u8>]) {
    let sent = lab.in_server_ns(|| {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_broadcast(true).unwrap();
        let mut sent = 0;
        for (i, p) in packets.iter().enumerate() {
            let to = if i % 2 == 0 { SERVER } else { "10.77.0.255" };
            if s.send_to(p, (to, 67)).is_ok() {
                sent += 1;
            }
        }
        sent
    });
    assert_eq!(sent, packets.len(), "not every packet was sent");
}

/// The message type and yiaddr of a reply to `xid`, if it is one.
fn parse_reply(p: &[u8]) -> Option<(u32, [u8; 6], u8, Ipv4Addr)> {
    if p.len() < 240 || p[0] != 2 || p[236..240] != [99, 130, 83, 99] {
        return None;
    }
    let xid = u32::from_be_bytes(p[4..8].try_into().unwrap());
    let yiaddr = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let mac: [u8; 6] = p[28..34].try_into().unwrap();
    let mut i = 240;
    while i + 1 < p.len() && p[i] != 255 {
        if p[i] == 0 {
            i += 1;
            continue;
        }
        if p[i] == 53 && p[i + 1] == 1 {
            return p.get(i + 2).map(|k| (xid, mac, *k, yiaddr));
        }
        i += 2 + usize::from(p[i + 1]);
    }
    None
}

/// Every client of `macs` does the 4-way exchange at once, as fast as the
/// server answers, from the bridge (broadcast replies to port 68); lost
/// packets are retried for a few rounds. Returns each client's ACKed
/// address, or None when it got no offer or a NAK.
pub fn storm(lab: &Lab, macs: &[[u8; 6]]) -> Vec<Option<Ipv4Addr>> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Discovering,
        Requesting(Ipv4Addr),
        Acked(Ipv4Addr),
        Naked,
    }
    lab.in_server_ns(|| {
        let s = UdpSocket::bind("0.0.0.0:68").expect("bind port 68 on the bridge");
        s.set_broadcast(true).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_millis(700))).unwrap();
        let xid = |i: usize| 0x5707_0000 + i as u32;
        let ask = |i: usize, st: St| match st {
            St::Discovering => Some(dhcp_packet(DISCOVER, macs[i], xid(i), Ipv4Addr::UNSPECIFIED, &[])),
            St::Requesting(a) => Some(dhcp_packet(
                REQUEST,
                macs[i],
                xid(i),
                Ipv4Addr::UNSPECIFIED,
                &[(50, a.octets().to_vec()), server_id()],
            )),
            _ => None,
        };
        let mut state = vec![St::Discovering; macs.len()];
        for _round in 0..4 {
            for (i, st) in state.iter().enumerate() {
                if let Some(p) = ask(i, *st) {
                    s.send_to(&p, ("10.77.0.255", 67)).unwrap();
                }
            }
            let mut buf = [0u8; 1500];
            // Until the server has been quiet for a while.
            while let Ok(n) = s.recv(&mut buf) {
                let Some((x, mac, kind, yiaddr)) = parse_reply(&buf[..n]) else { continue };
                let Some(i) = (0..macs.len()).find(|i| xid(*i) == x && macs[*i] == mac) else { continue };
                state[i] = match (state[i], kind) {
                    (St::Discovering, OFFER) => {
                        let next = St::Requesting(yiaddr);
                        s.send_to(&ask(i, next).unwrap(), ("10.77.0.255", 67)).unwrap();
                        next
                    }
                    (St::Requesting(a), ACK) if a == yiaddr => St::Acked(a),
                    (St::Requesting(_), NAK) => St::Naked,
                    (st, _) => st,
                };
            }
        }
        state.into_iter().map(|st| if let St::Acked(a) = st { Some(a) } else { None }).collect()
    })
}

/// RFC 2131 §4.3.3/§4.3.4, issue 14 item 7: a stranger cannot starve the pool. Forged
/// DECLINEs of every address (random hardware addresses) quarantine nothing; forged
/// RELEASEs and DECLINEs of a real client's lease leave it leased (the owner renews and
/// keeps it); after a flood of DISCOVERs that never REQUEST, a storm of 140 random
/// clients on the 100-address pool: 100 leases, 40 go without, the server stays up; addresses their holders release are leased again;
/// the reservation goes to its owner throughout.
pub fn forged_declines_and_releases_never_starve_the_pool(backend: &Backend) {
    let lab = Lab::new(backend, "starve", 2);
    let host = format!("--host={},10.77.0.9,resv", lab.clients[0].mac);
    let mut server = Server::start(&lab, &["--range=10.77.0.100,10.77.0.199,1h", &host]);
    let mut rng = Rng::new(0x0d1c_f00d_5eed_0001);
    let pool: Vec<Ipv4Addr> = (100..=199).map(|l| Ipv4Addr::new(10, 77, 0, l)).collect();
    let reserved = Ipv4Addr::new(10, 77, 0, 9);
    let mut flood = Vec::new();
    for _ in 0..5 {
        flood.extend(pool.iter().chain([&reserved]).map(|a| decline(rng.mac(), *a)));
    }
    send_raw(&lab, &flood);

    // The reservation's owner and a pool client, both real (udhcpc).
    let mut c = lab.udhcpc(0, &["-q", "-n", "-t", "10", "-T", "1"]);
    assert!(c.wait().unwrap().success(), "the reservation's owner got no lease");
    assert_eq!(lab.wait_event(0, "bound", 1), reserved);
    let owner = lab.udhcpc(1, &["-t", "10", "-T", "1"]);
    let live = lab.wait_event(1, "bound", 1);
    assert!(in_range(live, 100, 199), "{live}");
    // Forged: strangers; the owner's chaddr without its client identifier (udhcpc sends
    // 01+MAC, RFC 2132 §9.14); the owner naming another server.
    let owner_mac = mac_bytes(&lab.clients[1].mac);
    let other_server = Ipv4Addr::new(10, 77, 0, 254);
    let mut forged = Vec::new();
    for _ in 0..20 {
        forged.push(release(rng.mac(), live, SERVER.parse().unwrap()));
        forged.push(decline(rng.mac(), live));
    }
    forged.push(release(owner_mac, live, SERVER.parse().unwrap()));
    forged.push(decline(owner_mac, live));
    let id = [vec![1], owner_mac.to_vec()].concat();
    forged.push(dhcp_packet(RELEASE, owner_mac, 1, live, &[(54, other_server.octets().to_vec()), (61, id.clone())]));
    let decline_other = [(50, live.octets().to_vec()), (54, other_server.octets().to_vec()), (61, id)];
    forged.push(dhcp_packet(DECLINE, owner_mac, 2, Ipv4Addr::UNSPECIFIED, &decline_other));
    send_raw(&lab, &forged);
    let listed = |a: Ipv4Addr| lab.leases().iter().any(|(ip, _, _)| *ip == a);
    let leases = lab.leases();
    assert!(leases.iter().any(|(a, m, _)| *a == live && *m == lab.clients[1].mac), "forged lost it: {leases:?}");
    Command::new("kill").args(["-USR1", &owner.id().to_string()]).status().unwrap();
    assert_eq!(lab.wait_event(1, "renew", 1), live, "the owner did not keep its lease");
    assert!(listed(live));
    // The real holder releases: the address is free for the storm.
    Command::new("kill").args(["-USR2", &owner.id().to_string()]).status().unwrap();
    until("the released lease to leave the listing", || (!listed(live)).then_some(()));
    drop(owner);

    // Strangers that only DISCOVER, never REQUEST: 200 of them, twice the pool.
    let discovers: Vec<Vec<u8>> =
        (0..200).map(|i| dhcp_packet(DISCOVER, rng.mac(), 0xd15c_0000 + i, Ipv4Addr::UNSPECIFIED, &[])).collect();
    send_raw(&lab, &discovers);

    let clients: Vec<[u8; 6]> = (0..140).map(|_| rng.mac()).collect();
    let got = storm(&lab, &clients);
    assert!(server.alive(), "the server died in the storm");
    let mut leased: Vec<Ipv4Addr> = got.iter().flatten().copied().collect();
    leased.sort();
    leased.dedup();
    assert_eq!(leased, pool, "the storm's leases are not the whole pool, once each");
    assert_eq!(got.iter().filter(|a| a.is_none()).count(), 40);

    // Forged RELEASEs and DECLINEs against all of them: still all leased, still full.
    let forged: Vec<Vec<u8>> =
        pool.iter().flat_map(|a| [release(rng.mac(), *a, SERVER.parse().unwrap()), decline(rng.mac(), *a)]).collect();
    send_raw(&lab, &forged);
    assert_eq!(storm(&lab, &[rng.mac()]), vec![None], "a forged RELEASE or DECLINE freed an address");
    let held = |l: &[(Ipv4Addr, String, String)]| l.iter().filter(|(a, _, _)| in_range(*a, 100, 199)).count();
    assert_eq!(held(&lab.leases()), 100);

    // Twenty holders release (RFC 2131 §4.3.4); twenty of the unserved get exactly those.
    let mut freed: Vec<Ipv4Addr> = Vec::new();
    let holders: Vec<usize> = (0..140).filter(|i| got[*i].is_some()).take(20).collect();
    let releases: Vec<Vec<u8>> = holders
        .iter()
        .map(|i| {
            freed.push(got[*i].unwrap());
            release(clients[*i], got[*i].unwrap(), SERVER.parse().unwrap())
        })
        .collect();
    send_raw(&lab, &releases);
    until("the released leases to leave the listing", || (held(&lab.leases()) == 80).then_some(()));
    let unserved: Vec<[u8; 6]> = (0..140).filter(|i| got[*i].is_none()).map(|i| clients[i]).take(20).collect();
    let mut again: Vec<Ipv4Addr> = storm(&lab, &unserved).into_iter().map(|a| a.expect("no lease")).collect();
    again.sort();
    freed.sort();
    assert_eq!(again, freed);

    // The reservation still goes to its owner.
    let mut c = lab.udhcpc(0, &["-q", "-n", "-t", "10", "-T", "1"]);
    assert!(c.wait().unwrap().success(), "the reservation's owner got no lease at the end");
    assert_eq!(lab.wait_event(0, "bound", 2), reserved);
    assert!(server.alive());
}

// Every scenario above, as `dhcp_scenarios!(BACKEND, #[attrs]...)` for the test files of
// each backend (`tests/e2e.rs`, `tests/hvt.rs`).
testkit::scenario_list!(
    dhcp_scenarios = common {
        udhcpc_obtains_renews_releases_and_reobtains,
        dhclient_obtains_reboots_and_releases,
        static_reservation_by_mac,
        clients_never_share_an_address,
        kill_during_burst_loses_no_acknowledged_lease,
        malformed_and_truncated_packets_never_stop_the_server,
        relayed_client_gets_an_address_of_the_relay_subnet,
        probe_skips_an_address_in_use,
        forged_declines_and_releases_never_starve_the_pool,
    }
);
