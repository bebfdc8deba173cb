//! The runner every appliance's `main.rs` calls on unix.
//!
//! Command line: the appliance's boot arguments plus the unix-only device
//! arguments, in the tender's shape:
//!
//! * `--net:NAME=TAP` — attach the existing tap interface `TAP` as net device
//!   `NAME`; its stack becomes netstack over the tap (the same path hvt
//!   uses). Without it, `NAME`'s stack is the host's sockets.
//! * `--net-mac:NAME=MAC` — the MAC address of that device (default: a random
//!   locally administered one).
//! * `--block:NAME=FILE` — back block device `NAME` with the regular file `FILE`.
//! * `--block-sector-size:NAME=N` — its sector size (a power of two ≥ 512,
//!   default 512).

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use platform::appliance::{AttachError, Attached, Backend, EarlyExit, StackFactory, boot, finish, stack_settings};
use platform::args::{Args, USAGE_EXIT};
use platform::console::Console;
use platform::entropy::Entropy;
use platform::net::{MacAddr, Net};
use platform::rt::LocalBoxFuture;
use platform::{Appliance, Device, DeviceKind, Env};

use crate::devices::{DEFAULT_SECTOR_SIZE, GetrandomEntropy, StdoutConsole, file_block};
use crate::host::host_stack;
use crate::runtime::block_on;
use crate::tap::tap_net;

/// A net device attached to a tap (`--net:NAME=TAP`, `--net-mac:NAME=MAC`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetArg {
    pub name: String,
    pub tap: String,
    pub mac: Option<MacAddr>,
}

/// A block device backed by a file (`--block:NAME=FILE`, `--block-sector-size:NAME=N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockArg {
    pub name: String,
    pub path: PathBuf,
    pub sector_size: usize,
}

/// The unix device arguments of one command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceArgs {
    pub nets: Vec<NetArg>,
    pub blocks: Vec<BlockArg>,
}

const NET: &str = "--net:";
const NET_MAC: &str = "--net-mac:";
const BLOCK: &str = "--block:";
const SECTOR: &str = "--block-sector-size:";

/// Takes the unix device arguments out of `argv` (without the program
/// name), checking each names a device of the right kind in `devices`.
/// Returns them and the remaining (boot) arguments in order, or a message
/// naming the offending argument.
pub fn split_device_args(devices: &[Device], argv: &[String]) -> Result<(DeviceArgs, Vec<String>), String> {
    let mut out = DeviceArgs::default();
    let mut macs: Vec<(String, MacAddr)> = Vec::new();
    let mut sectors: Vec<(String, usize)> = Vec::new();
    let mut rest = Vec::new();
    for arg in argv {
        let (prefix, kind) = if arg.starts_with(NET) {
            (NET, DeviceKind::Net)
        } else if arg.starts_with(NET_MAC) {
            (NET_MAC, DeviceKind::Net)
        } else if arg.starts_with(BLOCK) {
            (BLOCK, DeviceKind::Block)
        } else if arg.starts_with(SECTOR) {
            (SECTOR, DeviceKind::Block)
        } else {
            rest.push(arg.clone());
            continue;
        };
        let option = prefix.trim_end_matches(':');
        let metavar = match prefix {
            NET => "TAP",
            NET_MAC => "MAC",
            BLOCK => "FILE",
            _ => "N",
        };
        let (name, value) = arg[prefix.len()..]
            .split_once('=')
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            .ok_or_else(|| format!("malformed argument '{arg}': expected {option}:NAME={metavar}"))?;
        check_device(devices, name, kind, arg)?;
        let repeated = match prefix {
            NET => out.nets.iter().any(|n| n.name == name),
            NET_MAC => macs.iter().any(|(n, _)| n == name),
            BLOCK => out.blocks.iter().any(|b| b.name == name),
            _ => sectors.iter().any(|(n, _)| n == name),
        };
        if repeated {
            return Err(format!("argument {option}:{name} given more than once"));
        }
        match prefix {
            NET => out.nets.push(NetArg { name: name.into(), tap: value.into(), mac: None }),
            NET_MAC => {
                let mac = value.parse::<MacAddr>().map_err(|e| format!("invalid value '{value}' for {arg}: {e}"))?;
                if !mac.is_unicast() {
                    return Err(format!("invalid value '{value}' for {option}:{name}: not a unicast MAC address"));
                }
                macs.push((name.into(), mac));
            }
            BLOCK => {
                out.blocks.push(BlockArg { name: name.into(), path: value.into(), sector_size: DEFAULT_SECTOR_SIZE })
            }
            _ => {
                let size =
                    value.parse::<usize>().ok().filter(|s| *s >= 512 && s.is_power_of_two()).ok_or_else(|| {
                        format!("invalid value '{value}' for {option}:{name}: expected a power of two ≥ 512")
                    })?;
                sectors.push((name.into(), size));
            }
        }
    }
    for (name, mac) in macs {
        let net = out.nets.iter_mut().find(|n| n.name == name);
        let net = net.ok_or_else(|| format!("--net-mac:{name} given without --net:{name}=TAP"))?;
        net.mac = Some(mac);
    }
    for (name, size) in sectors {
        let block = out.blocks.iter_mut().find(|b| b.name == name);
        let block = block.ok_or_else(|| format!("--block-sector-size:{name} given without --block:{name}=FILE"))?;
        block.sector_size = size;
    }
    Ok((out, rest))
}

