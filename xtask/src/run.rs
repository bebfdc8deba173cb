//! `cargo xtask run <appliance> [--target unix|hvt] [--release] [-- ARGS]`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use crate::util::{self, Error, Result};

/// The appliances of the catalogue (folders under `appliances/`).
pub const APPLIANCES: &[&str] = &["pinata", "dns", "resolver", "caldav", "dhcp", "firewall"];

/// A program `run` can build: its cargo package and binary.
pub struct Program {
    pub package: String,
    pub bin: String,
}

/// The platform contract server (not an appliance of the catalogue, but an
/// appliance program all the same).
pub fn contract_server() -> Program {
    Program { package: "platform-contract".into(), bin: "contract-server".into() }
}

pub fn main(args: &[String]) -> Result {
    let mut name = None;
    let mut target = "unix".to_string();
    let mut release = false;
    let mut program_args: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--" => {
                program_args.extend(it.by_ref().cloned());
                break;
            }
            "--target" => target = it.next().ok_or_else(|| Error::usage("--target needs unix or hvt"))?.clone(),
            s if s.starts_with("--target=") => target = s["--target=".len()..].to_string(),
            "--release" => release = true,
            s if s.starts_with('-') => return Err(Error::usage(format!("unknown option to `run`: `{s}`"))),
            s if name.is_none() => name = Some(s.to_string()),
            s => {
                return Err(Error::usage(format!(
                    "unexpected argument `{s}` (arguments for the appliance go after `--`)"
                )));
            }
        }
    }
    let name = name.ok_or_else(|| {
        Error::usage(format!("`run` needs an appliance: one of {}, or contract", APPLIANCES.join(", ")))
    })?;

    let program = if name == "contract" {
        contract_server()
    } else if APPLIANCES.contains(&name.as_str()) {
        let dir = util::workspace_root().join("appliances").join(&name);
        if !dir.join("Cargo.toml").is_file() {
            return Err(Error::unavailable(format!(
                "appliance {name} is not built yet (see appliances/{name}/README.md)"
            )));
        }
        Program { package: name.clone(), bin: name.clone() }
    } else {
        return Err(Error::usage(format!("unknown appliance `{name}`; one of {}, or contract", APPLIANCES.join(", "))));
    };

    match target.as_str() {
        "unix" => {}
        "hvt" => return run_hvt(&name, release, program_args),
        other => return Err(Error::usage(format!("unknown target `{other}`; unix or hvt"))),
    }

    let exe = build(&program, release)?;
    let mut cmd = Command::new(&exe);
    if program_args.is_empty()
        && let Some((args, note)) = demo_args(&name)
    {
        println!("{note}");
        cmd.args(args);
    }
    cmd.args(&program_args);
    println!("$ {}", util::show(&cmd));
    // Replace xtask with the appliance, so signals and the exit status are its own.
    let err = cmd.exec();
    Err(Error::msg(format!("cannot run {}: {err}", exe.display())))
}

/// Boot arguments `run` gives an appliance when the command line gives none:
/// unprivileged ports and demo settings, so that `cargo xtask run NAME` works
/// for anyone. Returns the arguments and a note saying what they mean.
fn demo_args(name: &str) -> Option<(&'static [&'static str], &'static str)> {
    match name {
        "pinata" => Some((
            &["--secret=demo secret of cargo xtask run", "--port-offset=20000"],
            "pinata demo (no ARGS given): a fresh CA, a demo secret, every port + 20000:\n  \
             rules page http://127.0.0.1:20080/ (CA: /ca.pem), https://127.0.0.1:20443/\n  \
             bounty: TLS server 127.0.0.1:30000, connect-back 30001 (to your port 40001), TLS client 30002\n  \
             (`cargo xtask run pinata -- --help` lists the arguments; Ctrl-C stops it)",
        )),
        "contract" => Some((
            &["--echo-port=7007", "--discard-port=7009", "--source-port=7019", "--reset-port=7013"],
            "contract server demo (no ARGS given), host sockets, every port + 7000:\n  \
             echo 7007 (TCP+UDP), discard 7009, source 7019, reset 7013\n  \
             (`cargo xtask run contract -- --help` lists the arguments; Ctrl-C stops it)",
        )),
        _ => None,
    }
}

