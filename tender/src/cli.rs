//! Command line, compatible with upstream `solo5-hvt` (ABI reference §4.1):
//! `tender [--engine=auto|kvm|process] [--mem=MiB] [--net:NAME=TAP] [--net-mac:NAME=MAC]
//! [--block:NAME=FILE] [--block-sector-size:NAME=N] [--] IMAGE [ARGS...]`

use crate::devices::{MODULES, option_owner};

fn valid_name(name: &str) -> bool {
    hvt_abi::valid_device_name(name.as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    Auto,
    Kvm,
    Process,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub engine: EngineChoice,
    /// Guest memory in bytes (rounded to 2 MiB).
    pub mem_size: u64,
    /// Device options `(prefix, NAME, VALUE)`, for the modules that own them.
    pub device_opts: Vec<(&'static str, String, String)>,
    pub image: String,
    pub args: Vec<String>,
}

impl Config {
    /// `(NAME, VALUE)` of every option given with `prefix` (e.g. `--net:`), in order.
    pub fn opts<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        // Prefixes are the modules' static strings; compare by content.
        let prefix = prefix.to_owned();
        self.device_opts.iter().filter(move |(p, _, _)| *p == prefix).map(|(_, n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of `prefix` for device `name`, if given.
    pub fn opt(&self, prefix: &str, name: &str) -> Option<&str> {
        self.opts(prefix).find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

#[derive(Debug)]
pub enum Command {
    Run(Config),
    Help,
    Version,
}

/// A command-line error: message, and whether to print the usage after it.
#[derive(Debug)]
pub struct CliError {
    pub msg: String,
    pub usage: bool,
}

fn err(msg: String) -> CliError {
    CliError { msg, usage: false }
}

pub const DEFAULT_MEM_MIB: u64 = 512;
const MIB: u64 = 1 << 20;

pub fn usage(seccomp_kvm: usize, seccomp_process: usize) -> String {
    let mut devices = String::new();
    for o in MODULES.iter().flat_map(|m| m.options) {
        devices.push_str("  ");
        devices.push_str(o.usage);
        devices.push('\n');
    }
    format!(
        "usage: tender [OPTIONS] [--] IMAGE [ARGS...]\n\
         Boots a Solo5-hvt unikernel image.\n\n\
         Options:\n\
         \x20 --engine=auto|kvm|process   engine (default auto: kvm when /dev/kvm works and can run the\n\
         \x20                             image, else process)\n\
         \x20 --mem=MiB                   guest memory in MiB (default {DEFAULT_MEM_MIB}, rounded down to 2 MiB)\n\
         {devices}\
         \x20 --help, --version\n\n\
         Seccomp: once set up, the tender allows {seccomp_kvm} system calls under the kvm engine\n\
         and {seccomp_process} under the process engine (any call from guest memory is killed).\n"
    )
}

fn named<'a>(opt: &str, rest: &'a str) -> Result<(&'a str, &'a str), CliError> {
    let (name, value) =
        rest.split_once('=').ok_or_else(|| CliError { msg: format!("Invalid option: `{opt}'"), usage: true })?;
    if !valid_name(name) {
        return Err(err(format!("Invalid device name '{name}' in `{opt}' (must match [A-Za-z0-9]{{1,67}})")));
    }
    if value.is_empty() {
        return Err(CliError { msg: format!("Invalid option: `{opt}'"), usage: true });
    }
    Ok((name, value))
}

fn dup(cfg: &Config, prefix: &str, name: &str, opt: &str) -> Result<(), CliError> {
    if cfg.opt(prefix, name).is_some() {
        return Err(err(format!("Device '{name}' given twice (`{opt}')")));
    }
    Ok(())
}

pub fn parse(args: &[String]) -> Result<(Command, Vec<String>), CliError> {
    let mut notes = Vec::new();
    let mut cfg = Config {
        engine: EngineChoice::Auto,
        mem_size: DEFAULT_MEM_MIB * MIB,
        device_opts: Vec::new(),
        image: String::new(),
        args: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        i += 1;
        if a == "--help" || a == "-h" {
            return Ok((Command::Help, notes));
        } else if a == "--version" {
            return Ok((Command::Version, notes));
        } else if let Some(v) = a.strip_prefix("--engine=") {
            cfg.engine = match v {
                "auto" => EngineChoice::Auto,
                "kvm" => EngineChoice::Kvm,
                "process" => EngineChoice::Process,
                _ => return Err(err(format!("Invalid engine '{v}' (auto, kvm or process)"))),
            };
        } else if let Some(v) = a.strip_prefix("--mem=") {
            let mib: u64 = v
                .parse()
                .ok()
                .filter(|&m| m > 0 && m <= 4096)
                .ok_or_else(|| err(format!("Malformed argument to --mem: '{v}' (MiB, 1..=4096)")))?;
            let bytes = (mib * MIB / (2 * MIB) * (2 * MIB)).max(2 * MIB);
            if bytes != mib * MIB {
                notes.push(format!("adjusting memory to {bytes} bytes"));
            }
            cfg.mem_size = bytes;
        } else if let Some((o, rest)) = option_owner(a) {
            let (name, v) = named(a, rest)?;
            dup(&cfg, o.prefix, name, a)?;
            let m = MODULES.iter().find(|m| m.options.iter().any(|x| x.prefix == o.prefix)).expect("owner");
            (m.check_option)(a, o.prefix, v).map_err(err)?;
            cfg.device_opts.push((o.prefix, name.into(), v.into()));
        } else {
            return Err(CliError { msg: format!("Invalid option: `{a}'"), usage: true });
        }
    }
    let Some(image) = args.get(i) else {
        return Err(CliError { msg: "Missing IMAGE argument".into(), usage: true });
    };
    cfg.image = image.clone();
    cfg.args = args[i + 1..].to_vec();
    for m in MODULES {
        (m.check_config)(&cfg).map_err(err)?;
    }
    Ok((Command::Run(cfg), notes))
}

/// The guest command line: the arguments after IMAGE joined by single spaces.
pub fn cmdline(args: &[String]) -> Result<String, String> {
    let s = args.join(" ");
    if s.len() >= hvt_abi::CMDLINE_SIZE || s.contains('\0') {
        return Err("Guest command line too long (max 8191 characters)".into());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<(Command, Vec<String>), CliError> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options() {
        let (Command::Run(c), notes) =
            p(&["--mem=3", "--net:service0=tap0", "--block:disk=f.img", "--", "img", "a", "--b"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.mem_size, 2 << 20);
        assert_eq!(notes.len(), 1);
        assert_eq!(c.opts("--net:").collect::<Vec<_>>(), vec![("service0", "tap0")]);
        assert_eq!(c.image, "img");
        assert_eq!(c.args, vec!["a", "--b"]);
        assert!(p(&["--bogus", "img"]).unwrap_err().usage);
        assert!(p(&["--mem=0", "img"]).is_err());
        assert!(p(&["--net:bad-name=tap0", "img"]).is_err());
        assert!(p(&["--block-sector-size:d=1000", "--block:d=x", "img"]).is_err());
        assert!(matches!(p(&["--version"]).unwrap().0, Command::Version));
        assert_eq!(cmdline(&["a".into(), "b".into()]).unwrap(), "a b");
        assert!(cmdline(&["x".repeat(8192)]).is_err());
        assert!(cmdline(&["x".repeat(8191)]).is_ok());
    }
}