fn kind_name(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Net => "net",
        DeviceKind::Block => "block",
    }
}

fn check_device(devices: &[Device], name: &str, kind: DeviceKind, arg: &str) -> Result<(), String> {
    match devices.iter().find(|d| d.name == name) {
        Some(d) if d.kind == kind => Ok(()),
        Some(d) => {
            Err(format!("'{name}' in '{arg}' is a {} device, not a {} device", kind_name(d.kind), kind_name(kind)))
        }
        None => {
            let known: Vec<&str> = devices.iter().filter(|d| d.kind == kind).map(|d| d.name).collect();
            let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            Err(format!("unknown {} device '{name}' in '{arg}' (this appliance has: {known})", kind_name(kind)))
        }
    }
}

/// Help text for the device arguments of `app`.
pub fn device_help(app: &Appliance) -> String {
    let mut out = String::from("unix device arguments:\n");
    let has = |k: DeviceKind| app.devices.iter().any(|d| d.kind == k);
    let line = |left: &str, help: &str| format!("      {left:<34} {help}\n");
    if has(DeviceKind::Net) {
        out.push_str(&line("--net:NAME=TAP", "use netstack over existing tap TAP for NAME (default: host sockets)"));
        out.push_str(&line("--net-mac:NAME=MAC", "MAC address of NAME (default: random, locally administered)"));
    }
    if has(DeviceKind::Block) {
        out.push_str(&line("--block:NAME=FILE", "back block device NAME with the regular file FILE"));
        out.push_str(&line("--block-sector-size:NAME=N", "sector size of NAME (power of two >= 512) [default: 512]"));
    }
    if app.devices.is_empty() {
        out.push_str("      (this appliance has no devices)\n");
    } else {
        let list: Vec<String> = app.devices.iter().map(|d| format!("{} ({})", d.name, kind_name(d.kind))).collect();
        out.push_str(&format!("devices: {}\n", list.join(", ")));
    }
    out
}

/// Runs `app` with the process's arguments; the exit status of the process.
pub fn run(app: &'static Appliance) -> ExitCode {
    ExitCode::from(run_with_args(app, std::env::args().skip(1).collect()))
}

/// Runs `app` with `argv` (without the program name); returns the exit
/// status: 0 on success, [`USAGE_EXIT`] for a bad argument, [`FAILURE_EXIT`](platform::appliance::FAILURE_EXIT)
/// when a device cannot be attached, `main` fails, or SIGINT/SIGTERM arrives.
pub fn run_with_args(app: &'static Appliance, argv: Vec<String>) -> u8 {
    // Inside the runtime: tap devices and host sockets register with its reactor.
    block_on(async move { boot(app, UnixBackend::default(), &argv).await })
}

/// The unix side of [`boot`]: devices from `--net:`/`--block:`, tokio for `main`.
#[derive(Default)]
struct UnixBackend {
    devices: DeviceArgs,
    /// `(device, tap, net)` of each net device attached to a tap.
    taps: Vec<(String, String, Rc<dyn Net>)>,
}

impl Backend for UnixBackend {
    type Outcome = LocalBoxFuture<'static, u8>;

    fn backend_args(&mut self, app: &'static Appliance, argv: &[String]) -> Result<Vec<String>, EarlyExit> {
        let (devices, rest) = split_device_args(app.devices, argv)
            .map_err(|msg| EarlyExit { message: Some(format!("{}: {msg}", app.name)), status: USAGE_EXIT })?;
        self.devices = devices;
        Ok(rest)
    }

