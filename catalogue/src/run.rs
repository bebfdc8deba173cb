//! `appliance run`: give every device of the image's manifest something to
//! attach (a tap per net device, a disk file per block device), then replace
//! this process with the tender booting the verified image.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Failure, Result, Settings};

/// The host's side of each tap, and the appliance's default address on it.
const HOST_ADDR: &str = "10.0.0.1/24";
const GUEST_ADDR: &str = "10.0.0.2/24";

/// Size of a block device file created on first run.
const DISK_BYTES: u64 = 64 << 20;

struct Options {
    spec: String,
    unix: bool,
    tender: Option<PathBuf>,
    engine: Option<String>,
    mem: Option<String>,
    args: Vec<String>,
}

fn parse(rest: &[String]) -> Result<Options> {
    let mut o = Options { spec: String::new(), unix: false, tender: None, engine: None, mem: None, args: vec![] };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            o.args = it.cloned().collect();
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || {
            inline.clone().or_else(|| it.next().cloned()).ok_or_else(|| crate::usage(format!("{name} needs a value")))
        };
        match name {
            "--target" => match value()?.as_str() {
                "hvt" => o.unix = false,
                "unix" => o.unix = true,
                other => return Err(crate::usage(format!("--target is hvt or unix, not `{other}`"))),
            },
            "--tender" => o.tender = Some(PathBuf::from(value()?)),
            "--engine" => o.engine = Some(value()?),
            "--mem" => o.mem = Some(value()?),
            _ if a.starts_with('-') => {
                return Err(crate::usage(format!("unknown run option `{a}` (appliance arguments go after --)")));
            }
            _ if o.spec.is_empty() => o.spec = a.clone(),
            _ => return Err(crate::usage(format!("unexpected argument `{a}` (appliance arguments go after --)"))),
        }
    }
    if o.spec.is_empty() {
        return Err(crate::usage("run needs a NAME"));
    }
    Ok(o)
}

pub fn main(settings: &Settings, rest: &[String]) -> Result {
    let o = parse(rest)?;
    let catalogue = crate::load_catalogue(settings)?;
    let entry = catalogue.find(&o.spec)?;
    if o.unix {
        return run_unix(&entry.name, &o.args);
    }
    let image = crate::fetch_entry(settings, entry)?;
    let tender = find_tender(o.tender.as_deref())?;
    let mut cmd = Command::new(&tender);
    if let Some(e) = &o.engine {
        cmd.arg(format!("--engine={e}"));
    }
    if let Some(m) = &o.mem {
        cmd.arg(format!("--mem={m}"));
    }
    for device in &entry.devices {
        match device.kind.as_str() {
            "net" => {
                let tap = tap_name(&entry.name, &device.name);
                ensure_tap(&tap)?;
                eprintln!("net device {}: tap {tap}, host side {HOST_ADDR}", device.name);
                cmd.arg(format!("--net:{}={tap}", device.name));
            }
            "block" => {
                let disk = settings.cache.join("disks").join(format!("{}-{}.img", entry.name, device.name));
                ensure_disk(&disk)?;
                eprintln!("block device {}: {}", device.name, disk.display());
                cmd.arg(format!("--block:{}={}", device.name, disk.display()));
            }
            other => {
                return Err(format!(
                    "{} asks for a device `{}` of kind `{other}`, which this host can't give (net and block only)",
                    entry.name, device.name
                )
                .into());
            }
        }
    }
    let mut args = o.args;
    let has_net = entry.devices.iter().any(|d| d.kind == "net");
    if has_net && !args.iter().any(|a| a.starts_with("--ipv4")) {
        args.insert(0, format!("--ipv4={GUEST_ADDR}"));
    }
    cmd.arg("--").arg(&image).args(&args);
    eprintln!("booting {}@{}: {}", entry.name, entry.version, show(&cmd));
    let err = cmd.exec();
    Err(format!("cannot start the tender {}: {err}", tender.display()).into())
}

fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `--tender`, `APPLIANCE_TENDER`, a `tender` next to this binary, or on PATH.
fn find_tender(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given.map(Path::to_path_buf).or_else(|| std::env::var_os("APPLIANCE_TENDER").map(PathBuf::from)) {
        return if p.is_file() { Ok(p) } else { Err(format!("no tender at {}", p.display()).into()) };
    }
    let beside = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("tender")));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("tender"));
    beside.into_iter().chain(on_path).find(|p| p.is_file()).ok_or_else(|| Failure {
        message: "the tender (which boots images) is not installed: from the source tree run \
                  `cargo install --path tender`, or pass --tender PATH"
            .into(),
        status: 1,
    })
}

/// The unix build of the appliance, installed with `cargo install`.
fn run_unix(name: &str, args: &[String]) -> Result {
    let err = Command::new(name).args(args).exec();
    Err(format!(
        "cannot run the unix build `{name}` ({err}); install it from the source tree with \
         `cargo install --path appliances/{name}`"
    )
    .into())
}

/// A tap name within Linux's 15 characters.
fn tap_name(appliance: &str, device: &str) -> String {
    let mut n = format!("ap{appliance}{device}");
    n.truncate(15);
    n
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// Creates the tap `name` with the host address, unless it exists.
fn ensure_tap(name: &str) -> Result {
    if Path::new("/sys/class/net").join(name).exists() {
        return Ok(());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err("this host has no /dev/net/tun, so the appliance's network device can't be given".into());
    }
    let commands = [
        format!("ip tuntap add {name} mode tap"),
        format!("ip addr add {HOST_ADDR} dev {name}"),
        format!("ip link set {name} up"),
    ];
    if !is_root() {
        return Err(format!(
            "the image needs a tap device; as root, create it once with:\n  {}\nthen run this command again \
             (the tender itself needs no root)",
            commands.join(" && ")
        )
        .into());
    }
    for c in &commands {
        let parts: Vec<&str> = c.split(' ').collect();
        let status = Command::new(parts[0]).args(&parts[1..]).status().map_err(|e| format!("cannot run `{c}`: {e}"))?;
        if !status.success() {
            return Err(format!("`{c}` failed ({status})").into());
        }
    }
    Ok(())
}

fn ensure_disk(path: &Path) -> Result {
    if path.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("disk path has a parent"))?;
    let f = std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.set_len(DISK_BYTES)?;
    Ok(())
}
