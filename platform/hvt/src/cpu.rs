//! CPU set-up: our own GDT (null, code, data, TSS), a TSS with an IST stack, an IDT for
//! the 32 exception vectors, and the fatal-trap handler.
//!
//! The tender's GDT lives in a page that is not mapped in the guest, and there is no IDT
//! at entry, so until [`init`] has run any exception is a triple fault and any segment
//! reload faults. [`init`] is therefore the first thing the entry point does.

use core::arch::{asm, global_asm};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use hvt_abi::x86_64::{CS_SELECTOR, DS_SELECTOR, MSR_FS_BASE};

use crate::cell::RacyCell;
use crate::console::BufferedConsole;
use crate::hypercall::{self, HaltCookie};

/// TSS selector in our GDT (a 16-byte system descriptor at index 3).
const TSS_SELECTOR: u16 = 0x18;
/// Size of the IST stack used by every exception vector.
const TRAP_STACK_SIZE: usize = 16 * 1024;
/// Spacing of the per-vector stubs in `.text` (see the `global_asm!` below).
const STUB_STRIDE: usize = 16;
/// Number of exception vectors we install.
pub const VECTORS: usize = 32;

/// 64-bit code, present, DPL 0, readable, accessed; L = 1, G = 1.
const GDT_CODE: u64 = 0x00af_9b00_0000_ffff;
/// Data, present, DPL 0, writable, accessed; D/B = 1, G = 1.
const GDT_DATA: u64 = 0x00cf_9300_0000_ffff;

#[repr(C, align(16))]
struct Gdt([u64; 5]);

/// 64-bit TSS (104 bytes) kept as 32-bit words because its u64 fields are only 4-aligned.
#[repr(C, align(16))]
struct Tss([u32; 26]);

#[repr(C, align(16))]
struct Idt([u64; VECTORS * 2]);

#[repr(C, align(16))]
struct Stack([u8; TRAP_STACK_SIZE]);

static GDT: RacyCell<Gdt> = RacyCell::new(Gdt([0; 5]));
static TSS: RacyCell<Tss> = RacyCell::new(Tss([0; 26]));
static IDT: RacyCell<Idt> = RacyCell::new(Idt([0; VECTORS * 2]));
static TRAP_STACK: RacyCell<Stack> = RacyCell::new(Stack([0; TRAP_STACK_SIZE]));
static COOKIE: RacyCell<HaltCookie> = RacyCell::new(HaltCookie::zeroed());
static IN_TRAP: AtomicBool = AtomicBool::new(false);

/// Operand of `lgdt`/`lidt`.
#[repr(C, packed)]
struct DescriptorPointer {
    limit: u16,
    base: u64,
}