    fn exit_early(self, app: &'static Appliance, exit: EarlyExit) -> Self::Outcome {
        match (exit.message, exit.status) {
            (Some(message), 0) => println!("{message}\n{}", device_help(app)),
            (Some(message), _) => eprintln!("{message}"),
            (None, _) => {}
        }
        Box::pin(std::future::ready(exit.status))
    }

    fn console(&self) -> Rc<dyn Console> {
        Rc::new(StdoutConsole)
    }

    fn entropy(&self) -> Rc<dyn Entropy> {
        Rc::new(GetrandomEntropy)
    }

    fn attach(&mut self, app: &'static Appliance, _args: &Args) -> Result<Attached, AttachError> {
        let target = app.name;
        let mut attached = Attached::default();
        for n in &self.devices.nets {
            let net = tap_net(&n.tap, n.mac).map_err(|e| AttachError::new("net", &n.name, e))?;
            log::info!(target: target, "net {}: tap {} (mac {}, mtu {})", n.name, n.tap, net.info().mac, net.info().mtu);
            self.taps.push((n.name.clone(), n.tap.clone(), net.clone()));
            attached.nets.push((n.name.clone(), net));
        }
        for b in &self.devices.blocks {
            let dev = file_block(&b.path, b.sector_size).map_err(|e| AttachError::new("block", &b.name, e))?;
            let info = dev.info();
            log::info!(
                target: target,
                "block {}: {} ({} sectors of {} bytes)",
                b.name,
                b.path.display(),
                info.sectors,
                info.sector_size
            );
            attached.blocks.push((b.name.clone(), dev));
        }
        Ok(attached)
    }

    fn describe(&self, app: &'static Appliance, _args: &Args) -> Option<String> {
        let stacks: Vec<String> = app
            .devices
            .iter()
            .filter(|d| d.kind == DeviceKind::Net)
            .map(|d| match self.taps.iter().find(|(name, _, _)| name == d.name) {
                Some((_, tap, _)) => format!("{}: netstack on {tap}", d.name),
                None => format!("{}: host sockets", d.name),
            })
            .collect();
        let stacks = if stacks.is_empty() { "none".to_string() } else { stacks.join(", ") };
        Some(format!("unix; stack {stacks}"))
    }

    fn stack_factory(
        &mut self,
        app: &'static Appliance,
        args: &Args,
        entropy: Rc<dyn Entropy>,
        _attached: &Attached,
    ) -> StackFactory {
        // Said once, after the start line: the host's sockets have their own addresses.
        let host_nets =
            app.devices.iter().any(|d| d.kind == DeviceKind::Net && !self.taps.iter().any(|(n, _, _)| n == d.name));
        if host_nets {
            for ip_arg in ["ipv4", "ipv4-gateway", "ipv6", "ipv6-gateway", "dhcp"] {
                if args.is_given(ip_arg) {
                    log::warn!(target: app.name, "--{ip_arg} is ignored by the host-socket stack (attach a tap with --net:NAME=TAP)");
                }
            }
        }
        stack_factory(app.devices, std::mem::take(&mut self.taps), args.clone(), entropy)
    }

    fn run_main(self, app: &'static Appliance, env: Env) -> Self::Outcome {
        Box::pin(async move {
            let outcome = tokio::select! {
                result = (app.main)(env) => result,
                signal = termination_signal() => Err(format!("stopped by {signal}").into()),
            };
            finish(app, outcome)
        })
    }
}

/// The stack of each declared net device: netstack over its tap when it has
/// one, else the host's sockets.
fn stack_factory(
    declared: &'static [Device],
    taps: Vec<(String, String, Rc<dyn Net>)>,
    args: Args,
    entropy: Rc<dyn Entropy>,
) -> StackFactory {
    let host = host_stack();
    Box::new(move |name: &str| {
        if let Some((_, tap, net)) = taps.iter().find(|(n, _, _)| n == name) {
            let (ip, seed) = stack_settings(&args, &*entropy)?;
            netstack::new_stack(net.clone(), netstack::Config::new(ip, seed, tap))
        } else if declared.iter().any(|d| d.kind == DeviceKind::Net && d.name == name) {
            Ok(host.clone())
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, format!("the appliance declares no net device named '{name}'")))
        }
    })
}

/// Completes with the name of the first SIGINT or SIGTERM; never completes
/// if the handlers cannot be installed.
async fn termination_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            log::warn!("cannot handle SIGINT/SIGTERM: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
