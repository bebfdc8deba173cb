//! `tender`: boots Solo5-hvt unikernel images.
//!
//! Two engines share the loader, the boot-info layout and the device (hypercall) code:
//! `kvm` runs the image in a one-vCPU KVM virtual machine; `process` runs it inside this
//! process, trapping its hypercalls and privileged instructions with a signal handler.
//! See README.md for the isolation each gives.

pub mod abi;
pub mod boot;
pub mod cli;
pub mod devices;
pub mod elf;
pub mod kvm;
pub mod manifest;
pub mod mem;
pub mod process;
pub mod seccomp;
pub mod synth;

use cli::{Command, Config, EngineChoice};
use devices::{Device, Devices};
use mem::GuestMemory;

/// Everything an engine needs: the validated image, guest memory size, attached devices,
/// and the guest command line.
pub struct Prepared {
    pub image: elf::Image,
    pub file: Vec<u8>,
    pub mem_size: u64,
    pub devices: Devices,
    pub cmdline: String,
}

/// Exit status for tender-side errors (upstream's).
pub const EXIT_ERROR: i32 = 1;
/// Exit status of an aborted or faulting guest.
pub const EXIT_ABORT: i32 = 255;

pub fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("tender: {msg}");
    EXIT_ERROR
}

/// Copies the non-empty `PT_LOAD` segments to their guest addresses. The memory is fresh
/// and zeroed, so `[filesz, memsz)` is already zero.
pub fn load_segments(mem: &mut GuestMemory, image: &elf::Image, file: &[u8]) -> Result<(), String> {
    for s in &image.segments {
        let data = &file[s.offset as usize..(s.offset + s.filesz) as usize];
        mem.setup_write(s.vaddr, data).map_err(|e| format!("loading segment at {:#x}: {e}", s.vaddr))?;
    }
    Ok(())
}

/// Opens and attaches the devices named on the command line, fills the manifest copy and
/// checks that every declared device is attached.
fn attach_devices(cfg: &Config, image: &mut elf::Image) -> Result<Devices, String> {
    let mft = &mut image.manifest;
    let mut devs: Vec<Device> = mft.entries.iter().map(|_| Device::None).collect();
    let mut poll = devices::poll::Poll::default();
    let lookup = |name: &str, kind: u32| -> Result<usize, String> {
        let idx = mft.find(name).ok_or_else(|| format!("Resource not declared in manifest: '{name}'"))?;
        if mft.entries[idx].kind != kind {
            return Err(format!(
                "Device '{name}' is declared as {} in the manifest, not {}",
                manifest::kind_name(mft.entries[idx].kind),
                manifest::kind_name(kind)
            ));
        }
        Ok(idx)
    };
    let mut blocks = Vec::new();
    for (name, path) in &cfg.blocks {
        blocks.push((lookup(name, abi::MFT_DEV_BLOCK_BASIC)?, name, path));
    }
    let mut nets = Vec::new();
    for (name, iface) in &cfg.nets {
        nets.push((lookup(name, abi::MFT_DEV_NET_BASIC)?, name, iface));
    }
    for (idx, name, path) in blocks {
        let bs = cfg.sector_sizes.iter().find(|(n, _)| n == name).map_or(512, |(_, s)| *s);
        let b = devices::block::Block::open(path, bs).map_err(|e| format!("{name}: {e}"))?;
        mft.set_block(idx, b.capacity, b.block_size, b.fd());
        devs[idx] = Device::Block(b);
    }
    for (idx, name, iface) in nets {
        let mac = cfg.net_macs.iter().find(|(n, _)| n == name).map(|(_, m)| *m);
        let n = devices::net::Net::attach(iface, mac)?;
        mft.set_net(idx, n.mac, n.mtu, n.fd());
        poll.add(n.fd(), idx as u32);
        devs[idx] = Device::Net(n);
    }
    for (i, e) in mft.entries.iter().enumerate().skip(1) {
        if !mft.attached(i) {
            return Err(format!(
                "Device '{}' of type {} declared but not attached.\n\
                 tender: All declared devices must be attached. See --help for syntax.",
                e.name,
                manifest::kind_name(e.kind)
            ));
        }
    }
    let test_forbidden_syscall = std::env::var_os("TENDER_TEST_SECCOMP_KILL").is_some_and(|v| v == "1");
    Ok(Devices { devs, poll, test_forbidden_syscall })
}

/// Picks the engine for `--engine=auto` and says why.
fn choose_engine() -> (EngineChoice, String) {
    match kvm::probe() {
        Ok(kvm::Probe::Full) => (EngineChoice::Kvm, "/dev/kvm works and runs SSE code".into()),
        Ok(kvm::Probe::NoSse) => (
            EngineChoice::Process,
            "this host's KVM cannot execute SSE arithmetic (probe guest's xorps gave an internal error), \
             so SSE2-baseline images would die there"
                .into(),
        ),
        Err(e) => (EngineChoice::Process, format!("KVM unusable: {e}")),
    }
}

/// The tender's `main`: returns the process exit status.
pub fn run(args: Vec<String>) -> i32 {
    let (cmd, notes) = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tender: {}", e.msg);
            if e.usage {
                eprint!("{}", cli::usage(seccomp::kvm_syscall_count(), seccomp::process_syscall_count()));
            }
            return EXIT_ERROR;
        }
    };
    let cfg = match cmd {
        Command::Help => {
            print!("{}", cli::usage(seccomp::kvm_syscall_count(), seccomp::process_syscall_count()));
            return 0;
        }
        Command::Version => {
            println!("tender {} (Solo5 hvt ABI version {})", env!("CARGO_PKG_VERSION"), abi::HVT_ABI_VERSION);
            return 0;
        }
        Command::Run(c) => c,
    };
    for n in notes {
        eprintln!("tender: {n}");
    }
    let file = match std::fs::read(&cfg.image) {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", cfg.image)),
    };
    let mut image = match elf::parse(&file, cfg.mem_size) {
        Ok(i) => i,
        Err(e) => return fail(format!("{}: {e}", cfg.image)),
    };
    let mut guest_args = cfg.args.clone();
    if image.accepts_seed {
        match entropy_seed() {
            Ok(seed) => guest_args.insert(0, format!("{}{seed}", hvt_abi::SEED_ARG_PREFIX)),
            Err(e) => return fail(format!("cannot read an entropy seed for the guest: {e}")),
        }
    }
    let cmdline = match cli::cmdline(&guest_args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let devices = match attach_devices(&cfg, &mut image) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let engine = match cfg.engine {
        EngineChoice::Auto => {
            let (e, why) = choose_engine();
            let name = if e == EngineChoice::Kvm { "kvm" } else { "process" };
            eprintln!("tender: engine {name} ({why})");
            e
        }
        e => e,
    };
    let prepared = Prepared { image, file, mem_size: cfg.mem_size, devices, cmdline };
    match engine {
        EngineChoice::Kvm => kvm::run(prepared),
        _ => process::run(prepared),
    }
}

/// 32 bytes from the host's random source, in hex, for images that take a seed (hvt has
/// no entropy device; the guest mixes this with RDRAND/RDSEED when it has them).
fn entropy_seed() -> std::io::Result<String> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed.iter().map(|b| format!("{b:02x}")).collect())
}
