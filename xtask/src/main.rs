//! `cargo xtask` — the project's one entry point for developers and CI.
//!
//! ```text
//! cargo xtask ci [--skip-setup] [--only STAGE]...
//! cargo xtask setup
//! cargo xtask image [NAME...] [--check-reproducible]
//! cargo xtask publish [--out DIR] [--key FILE] [--prebuilt]
//! cargo xtask run <appliance|contract> [--target unix|hvt] [--release] [-- ARGS]
//! cargo xtask bench netstack [--smoke] [--seconds N] [--rounds N] [--mtu LIST] [--workers N] [--dev]
//! cargo xtask bench tender [--smoke] [--runs N] [--peer PATH] [--tender PATH] [--guest PATH]
//! ```
//!
//! No dependencies beyond std, so that `cargo xtask` starts quickly on a fresh clone.

mod bench;
mod bench_dhcp;
mod bench_dns;
mod bench_hvt;
mod bench_pinata;
mod bench_tender;
mod ci;
mod image;
mod publish;
mod run;
mod setup;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  ci [--skip-setup] [--only STAGE]...
        the test command: setup, fmt, clippy, test, hvt, bench-smoke
        (STAGE is one of those names; --only may be repeated or comma-separated)
  image [NAME...] [--check-reproducible]
        build hvt images into dist/ (all by default), check them against the
        Solo5 loader rules, rewrite dist/SHA256SUMS; --check-reproducible builds
        a second time from a copy of the checkout and compares
  publish [--out DIR] [--key FILE] [--prebuilt]
        build every appliance image and write a signed catalogue (default
        dist/catalogue) for the `appliance` tool; --prebuilt takes dist/*.hvt
  setup
        install what the tests need (rustup target, Debian packages); idempotent
  run <appliance> [--target unix|hvt] [--release] [-- ARGS]
        build an appliance and run it with ARGS; `run contract` runs the
        platform contract server
  bench netstack [--smoke] [--seconds N] [--rounds N] [--mtu LIST] [--workers N] [--dev]
        netstack on a tap device against the kernel's TCP over a veth pair
        (needs root); --smoke is a short run proving the bench works;
        XTASK_CONTRACT_SERVER=PATH uses a prebuilt contract-server
  bench hvt [--smoke] [--runs N]
        the hello appliance as an hvt image under the tender's process engine
        against the same program as a unix process: time to first console line
        and to exit; then the size of every image
  bench pinata [--smoke] [--seconds N] [--rounds N] [--workers N] [--no-hvt]
        TLS 1.3 mutual-auth handshakes/s on port 10000 against openssl s_server
  bench dhcp [--smoke] [--seconds N] [--rounds N] [--rate N] [--leases N]
        leases/s with perfdhcp against Kea (memfile, persist), memory for many leases
  bench dns [--smoke] [--seconds N] [--rounds N] [--records N] [--pushes N]
        queries/s with dnsperf (UDP, TCP) against NSD, memory for a large zone,
        time from git push + NOTIFY to the new answer
  bench tender [--smoke] [--runs N] [--peer PATH] [--tender PATH] [--guest PATH]
        boot-to-exit time of the hello test guest under the tender's engines
        (and an upstream solo5-hvt with --peer)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "ci" => ci::main(rest),
        "setup" => setup::main(rest),
        "run" => run::main(rest),
        "bench" => bench::main(rest),
        "image" => image::main(rest),
        "publish" => publish::main(rest),
        // Internal: the load client, re-executed inside a network namespace by `bench`.
        "bench-client" => bench::client::main(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(util::Error::usage(format!("unknown command `{other}`"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {}", e.message);
            if e.code == 2 && e.show_usage {
                eprint!("\n{USAGE}");
            }
            ExitCode::from(e.code)
        }
    }
}
