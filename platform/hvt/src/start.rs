//! Entry point, boot info, command line and memory layout.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use hvt_abi::BootInfo;
use hvt_abi::x86_64::{CMDLINE_SIZE, LOWMEM_RO_END, LOWMEM_RO_START, MEM_MAX, PAGE_SIZE};

/// Bytes at the top of guest memory kept for the stack (it starts at `mem_size - 8` and
/// grows down); the heap ends below it. There is no guard page: the tender's page tables
/// map everything RW. Std images (deep async state machines, TLS handshakes) get more.
#[cfg(not(feature = "std"))]
pub const STACK_RESERVE: usize = 512 * 1024;
/// Bytes at the top of guest memory kept for the stack (std images).
#[cfg(feature = "std")]
pub const STACK_RESERVE: usize = 2 * 1024 * 1024;
/// The entry point refuses to run with less heap than this.
pub const MIN_HEAP: usize = 64 * 1024;

static BOOT_INFO: AtomicUsize = AtomicUsize::new(0);
static CMDLINE_ADDR: AtomicUsize = AtomicUsize::new(0);
static CMDLINE_LEN: AtomicUsize = AtomicUsize::new(0);
static HEAP_START: AtomicUsize = AtomicUsize::new(0);
static HEAP_END: AtomicUsize = AtomicUsize::new(0);
static SEED_ADDR: AtomicUsize = AtomicUsize::new(0);
static IN_PANIC: AtomicBool = AtomicBool::new(false);

/// The tender's boot info. Panics if called before the entry point ran (e.g. on the host).
pub fn boot_info() -> &'static BootInfo {
    let p = BOOT_INFO.load(Relaxed);
    assert!(p != 0, "platform-hvt: boot info used outside an hvt guest");
    // SAFETY: `_start` stored the address the tender passed in rdi: a 56-byte boot info in
    // the read-only low-memory page, valid and unchanging for the guest's whole life.
    unsafe { &*ptr::with_exposed_provenance::<BootInfo>(p) }
}

/// The command line the tender passed (guest arguments joined by single spaces), with
/// leading `--solo5:…` and `--hvt-seed=…` words removed. Empty outside an hvt guest.
pub fn cmdline() -> &'static str {
    let p = CMDLINE_ADDR.load(Relaxed);
    if p == 0 {
        return "";
    }
    // SAFETY: `_start` validated `[p, p + len)` as part of the read-only low-memory area
    // holding the command line, and checked it is UTF-8; it never changes afterwards.
    unsafe {
        let bytes = core::slice::from_raw_parts(ptr::with_exposed_provenance::<u8>(p), CMDLINE_LEN.load(Relaxed));
        core::str::from_utf8_unchecked(bytes)
    }
}

/// The command-line words.
pub fn args() -> impl Iterator<Item = &'static str> {
    cmdline().split_ascii_whitespace()
}

/// The heap region `[start, end)` handed to the allocator.
pub fn heap_region() -> (usize, usize) {
    (HEAP_START.load(Relaxed), HEAP_END.load(Relaxed))
}

/// Removes leading `--solo5:<level>` words (upstream's log-level options) from a
/// command line.
pub fn strip_solo5_options(s: &str) -> &str {
    strip_runtime_words(s).0
}

/// The word our tender may put first on the command line to hand the guest 32 bytes of
/// seed material: `--hvt-seed=` followed by 64 hex digits.
pub const SEED_PREFIX: &str = "--hvt-seed=";

/// Removes the leading runtime words from a command line: upstream's `--solo5:<level>`
/// options and our tender's `--hvt-seed=<64 hex>`, in any order. Returns the rest and
/// the hex digits of the last seed word seen (not validated here).
pub fn strip_runtime_words(mut s: &str) -> (&str, Option<&str>) {
    let mut seed = None;
    loop {
        s = s.trim_start_matches(' ');
        let word_end = s.find(' ').unwrap_or(s.len());
        let word = &s[..word_end];
        if word.starts_with("--solo5:") {
            s = &s[word_end..];
        } else if let Some(hex) = word.strip_prefix(SEED_PREFIX) {
            seed = Some(hex);
            s = &s[word_end..];
        } else {
            return (s, seed);
        }
    }
}

/// Parses 64 hex digits into 32 bytes.
pub fn parse_seed(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(b[2 * i])? << 4) | digit(b[2 * i + 1])?;
    }
    Some(out)
}

/// The seed our tender passed with `--hvt-seed=<64 hex>`, if it did (and it parses).
pub fn tender_seed() -> Option<[u8; 32]> {
    let p = SEED_ADDR.load(Relaxed);
    if p == 0 {
        return None;
    }
    // SAFETY: `init_cmdline` stored the address of 64 validated ASCII bytes inside the
    // read-only command-line area, which never changes.
    let hex = unsafe { core::slice::from_raw_parts(ptr::with_exposed_provenance::<u8>(p), 64) };
    parse_seed(core::str::from_utf8(hex).ok()?)
}

/// The longest valid UTF-8 prefix of `b`.
fn utf8_prefix(b: &[u8]) -> &str {
    match core::str::from_utf8(b) {
        Ok(s) => s,
        // SAFETY: `valid_up_to` is the length of the longest valid UTF-8 prefix.
        Err(e) => unsafe { core::str::from_utf8_unchecked(&b[..e.valid_up_to()]) },
    }
}

