//! The seccomp allowlists hold only what the run loop uses: every scenario below runs the
//! tender under `strace -f`, takes the system calls issued after the filter went in, and
//! checks that (a) each one is on the engine's allowlist (else the filter would have
//! killed the tender) and (b) together the scenarios use every entry of the allowlist,
//! and for `ioctl` every allowed request. The other half — a forbidden call kills the
//! process — is `forbidden_syscall_after_start_kills_tender` in `engines.rs`.
//!
//! Needs `strace` (Debian package `strace`); without it the tests fail with a message.
//! The net scenario attaches one end of a datagram socket pair as `--net:service=@3`,
//! so it needs neither root nor a tap.

mod common;

const TENDER: &str = env!("CARGO_BIN_EXE_tender");

use common::*;
use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use tender::seccomp::{Fds, allowlist};
use testkit::TempFile;

/// System calls (and `ioctl` requests, as `ioctl:NAME`) after the filter was installed.
fn after_filter(trace: &str) -> BTreeSet<String> {
    let start = trace
        .lines()
        .position(|l| l.contains("SECCOMP_SET_MODE_FILTER") || l.contains("PR_SET_SECCOMP"))
        .unwrap_or_else(|| panic!("no seccomp filter installed in the trace:\n{trace}"));
    let mut seen = BTreeSet::new();
    for l in trace.lines().skip(start + 1) {
        // "PID  name(args) = ret", "PID  <... name resumed>...", "PID  --- SIGSEGV ...", "+++ exited"
        let rest = l.split_once(char::is_whitespace).map_or(l, |(_, r)| r).trim_start();
        let rest = rest.strip_prefix("<... ").unwrap_or(rest);
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if name.is_empty() {
            continue;
        }
        if name == "ioctl" && !rest.starts_with("<") {
            let req = rest.split(", ").nth(1).unwrap_or("?").trim_end_matches(')').to_string();
            seen.insert(format!("ioctl:{req}"));
        }
        seen.insert(name);
    }
    seen
}

/// Runs the tender under strace with `args`; `net` = attach a socket pair end as fd 3 and
/// send one UDP echo request through it.
#[allow(unsafe_code)] // the child's dup2(2) in pre_exec
fn traced(engine: &str, args: &[&str], net: bool) -> BTreeSet<String> {
    let trace = TempFile::new("strace", b"");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o", trace.path(), TENDER, &format!("--engine={engine}")]);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let pair = if net {
        let (ours, theirs) = UnixDatagram::pair().expect("socketpair");
        let fd = theirs.as_raw_fd();
        // SAFETY: runs in the forked child before exec; dup2 is async-signal-safe, and the
        // new fd 3 has no close-on-exec flag, so the tender inherits it.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        Some((ours, theirs))
    } else {
        None
    };
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run strace (install the strace package): {e}"));
    if let Some((ours, _theirs)) = &pair {
        ours.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        ours.send(&udp_echo_request()).unwrap();
        let mut buf = [0u8; 2048];
        let n = ours.recv(&mut buf).expect("no reply from the net guest");
        assert!(n >= 42 && buf[..6] == [2, 0, 0, 0, 0, 0x99], "not a reply to us: {:?}", &buf[..n]);
    }
    let out = child.wait_with_output().expect("wait");
    let text = std::fs::read_to_string(&trace.0).expect("strace output");
    assert!(
        out.status.code().is_some(),
        "tender killed under {engine} {args:?}: {:?}\n{}\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    after_filter(&text)
}

/// Ethernet + IPv4 + UDP to 10.9.0.2:7 from 10.9.0.1 (UDP checksum 0 = none).
fn udp_echo_request() -> Vec<u8> {
    let payload = b"seccomp coverage";
    let mut f = vec![2, 0, 0, 0, 0, 0x42, 2, 0, 0, 0, 0, 0x99, 0x08, 0x00];
    let ip_len = 20 + 8 + payload.len();
    let mut ip = vec![0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 1, 0, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2];
    let mut sum: u32 = ip.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend([0x30, 0x39, 0, 7, 0, (8 + payload.len()) as u8, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fn coverage(engine: &str) {
    let disk = TempFile::new("disk", &vec![0u8; 1 << 20]);
    let blk_opt = format!("--block:storage={}", disk.path());
    let (hello, clocks, blk, badaddr, net) =
        (guest("hello"), guest("clocks"), guest("blk"), guest("badaddr"), guest("net"));
    let mut seen = BTreeSet::new();
    let scenarios: Vec<(Vec<&str>, bool)> = vec![
        (vec![hello.to_str().unwrap(), "x"], false),
        (vec![clocks.to_str().unwrap()], false),
        (vec![&blk_opt, blk.to_str().unwrap()], false),
        (vec![badaddr.to_str().unwrap(), "end"], false),
        (
            vec![
                "--net:service=@3",
                "--net-mac:service=02:00:00:00:00:42",
                net.to_str().unwrap(),
                "--ipv4=10.9.0.2/24",
                "--count=1",
            ],
            true,
        ),
    ];
    for (args, net) in scenarios {
        let s = traced(engine, &args, net);
        println!("{engine} {args:?}: {s:?}");
        seen.extend(s);
    }
    let fds = Fds { vcpu: (engine == "kvm").then_some(3), net: vec![4], block: vec![5] };
    let allowed = allowlist(&fds);
    let names: BTreeSet<String> = allowed.iter().map(|a| a.name.to_string()).collect();
    let mut expected = names.clone();
    if engine == "kvm" {
        expected.extend(["ioctl:KVM_RUN".to_string(), "ioctl:KVM_GET_REGS".to_string()]);
    }
    let seen_calls: BTreeSet<String> = seen.iter().filter(|s| !s.contains(':')).cloned().collect();
    let not_allowed: Vec<_> = seen_calls.difference(&names).collect();
    assert!(not_allowed.is_empty(), "{engine}: used after the filter but not allowed: {not_allowed:?}");
    let unused: Vec<_> = expected.difference(&seen).collect();
    assert!(unused.is_empty(), "{engine}: allowed but used by no scenario: {unused:?} (seen: {seen:?})");
}

#[test]
fn kvm_each_allowed_call_is_used() {
    require_kvm();
    coverage("kvm");
}

#[test]
fn process_each_allowed_call_is_used() {
    coverage("process");
}
