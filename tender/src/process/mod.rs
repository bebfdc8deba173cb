//! Engine `process`: run the hvt image inside this process, in ring 3.
//!
//! Guest memory is mapped at its guest-physical addresses (`0x10000 .. mem_size`), so the
//! identity-mapped guest runs unmodified. Whatever a ring-0 kernel may do but a process may
//! not traps: the hypercall `out`, and the CPU set-up instructions (lgdt, lidt, ltr, wrmsr,
//! mov to segment and control registers, retfq/iretq that reload CS, cli/sti) raise #GP,
//! which Linux delivers as SIGSEGV. A handler on its own signal stack decodes the
//! instruction from the saved context, serves hypercalls with the shared device code,
//! emulates or skips the rest, advances RIP and returns to the guest.
//!
//! The guest owns the FS base (its TLS). Every signal enters through a small assembly stub
//! that saves the interrupted FS base and installs the tender's before any Rust code runs,
//! and installs the chosen FS base again on the way out.
//!
//! HALT does not longjmp: the handler rewrites the saved context so that the signal
//! return lands in `tender_guest_landing`, on the tender's own stack, which returns from
//! `tender_enter_guest` with the exit status.

pub mod insn;

use crate::devices::{Action, Devices, decode_out};
use crate::mem::GuestMemory;
use crate::{EXIT_ABORT, EXIT_ERROR, Prepared, boot, fail, load_segments, seccomp};
use hvt_abi::x86_64 as layout;
use insn::Insn;
use std::arch::global_asm;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// The tender's FS base, installed by the signal stub before any Rust code runs.
static TENDER_FS: AtomicU64 = AtomicU64::new(0);
/// The guest's FS base at entry (0: stray TLS accesses fault at low addresses).
static GUEST_FS_INIT: AtomicU64 = AtomicU64::new(0);
/// Tender stack pointer saved by `tender_enter_guest`, restored by the landing code.
static TENDER_RSP: AtomicU64 = AtomicU64::new(0);
/// Guest entry point, jumped to by `tender_enter_guest`.
static GUEST_ENTRY: AtomicU64 = AtomicU64::new(0);
/// The running guest's state, for the signal handler.
static STATE: AtomicPtr<State> = AtomicPtr::new(ptr::null_mut());

const GUEST_LOW: u64 = layout::BOOT_INFO_ADDR;
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
const MSR_EFER: u32 = 0xc000_0080;
const SIGSTACK_SIZE: usize = 256 * 1024;

struct State {
    mem: GuestMemory,
    devices: Devices,
    mem_size: u64,
    crs: [u64; 9],
    kernel_gs: u64,
}

unsafe extern "C" {
    fn tender_enter_guest(entry_rsp: u64, boot_info: u64) -> i64;
    fn tender_guest_landing();
    fn tender_sig_entry(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void);
}

// tender_enter_guest(rsp = rdi, boot info = rsi): saves the callee-saved registers,
// MXCSR and the x87 control word on the tender stack, records the stack pointer, installs
// the guest FS base, clears every other register and jumps to the guest entry.
// tender_guest_landing: reached by signal return after HALT (RAX = status); restores all
// of that and returns to tender_enter_guest's caller.
// tender_sig_entry(sig, info, uctx): switches to the tender's FS base, calls
// `handle_signal(sig, info, uctx, interrupted_fs)` and installs the FS base it returns.
global_asm!(
    ".globl tender_enter_guest",
    "tender_enter_guest:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 8",
    "stmxcsr [rsp]",
    "fnstcw [rsp + 4]",
    "mov [rip + {tender_rsp}], rsp",
    "mov rax, [rip + {guest_fs}]",
    "wrfsbase rax",
    "mov rsp, rdi",
    "mov rdi, rsi",
    "xor eax, eax",
    "xor ebx, ebx",
    "xor ecx, ecx",
    "xor edx, edx",
    "xor esi, esi",
    "xor ebp, ebp",
    "xor r8d, r8d",
    "xor r9d, r9d",
    "xor r10d, r10d",
    "xor r11d, r11d",
    "xor r12d, r12d",
    "xor r13d, r13d",
    "xor r14d, r14d",
    "xor r15d, r15d",
    "cld",
    "jmp qword ptr [rip + {entry}]",
    "",
    ".globl tender_guest_landing",
    "tender_guest_landing:",
    "mov rsp, [rip + {tender_rsp}]",
    "cld",
    "ldmxcsr [rsp]",
    "fldcw [rsp + 4]",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    "",
    ".globl tender_sig_entry",
    "tender_sig_entry:",
    "rdfsbase rcx",
    "mov rax, [rip + {tender_fs}]",
    "wrfsbase rax",
    "sub rsp, 8",
    "call {handler}",
    "add rsp, 8",
    "wrfsbase rax",
    "ret",
    tender_rsp = sym TENDER_RSP,
    guest_fs = sym GUEST_FS_INIT,
    entry = sym GUEST_ENTRY,
    tender_fs = sym TENDER_FS,
    handler = sym handle_signal,
);

