//! Engine `kvm`: one vCPU in a KVM virtual machine (kvm-ioctls, vm-memory).
//!
//! Set-up follows the ABI reference §4.2/§8.1: one memory slot from GPA 0, the image loaded
//! and host-protected (executable → read-only), GDT and identity page tables, CPUID from
//! KVM_GET_SUPPORTED_CPUID, long-mode registers, TSC frequency into the boot info; then the
//! seccomp filter, then the run loop with upstream's exit handling (§4.5).

use crate::devices::{Action, Devices, PortError, decode_out};
use crate::mem::GuestMemory;
use crate::{Prepared, boot, fail, image, load_segments, seccomp, synth};
use hvt_abi::Hypercall;
use hvt_abi::x86_64 as layout;
use kvm_bindings::{KVM_MAX_CPUID_ENTRIES, kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use vm_memory::mmap::MmapRegion;

struct Vm {
    _kvm: Kvm,
    _vm: VmFd,
    vcpu: VcpuFd,
    /// Keeps the guest RAM mapped for as long as `mem` is used.
    _region: MmapRegion<()>,
    mem: GuestMemory,
    tsc_hz: u64,
}

fn setup(mem_size: u64, image: &image::Loaded, file: &[u8]) -> Result<Vm, String> {
    let kvm = Kvm::new().map_err(|e| format!("/dev/kvm: {e}"))?;
    if kvm.get_api_version() != 12 {
        return Err(format!("KVM API version {} is not 12", kvm.get_api_version()));
    }
    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    for (cap, name) in [(Cap::UserMemory, "USER_MEMORY"), (Cap::GetTscKhz, "GET_TSC_KHZ")] {
        if !vm.check_extension(cap) {
            return Err(format!("KVM lacks the {name} capability"));
        }
    }
    let region = MmapRegion::<()>::build(
        None,
        mem_size as usize,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_ANONYMOUS | libc::MAP_PRIVATE | libc::MAP_NORESERVE,
    )
    .map_err(|e| format!("cannot allocate {mem_size} bytes of guest memory: {e}"))?;
    let host = region.as_ptr().expose_provenance();
    let slot = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: mem_size,
        userspace_addr: host as u64,
    };
    // SAFETY: the region is a private anonymous mapping of `mem_size` bytes that lives in
    // `Vm` (together with the VM fd) for as long as the VM can run.
    unsafe { vm.set_user_memory_region(slot) }.map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;
    // SAFETY: `[host, host + mem_size)` is the mapping above, kept alive by `Vm::_region`.
    let mut mem = unsafe { GuestMemory::new(host, mem_size, 0) };
    load_segments(&mut mem, image, file)?;
    boot::write_page_tables(&mut mem).map_err(|e| e.to_string())?;
    // Host-side W^X stand-in: executable and read-only segments become read-only.
    for s in image.segments.iter().filter(|s| !s.writable()) {
        // SAFETY: the range is page-aligned and inside the guest mapping (checked by the loader).
        let rc = unsafe {
            libc::mprotect(mem.host_addr(s.start) as *mut libc::c_void, (s.end - s.start) as usize, libc::PROT_READ)
        };
        if rc != 0 {
            return Err(format!("mprotect: {}", std::io::Error::last_os_error()));
        }
        mem.set_readonly(s.start, s.end);
    }
    // The boot info area is read-only for the guest; hypercalls must not write it either.
    mem.set_readonly(0, layout::GUEST_MIN_BASE);

    let vcpu = vm.create_vcpu(0).map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;
    let cpuid = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(|e| format!("KVM_GET_SUPPORTED_CPUID: {e}"))?;
    vcpu.set_cpuid2(&cpuid).map_err(|e| format!("KVM_SET_CPUID2: {e}"))?;

    let mut sregs = vcpu.get_sregs().map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
    let seg = |selector: u16, type_: u8, l: u8, db: u8| kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db,
        s: 1,
        l,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    sregs.cs = seg(0x08, 9, 1, 0);
    let data = seg(0x10, 3, 0, 1);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.tr = kvm_segment { limit: 0, selector: 0, type_: 11, s: 0, db: 0, g: 0, ..seg(0, 11, 0, 0) };
    sregs.ldt = kvm_segment { unusable: 1, present: 0, type_: 2, s: 0, ..seg(0, 2, 0, 0) };
    sregs.gdt.base = layout::GDT_ADDR;
    sregs.gdt.limit = 23;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = layout::CR0_INIT;
    sregs.cr3 = layout::PML4_ADDR;
    sregs.cr4 = layout::CR4_INIT;
    sregs.efer = layout::EFER_INIT;
    vcpu.set_sregs(&sregs).map_err(|e| format!("KVM_SET_SREGS: {e}"))?;

    let khz = vcpu.get_tsc_khz().map_err(|e| format!("KVM_GET_TSC_KHZ: {e} (unstable TSC?)"))?;
    let regs = kvm_bindings::kvm_regs {
        rip: image.entry,
        rsp: mem_size - 8,
        rdi: layout::BOOT_INFO_ADDR,
        rflags: 2,
        ..Default::default()
    };
    vcpu.set_regs(&regs).map_err(|e| format!("KVM_SET_REGS: {e}"))?;
    Ok(Vm { _kvm: kvm, _vm: vm, vcpu, _region: region, mem, tsc_hz: u64::from(khz) * 1000 })
}