/// The 16-byte GDT descriptor of an available 64-bit TSS at `base` with `limit`.
pub const fn tss_descriptor(base: u64, limit: u32) -> [u64; 2] {
    let low = (limit as u64 & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89 << 40)
        | (((limit as u64 >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// The 16-byte IDT interrupt gate (present, DPL 0, interrupts stay off) for `handler`.
pub const fn interrupt_gate(handler: u64, selector: u16, ist: u8) -> [u64; 2] {
    let low = (handler & 0xffff)
        | ((selector as u64) << 16)
        | (((ist & 7) as u64) << 32)
        | (0x8e << 40)
        | (((handler >> 16) & 0xffff) << 48);
    [low, handler >> 32]
}

/// Whether the CPU pushes an error code for exception `vector`.
pub const fn has_error_code(vector: usize) -> bool {
    matches!(vector, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

/// Mnemonic of exception `vector` (`#PF`, ...).
pub const fn vector_name(vector: u64) -> &'static str {
    const NAMES: [&str; VECTORS] = [
        "#DE", "#DB", "#NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS", "#NP", "#SS", "#GP", "#PF",
        "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX",
        "#31",
    ];
    if (vector as usize) < VECTORS { NAMES[vector as usize] } else { "#??" }
}

// One 16-byte stub per vector (the flag after each vector says whether the CPU pushes an
// error code; it must agree with `has_error_code`): push a zero error code where the CPU pushes none, push the
// vector number, jump to the common path. The common path passes the frame to Rust on a
// 16-aligned stack; the handler never returns.
macro_rules! trap_stubs {
    ($($v:literal $ec:literal),* $(,)?) => {
        global_asm!(
            ".pushsection .text.platform_hvt_traps, \"ax\"",
            ".balign 16",
            ".global platform_hvt_trap_stubs",
            "platform_hvt_trap_stubs:",
            $(
                ".balign 16",
                concat!(".if ", $ec, " == 0"),
                "push 0",
                ".endif",
                concat!("push ", $v),
                "jmp 2f",
            )*
            "2:",
            "cld",
            "mov rdi, rsp",
            "and rsp, -16",
            "call {handler}",
            "ud2",
            ".popsection",
            handler = sym trap_handler,
        );
    };
}

trap_stubs!(
    0 0, 1 0, 2 0, 3 0, 4 0, 5 0, 6 0, 7 0, 8 1, 9 0, 10 1, 11 1, 12 1, 13 1, 14 1, 15 0,
    16 0, 17 1, 18 0, 19 0, 20 0, 21 1, 22 0, 23 0, 24 0, 25 0, 26 0, 27 0, 28 0, 29 1, 30 1, 31 0,
);

unsafe extern "C" {
    static platform_hvt_trap_stubs: [u8; STUB_STRIDE * VECTORS];
}

/// What the stubs leave on the trap stack, lowest address first.
#[repr(C)]
pub struct RawTrapFrame {
    /// Vector number (pushed by the stub).
    pub vector: u64,
    /// Error code (pushed by the CPU, or 0 by the stub).
    pub ec: u64,
    /// Pushed by the CPU.
    pub rip: u64,
    /// Pushed by the CPU.
    pub cs: u64,
    /// Pushed by the CPU.
    pub rflags: u64,
    /// Pushed by the CPU.
    pub rsp: u64,
    /// Pushed by the CPU.
    pub ss: u64,
}

/// Installs GDT, TSS and IDT, reloads every segment register, sets FS and GS base to 0.
///
/// # Safety
///
/// Must be called exactly once, first thing at entry, with interrupts off.
pub unsafe fn init() {
    let gdt = GDT.get();
    let tss = TSS.get();
    let idt = IDT.get();

    // TSS: IST1 = top of the trap stack; no I/O bitmap (base past the limit).
    let ist_top = (TRAP_STACK.get().addr() + TRAP_STACK_SIZE) as u64;
    let tss_base = tss.addr() as u64;
    // SAFETY: init runs once before anything else uses these statics; the references are
    // dropped before the CPU is told about the tables.
    unsafe {
        let t = &mut (*tss).0;
        t[9] = ist_top as u32;
        t[10] = (ist_top >> 32) as u32;
        t[25] = (size_of::<Tss>() as u32) << 16;

        let g = &mut (*gdt).0;
        g[0] = 0;
        g[1] = GDT_CODE;
        g[2] = GDT_DATA;
        let [lo, hi] = tss_descriptor(tss_base, size_of::<Tss>() as u32 - 1);
        g[3] = lo;
        g[4] = hi;

        let stubs = (&raw const platform_hvt_trap_stubs).addr() as u64;
        let i = &mut (*idt).0;
        for v in 0..VECTORS {
            let [lo, hi] = interrupt_gate(stubs + (v * STUB_STRIDE) as u64, CS_SELECTOR, 1);
            i[2 * v] = lo;
            i[2 * v + 1] = hi;
        }
    }

    let gdtr = DescriptorPointer { limit: (size_of::<Gdt>() - 1) as u16, base: gdt.addr() as u64 };
    let idtr = DescriptorPointer { limit: (size_of::<Idt>() - 1) as u16, base: idt.addr() as u64 };
    // SAFETY: the GDT keeps the tender's selector values (code 0x08, data 0x10), so
    // reloading CS through a far return and the data segments through `mov` is a no-op
    // except that the descriptors now come from mapped memory. The TSS descriptor is
    // valid and available, so `ltr` succeeds. The IDT gates point at our stubs with
    // selector 0x08 and IST1. FS/GS bases are zeroed: TLS is unsupported in this layer.
    unsafe {
        asm!(
            "lgdt [{gdtr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ss, {ds:x}",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "mov fs, {ds:x}",
            "mov gs, {ds:x}",
            "ltr {tr:x}",
            "lidt [{idtr}]",
            gdtr = in(reg) &raw const gdtr,
            idtr = in(reg) &raw const idtr,
            cs = const CS_SELECTOR as u64,
            ds = in(reg) DS_SELECTOR as u64,
            tr = in(reg) TSS_SELECTOR as u64,
            tmp = out(reg) _,
            options(preserves_flags),
        );
        wrmsr(MSR_FS_BASE, 0);
        wrmsr(MSR_FS_BASE + 1, 0); // IA32_GS_BASE
    }
}

/// Writes a model-specific register.
///
/// # Safety
///
/// `msr` must exist and `value` must be valid for it, with the effects the caller wants.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: per the caller's contract.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nostack, preserves_flags));
    }
}

fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 at CPL 0 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Fatal exception: print the frame, HALT 255 with the frame as cookie.
extern "C" fn trap_handler(frame: &RawTrapFrame) -> ! {
    if IN_TRAP.swap(true, Relaxed) {
        // A fault inside the handler: stop without touching anything else.
        hypercall::halt(hvt_abi::exit::ABORT, 0);
    }
    let cr2 = read_cr2();
    let mut out = BufferedConsole::new();
    let _ = writeln!(
        out,
        "trap: type={} ec={:#x} rip={:#x} rsp={:#x} rflags={:#x} cr2={:#x}",
        vector_name(frame.vector),
        frame.ec,
        frame.rip,
        frame.rsp,
        frame.rflags,
        cr2
    );
    out.flush();
    let cookie = COOKIE.get();
    // SAFETY: only this handler touches COOKIE, and it runs at most once (IN_TRAP).
    unsafe {
        (*cookie).frame = hvt_abi::TrapFrame {
            cr2,
            ec: frame.ec,
            rip: frame.rip,
            cs: frame.cs,
            rflags: frame.rflags,
            rsp: frame.rsp,
            ss: frame.ss,
        };
    }
    hypercall::halt(hvt_abi::exit::ABORT, cookie.addr() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors() {
        // Gate for handler 0x0010_2030 with selector 8, IST1.
        let [lo, hi] = interrupt_gate(0x1234_5678_0010_2030, 8, 1);
        assert_eq!(lo, 0x0010_8e01_0008_2030);
        assert_eq!(hi, 0x1234_5678);
        let [lo, hi] = tss_descriptor(0x0000_0001_0020_3040, 103);
        assert_eq!(lo, 0x0000_8920_3040_0067);
        assert_eq!(hi, 1);
        assert_eq!(vector_name(14), "#PF");
        assert!(has_error_code(14) && !has_error_code(6));
    }
}
