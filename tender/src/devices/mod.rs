//! Device modules and the hypercall dispatcher shared by both engines.
//!
//! Modelled on Solo5's `hvt_module_*`: [`MODULES`] is a static list of modules, each with
//! the command-line options it owns, its set-up (open what the options name and fill in
//! the guest's manifest copy) and the hypercalls it serves. An engine decodes each exit
//! once with [`decode_out`] into an [`hvt_abi::Hypercall`] and the address of its argument
//! struct and calls [`Devices::hypercall`]; the handler copies the typed argument struct
//! in through [`GuestMemory`], acts, and copies it back.

pub mod block;
#[allow(unsafe_code)] // raw write(2) to the console, getppid(2)
pub mod console;
pub mod halt;
#[allow(unsafe_code)] // fcntl(2), an inherited descriptor, read(2)/write(2) of frames
pub mod net;
#[allow(unsafe_code)] // ppoll(2)
pub mod poll;
#[allow(unsafe_code)] // clock_gettime(2) as a raw system call
pub mod walltime;

use crate::cli::Config;
use crate::image::MftCopy;
use crate::mem::{AccessError, GuestMemory};
use block::Block;
use hvt_abi::{HYPERCALL_MAX, HYPERCALL_PIO_BASE, Hypercall};
use net::Net;
use poll::Poll;

/// A device attached at a manifest handle.
pub enum Device {
    None,
    Block(Block),
    Net(Net),
}

/// What the engine does after a hypercall.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    Halt(i32),
}

/// A command-line option a module owns: `PREFIX` `NAME=VALUE`.
pub struct Opt {
    /// The option up to the device name, e.g. `--net:`.
    pub prefix: &'static str,
    /// The line for `--help`.
    pub usage: &'static str,
    /// `Some(kind)`: NAME is a manifest device that must be declared with this kind.
    pub attaches: Option<hvt_abi::DeviceType>,
}

/// Serves one hypercall; `Err` is fatal (exit 1).
pub type Handler = fn(&mut Devices, Hypercall, u64, &mut GuestMemory) -> Result<Action, String>;

/// One device module (Solo5's `struct hvt_module`).
pub struct Module {
    pub name: &'static str,
    pub options: &'static [Opt],
    /// Checks one option's value as it is parsed (`option`, `prefix`, `value`).
    pub check_option: fn(&str, &str, &str) -> Result<(), String>,
    /// Checks the options together once all are parsed.
    pub check_config: fn(&Config) -> Result<(), String>,
    /// Attaches the devices the options name.
    pub setup: fn(&Config, &mut MftCopy, &mut Devices) -> Result<(), String>,
    pub hypercalls: &'static [Hypercall],
    pub handler: Handler,
}

fn no_option(_: &str, _: &str, _: &str) -> Result<(), String> {
    Ok(())
}
fn no_config(_: &Config) -> Result<(), String> {
    Ok(())
}
fn no_setup(_: &Config, _: &mut MftCopy, _: &mut Devices) -> Result<(), String> {
    Ok(())
}

impl Module {
    /// A module with no options and no set-up.
    pub const fn core(name: &'static str, hypercalls: &'static [Hypercall], handler: Handler) -> Module {
        Module {
            name,
            options: &[],
            check_option: no_option,
            check_config: no_config,
            setup: no_setup,
            hypercalls,
            handler,
        }
    }
}

/// Every module of the tender. Set-up runs in this order (net before nothing that needs
/// its poll registrations: POLL only reads them when the guest runs).
pub static MODULES: &[&Module] =
    &[&console::MODULE, &walltime::MODULE, &poll::MODULE, &block::MODULE, &net::MODULE, &halt::MODULE];

/// The module owning the option `arg` (`--net:service=tap0`) and the rest after its prefix.
pub fn option_owner(arg: &str) -> Option<(&'static Opt, &str)> {
    MODULES.iter().flat_map(|m| m.options).find_map(|o| arg.strip_prefix(o.prefix).map(|rest| (o, rest)))
}

/// Which module serves each hypercall number, built from [`MODULES`].
fn handler_of(hc: Hypercall) -> Option<Handler> {
    MODULES.iter().find(|m| m.hypercalls.contains(&hc)).map(|m| m.handler)
}

/// A guest `out` that is not a hypercall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// Port 0x500: hypercall number 0 is reserved.
    Reserved,
    /// Any other port, or an access that is not 32 bits wide.
    BadPort(u16),
}

impl PortError {
    pub fn describe(self, rip: u64) -> String {
        match self {
            PortError::Reserved => "Invalid guest hypercall: num=0".into(),
            PortError::BadPort(port) => format!("Invalid guest port access: port={port:#x}, rip={rip:#x}"),
        }
    }
}

/// Decodes a guest `out` of `size` bytes of `value` to `port` (ABI reference §1.2: a
/// hypercall is a 32-bit OUT to `0x500 + nr` whose value is the guest-physical address
/// of the argument struct). The one decoder both engines use.
pub fn decode_out(port: u16, size: usize, value: u32) -> Result<(Hypercall, u64), PortError> {
    let nr = port.wrapping_sub(HYPERCALL_PIO_BASE);
    if size != 4 || port < HYPERCALL_PIO_BASE || u32::from(nr) >= HYPERCALL_MAX {
        return Err(PortError::BadPort(port));
    }
    Hypercall::from_port(port).map(|hc| (hc, u64::from(value))).ok_or(PortError::Reserved)
}