fn rdfsbase() -> u64 {
    let v: u64;
    // SAFETY: rdfsbase only reads the FS base; the kernel enables FSGSBASE for user mode
    // (checked by `fsgsbase_usable` before this engine runs).
    unsafe { std::arch::asm!("rdfsbase {}", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

fn fsgsbase_usable() -> bool {
    // HWCAP2_FSGSBASE (bit 1) is set when the kernel allows the instructions in user mode.
    // SAFETY: getauxval has no preconditions.
    unsafe { libc::getauxval(libc::AT_HWCAP2) & 2 != 0 }
}

/// Ends the guest run from inside the signal handler: the signal return lands in
/// `tender_guest_landing` with RAX = `status`. Returns the FS base to install (tender's).
fn finish(uc: &mut libc::ucontext_t, status: i32) -> u64 {
    let g = &mut uc.uc_mcontext.gregs;
    g[libc::REG_RIP as usize] = tender_guest_landing as *const () as usize as i64;
    g[libc::REG_RSP as usize] = TENDER_RSP.load(Ordering::Relaxed) as i64;
    g[libc::REG_RAX as usize] = i64::from(status);
    g[libc::REG_EFL as usize] &= !0x0500; // clear TF and DF
    TENDER_FS.load(Ordering::Relaxed)
}

/// gregs index of ModRM register number `r`.
fn greg(r: u8) -> usize {
    (match r & 15 {
        0 => libc::REG_RAX,
        1 => libc::REG_RCX,
        2 => libc::REG_RDX,
        3 => libc::REG_RBX,
        4 => libc::REG_RSP,
        5 => libc::REG_RBP,
        6 => libc::REG_RSI,
        7 => libc::REG_RDI,
        8 => libc::REG_R8,
        9 => libc::REG_R9,
        10 => libc::REG_R10,
        11 => libc::REG_R11,
        12 => libc::REG_R12,
        13 => libc::REG_R13,
        14 => libc::REG_R14,
        _ => libc::REG_R15,
    }) as usize
}

fn sig_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTRAP => "SIGTRAP",
        _ => "signal",
    }
}

/// Outcome of emulating one trapped instruction.
enum Emu {
    /// Continue the guest (RIP already updated).
    Resume,
    Halt(i32),
    Fatal(String),
    /// Not an instruction we emulate: a real guest fault.
    Fault,
}

fn emulate(st: &mut State, uc: &mut libc::ucontext_t, fs: &mut u64) -> Emu {
    let g = &mut uc.uc_mcontext.gregs;
    let rip = g[libc::REG_RIP as usize] as u64;
    let avail = (st.mem_size - 1).saturating_sub(rip).min(15);
    let Ok(bytes) = st.mem.slice(rip, avail) else { return Emu::Fault };
    let Some(dec) = insn::decode(bytes) else { return Emu::Fault };
    let next = rip + dec.len as u64;
    let reg = |g: &[i64; 23], r: usize| g[r] as u64;
    match dec.insn {
        Insn::Out { size, port } => {
            let port = port.unwrap_or(reg(g, libc::REG_RDX as usize) as u16);
            let value = reg(g, libc::REG_RAX as usize) as u32;
            let (hc, gpa) = match decode_out(port, usize::from(size), value) {
                Ok(d) => d,
                Err(e) => return Emu::Fatal(e.describe(rip)),
            };
            g[libc::REG_RIP as usize] = next as i64;
            match st.devices.hypercall(hc, gpa, &mut st.mem) {
                Ok(Action::Continue) => Emu::Resume,
                Ok(Action::Halt(s)) => Emu::Halt(s),
                Err(e) => Emu::Fatal(format!("{e} (hypercall {}, rip={rip:#x})", hc.nr())),
            }
        }
        Insn::In => Emu::Fatal(format!("Invalid guest port access (in), rip={rip:#x}")),
        Insn::Hlt => Emu::Fatal(format!("guest executed hlt (halt with the HALT hypercall), rip={rip:#x}")),
        Insn::Skip => {
            g[libc::REG_RIP as usize] = next as i64;
            Emu::Resume
        }
        Insn::MovToCr { cr, reg: r } => {
            if let Some(c) = st.crs.get_mut(cr as usize) {
                *c = g[greg(r)] as u64;
            }
            g[libc::REG_RIP as usize] = next as i64;
            Emu::Resume
        }
        Insn::MovFromCr { cr, reg: r } => {
            g[greg(r)] = st.crs.get(cr as usize).copied().unwrap_or(0) as i64;
            g[libc::REG_RIP as usize] = next as i64;
            Emu::Resume
        }
        Insn::Wrmsr => {
            let msr = reg(g, libc::REG_RCX as usize) as u32;
            let v = (reg(g, libc::REG_RDX as usize) << 32) | (reg(g, libc::REG_RAX as usize) & 0xffff_ffff);
            match msr {
                MSR_FS_BASE => *fs = v,
                MSR_GS_BASE => {
                    // SAFETY: the tender (Rust/glibc on x86_64) does not use GS, so only the
                    // guest sees the new GS base; the instruction is enabled for user mode.
                    unsafe { std::arch::asm!("wrgsbase {}", in(reg) v, options(nostack, preserves_flags)) };
                }
                MSR_KERNEL_GS_BASE => st.kernel_gs = v,
                _ => {}
            }
            g[libc::REG_RIP as usize] = next as i64;
            Emu::Resume
        }
        Insn::Rdmsr => {
            let v = match reg(g, libc::REG_RCX as usize) as u32 {
                MSR_FS_BASE => *fs,
                MSR_GS_BASE => {
                    let v: u64;
                    // SAFETY: reads the GS base, which only the guest uses.
                    unsafe { std::arch::asm!("rdgsbase {}", out(reg) v, options(nomem, nostack, preserves_flags)) };
                    v
                }
                MSR_KERNEL_GS_BASE => st.kernel_gs,
                MSR_EFER => layout::EFER_INIT,
                _ => 0,
            };
            g[libc::REG_RAX as usize] = (v & 0xffff_ffff) as i64;
            g[libc::REG_RDX as usize] = (v >> 32) as i64;
            g[libc::REG_RIP as usize] = next as i64;
            Emu::Resume
        }
        Insn::Iretq | Insn::Retfq { .. } | Insn::PopSeg => {
            let rsp = reg(g, libc::REG_RSP as usize);
            let n = match dec.insn {
                Insn::Iretq => 5,
                Insn::Retfq { .. } => 2,
                _ => 1,
            };
            let Ok(frame) = st.mem.slice(rsp, 8 * n) else { return Emu::Fault };
            let word = |i: usize| u64::from_le_bytes(frame[8 * i..8 * i + 8].try_into().expect("8 bytes"));
            match dec.insn {
                Insn::Iretq => {
                    const USER_FLAGS: u64 = 0x0001 | 0x0004 | 0x0010 | 0x0040 | 0x0080 | 0x0400 | 0x0800 | 0x4_0000;
                    let fl = (reg(g, libc::REG_EFL as usize) & !USER_FLAGS) | (word(2) & USER_FLAGS);
                    g[libc::REG_RIP as usize] = word(0) as i64;
                    g[libc::REG_EFL as usize] = fl as i64;
                    g[libc::REG_RSP as usize] = word(3) as i64;
                }
                Insn::Retfq { pop } => {
                    g[libc::REG_RIP as usize] = word(0) as i64;
                    g[libc::REG_RSP as usize] = (rsp + 16 + u64::from(pop)) as i64;
                }
                _ => {
                    g[libc::REG_RSP as usize] = (rsp + 8) as i64;
                    g[libc::REG_RIP as usize] = next as i64;
                }
            }
            Emu::Resume
        }
    }
}

/// The Rust half of the signal handler (called by `tender_sig_entry` with the tender's FS
/// base installed). Returns the FS base to install before returning from the signal.
extern "C" fn handle_signal(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void, fs: u64) -> u64 {
    if sig == libc::SIGINT || sig == libc::SIGTERM {
        let msg: &[u8] =
            if sig == libc::SIGINT { b"tender: Exiting on signal 2\n" } else { b"tender: Exiting on signal 15\n" };
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(EXIT_ERROR);
        }
    }
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
    let uc = unsafe { &mut *uctx.cast::<libc::ucontext_t>() };
    let st_ptr = STATE.load(Ordering::Acquire);
    let rip = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64;
    if st_ptr.is_null() || rip < GUEST_LOW || rip >= st_ptr_mem_size(st_ptr) {
        // A fault in the tender itself (or in code the guest jumped to outside its memory):
        // report it and die with the default action.
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!("tender: internal fault: {} at rip={rip:#x} outside guest memory\n", sig_name(sig)),
        );
        // SAFETY: restoring the default disposition; returning re-executes the faulting
        // instruction, which then ends the process with the usual signal status.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
        return fs;
    }
    // SAFETY: STATE points at the `State` owned by `run`, which outlives the guest run; the
    // guest is suspended in this signal, so the handler has exclusive use of it.
    let st = unsafe { &mut *st_ptr };
    let mut guest_fs = fs;
    let trapno = uc.uc_mcontext.gregs[libc::REG_TRAPNO as usize];
    let outcome = if sig == libc::SIGSEGV && trapno == 13 { emulate(st, uc, &mut guest_fs) } else { Emu::Fault };
    match outcome {
        Emu::Resume => guest_fs,
        Emu::Halt(status) => finish(uc, status),
        Emu::Fatal(msg) => {
            eprintln!("tender: {msg}");
            finish(uc, EXIT_ERROR)
        }
        Emu::Fault => {
            // SAFETY: `info` is the valid siginfo of this signal.
            let addr = unsafe { (*info).si_addr() } as usize;
            let g = &uc.uc_mcontext.gregs;
            eprintln!(
                "tender: guest fault: {} (trap {trapno}, error code {:#x}) rip={rip:#x} addr={addr:#x} rsp={:#x}",
                sig_name(sig),
                g[libc::REG_ERR as usize],
                g[libc::REG_RSP as usize]
            );
            finish(uc, EXIT_ABORT)
        }
    }
}