/// What a vCPU exit means to the tender.
enum Exit {
    Hypercall(Hypercall, u64),
    BadPort(PortError),
    Internal,
    FailEntry(u64),
    Other,
    Interrupted,
    Fault,
    RunFailed(String),
}

fn next_exit(vcpu: &mut VcpuFd) -> Exit {
    match vcpu.run() {
        Ok(VcpuExit::IoOut(port, data)) => {
            let mut value = [0u8; 4];
            let n = data.len().min(4);
            value[..n].copy_from_slice(&data[..n]);
            match decode_out(port, data.len(), u32::from_le_bytes(value)) {
                Ok((hc, gpa)) => Exit::Hypercall(hc, gpa),
                Err(e) => Exit::BadPort(e),
            }
        }
        Ok(VcpuExit::IoIn(port, _)) => Exit::BadPort(PortError::BadPort(port)),
        Ok(VcpuExit::InternalError) => Exit::Internal,
        Ok(VcpuExit::FailEntry(reason, _)) => Exit::FailEntry(reason),
        Ok(_) => Exit::Other,
        Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Exit::Interrupted,
        Err(e) if e.errno() == libc::EFAULT => Exit::Fault,
        Err(e) => Exit::RunFailed(e.to_string()),
    }
}

fn rip_u64(vcpu: &VcpuFd) -> u64 {
    vcpu.get_regs().map_or(0, |r| r.rip)
}

fn rip(vcpu: &VcpuFd) -> String {
    vcpu.get_regs().map_or_else(|_| "?".into(), |r| format!("{:#x}", r.rip))
}

fn internal_error(vcpu: &mut VcpuFd) -> String {
    let run = vcpu.get_kvm_run();
    // SAFETY: the exit reason was KVM_EXIT_INTERNAL_ERROR, so `internal` is the active
    // member of the kvm_run union.
    let internal = unsafe { run.__bindgen_anon_1.internal };
    let n = (internal.ndata as usize).min(internal.data.len());
    let data: Vec<String> = internal.data[..n].iter().map(|d| format!("{d:#x}")).collect();
    format!(
        "KVM: internal error exit: suberror={:#x}, rip={}, data=[{}]{}",
        internal.suberror,
        rip(vcpu),
        data.join(" "),
        if internal.suberror == 1 {
            " (instruction emulation failed: on this kind of host, often an SSE/x87 instruction)"
        } else {
            ""
        }
    )
}

