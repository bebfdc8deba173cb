//! Command line, compatible with upstream `solo5-hvt` (ABI reference §4.1):
//! `tender [--engine=auto|kvm|process] [--mem=MiB] [--net:NAME=TAP] [--net-mac:NAME=MAC]
//! [--block:NAME=FILE] [--block-sector-size:NAME=N] [--] IMAGE [ARGS...]`

use crate::manifest::valid_name;

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
    pub nets: Vec<(String, String)>,
    pub net_macs: Vec<(String, [u8; 6])>,
    pub blocks: Vec<(String, String)>,
    pub sector_sizes: Vec<(String, u16)>,
    pub image: String,
    pub args: Vec<String>,
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
    format!(
        "usage: tender [OPTIONS] [--] IMAGE [ARGS...]\n\
         Boots a Solo5-hvt unikernel image.\n\n\
         Options:\n\
         \x20 --engine=auto|kvm|process   engine (default auto: kvm when /dev/kvm works and can run the\n\
         \x20                             image, else process)\n\
         \x20 --mem=MiB                   guest memory in MiB (default {DEFAULT_MEM_MIB}, rounded down to 2 MiB)\n\
         \x20 --net:NAME=TAP              attach the existing, up tap interface TAP (or @FD) as NAME\n\
         \x20 --net-mac:NAME=MAC          MAC address of NAME (default: random, locally administered)\n\
         \x20 --block:NAME=FILE           attach FILE as block device NAME\n\
         \x20 --block-sector-size:NAME=N  sector size of NAME (power of two >= 512, default 512)\n\
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

fn dup(list: &[(String, impl Sized)], name: &str, opt: &str) -> Result<(), CliError> {
    if list.iter().any(|(n, _)| n == name) {
        return Err(err(format!("Device '{name}' given twice (`{opt}')")));
    }
    Ok(())
}

pub fn parse(args: &[String]) -> Result<(Command, Vec<String>), CliError> {
    let mut notes = Vec::new();
    let mut cfg = Config {
        engine: EngineChoice::Auto,
        mem_size: DEFAULT_MEM_MIB * MIB,
        nets: Vec::new(),
        net_macs: Vec::new(),
        blocks: Vec::new(),
        sector_sizes: Vec::new(),
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
        } else if let Some(rest) = a.strip_prefix("--net:") {
            let (name, v) = named(a, rest)?;
            dup(&cfg.nets, name, a)?;
            cfg.nets.push((name.into(), v.into()));
        } else if let Some(rest) = a.strip_prefix("--net-mac:") {
            let (name, v) = named(a, rest)?;
            dup(&cfg.net_macs, name, a)?;
            let mac =
                crate::devices::net::parse_mac(v).ok_or_else(|| err(format!("Malformed MAC address in `{a}'")))?;
            cfg.net_macs.push((name.into(), mac));
        } else if let Some(rest) = a.strip_prefix("--block:") {
            let (name, v) = named(a, rest)?;
            dup(&cfg.blocks, name, a)?;
            cfg.blocks.push((name.into(), v.into()));
        } else if let Some(rest) = a.strip_prefix("--block-sector-size:") {
            let (name, v) = named(a, rest)?;
            dup(&cfg.sector_sizes, name, a)?;
            let n: u16 = v.parse().ok().filter(|n: &u16| *n >= 512 && n.is_power_of_two()).ok_or_else(|| {
                err(format!("Block size must be a multiple of 2 greater than or equal 512 (power of two): `{a}'"))
            })?;
            cfg.sector_sizes.push((name.into(), n));
        } else {
            return Err(CliError { msg: format!("Invalid option: `{a}'"), usage: true });
        }
    }
    let Some(image) = args.get(i) else {
        return Err(CliError { msg: "Missing IMAGE argument".into(), usage: true });
    };
    cfg.image = image.clone();
    cfg.args = args[i + 1..].to_vec();
    for (name, _) in cfg.net_macs.iter() {
        if !cfg.nets.iter().any(|(n, _)| n == name) {
            return Err(err(format!("--net-mac:{name} given without --net:{name}")));
        }
    }
    for (name, _) in cfg.sector_sizes.iter() {
        if !cfg.blocks.iter().any(|(n, _)| n == name) {
            return Err(err(format!("--block-sector-size:{name} given without --block:{name}")));
        }
    }
    Ok((Command::Run(cfg), notes))
}

/// The guest command line: the arguments after IMAGE joined by single spaces.
pub fn cmdline(args: &[String]) -> Result<String, String> {
    let s = args.join(" ");
    if s.len() >= crate::abi::CMDLINE_SIZE || s.contains('\0') {
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
        assert_eq!(c.nets, vec![("service0".to_string(), "tap0".to_string())]);
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