/// Finds the command line in low memory: at most `CMDLINE_SIZE` bytes, NUL-terminated,
/// and inside the read-only area; anything else gives an empty command line.
fn init_cmdline(addr: u64) {
    if !(LOWMEM_RO_START..LOWMEM_RO_END).contains(&addr) {
        return;
    }
    let max = (CMDLINE_SIZE as u64).min(LOWMEM_RO_END - addr) as usize;
    // SAFETY: `[addr, addr + max)` lies in the low-memory area the tender maps read-only
    // for the guest and fills before entry.
    let area = unsafe { core::slice::from_raw_parts(ptr::with_exposed_provenance::<u8>(addr as usize), max) };
    let len = area.iter().position(|&c| c == 0).unwrap_or(0);
    let full = utf8_prefix(&area[..len]);
    let (s, seed) = strip_runtime_words(full);
    if let Some(hex) = seed
        && parse_seed(hex).is_some()
    {
        SEED_ADDR.store(hex.as_ptr().expose_provenance(), Relaxed);
    }
    CMDLINE_ADDR.store(s.as_ptr().expose_provenance(), Relaxed);
    CMDLINE_LEN.store(s.len(), Relaxed);
}

/// Fatal start-up error: message and HALT 255.
fn die(msg: core::fmt::Arguments<'_>) -> ! {
    crate::console::_print(format_args!("platform-hvt: {msg}\n"));
    crate::abort()
}

unsafe extern "C" {
    /// End of the image including `.bss` (from `hvt.ld`; host linkers define it too).
    static _end: u8;
}

#[cfg(any(target_os = "none", solo5_hvt))]
unsafe extern "Rust" {
    /// Defined by the guest with [`crate::entry!`].
    fn __platform_hvt_main() -> i32;
}

/// The image entry point: the tender jumps here in long mode with `rdi` = boot info and
/// `rsp = mem_size - 8`, interrupts off. Runs [`boot`] with the guest's main function.
///
/// # Safety
///
/// Only the tender may call this, once, with the machine state of the hvt ABI.
#[cfg(any(target_os = "none", solo5_hvt))]
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text._start")]
pub unsafe extern "C" fn _start(bi: *const BootInfo) -> ! {
    // SAFETY: the guest defines this symbol with `entry!`, which checks its signature.
    let main = || unsafe { __platform_hvt_main() };
    // SAFETY: we are the entry point, called once by the tender per the hvt ABI.
    unsafe { boot(bi, main) }
}

/// Machine and runtime set-up, then `main`, then HALT with its result.
///
/// Order: CPU tables first (before anything can fault), then the boot info, clock,
/// command line, memory check and heap.
///
/// # Safety
///
/// Call once, at entry, with `bi` the boot-info address the tender passed in `rdi`,
/// interrupts off, and the hvt machine state.
pub unsafe fn boot(bi: *const BootInfo, main: impl FnOnce() -> i32) -> ! {
    // SAFETY: first thing at entry, once, interrupts off (caller's contract).
    unsafe { crate::cpu::init() };
    BOOT_INFO.store(bi.expose_provenance(), Relaxed);
    let bi = boot_info();
    if bi.cpu_cycle_freq == 0 {
        die(format_args!("the tender reported no TSC frequency"));
    }
    crate::time::init(bi.cpu_cycle_freq);
    init_cmdline(bi.cmdline);

    let mem = bi.mem_size;
    let end = (&raw const _end).expose_provenance() as u64;
    let heap_start = end.next_multiple_of(PAGE_SIZE);
    let need = heap_start + (MIN_HEAP + STACK_RESERVE) as u64;
    if mem > MEM_MAX || need > mem {
        die(format_args!("not enough memory: image ends at {end:#x}, need {need:#x}, mem_size is {mem:#x}"));
    }
    let heap_end = mem - STACK_RESERVE as u64;
    HEAP_START.store(heap_start as usize, Relaxed);
    HEAP_END.store(heap_end as usize, Relaxed);
    // SAFETY: `[heap_start, heap_end)` is RW guest RAM above the image (`_end`) and below
    // the stack reserve; nothing else uses it.
    unsafe { crate::heap::init(heap_start as usize, heap_end as usize) };

    crate::exit(main())
}

/// Panic: message and HALT 255 (a second panic while reporting halts at once).
pub fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if IN_PANIC.swap(true, Relaxed) {
        crate::abort();
    }
    match info.location() {
        Some(l) => crate::console::_print(format_args!(
            "panic: {} at {}:{}:{}\n",
            info.message(),
            l.file(),
            l.line(),
            l.column()
        )),
        None => crate::console::_print(format_args!("panic: {}\n", info.message())),
    }
    crate::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solo5_options() {
        assert_eq!(strip_solo5_options("--solo5:quiet hello world"), "hello world");
        assert_eq!(strip_solo5_options("--solo5:debug --solo5:quiet"), "");
        assert_eq!(strip_solo5_options("a --solo5:quiet"), "a --solo5:quiet");
        assert_eq!(strip_solo5_options(""), "");
        assert_eq!(utf8_prefix(b"ab\xffc"), "ab");
    }

    #[test]
    fn seed_word() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeFF";
        let line = "--hvt-seed=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeFF \
                    --solo5:quiet --ipv4=10.0.0.2/24 x";
        let (rest, seed) = strip_runtime_words(line);
        assert_eq!(rest, "--ipv4=10.0.0.2/24 x");
        assert_eq!(seed, Some(hex));
        let bytes = parse_seed(hex).unwrap();
        assert_eq!(bytes[1], 0x11);
        assert_eq!(bytes[31], 0xff);
        assert!(parse_seed("00").is_none());
        assert!(parse_seed("g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff").is_none());
        assert_eq!(strip_runtime_words("a --hvt-seed=00"), ("a --hvt-seed=00", None));
    }
}
