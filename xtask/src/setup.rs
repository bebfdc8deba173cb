//! Installs what the tests need on a fresh machine, idempotently: the rustup
//! targets and components of [`RUST_TARGETS`] and [`RUST_COMPONENTS`], and the
//! Debian packages of [`PACKAGES`].

use std::process::Command;

use crate::util::{self, Error, Result};

/// Rustup targets the build needs beyond the host's (`RUSTUP_AUTO_INSTALL=0`
/// means `rust-toolchain.toml` alone does not install them).
pub const RUST_TARGETS: &[(&str, &str)] =
    &[("x86_64-unknown-none", "soft-float test guests of the hvt backend and the tender")];

/// Rustup components the stages use (`rust-toolchain.toml` names them too).
pub const RUST_COMPONENTS: &[(&str, &str)] =
    &[("rustfmt", "the fmt stage: cargo fmt --check"), ("clippy", "the clippy stage: cargo clippy -D warnings")];

/// A Debian package the tests need.
pub struct Package {
    pub name: &'static str,
    pub why: &'static str,
}

/// Every Debian package the test command needs — the one list; add a reason
/// with each package.
pub const PACKAGES: &[Package] = &[
    Package {
        name: "iproute2",
        why: "`ip` creates the tap devices, veth pairs and network namespaces of the tap contract tests and the bench",
    },
    Package { name: "openssl", why: "`openssl s_client`/`s_server`: the Piñata's end-to-end tests" },
    Package { name: "curl", why: "fetches the Piñata's rules page in its end-to-end tests" },
    Package { name: "iputils-ping", why: "`ping` from a test namespace to the tender's net test guest" },
    Package { name: "strace", why: "the tender's seccomp test checks every allowed system call is used" },
    Package { name: "time", why: "`/usr/bin/time` reports the tender's peak RSS in `bench tender`" },
    Package { name: "busybox", why: "`udhcpc`, the DHCP client of the DHCP appliance's end-to-end tests" },
    Package { name: "isc-dhcp-client", why: "`dhclient`, the second DHCP client of those tests" },
    Package { name: "isc-dhcp-relay", why: "`dhcrelay` relays a second subnet's clients in the DHCP tests" },
    Package { name: "binutils", why: "`objdump`, `nm` and `strip` check and finish hvt images" },
    Package {
        name: "nsd",
        why: "NSD: the DNS appliance's secondary in its end-to-end tests, the reference of its differential test, the peer of `bench dns`",
    },
    Package {
        name: "dnsutils",
        why: "`dig` and `nsupdate`: queries and signed dynamic updates in the DNS end-to-end tests",
    },
    Package {
        name: "litmus",
        why: "the WebDAV conformance suites (basic, http) run against the CalDAV appliance in its end-to-end test",
    },
    Package { name: "knot-dnsutils", why: "`kdig`: TCP pipelining and EDNS queries in the DNS end-to-end tests" },
    Package {
        name: "knot-dnssecutils",
        why: "`kzonecheck`: Knot's zone file reader, the second peer of the DNS zone file corpus test (zonefile_peers)",
    },
    Package { name: "dnsperf", why: "`dnsperf`: the load tool of `bench dns`" },
];

pub fn main(args: &[String]) -> Result {
    if let Some(a) = args.first() {
        return Err(Error::usage(format!("`setup` takes no arguments, got `{a}`")));
    }
    setup()
}

/// Runs the whole set-up.
pub fn setup() -> Result {
    rust_toolchain()?;
    debian_packages()
}

fn rust_toolchain() -> Result {
    if !util::have_program("rustup") {
        return Err(Error::msg("`rustup` is not on PATH; install the Rust toolchain with rustup"));
    }
    // rustup picks the toolchain from rust-toolchain.toml in the workspace root.
    let rustup = |args: &[&str]| {
        let mut cmd = Command::new("rustup");
        cmd.args(args).current_dir(util::workspace_root());
        cmd
    };
    let installed = util::output(&mut rustup(&["target", "list", "--installed"]))?;
    for (target, why) in RUST_TARGETS {
        if installed.lines().any(|l| l.trim() == *target) {
            println!("rust target {target}: installed");
        } else {
            println!("rust target {target}: missing ({why})");
            util::run(&mut rustup(&["target", "add", target]))?;
        }
    }
    // Listed as `rustfmt-x86_64-unknown-linux-gnu` and the like.
    let installed = util::output(&mut rustup(&["component", "list", "--installed"]))?;
    for (component, why) in RUST_COMPONENTS {
        if installed.lines().any(|l| l.trim() == *component || l.starts_with(&format!("{component}-"))) {
            println!("rust component {component}: installed");
        } else {
            println!("rust component {component}: missing ({why})");
            util::run(&mut rustup(&["component", "add", component]))?;
        }
    }
    Ok(())
}

fn package_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "install ok installed")
        .unwrap_or(false)
}

fn debian_packages() -> Result {
    let mut missing = Vec::new();
    for p in PACKAGES {
        if package_installed(p.name) {
            println!("package {}: installed", p.name);
        } else {
            println!("package {}: missing ({})", p.name, p.why);
            missing.push(p.name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !util::have_program("apt-get") {
        return Err(Error::msg(format!(
            "missing Debian packages {} and no apt-get; install them by hand",
            missing.join(" ")
        )));
    }
    if !util::is_root() {
        return Err(Error::msg(format!(
            "missing Debian packages; run as root, or first: sudo apt-get install -y {}",
            missing.join(" ")
        )));
    }
    util::run(Command::new("apt-get").args(["update", "-q"]))?;
    util::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )?;
    for name in &missing {
        if !package_installed(name) {
            return Err(Error::msg(format!("package {name} is still not installed after apt-get install")));
        }
    }
    Ok(())
}