/// Builds a program for unix and returns the path of its binary.
pub fn build(program: &Program, release: bool) -> Result<PathBuf> {
    let mut cmd = util::cargo();
    cmd.args(["build", "--package", &program.package, "--bin", &program.bin]);
    if release {
        cmd.arg("--release");
    }
    util::run(&mut cmd)?;
    let exe = util::target_dir().join(if release { "release" } else { "debug" }).join(&program.bin);
    if !exe.is_file() {
        return Err(Error::msg(format!("built {} but found no binary at {}", program.bin, exe.display())));
    }
    Ok(exe)
}

/// Address of the host's side of the tap `run --target hvt` creates, and the
/// appliance's default address on it.
const HVT_HOST_ADDR: &str = "10.0.0.1/24";
const HVT_GUEST_ADDR: &str = "10.0.0.2/24";

/// `run NAME --target hvt`: builds `dist/NAME.hvt` and the tender, gives every
/// device of the image's manifest something to attach (a tap per net device,
/// addressed 10.0.0.1/24 on the host, and a disk image per block device under
/// `dist/`), and replaces xtask with the tender.
fn run_hvt(name: &str, release: bool, mut program_args: Vec<String>) -> Result {
    let Some((image_name, pkg, bin)) = crate::image::IMAGES.iter().copied().find(|(n, _, _)| *n == name) else {
        let known: Vec<&str> = crate::image::IMAGES.iter().map(|(n, _, _)| *n).collect();
        return Err(Error::unavailable(format!(
            "{name} has no hvt image yet (images so far: {}); use --target unix",
            known.join(", ")
        )));
    };
    let root = util::workspace_root();
    let image = crate::image::build_image(&root, pkg, bin, image_name).map_err(Error::msg)?;
    let report = crate::image::check_image(&image).map_err(Error::msg)?;
    let tender = build(&Program { package: "tender".into(), bin: "tender".into() }, release)?;
    let mut cmd = Command::new(&tender);
    for (device, kind) in &report.devices {
        if *kind == hvt_abi_net() {
            let tap = tap_name(name, device);
            ensure_tap(&tap)?;
            println!("net device {device}: tap {tap}, host side {HVT_HOST_ADDR}");
            cmd.arg(format!("--net:{device}={tap}"));
        } else {
            let disk = root.join("dist").join(format!("{name}-{device}.img"));
            if !disk.exists() {
                std::fs::write(&disk, vec![0u8; 16 << 20])?;
                println!("block device {device}: created {} (16 MiB)", disk.display());
            }
            cmd.arg(format!("--block:{device}={}", disk.display()));
        }
    }
    if program_args.is_empty()
        && let Some((args, _)) = demo_args(name)
    {
        program_args = args.iter().map(|a| a.to_string()).collect();
        if name == "pinata" {
            program_args.retain(|a| !a.starts_with("--port-offset"));
        }
    }
    if !program_args.iter().any(|a| a.starts_with("--ipv4")) {
        program_args.insert(0, format!("--ipv4={HVT_GUEST_ADDR}"));
    }
    cmd.arg("--").arg(&image).args(&program_args);
    println!("$ {}", util::show(&cmd));
    let err = cmd.exec();
    Err(Error::msg(format!("cannot run {}: {err}", tender.display())))
}

/// The manifest type of a net device (Solo5's NET_BASIC).
fn hvt_abi_net() -> u32 {
    2
}

/// A tap name within Linux's 15 characters: `xt` + appliance + device.
fn tap_name(appliance: &str, device: &str) -> String {
    let mut n = format!("xt{appliance}{device}");
    n.truncate(15);
    n
}

/// Creates the tap `name` with the host address, unless it exists.
fn ensure_tap(name: &str) -> Result {
    if std::path::Path::new("/sys/class/net").join(name).exists() {
        return Ok(());
    }
    if !util::is_root() {
        return Err(Error::msg(format!(
            "the hvt image needs a tap device; as root, create it once with:\n  \
             ip tuntap add {name} mode tap && ip addr add {HVT_HOST_ADDR} dev {name} && ip link set {name} up\n\
             then run this command again (the tender itself needs no root)"
        )));
    }
    util::run(Command::new("ip").args(["tuntap", "add", name, "mode", "tap"]))?;
    util::run(Command::new("ip").args(["addr", "add", HVT_HOST_ADDR, "dev", name]))?;
    util::run(Command::new("ip").args(["link", "set", name, "up"]))
}