/// The tender's devices: what the modules attached, by manifest handle.
pub struct Devices {
    /// Indexed by manifest handle.
    pub devs: Vec<Device>,
    pub poll: Poll,
    /// Test hook (feature `test-hooks`, `TENDER_TEST_SECCOMP_KILL=1`): issue a forbidden
    /// system call on the first PUTS, to show that the seccomp filter is in force while
    /// the guest runs.
    #[cfg(feature = "test-hooks")]
    pub test_forbidden_syscall: bool,
}

impl Devices {
    pub fn new(handles: usize) -> Devices {
        Devices {
            devs: (0..handles).map(|_| Device::None).collect(),
            poll: Poll::default(),
            #[cfg(feature = "test-hooks")]
            test_forbidden_syscall: std::env::var_os("TENDER_TEST_SECCOMP_KILL").is_some_and(|v| v == "1"),
        }
    }

    /// File descriptors the guest's hypercalls may use, for the seccomp filters.
    pub fn block_fds(&self) -> Vec<i32> {
        self.devs.iter().filter_map(|d| if let Device::Block(b) = d { Some(b.fd()) } else { None }).collect()
    }

    pub fn net_fds(&self) -> Vec<i32> {
        self.devs.iter().filter_map(|d| if let Device::Net(n) = d { Some(n.fd()) } else { None }).collect()
    }

    /// The device at `handle` (a guest-supplied number).
    pub fn device(&self, handle: u64) -> &Device {
        usize::try_from(handle).ok().and_then(|h| self.devs.get(h)).unwrap_or(&Device::None)
    }

    /// Serves hypercall `hc` with its argument struct at `arg`. `Err` is fatal (exit 1).
    pub fn hypercall(&mut self, hc: Hypercall, arg: u64, mem: &mut GuestMemory) -> Result<Action, String> {
        match handler_of(hc) {
            Some(h) => h(self, hc, arg, mem),
            None => Err(format!("Invalid guest hypercall: num={}", hc.nr())),
        }
    }
}

/// Guest-memory errors become the fatal error message.
pub fn acc(e: AccessError) -> String {
    e.to_string()
}

/// Attaches every module's devices and checks that each declared device is attached.
pub fn attach(cfg: &Config, mft: &mut MftCopy) -> Result<Devices, String> {
    let mut devices = Devices::new(mft.len());
    // Every device option must name a declared device of its kind; check them all before
    // any module opens anything (upstream's order: names first).
    for m in MODULES {
        for o in m.options {
            if let Some(kind) = o.attaches {
                for (name, _) in cfg.opts(o.prefix) {
                    lookup(mft, name, kind)?;
                }
            }
        }
    }
    for m in MODULES {
        (m.setup)(cfg, mft, &mut devices)?;
    }
    for i in 1..mft.len() {
        let e = mft.entry(i);
        if !e.is_attached() {
            return Err(format!(
                "Device '{}' of type {} declared but not attached.\n\
                 tender: All declared devices must be attached. See --help for syntax.",
                e.name_str().unwrap_or("?"),
                kind_name(e.dev_type)
            ));
        }
    }
    Ok(devices)
}

/// Upstream's name of a manifest device type.
pub fn kind_name(kind: u32) -> &'static str {
    match hvt_abi::DeviceType::from_raw(kind) {
        Some(t) => t.name(),
        None if kind == hvt_abi::mft_type::RESERVED_FIRST => "RESERVED_FIRST",
        None => "unknown",
    }
}

/// The handle of the device `name` the option names, which must be declared with `kind`.
pub fn lookup(mft: &MftCopy, name: &str, kind: hvt_abi::DeviceType) -> Result<usize, String> {
    let idx = mft.find(name).ok_or_else(|| format!("Resource not declared in manifest: '{name}'"))?;
    let declared = mft.entry(idx).dev_type;
    if declared != kind.raw() {
        return Err(format!(
            "Device '{name}' is declared as {} in the manifest, not {}",
            kind_name(declared),
            kind.name()
        ));
    }
    Ok(idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_exits() {
        assert_eq!(decode_out(0x502, 4, 0x1234), Ok((Hypercall::Puts, 0x1234)));
        assert_eq!(decode_out(0x508, 4, 0xffff_ffff), Ok((Hypercall::Halt, 0xffff_ffff)));
        assert_eq!(decode_out(0x500, 4, 0), Err(PortError::Reserved));
        assert_eq!(decode_out(0x509, 4, 0), Err(PortError::BadPort(0x509)));
        assert_eq!(decode_out(0x4ff, 4, 0), Err(PortError::BadPort(0x4ff)));
        assert_eq!(decode_out(0x501, 1, 0), Err(PortError::BadPort(0x501)));
    }

    #[test]
    fn every_hypercall_has_one_module() {
        for nr in 1..HYPERCALL_MAX {
            let hc = Hypercall::from_nr(nr).unwrap();
            assert_eq!(MODULES.iter().filter(|m| m.hypercalls.contains(&hc)).count(), 1, "{hc:?}");
        }
    }
}