fn st_ptr_mem_size(p: *mut State) -> u64 {
    // SAFETY: called only with a non-null STATE, which points at a live `State`.
    unsafe { (*p).mem_size }
}

/// TSC frequency in Hz: CPUID leaf 0x15 when it gives one, else a 1 ms calibration
/// against CLOCK_MONOTONIC (about 50 ppm: good enough for the guest's monotonic clock).
fn tsc_hz() -> u64 {
    use std::arch::x86_64::{__cpuid, _rdtsc};
    let max = __cpuid(0).eax;
    if max >= 0x15 {
        let l = __cpuid(0x15);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return u64::from(l.ecx) * u64::from(l.ebx) / u64::from(l.eax);
        }
    }
    let now = || {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: valid timespec pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    // SAFETY: rdtsc has no preconditions.
    let (t0, c0) = (now(), unsafe { _rdtsc() });
    let mut t1 = now();
    while t1 - t0 < 1_000_000 {
        t1 = now();
    }
    // SAFETY: as above.
    let c1 = unsafe { _rdtsc() };
    ((c1 - c0) as u128 * 1_000_000_000 / (t1 - t0) as u128) as u64
}

fn mprotect(start: u64, end: u64, prot: i32) -> Result<(), String> {
    // SAFETY: the range lies inside the guest mapping owned by `run` (checked by the loader).
    let rc = unsafe { libc::mprotect(start as usize as *mut libc::c_void, (end - start) as usize, prot) };
    if rc != 0 {
        return Err(format!("mprotect: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn setup(p: &Prepared) -> Result<GuestMemory, String> {
    if !fsgsbase_usable() {
        return Err("the process engine needs user-mode FSGSBASE (Linux >= 5.9 on a CPU with it)".into());
    }
    let len = (p.mem_size - GUEST_LOW) as usize;
    // SAFETY: maps fresh anonymous memory at the guest's addresses; MAP_FIXED_NOREPLACE
    // refuses to replace anything already mapped there.
    let addr = unsafe {
        libc::mmap(
            GUEST_LOW as usize as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED || addr as u64 != GUEST_LOW {
        return Err(format!(
            "cannot map guest memory at {GUEST_LOW:#x}..{:#x}: {}",
            p.mem_size,
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `[GUEST_LOW, mem_size)` was mapped above at its own address and is never
    // unmapped (the process ends with the guest).
    let mut mem = unsafe { GuestMemory::new(0, p.mem_size, GUEST_LOW) };
    load_segments(&mut mem, &p.image, &p.file)?;
    boot::write_boot_info(&mut mem, p.image.kernel_end, tsc_hz(), p.image.mft.bytes(), &p.cmdline)
        .map_err(|e| e.to_string())?;
    mprotect(GUEST_LOW, layout::GUEST_MIN_BASE, libc::PROT_READ)?;
    mem.set_readonly(0, layout::GUEST_MIN_BASE);
    for s in &p.image.segments {
        let prot = match (s.writable(), s.executable()) {
            (true, _) => libc::PROT_READ | libc::PROT_WRITE,
            (false, true) => libc::PROT_READ | libc::PROT_EXEC,
            (false, false) => libc::PROT_READ,
        };
        mprotect(s.start, s.end, prot)?;
        if !s.writable() {
            mem.set_readonly(s.start, s.end);
        }
    }
    Ok(mem)
}

fn install_handlers() -> Result<(), String> {
    // SAFETY: anonymous mapping for the signal stack; checked below and never unmapped.
    let stack = unsafe {
        libc::mmap(
            ptr::null_mut(),
            SIGSTACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(format!("signal stack: {}", std::io::Error::last_os_error()));
    }
    let ss = libc::stack_t { ss_sp: stack, ss_flags: 0, ss_size: SIGSTACK_SIZE };
    // SAFETY: `ss` describes the mapping above, which stays alive.
    if unsafe { libc::sigaltstack(&ss, ptr::null_mut()) } != 0 {
        return Err(format!("sigaltstack: {}", std::io::Error::last_os_error()));
    }
    TENDER_FS.store(rdfsbase(), Ordering::Relaxed);
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP, libc::SIGINT, libc::SIGTERM] {
        // SAFETY: zeroed sigaction is a valid starting point; the fields are set below.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = tender_sig_entry as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `sa.sa_mask` is a valid sigset; blocks every signal during the handler.
        unsafe { libc::sigfillset(&mut sa.sa_mask) };
        // SAFETY: installs our handler stub; `sa` is fully initialised.
        if unsafe { libc::sigaction(sig, &sa, ptr::null_mut()) } != 0 {
            return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Boots the prepared image in this process; returns the exit status.
pub fn run(mut p: Prepared) -> i32 {
    let mem = match setup(&p) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    if let Err(e) = install_handlers() {
        return fail(e);
    }
    let fds = seccomp::Fds { vcpu: None, net: p.devices.net_fds(), block: p.devices.block_fds() };
    let filter = seccomp::process_bpf(&fds, GUEST_LOW, p.mem_size);
    let devices = std::mem::replace(&mut p.devices, Devices::new(0));
    let state = Box::new(State { mem, devices, mem_size: p.mem_size, crs: initial_crs(), kernel_gs: 0 });
    let state = Box::into_raw(state);
    STATE.store(state, Ordering::Release);
    GUEST_ENTRY.store(p.image.entry, Ordering::Relaxed);
    GUEST_FS_INIT.store(0, Ordering::Relaxed);
    drop(std::mem::take(&mut p.file));
    seccomp::prepare_heap();
    if std::env::var_os("TENDER_NO_SECCOMP").is_none()
        && let Err(e) = seccomp::install_bpf(&filter)
    {
        return fail(format!("cannot install the seccomp filter: {e}"));
    }
    // SAFETY: guest memory, entry point, signal handlers and state are set up above; the
    // guest only comes back through `tender_guest_landing`, which restores the registers
    // that `tender_enter_guest` saved.
    let status = unsafe { tender_enter_guest(p.mem_size - 8, layout::BOOT_INFO_ADDR) };
    status as i32
}

fn initial_crs() -> [u64; 9] {
    let mut c = [0u64; 9];
    c[0] = layout::CR0_INIT;
    c[3] = layout::PML4_ADDR;
    c[4] = layout::CR4_INIT;
    c
}

#[cfg(test)]
mod tests {
    #[test]
    fn tsc_frequency_is_plausible() {
        let hz = super::tsc_hz();
        assert!((100_000_000..20_000_000_000).contains(&hz), "{hz}");
    }
}
