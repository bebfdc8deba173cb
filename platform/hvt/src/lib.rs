//! Guest runtime for Solo5-hvt unikernel images (x86_64).
//!
//! This is the lower, `no_std` layer: it owns the machine from the first instruction.
//!
//! - `_start` ([`start::boot`]) is the image entry point (`rdi` = boot info). It installs our own GDT,
//!   TSS (with an IST stack) and IDT before anything can fault, sets the FS base to 0
//!   (TLS is not supported in this layer, so a stray TLS access faults), starts the
//!   clock, hands the free memory to the heap, and calls the guest's main function
//!   registered with [`entry!`]. Its return value is the exit status.
//! - CPU exceptions print `trap: type=#PF ec=… rip=… rsp=… rflags=… cr2=…` and HALT with
//!   status 255 and a [`hvt_abi::TrapFrame`] cookie.
//! - [`hypercall`]: thin wrappers over the eight hypercalls; [`console`] (PUTS,
//!   [`print!`]/[`println!`]); [`time`] (monotonic from the TSC, wall clock from
//!   WALLTIME, [`time::yield_until`] over POLL); [`devices`] (block and net devices looked
//!   up by name in the tender's manifest copy); [`heap`] (a first-fit free-list allocator,
//!   [`heap::HvtAllocator`] for `#[global_allocator]`); [`exit`]/[`abort`].
//!
//! A guest is a `#![no_std] #![no_main]` binary for `x86_64-unknown-none` built with
//! `-C relocation-model=static` and linked with `platform/hvt/hvt.ld`:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use platform_hvt::{entry, println};
//! entry!(main);
//! fn main() -> i32 {
//!     println!("Hello, World");
//!     0
//! }
//! ```
//!
//! The ABI note is emitted by this crate; the guest declares its devices with a
//! [`hvt_abi::ManifestNote`] in `.note.solo5.manifest` (see [`manifest!`]).
//!
//! Everything that touches hardware is in this crate, and each `unsafe` block says why it
//! is sound. `unsafe_code` is allowed per module, on the modules that need it (all but
//! [`console`] and [`backend`]), and on the few items below (exported symbols, notes).
//! On other targets (the host) the crate compiles, without the entry point, panic
//! handler and notes, so that its pure parts can be unit-tested and linted there.
//!
//! ## The std layer (feature `std`)
//!
//! Appliances are std programs built for `x86_64-unknown-linux-gnu` with
//! `--cfg solo5_hvt`, linked with `hvt-std.ld` through `hvt-ld` (see README.md). With the
//! feature on, this crate adds:
//! - [`libc`](mod@libc): the ~100 C functions std and our dependencies import (memory,
//!   allocation, console writes, clocks, getrandom, pthreads for one thread, signals that
//!   are never delivered, files that do not exist), exported only under `solo5_hvt`;
//! - `crt`: TLS from the image's `PT_TLS`, `argv`, `.init_array`, then rustc's C `main`;
//! - [`random`]: the ChaCha20 CSPRNG behind every random byte (also without `std`);
//! - [`backend`]: [`run`], the platform backend (executor over POLL, `Net`, `Block`,
//!   `Console`, `Entropy`, netstack).
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg(target_arch = "x86_64")]

pub use hvt_abi;

#[allow(unsafe_code)]
mod cell;
pub mod console;
#[allow(unsafe_code)]
pub mod cpu;
#[allow(unsafe_code)]
pub mod devices;
#[allow(unsafe_code)]
pub mod heap;
#[allow(unsafe_code)]
pub mod hypercall;
#[allow(unsafe_code)]
pub mod random;
#[allow(unsafe_code)]
pub mod start;
#[allow(unsafe_code)]
pub mod testing;
#[allow(unsafe_code)]
pub mod time;

#[cfg(feature = "std")]
pub mod backend;
// The C start-up and the libc exist for images (`--cfg solo5_hvt`); on the host they are
// compiled only for their unit tests, so no host build carries unused copies of them.
#[cfg(all(feature = "std", any(solo5_hvt, test)))]
#[allow(unsafe_code)]
mod crt;
#[cfg(all(feature = "std", any(solo5_hvt, test)))]
#[allow(unsafe_code)]
mod libc;

#[cfg(feature = "std")]
pub use backend::run;

pub use devices::{Block, Error, Net};
pub use start::{args, boot_info, cmdline};

#[cfg(any(target_os = "none", solo5_hvt))]
pub use start::_start;

/// Ends the guest with `status` (HALT without a cookie). 255 and above are reserved
/// for aborts.
pub fn exit(status: i32) -> ! {
    hypercall::halt(status, 0)
}

/// Ends the guest with status 255 ([`hvt_abi::exit::ABORT`]).
pub fn abort() -> ! {
    hypercall::halt(hvt_abi::exit::ABORT, 0)
}

/// Registers the guest's main function, `fn() -> i32`; its result is the exit status.
///
/// ```ignore
/// platform_hvt::entry!(main);
/// fn main() -> i32 { 0 }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[doc(hidden)]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "Rust" fn __platform_hvt_main() -> i32 {
            let main: fn() -> i32 = $main;
            main()
        }
    };
}

/// Declares the guest's manifest note: `manifest!(("storage", BlockBasic), ("service", NetBasic))`.
/// Device `i` (0-based in this list) gets handle `i + 1`. Every image needs exactly one
/// manifest, so a guest without devices writes `manifest!();`.
#[macro_export]
macro_rules! manifest {
    ($(($name:expr, $ty:ident)),* $(,)?) => {
        #[used]
        #[allow(unsafe_code)]
        #[unsafe(link_section = ".note.solo5.manifest")]
        static __SOLO5_MANIFEST: $crate::hvt_abi::ManifestNote<{ <[&str]>::len(&[$($name),*]) }> =
            $crate::hvt_abi::ManifestNote::new([$(($name, $crate::hvt_abi::DeviceType::$ty)),*]);
    };
}

/// The ABI note every image needs: target hvt, ABI version 2.
#[cfg(any(target_os = "none", solo5_hvt))]
#[used]
#[allow(unsafe_code)]
#[unsafe(link_section = ".note.solo5.abi")]
static SOLO5_ABI_NOTE: hvt_abi::AbiNote = hvt_abi::AbiNote::HVT;

/// std images take an entropy seed from our tender (see [`hvt_abi::NOTE_TYPE_SEED`]).
#[cfg(all(feature = "std", solo5_hvt))]
#[used]
#[allow(unsafe_code)]
#[unsafe(link_section = ".note.solo5.seed")]
static SOLO5_SEED_NOTE: hvt_abi::SeedNote = hvt_abi::SeedNote::V1;

/// `.interp` pointing nowhere, so that the host kernel refuses to run the image directly.
#[cfg(any(target_os = "none", solo5_hvt))]
#[used]
#[allow(unsafe_code)]
#[unsafe(link_section = ".interp")]
static INTERP: [u8; 20] = *b"/nonexistent/solo5/\0";

#[cfg(all(feature = "panic-handler", target_os = "none"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    start::on_panic(info)
}