fn run_loop(vm: &mut Vm, devices: &mut Devices) -> i32 {
    loop {
        match next_exit(&mut vm.vcpu) {
            Exit::Hypercall(hc, gpa) => match devices.hypercall(hc, gpa, &mut vm.mem) {
                Ok(Action::Continue) => {}
                Ok(Action::Halt(status)) => return status,
                Err(e) => return fail(format!("{e} (hypercall {}, rip={})", hc.nr(), rip(&vm.vcpu))),
            },
            Exit::BadPort(e) => return fail(e.describe(rip_u64(&vm.vcpu))),
            Exit::Internal => return fail(internal_error(&mut vm.vcpu)),
            Exit::FailEntry(r) => return fail(format!("KVM: entry failure: hw_entry_failure_reason={r:#x}")),
            Exit::Other => {
                let reason = vm.vcpu.get_kvm_run().exit_reason;
                let what = match reason {
                    5 => " (guest executed hlt)",
                    6 => " (MMIO: guest access outside RAM or write to read-only memory)",
                    8 => " (shutdown: triple fault)",
                    _ => "",
                };
                return fail(format!("KVM: unhandled exit: exit_reason={reason:#x}{what}, rip={}", rip(&vm.vcpu)));
            }
            Exit::Interrupted => {}
            Exit::Fault => return fail(format!("KVM: host/guest translation fault: rip={}", rip(&vm.vcpu))),
            Exit::RunFailed(e) => return fail(format!("KVM: ioctl (RUN) failed: {e}")),
        }
    }
}

extern "C" fn on_exit_signal(sig: libc::c_int) {
    let msg: &[u8] =
        if sig == libc::SIGINT { b"tender: Exiting on signal 2\n" } else { b"tender: Exiting on signal 15\n" };
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(1);
    }
}

/// Boots the prepared image under KVM; returns the exit status.
pub fn run(mut p: Prepared) -> i32 {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs a handler that only calls async-signal-safe functions.
        unsafe { libc::signal(sig, on_exit_signal as *const () as libc::sighandler_t) };
    }
    let mut vm = match setup(p.mem_size, &p.image, &p.file) {
        Ok(vm) => vm,
        Err(e) => return fail(e),
    };
    let tsc_hz = vm.tsc_hz;
    if let Err(e) = boot::write_boot_info(&mut vm.mem, p.image.kernel_end, tsc_hz, p.image.mft.bytes(), &p.cmdline) {
        return fail(e);
    }
    drop(std::mem::take(&mut p.file));
    let fds = seccomp::Fds { vcpu: Some(vm.vcpu.as_raw_fd()), net: p.devices.net_fds(), block: p.devices.block_fds() };
    seccomp::prepare_heap();
    if std::env::var_os("TENDER_NO_SECCOMP").is_none()
        && let Err(e) = seccomp::install_kvm(&fds)
    {
        return fail(format!("cannot install the seccomp filter: {e}"));
    }
    let status = run_loop(&mut vm, &mut p.devices);
    // Closing the VM's fds is not in the seccomp allowlist; the process exits right away.
    std::mem::forget(vm);
    std::mem::forget(p);
    status
}

/// Result of the engine probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// KVM runs guests, including SSE arithmetic.
    Full,
    /// KVM runs guests but its instruction emulator lacks SSE arithmetic.
    NoSse,
}

/// Runs a three-instruction probe guest (`xorps`, then HALT) once per process.
pub fn probe() -> Result<Probe, String> {
    static CACHE: OnceLock<Result<Probe, String>> = OnceLock::new();
    CACHE.get_or_init(probe_uncached).clone()
}

fn probe_uncached() -> Result<Probe, String> {
    let mem_size = 2 << 20;
    let file = synth::ImageBuilder::new().code(synth::puts_halt(b"", 0, synth::XORPS)).build();
    let image = image::load(&file, mem_size)?;
    let mut vm = setup(mem_size, &image, &file)?;
    loop {
        return match next_exit(&mut vm.vcpu) {
            Exit::Hypercall(Hypercall::Halt, _) => Ok(Probe::Full),
            Exit::Internal => Ok(Probe::NoSse),
            Exit::Interrupted => continue,
            _ => Err("probe guest did not halt".into()),
        };
    }
}
