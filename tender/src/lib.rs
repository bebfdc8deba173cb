//! `tender`: boots Solo5-hvt unikernel images.
//!
//! Two engines share the loader, the boot-info layout and the device (hypercall) code:
//! `kvm` runs the image in a one-vCPU KVM virtual machine; `process` runs it inside this
//! process, trapping its hypercalls and privileged instructions with a signal handler.
//! See README.md for the isolation each gives.

pub mod boot;
pub mod cli;
pub mod devices;
pub mod image;
#[allow(unsafe_code)] // KVM ioctls on the vCPU, the guest memory mapping
pub mod kvm;
#[allow(unsafe_code)] // the guest memory accessor over a raw mapping
pub mod mem;
#[allow(unsafe_code)] // the in-process guest: its mapping, signal handlers, the jump into it
pub mod process;
#[allow(unsafe_code)] // prctl(2), installing the filter, pre-faulting the heap
pub mod seccomp;
pub mod synth;

/// The shared ELF/note reader, under the name the tests use.
pub use hvt_abi::elf;

use cli::{Command, EngineChoice};
use devices::Devices;
use mem::GuestMemory;

/// Everything an engine needs: the validated image, guest memory size, attached devices,
/// and the guest command line.
pub struct Prepared {
    pub image: image::Loaded,
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
pub fn load_segments(mem: &mut GuestMemory, image: &image::Loaded, file: &[u8]) -> Result<(), String> {
    for s in &image.segments {
        // The reader checked that every segment's bytes lie inside the file.
        let data = file.get(s.offset as usize..(s.offset + s.filesz) as usize).unwrap_or(&[]);
        mem.setup_write(s.vaddr, data).map_err(|e| format!("loading segment at {:#x}: {e}", s.vaddr))?;
    }
    Ok(())
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
            println!("tender {} (Solo5 hvt ABI version {})", env!("CARGO_PKG_VERSION"), hvt_abi::HVT_ABI_VERSION);
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
    let mut image = match image::load(&file, cfg.mem_size) {
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
    let devices = match devices::attach(&cfg, &mut image.mft) {
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
