//! The Solo5 **hvt** binary interface (ABI version 2, x86_64) as plain Rust data.
//!
//! This crate is shared by the guest runtime (`platform-hvt`) and the tender. It holds
//! only constants, `#[repr(C)]` structs with the exact byte layouts the interface
//! prescribes, and safe little-endian encoders/decoders so that the tender can read and
//! write guest memory as byte slices without any `unsafe` transmutes.
//!
//! The facts come from `shared/reference/solo5-hvt-abi.md`; every layout is checked at
//! compile time against its Appendix A (see the `const _: () = …` blocks below).
//!
//! Overview of the interface:
//!
//! - A guest issues a hypercall with a 32-bit `out` to port [`HYPERCALL_PIO_BASE`] `+ nr`;
//!   the value is the guest-physical address of the argument struct ([`HcPuts`] etc.).
//! - At entry `rdi` points at [`BootInfo`] ([`BOOT_INFO_ADDR`]); the tender's filled-in
//!   copy of the manifest follows it, then the command line.
//! - The ELF image carries two notes, each in its own `PT_NOTE`: [`AbiNote`] and
//!   [`ManifestNote`].
//! - Devices are addressed by their index in the manifest (the handle).
#![no_std]

use core::mem::{offset_of, size_of};

pub mod elf;

// ---------------------------------------------------------------------------------------
// Versions and targets
// ---------------------------------------------------------------------------------------

/// The hvt ABI version this crate describes. Tenders require an exact match.
pub const HVT_ABI_VERSION: u32 = 2;
/// Version of the manifest structure ([`Mft`]).
pub const MFT_VERSION: u32 = 1;

/// ABI targets as written in the ABI note's `target` field.
pub mod abi_target {
    /// Solo5 hvt (KVM/bhyve/OpenBSD vmm tender). The only one this crate is about.
    pub const HVT: u32 = 1;
    /// Solo5 spt (seccomp process tender).
    pub const SPT: u32 = 2;
    /// virtio.
    pub const VIRTIO: u32 = 3;
    /// Muen separation kernel.
    pub const MUEN: u32 = 4;
    /// Genode.
    pub const GENODE: u32 = 5;
    /// Xen PVH.
    pub const XEN: u32 = 6;
}

// ---------------------------------------------------------------------------------------
// Hypercalls
// ---------------------------------------------------------------------------------------

/// Hypercall `nr` is issued as a 32-bit `out` to port `HYPERCALL_PIO_BASE + nr`.
/// Number 0 (port 0x500 itself) is reserved and invalid.
pub const HYPERCALL_PIO_BASE: u16 = 0x500;
/// One past the highest valid hypercall number; valid ports are `[0x501, 0x509)`.
pub const HYPERCALL_MAX: u32 = 9;
/// Port of the net-ring "kick" (32-bit OUT of 0), only valid when the ring is active.
pub const RING_KICK_PIO: u16 = 0x600;

/// Hypercall numbers (`port - HYPERCALL_PIO_BASE`).
pub mod hc {
    /// Read the host's real-time clock: [`super::HcWalltime`].
    pub const WALLTIME: u32 = 1;
    /// Write bytes to the tender's stdout: [`super::HcPuts`].
    pub const PUTS: u32 = 2;
    /// Wait for network input or a timeout: [`super::HcPoll`].
    pub const POLL: u32 = 3;
    /// Write to a block device: [`super::HcBlockWrite`].
    pub const BLOCK_WRITE: u32 = 4;
    /// Read from a block device: [`super::HcBlockRead`].
    pub const BLOCK_READ: u32 = 5;
    /// Send one Ethernet frame: [`super::HcNetWrite`].
    pub const NET_WRITE: u32 = 6;
    /// Receive one Ethernet frame: [`super::HcNetRead`].
    pub const NET_READ: u32 = 7;
    /// End the guest: [`super::HcHalt`].
    pub const HALT: u32 = 8;
}

/// A hypercall, decoded from its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Hypercall {
    /// See [`hc::WALLTIME`].
    Walltime = hc::WALLTIME,
    /// See [`hc::PUTS`].
    Puts = hc::PUTS,
    /// See [`hc::POLL`].
    Poll = hc::POLL,
    /// See [`hc::BLOCK_WRITE`].
    BlockWrite = hc::BLOCK_WRITE,
    /// See [`hc::BLOCK_READ`].
    BlockRead = hc::BLOCK_READ,
    /// See [`hc::NET_WRITE`].
    NetWrite = hc::NET_WRITE,
    /// See [`hc::NET_READ`].
    NetRead = hc::NET_READ,
    /// See [`hc::HALT`].
    Halt = hc::HALT,
}

impl Hypercall {
    /// Decodes a hypercall number; `None` for 0 and for anything ≥ [`HYPERCALL_MAX`].
    pub const fn from_nr(nr: u32) -> Option<Self> {
        Some(match nr {
            hc::WALLTIME => Self::Walltime,
            hc::PUTS => Self::Puts,
            hc::POLL => Self::Poll,
            hc::BLOCK_WRITE => Self::BlockWrite,
            hc::BLOCK_READ => Self::BlockRead,
            hc::NET_WRITE => Self::NetWrite,
            hc::NET_READ => Self::NetRead,
            hc::HALT => Self::Halt,
            _ => return None,
        })
    }

    /// Decodes an I/O port number (`0x501..=0x508`).
    pub const fn from_port(port: u16) -> Option<Self> {
        if port < HYPERCALL_PIO_BASE {
            return None;
        }
        Self::from_nr((port - HYPERCALL_PIO_BASE) as u32)
    }

    /// The hypercall number.
    pub const fn nr(self) -> u32 {
        self as u32
    }

    /// The I/O port the guest writes to.
    pub const fn port(self) -> u16 {
        HYPERCALL_PIO_BASE + self as u16
    }

    /// Size in bytes of the argument struct the guest passes.
    pub const fn arg_size(self) -> usize {
        match self {
            Self::Walltime => HcWalltime::SIZE,
            Self::Puts => HcPuts::SIZE,
            Self::Poll => HcPoll::SIZE,
            Self::BlockWrite | Self::BlockRead => HcBlockIo::SIZE,
            Self::NetWrite | Self::NetRead => HcNetIo::SIZE,
            Self::Halt => HcHalt::SIZE,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Result codes and exit statuses
// ---------------------------------------------------------------------------------------

/// `solo5_result_t` values, stored in the `ret` fields (an `i32`).
pub mod result {
    /// Success.
    pub const OK: i32 = 0;
    /// Try again later (e.g. NET_READ with no frame queued).
    pub const AGAIN: i32 = 1;
    /// Invalid argument (e.g. a block offset out of range).
    pub const EINVAL: i32 = 2;
    /// Unspecified error.
    pub const EUNSPEC: i32 = 3;
}

/// A decoded `solo5_result_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Solo5Result {
    /// [`result::OK`].
    Ok = result::OK,
    /// [`result::AGAIN`].
    Again = result::AGAIN,
    /// [`result::EINVAL`].
    Einval = result::EINVAL,
    /// [`result::EUNSPEC`].
    Eunspec = result::EUNSPEC,
}

impl Solo5Result {
    /// Decodes a `ret` field; unknown values map to [`Solo5Result::Eunspec`].
    pub const fn from_raw(ret: i32) -> Self {
        match ret {
            result::OK => Self::Ok,
            result::AGAIN => Self::Again,
            result::EINVAL => Self::Einval,
            _ => Self::Eunspec,
        }
    }

    /// The raw value for a `ret` field.
    pub const fn raw(self) -> i32 {
        self as i32
    }
}

/// Conventional `exit_status` values for HALT. 255 and above are reserved for Solo5.
pub mod exit {
    /// Normal termination.
    pub const SUCCESS: i32 = 0;
    /// Application failure.
    pub const FAILURE: i32 = 1;
    /// Abort: fatal trap, panic, assertion. Tenders may dump core on this status.
    pub const ABORT: i32 = 255;
}

// ---------------------------------------------------------------------------------------
// Little-endian field codec (used by the `from_bytes`/`to_bytes` helpers)
// ---------------------------------------------------------------------------------------

trait LeField: Sized {
    fn get(b: &[u8], off: usize) -> Self;
    fn put(self, b: &mut [u8], off: usize);
}

macro_rules! le_field_int {
    ($($t:ty),*) => {$(
        impl LeField for $t {
            fn get(b: &[u8], off: usize) -> Self {
                let mut raw = [0u8; size_of::<$t>()];
                raw.copy_from_slice(&b[off..off + size_of::<$t>()]);
                <$t>::from_le_bytes(raw)
            }
            fn put(self, b: &mut [u8], off: usize) {
                b[off..off + size_of::<$t>()].copy_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
le_field_int!(u8, u16, u32, u64, i32);

impl<const N: usize> LeField for [u8; N] {
    fn get(b: &[u8], off: usize) -> Self {
        let mut raw = [0u8; N];
        raw.copy_from_slice(&b[off..off + N]);
        raw
    }
    fn put(self, b: &mut [u8], off: usize) {
        b[off..off + N].copy_from_slice(&self);
    }
}

/// A struct with a fixed little-endian layout in guest memory (hypercall arguments, boot
/// info, manifest entries, ...), for code that copies such structs in and out generically.
pub trait GuestStruct: Sized {
    /// Size of the struct in bytes (as in guest memory).
    const SIZE: usize;
    /// Decodes the struct from the first `SIZE` bytes of `b`; `None` if `b` is shorter.
    fn read_from(b: &[u8]) -> Option<Self>;
    /// Encodes the struct into the first `SIZE` bytes of `b` (padding zero). Panics if `b`
    /// is shorter than `SIZE`.
    fn write_to(&self, b: &mut [u8]);
}

/// Declares `SIZE`, `from_bytes`, `to_bytes` and `read_from` for a `#[repr(C)]` struct
/// from its field list (`field: type = offset`), and asserts at compile time that the
/// struct's size and every field offset are the ones written here.
macro_rules! le_struct {
    ($ty:ident, size $size:literal, align $align:literal, { $($field:ident : $ft:ty = $off:literal),* $(,)? }) => {
        impl $ty {
            /// Size of the struct in bytes (as in guest memory).
            pub const SIZE: usize = $size;

            /// Decodes the struct from its little-endian in-memory representation.
            /// Padding bytes are ignored.
            pub fn from_bytes(b: &[u8; $size]) -> Self {
                Self { $($field: <$ft as LeField>::get(b, $off)),* }
            }

            /// Decodes the struct from the first `SIZE` bytes of `b`; `None` if `b` is shorter.
            pub fn read_from(b: &[u8]) -> Option<Self> {
                let raw: &[u8; $size] = b.get(..$size)?.try_into().ok()?;
                Some(Self::from_bytes(raw))
            }

            /// Encodes the struct into its little-endian in-memory representation.
            /// Padding bytes are zero.
            pub fn to_bytes(&self) -> [u8; $size] {
                let mut b = [0u8; $size];
                $(LeField::put(self.$field, &mut b, $off);)*
                b
            }
        }

        impl GuestStruct for $ty {
            const SIZE: usize = $size;
            fn read_from(b: &[u8]) -> Option<Self> {
                <$ty>::read_from(b)
            }
            fn write_to(&self, b: &mut [u8]) {
                b[..$size].copy_from_slice(&self.to_bytes());
            }
        }

        const _: () = {
            assert!(size_of::<$ty>() == $size);
            assert!(core::mem::align_of::<$ty>() == $align);
            $(assert!(offset_of!($ty, $field) == $off);)*
        };
    };
}

// ---------------------------------------------------------------------------------------
// Hypercall argument structs (x86_64 layouts, Appendix A)
// ---------------------------------------------------------------------------------------

/// WALLTIME argument (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcWalltime {
    /// OUT: host `CLOCK_REALTIME` in nanoseconds since the UNIX epoch.
    pub nsecs: u64,
}
le_struct!(HcWalltime, size 8, align 8, { nsecs: u64 = 0 });

/// PUTS argument (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcPuts {
    /// IN: guest-physical address of the bytes.
    pub data: u64,
    /// IN: number of bytes.
    pub len: u64,
}
le_struct!(HcPuts, size 16, align 8, { data: u64 = 0, len: u64 = 8 });

/// POLL argument (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcPoll {
    /// IN: relative timeout in nanoseconds.
    pub timeout_nsecs: u64,
    /// OUT: bit `h` set when net handle `h` is readable.
    pub ready_set: u64,
    /// OUT: number of ready devices.
    pub ret: i32,
}
le_struct!(HcPoll, size 24, align 8, { timeout_nsecs: u64 = 0, ready_set: u64 = 8, ret: i32 = 16 });

/// BLOCK_WRITE / BLOCK_READ argument (40 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcBlockIo {
    /// IN: device handle (manifest index).
    pub handle: u64,
    /// IN: byte offset on the device.
    pub offset: u64,
    /// IN: guest-physical address of the buffer.
    pub data: u64,
    /// IN: number of bytes (the tender leaves it unchanged).
    pub len: u64,
    /// OUT: a [`result`] code.
    pub ret: i32,
}
le_struct!(HcBlockIo, size 40, align 8, {
    handle: u64 = 0, offset: u64 = 8, data: u64 = 16, len: u64 = 24, ret: i32 = 32
});
/// BLOCK_WRITE argument.
pub type HcBlockWrite = HcBlockIo;
/// BLOCK_READ argument.
pub type HcBlockRead = HcBlockIo;

/// NET_WRITE / NET_READ argument (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcNetIo {
    /// IN: device handle (manifest index).
    pub handle: u64,
    /// IN: guest-physical address of the frame buffer.
    pub data: u64,
    /// NET_WRITE: IN frame length. NET_READ: IN buffer size, OUT frame length.
    pub len: u64,
    /// OUT: a [`result`] code (NET_READ gives AGAIN when nothing is queued).
    pub ret: i32,
}
le_struct!(HcNetIo, size 32, align 8, { handle: u64 = 0, data: u64 = 8, len: u64 = 16, ret: i32 = 24 });
/// NET_WRITE argument.
pub type HcNetWrite = HcNetIo;
/// NET_READ argument.
pub type HcNetRead = HcNetIo;

/// HALT argument (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcHalt {
    /// IN: 0, or the guest-physical address of [`HALT_COOKIE_MAX`] readable bytes
    /// (our runtime passes a [`TrapFrame`] on a fatal trap).
    pub cookie: u64,
    /// IN: the tender's exit status.
    pub exit_status: i32,
}
le_struct!(HcHalt, size 16, align 8, { cookie: u64 = 0, exit_status: i32 = 8 });

/// When HALT's cookie is non-zero it must point at this many readable bytes.
pub const HALT_COOKIE_MAX: usize = 512;

/// The cookie passed with HALT(255) after a fatal CPU exception (7 × u64, 56 bytes).
/// A debug tender can use it to override the registers in a core dump.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapFrame {
    /// CR2 (faulting linear address for #PF, else whatever CR2 held).
    pub cr2: u64,
    /// Exception error code (0 for vectors without one).
    pub ec: u64,
    /// Faulting instruction pointer.
    pub rip: u64,
    /// Code segment selector at the fault.
    pub cs: u64,
    /// RFLAGS at the fault.
    pub rflags: u64,
    /// Stack pointer at the fault.
    pub rsp: u64,
    /// Stack segment selector at the fault.
    pub ss: u64,
}
le_struct!(TrapFrame, size 56, align 8, {
    cr2: u64 = 0, ec: u64 = 8, rip: u64 = 16, cs: u64 = 24, rflags: u64 = 32, rsp: u64 = 40, ss: u64 = 48
});

// ---------------------------------------------------------------------------------------
// Boot info
// ---------------------------------------------------------------------------------------

/// `struct hvt_boot_info` (56 bytes) at [`BOOT_INFO_ADDR`]; `rdi` points at it at entry.
/// Read-only to the guest.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootInfo {
    /// Bytes of guest RAM the guest may use (excludes the net ring).
    pub mem_size: u64,
    /// Aligned end of the highest non-empty `PT_LOAD` (does **not** cover `.bss`).
    pub kernel_end: u64,
    /// TSC frequency in Hz.
    pub cpu_cycle_freq: u64,
    /// Guest-physical address of the NUL-terminated command line.
    pub cmdline: u64,
    /// Guest-physical address of the tender's filled-in manifest copy ([`MftHeader`]
    /// followed by `entries` × [`MftEntry`]).
    pub mft: u64,
    /// Bit 0 ([`HOST_FEATURE_NET_RING`]): ring I/O offered.
    pub host_features: u32,
    /// Reserved, 0.
    pub guest_features: u32,
    /// Guest-physical address of [`HvtRing`], or 0.
    pub net_ring: u64,
}
le_struct!(BootInfo, size 56, align 8, {
    mem_size: u64 = 0, kernel_end: u64 = 8, cpu_cycle_freq: u64 = 16, cmdline: u64 = 24, mft: u64 = 32,
    host_features: u32 = 40, guest_features: u32 = 44, net_ring: u64 = 48
});

/// `host_features` bit: the tender offers ring I/O (use it only if `net_ring != 0` too).
pub const HOST_FEATURE_NET_RING: u32 = 1 << 0;

impl BootInfo {
    /// Whether ring I/O may be used: the feature bit is set **and** `net_ring` is non-zero
    /// (the second check keeps guests working under pre-v0.11 tenders).
    pub const fn net_ring_usable(&self) -> bool {
        self.host_features & HOST_FEATURE_NET_RING != 0 && self.net_ring != 0
    }
}

// ---------------------------------------------------------------------------------------
// Guest-physical memory map and initial CPU state (x86_64)
// ---------------------------------------------------------------------------------------

/// Guest-physical memory map and initial CPU state of an hvt guest on x86_64.
pub mod x86_64 {
    /// Page size.
    pub const PAGE_SIZE: u64 = 0x1000;
    /// Large-page size used above the first 2 MiB and the RAM granule.
    pub const LARGE_PAGE_SIZE: u64 = 0x20_0000;

    /// The zero page (not present).
    pub const ZERO_PAGE_ADDR: u64 = 0x0;
    /// The tender's GDT (3 descriptors, not mapped in the guest page tables).
    pub const GDT_ADDR: u64 = 0x1000;
    /// GDTR limit of the tender's GDT.
    pub const GDT_LIMIT: u16 = 23;
    /// PML4.
    pub const PML4_ADDR: u64 = 0x2000;
    /// PDPT (4 entries).
    pub const PDPT_ADDR: u64 = 0x3000;
    /// First of the 4 page directories (2 MiB pages), `0x4000..0x8000`.
    pub const PDE_ADDR: u64 = 0x4000;
    /// Number of page directories (covering 4 GiB).
    pub const PDE_COUNT: u64 = 4;
    /// PT0: 4 KiB pages for the first 2 MiB.
    pub const PT0_ADDR: u64 = 0x8000;

    /// Start of the read-only low-memory area (boot info, manifest copy, command line).
    pub const LOWMEM_RO_START: u64 = 0x1_0000;
    /// End (exclusive) of the read-only low-memory area.
    pub const LOWMEM_RO_END: u64 = GUEST_MIN_BASE;
    /// Where the boot info is written; also the initial `rdi`.
    pub const BOOT_INFO_ADDR: u64 = 0x1_0000;
    /// Where the manifest copy goes: right after the 56-byte boot info.
    pub const MFT_COPY_ADDR: u64 = BOOT_INFO_ADDR + super::BootInfo::SIZE as u64;
    /// Size of the command-line area (so at most `CMDLINE_SIZE - 1` characters).
    pub const CMDLINE_SIZE: usize = 8192;
    /// Lowest address of any non-empty `PT_LOAD` and of the entry point
    /// (`HVT_GUEST_MIN_BASE`). Everything from here to `mem_size` is RW.
    pub const GUEST_MIN_BASE: u64 = 0x10_0000;

    /// Largest guest memory (every pointer fits in 32 bits).
    pub const MEM_MAX: u64 = 1 << 32;
    /// Default `--mem` in MiB.
    pub const MEM_DEFAULT_MIB: u64 = 512;
    /// Guest RAM is rounded down to a multiple of this, and is at least this much.
    pub const MEM_GRANULE: u64 = LARGE_PAGE_SIZE;
    /// Size of the net ring area placed above `mem_size` when offered.
    pub const NET_RING_AREA: u64 = LARGE_PAGE_SIZE;

    /// CR0 at entry: PE | NE | WP | PG.
    pub const CR0_INIT: u64 = 0x8001_0021;
    /// CR4 at entry: PAE | OSFXSR | OSXMMEXCPT.
    pub const CR4_INIT: u64 = 0x620;
    /// EFER at entry: LME | LMA.
    pub const EFER_INIT: u64 = 0x500;
    /// CR3 at entry.
    pub const CR3_INIT: u64 = PML4_ADDR;
    /// RFLAGS at entry (IF clear).
    pub const RFLAGS_INIT: u64 = 0x2;
    /// Code segment selector at entry.
    pub const CS_SELECTOR: u16 = 0x08;
    /// Data segment selector at entry (SS, DS, ES, FS, GS).
    pub const DS_SELECTOR: u16 = 0x10;
    /// The tender's 64-bit code descriptor.
    pub const GDT_DESC_CODE: u64 = 0x00af_9900_0000_ffff;
    /// The tender's data descriptor.
    pub const GDT_DESC_DATA: u64 = 0x00cf_9300_0000_ffff;
    /// `IA32_FS_BASE` MSR.
    pub const MSR_FS_BASE: u32 = 0xC000_0100;
}

pub use x86_64::{BOOT_INFO_ADDR, CMDLINE_SIZE, GUEST_MIN_BASE};

// ---------------------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------------------

/// Maximum number of manifest entries, including the reserved entry 0 (handles are bits
/// of a u64).
pub const MFT_MAX_ENTRIES: usize = 64;
/// Size of the `name` field of [`MftEntry`] (NUL-terminated, so at most 67 characters).
pub const MFT_NAME_SIZE: usize = 68;
/// Longest device name.
pub const MFT_NAME_MAX: usize = MFT_NAME_SIZE - 1;

/// Device type numbers (the `dev_type` field of [`MftEntry`]).
pub mod mft_type {
    /// Block device.
    pub const BLOCK_BASIC: u32 = 1;
    /// Network device.
    pub const NET_BASIC: u32 = 2;
    /// First reserved type; entry 0 has this type and an empty name.
    pub const RESERVED_FIRST: u32 = 1 << 30;
}

/// A device type a guest can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum DeviceType {
    /// [`mft_type::BLOCK_BASIC`].
    BlockBasic = mft_type::BLOCK_BASIC,
    /// [`mft_type::NET_BASIC`].
    NetBasic = mft_type::NET_BASIC,
}

impl DeviceType {
    /// Decodes a `dev_type` field; `None` for reserved or unknown types.
    pub const fn from_raw(t: u32) -> Option<Self> {
        match t {
            mft_type::BLOCK_BASIC => Some(Self::BlockBasic),
            mft_type::NET_BASIC => Some(Self::NetBasic),
            _ => None,
        }
    }

    /// The raw type number.
    pub const fn raw(self) -> u32 {
        self as u32
    }

    /// Upstream's name for the type (`manifest.json` / tender messages).
    pub const fn name(self) -> &'static str {
        match self {
            Self::BlockBasic => "BLOCK_BASIC",
            Self::NetBasic => "NET_BASIC",
        }
    }
}

/// Whether `name` is a valid device name: `[A-Za-z0-9]{1,67}`.
pub const fn valid_device_name(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > MFT_NAME_MAX {
        return false;
    }
    let mut i = 0;
    while i < name.len() {
        if !name[i].is_ascii_alphanumeric() {
            return false;
        }
        i += 1;
    }
    true
}

/// The 16-byte per-type device info union of [`MftEntry`], filled in by the tender.
///
/// Block: `capacity` u64 @0, `block_size` u16 @8. Net: `mac` [u8; 6] @0, `mtu` u16 @6.
/// Kept as bytes so that any content is a valid value.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MftDevInfo(pub [u8; 16]);

impl MftDevInfo {
    /// Block device info.
    pub const fn block(capacity: u64, block_size: u16) -> Self {
        let mut b = [0u8; 16];
        let c = capacity.to_le_bytes();
        let s = block_size.to_le_bytes();
        let mut i = 0;
        while i < 8 {
            b[i] = c[i];
            i += 1;
        }
        b[8] = s[0];
        b[9] = s[1];
        Self(b)
    }

    /// Net device info.
    pub const fn net(mac: [u8; 6], mtu: u16) -> Self {
        let mut b = [0u8; 16];
        let mut i = 0;
        while i < 6 {
            b[i] = mac[i];
            i += 1;
        }
        let m = mtu.to_le_bytes();
        b[6] = m[0];
        b[7] = m[1];
        Self(b)
    }

    /// Block: capacity in bytes.
    pub const fn block_capacity(&self) -> u64 {
        let b = &self.0;
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Block: sector size in bytes.
    pub const fn block_size(&self) -> u16 {
        u16::from_le_bytes([self.0[8], self.0[9]])
    }

    /// Net: MAC address.
    pub const fn net_mac(&self) -> [u8; 6] {
        let b = &self.0;
        [b[0], b[1], b[2], b[3], b[4], b[5]]
    }

    /// Net: MTU (excluding the 14-byte Ethernet header).
    pub const fn net_mtu(&self) -> u16 {
        u16::from_le_bytes([self.0[6], self.0[7]])
    }
}

impl LeField for MftDevInfo {
    fn get(b: &[u8], off: usize) -> Self {
        Self(<[u8; 16]>::get(b, off))
    }
    fn put(self, b: &mut [u8], off: usize) {
        self.0.put(b, off)
    }
}

/// `struct mft_entry` (104 bytes, align 8).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MftEntry {
    /// NUL-terminated name, `[A-Za-z0-9]{1,67}`; empty for the reserved entry.
    pub name: [u8; MFT_NAME_SIZE],
    /// A [`mft_type`] value.
    pub dev_type: u32,
    /// Device info, filled in by the tender for attached devices.
    pub u: MftDevInfo,
    /// Tender-private (host fd or pointer); guests must ignore it.
    pub b: u64,
    /// Non-zero when the tender attached the device; must be 0 in the image.
    /// (A `u8` rather than `bool` so that any byte the tender writes is a valid value.)
    pub attached: u8,
    /// Padding, zero.
    pub pad: [u8; 7],
}
le_struct!(MftEntry, size 104, align 8, {
    name: [u8; 68] = 0, dev_type: u32 = 68, u: MftDevInfo = 72, b: u64 = 88, attached: u8 = 96, pad: [u8; 7] = 97
});

impl MftEntry {
    /// Entry 0 of every manifest: empty name, type [`mft_type::RESERVED_FIRST`].
    pub const RESERVED: Self = Self {
        name: [0; MFT_NAME_SIZE],
        dev_type: mft_type::RESERVED_FIRST,
        u: MftDevInfo([0; 16]),
        b: 0,
        attached: 0,
        pad: [0; 7],
    };

    /// A declared (not yet attached) device. Panics (a compile error in a `static`) if the
    /// name is not `[A-Za-z0-9]{1,67}`.
    pub const fn new(name: &str, dev_type: DeviceType) -> Self {
        let bytes = name.as_bytes();
        assert!(valid_device_name(bytes), "a Solo5 device name must be 1 to 67 ASCII letters or digits");
        let mut e = Self::RESERVED;
        e.dev_type = dev_type.raw();
        let mut i = 0;
        while i < bytes.len() {
            e.name[i] = bytes[i];
            i += 1;
        }
        e
    }

    /// The name bytes up to (not including) the first NUL, at most 68 bytes.
    pub fn name_bytes(&self) -> &[u8] {
        let len = self.name.iter().position(|&c| c == 0).unwrap_or(MFT_NAME_SIZE);
        &self.name[..len]
    }

    /// The name as a string, if it is UTF-8.
    pub fn name_str(&self) -> Option<&str> {
        core::str::from_utf8(self.name_bytes()).ok()
    }

    /// The decoded device type, `None` for reserved/unknown types.
    pub const fn device_type(&self) -> Option<DeviceType> {
        DeviceType::from_raw(self.dev_type)
    }

    /// Whether the tender attached this device.
    pub const fn is_attached(&self) -> bool {
        self.attached != 0
    }
}

/// Header of `struct mft` (8 bytes), followed by `entries` × [`MftEntry`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MftHeader {
    /// [`MFT_VERSION`].
    pub version: u32,
    /// Number of entries including the reserved entry 0.
    pub entries: u32,
}
le_struct!(MftHeader, size 8, align 4, { version: u32 = 0, entries: u32 = 4 });

/// `struct mft` with the reserved entry and `N` declared devices (so `entries = N + 1`).
/// Device `i` of `devices` has handle `i + 1`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mft<const N: usize> {
    /// [`MFT_VERSION`].
    pub version: u32,
    /// `N + 1`.
    pub entries: u32,
    /// Entry 0, [`MftEntry::RESERVED`].
    pub reserved: MftEntry,
    /// Entries 1..=N.
    pub devices: [MftEntry; N],
}

impl<const N: usize> Mft<N> {
    /// Size in bytes: `8 + 104 * (N + 1)`.
    pub const SIZE: usize = size_of::<Self>();

    /// Builds a manifest from `(name, type)` pairs. Panics (a compile error in a `static`)
    /// if there are more than 63 devices, a name is invalid or a name repeats.
    pub const fn new(devices: [(&str, DeviceType); N]) -> Self {
        assert!(N < MFT_MAX_ENTRIES, "a Solo5 manifest holds at most 63 devices");
        let mut out = [MftEntry::RESERVED; N];
        let mut i = 0;
        while i < N {
            out[i] = MftEntry::new(devices[i].0, devices[i].1);
            let mut j = 0;
            while j < i {
                assert!(!bytes_eq(devices[i].0.as_bytes(), devices[j].0.as_bytes()), "duplicate device name");
                j += 1;
            }
            i += 1;
        }
        Self { version: MFT_VERSION, entries: (N + 1) as u32, reserved: MftEntry::RESERVED, devices: out }
    }
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Why a manifest was rejected by [`Manifest::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MftError {
    /// Shorter than the 8-byte header.
    Truncated,
    /// `version != 1`.
    BadVersion(u32),
    /// `entries` is 0 or more than 64.
    BadEntryCount(u32),
    /// The byte length is not exactly `8 + 104 * entries`.
    BadSize {
        /// Bytes given.
        len: usize,
        /// Bytes the header implies.
        expected: usize,
    },
    /// Entry 0 is not the reserved entry (empty name, RESERVED_FIRST).
    BadReservedEntry,
    /// Entry `index` has no NUL in `name[67]`.
    NameNotTerminated(usize),
    /// Entry `index` is marked attached in the image.
    AttachedInImage(usize),
}

impl core::fmt::Display for MftError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => write!(f, "manifest shorter than its header"),
            Self::BadVersion(v) => write!(f, "unsupported manifest version {v}"),
            Self::BadEntryCount(n) => write!(f, "manifest entry count {n} not in 1..=64"),
            Self::BadSize { len, expected } => write!(f, "manifest size {len}, expected {expected}"),
            Self::BadReservedEntry => write!(f, "manifest entry 0 is not the reserved entry"),
            Self::NameNotTerminated(i) => write!(f, "manifest entry {i}: name not NUL-terminated"),
            Self::AttachedInImage(i) => write!(f, "manifest entry {i}: marked attached in the image"),
        }
    }
}

/// A validated view of a manifest held as bytes (the MFT1 descriptor after its 4 padding
/// bytes, or the tender's copy in guest memory).
#[derive(Clone, Copy, Debug)]
pub struct Manifest<'a> {
    bytes: &'a [u8],
    entries: usize,
}

impl<'a> Manifest<'a> {
    /// Validates a manifest as found in an image, with the tender's rules: size exactly
    /// `8 + 104·entries`, version 1, `1 ≤ entries ≤ 64`, entry 0 reserved, every name
    /// NUL-terminated within 68 bytes, nothing attached. Names and types of the other
    /// entries are not checked here (see [`valid_device_name`], [`DeviceType::from_raw`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, MftError> {
        let m = Self::parse_copy(bytes)?;
        for i in 0..m.entries {
            if m.entry(i).is_attached() {
                return Err(MftError::AttachedInImage(i));
            }
        }
        Ok(m)
    }

    /// Like [`Manifest::parse`] but allows attached entries (for reading the tender's
    /// filled-in copy). Extra bytes after the last entry are ignored.
    pub fn parse_copy(bytes: &'a [u8]) -> Result<Self, MftError> {
        let h = MftHeader::read_from(bytes).ok_or(MftError::Truncated)?;
        if h.version != MFT_VERSION {
            return Err(MftError::BadVersion(h.version));
        }
        if h.entries == 0 || h.entries as usize > MFT_MAX_ENTRIES {
            return Err(MftError::BadEntryCount(h.entries));
        }
        let entries = h.entries as usize;
        let expected = MftHeader::SIZE + MftEntry::SIZE * entries;
        if bytes.len() < expected {
            return Err(MftError::BadSize { len: bytes.len(), expected });
        }
        let m = Self { bytes: &bytes[..expected], entries };
        let e0 = m.entry(0);
        if e0.dev_type != mft_type::RESERVED_FIRST || e0.name[0] != 0 {
            return Err(MftError::BadReservedEntry);
        }
        for i in 0..entries {
            if m.entry(i).name[MFT_NAME_MAX] != 0 {
                return Err(MftError::NameNotTerminated(i));
            }
        }
        Ok(m)
    }

    /// Like [`Manifest::parse`], and also requires the exact length (as the tender does
    /// for the note descriptor).
    pub fn parse_exact(bytes: &'a [u8]) -> Result<Self, MftError> {
        let m = Self::parse(bytes)?;
        if m.bytes.len() != bytes.len() {
            return Err(MftError::BadSize { len: bytes.len(), expected: m.bytes.len() });
        }
        Ok(m)
    }

    /// Number of entries, including the reserved entry 0.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Always false: a valid manifest has the reserved entry.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The exact bytes of the manifest (`8 + 104·entries`).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Entry `i` (handle `i`). Panics if `i >= len()`.
    pub fn entry(&self, i: usize) -> MftEntry {
        let off = MftHeader::SIZE + MftEntry::SIZE * i;
        let raw: &[u8; MftEntry::SIZE] = self.bytes[off..off + MftEntry::SIZE].try_into().expect("entry in range");
        MftEntry::from_bytes(raw)
    }

    /// Byte offset of entry `i` from the start of the manifest (for writing it back).
    pub const fn entry_offset(i: usize) -> usize {
        MftHeader::SIZE + MftEntry::SIZE * i
    }

    /// Iterates `(handle, entry)` over all entries including the reserved one.
    pub fn iter(&self) -> impl Iterator<Item = (usize, MftEntry)> + 'a {
        let m = *self;
        (0..m.entries).map(move |i| (i, m.entry(i)))
    }

    /// Finds a device by name; returns its handle and entry.
    pub fn find(&self, name: &str) -> Option<(usize, MftEntry)> {
        self.iter().skip(1).find(|(_, e)| e.name_bytes() == name.as_bytes())
    }
}

// ---------------------------------------------------------------------------------------
// ELF notes
// ---------------------------------------------------------------------------------------

/// Name of both Solo5 notes, padded to 8 bytes (`n_namesz` = 6 includes the NUL).
pub const NOTE_NAME: [u8; 8] = *b"Solo5\0\0\0";
/// `n_namesz` of the Solo5 notes.
pub const NOTE_NAMESZ: u32 = 6;
/// Note type of the ABI note, `"ABI1"`.
pub const NOTE_TYPE_ABI: u32 = 0x3149_4241;
/// Note type of the manifest note, `"MFT1"`.
pub const NOTE_TYPE_MFT: u32 = 0x3154_464d;
/// Section name for the ABI note.
pub const ABI_NOTE_SECTION: &str = ".note.solo5.abi";
/// Section name for the manifest note.
pub const MFT_NOTE_SECTION: &str = ".note.solo5.manifest";
/// Largest ABI descriptor a tender accepts.
pub const ABI_NOTE_DESC_MAX: usize = 32;
/// Largest manifest descriptor a tender accepts (`12 + 104·64`).
pub const MFT_NOTE_DESC_MAX: usize = 4 + MftHeader::SIZE + MftEntry::SIZE * MFT_MAX_ENTRIES;
/// Alignment of the ABI descriptor within the note.
pub const ABI_NOTE_DESC_ALIGN: usize = 4;
/// Alignment of the manifest descriptor within the note.
pub const MFT_NOTE_DESC_ALIGN: usize = 8;

/// `Elf64_Nhdr` (12 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoteHeader {
    /// Length of the name including its NUL.
    pub n_namesz: u32,
    /// Length of the descriptor (including any alignment padding before it, for MFT1).
    pub n_descsz: u32,
    /// Note type.
    pub n_type: u32,
}
le_struct!(NoteHeader, size 12, align 4, { n_namesz: u32 = 0, n_descsz: u32 = 4, n_type: u32 = 8 });

/// Descriptor of the ABI note (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AbiDesc {
    /// An [`abi_target`] value.
    pub target: u32,
    /// ABI version; [`HVT_ABI_VERSION`].
    pub version: u32,
    /// Zero.
    pub reserved0: u32,
    /// Zero.
    pub reserved1: u32,
}
le_struct!(AbiDesc, size 16, align 4, { target: u32 = 0, version: u32 = 4, reserved0: u32 = 8, reserved1: u32 = 12 });

/// The whole ABI note (36 bytes). Put it in its own section and `PT_NOTE`:
///
/// ```ignore
/// #[used]
/// #[unsafe(link_section = ".note.solo5.abi")]
/// static ABI: hvt_abi::AbiNote = hvt_abi::AbiNote::HVT;
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiNote {
    /// `{6, 16, NOTE_TYPE_ABI}`.
    pub header: NoteHeader,
    /// [`NOTE_NAME`].
    pub name: [u8; 8],
    /// Descriptor at offset 20.
    pub desc: AbiDesc,
}

impl AbiNote {
    /// The note for an hvt guest of ABI version 2.
    pub const HVT: Self = Self::new(abi_target::HVT, HVT_ABI_VERSION);

    /// A note for any target/version.
    pub const fn new(target: u32, version: u32) -> Self {
        Self {
            header: NoteHeader { n_namesz: NOTE_NAMESZ, n_descsz: AbiDesc::SIZE as u32, n_type: NOTE_TYPE_ABI },
            name: NOTE_NAME,
            desc: AbiDesc { target, version, reserved0: 0, reserved1: 0 },
        }
    }
}

/// Note type of our own extension note, "SED1": an image that carries it accepts a
/// 32-byte entropy seed from the tender as a leading `--hvt-seed=<64 hex digits>` word
/// of its command line (and removes it before parsing its arguments). Upstream tenders
/// ignore the note, and our tender adds the word only to images that carry it, so
/// upstream images see their command line unchanged. Name [`NOTE_NAME`], 4-byte
/// descriptor: the extension's version, [`SEED_NOTE_VERSION`].
pub const NOTE_TYPE_SEED: u32 = 0x3144_4553;
/// Version of the seed extension.
pub const SEED_NOTE_VERSION: u32 = 1;
/// The command-line word that carries the seed.
pub const SEED_ARG_PREFIX: &str = "--hvt-seed=";

/// The seed extension note (see [`NOTE_TYPE_SEED`]); 24 bytes, in its own `PT_NOTE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedNote {
    pub header: NoteHeader,
    pub name: [u8; 8],
    pub version: u32,
}

impl SeedNote {
    pub const V1: Self = Self {
        header: NoteHeader { n_namesz: NOTE_NAMESZ, n_descsz: 4, n_type: NOTE_TYPE_SEED },
        name: NOTE_NAME,
        version: SEED_NOTE_VERSION,
    };
}

const _: () = assert!(core::mem::size_of::<SeedNote>() == 24);
const _: () = assert!(core::mem::offset_of!(SeedNote, version) == 20);

/// The whole manifest note for `N` devices (`24 + 8 + 104·(N + 1)` bytes). The nested
/// [`Mft`] is 8-aligned, so it starts at offset 24 after 4 padding bytes, as tenders
/// expect. Put it in its own section and `PT_NOTE`:
///
/// ```ignore
/// use hvt_abi::{DeviceType, ManifestNote};
/// #[used]
/// #[unsafe(link_section = ".note.solo5.manifest")]
/// static MANIFEST: ManifestNote<2> =
///     ManifestNote::new([("storage", DeviceType::BlockBasic), ("service", DeviceType::NetBasic)]);
/// ```
///
/// Handles: `storage` = 1, `service` = 2 (entry 0 is reserved).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestNote<const N: usize> {
    /// `{6, 12 + 104·(N+1), NOTE_TYPE_MFT}`.
    pub header: NoteHeader,
    /// [`NOTE_NAME`].
    pub name: [u8; 8],
    /// Zero padding up to the 8-aligned descriptor.
    pub pad: [u8; 4],
    /// The manifest, at offset 24.
    pub mft: Mft<N>,
}

impl<const N: usize> ManifestNote<N> {
    /// Offset of the manifest within the note.
    pub const MFT_OFFSET: usize = 24;

    /// Builds the note from `(name, type)` pairs; see [`Mft::new`] for the checks.
    pub const fn new(devices: [(&str, DeviceType); N]) -> Self {
        assert!(offset_of!(Self, mft) == Self::MFT_OFFSET);
        Self {
            header: NoteHeader {
                n_namesz: NOTE_NAMESZ,
                n_descsz: (size_of::<Self>() - 20) as u32,
                n_type: NOTE_TYPE_MFT,
            },
            name: NOTE_NAME,
            pad: [0; 4],
            mft: Mft::new(devices),
        }
    }
}

/// Why a `PT_NOTE` segment was rejected by [`find_solo5_note`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteError {
    /// The segment is shorter than a note header (12 bytes): the image is invalid.
    SegmentTooSmall,
    /// `n_descsz` is 0, above the maximum, or runs past the segment.
    BadDescSize(u32),
}

impl core::fmt::Display for NoteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::SegmentTooSmall => write!(f, "note segment shorter than a note header"),
            Self::BadDescSize(n) => write!(f, "note does not fall within valid size (n_descsz {n})"),
        }
    }
}

/// Looks at the **first** note of a `PT_NOTE` segment's bytes, as the Solo5 tender does,
/// and returns its descriptor if it is a Solo5 note of `note_type` ([`NOTE_TYPE_ABI`] or
/// [`NOTE_TYPE_MFT`]). For MFT1 the 4 padding bytes are skipped, so the result starts at
/// the manifest's `version`. `Ok(None)` means "not this note, look at the next segment".
pub fn find_solo5_note(segment: &[u8], note_type: u32) -> Result<Option<&[u8]>, NoteError> {
    let (max, align) = if note_type == NOTE_TYPE_MFT {
        (MFT_NOTE_DESC_MAX, MFT_NOTE_DESC_ALIGN)
    } else {
        (ABI_NOTE_DESC_MAX, ABI_NOTE_DESC_ALIGN)
    };
    let Some(h) = NoteHeader::read_from(segment) else {
        return Err(NoteError::SegmentTooSmall);
    };
    if segment.len() < NoteHeader::SIZE + NOTE_NAME.len() {
        return Ok(None);
    }
    let name = &segment[NoteHeader::SIZE..NoteHeader::SIZE + NOTE_NAMESZ as usize];
    if h.n_namesz != NOTE_NAMESZ || name != &NOTE_NAME[..NOTE_NAMESZ as usize] || h.n_type != note_type {
        return Ok(None);
    }
    let descsz = h.n_descsz as usize;
    let start = NoteHeader::SIZE + NOTE_NAME.len();
    if descsz == 0 || descsz > max || segment.len() < start + descsz {
        return Err(NoteError::BadDescSize(h.n_descsz));
    }
    let aligned = start.next_multiple_of(align);
    let pad = aligned - start;
    if descsz < pad {
        return Err(NoteError::BadDescSize(h.n_descsz));
    }
    Ok(Some(&segment[aligned..start + descsz]))
}

// ---------------------------------------------------------------------------------------
// Net constants and ring I/O (optional extension, v0.11+)
// ---------------------------------------------------------------------------------------

/// Length of a MAC address.
pub const NET_ALEN: usize = 6;
/// Length of an Ethernet header.
pub const NET_HLEN: usize = 14;

/// Number of slots in each ring array; indexes are free-running u32 masked with `RING_SIZE - 1`.
pub const RING_SIZE: usize = 1024;
/// Ring entry operation: send a frame.
pub const RING_OP_NET_WRITE: u32 = 1;
/// Ring entry operation: receive a frame.
pub const RING_OP_NET_READ: u32 = 2;

/// A request slot of the net ring (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvtRingEntry {
    /// [`RING_OP_NET_WRITE`] or [`RING_OP_NET_READ`].
    pub operation: u32,
    /// Net handle.
    pub handle: u32,
    /// Guest-physical address of the frame buffer.
    pub data: u64,
    /// Frame length (write) or buffer size (read).
    pub len: u32,
    /// Guest-chosen id echoed in the commit.
    pub id: u32,
    /// Zero.
    pub reserved: u64,
}
le_struct!(HvtRingEntry, size 32, align 8, {
    operation: u32 = 0, handle: u32 = 4, data: u64 = 8, len: u32 = 16, id: u32 = 20, reserved: u64 = 24
});

/// A completion slot of the net ring (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvtRingCommit {
    /// Id of the entry this completes.
    pub id: u32,
    /// A [`result`] code.
    pub ret: i32,
    /// Frame length for reads.
    pub len: u32,
    /// Zero.
    pub reserved: u32,
}
le_struct!(HvtRingCommit, size 16, align 4, { id: u32 = 0, ret: i32 = 4, len: u32 = 8, reserved: u32 = 12 });

/// `struct hvt_ring` (49280 bytes) at `BootInfo::net_ring`. Guest-written line first,
/// host-written line second, then the entry and commit arrays.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct HvtRing {
    /// Guest: producer index of `entries`.
    pub ent_tail: u32,
    /// Guest: consumer index of `commits`.
    pub com_head: u32,
    /// Padding to the next cache line.
    pub pad0: [u8; 56],
    /// Host: consumer index of `entries`.
    pub ent_head: u32,
    /// Host: producer index of `commits`.
    pub com_tail: u32,
    /// Host: non-zero when the host is about to sleep and wants a kick.
    pub needs_kick: u32,
    /// Padding to the next cache line.
    pub pad1: [u8; 52],
    /// Requests.
    pub entries: [HvtRingEntry; RING_SIZE],
    /// Completions.
    pub commits: [HvtRingCommit; RING_SIZE],
}

const _: () = {
    assert!(size_of::<HvtRing>() == 49280);
    assert!(offset_of!(HvtRing, ent_tail) == 0);
    assert!(offset_of!(HvtRing, com_head) == 4);
    assert!(offset_of!(HvtRing, ent_head) == 64);
    assert!(offset_of!(HvtRing, com_tail) == 68);
    assert!(offset_of!(HvtRing, needs_kick) == 72);
    assert!(offset_of!(HvtRing, entries) == 128);
    assert!(offset_of!(HvtRing, commits) == 32896);
};

// ---------------------------------------------------------------------------------------
// Appendix A summary checks (the per-struct checks sit next to each `le_struct!`)
// ---------------------------------------------------------------------------------------

const _: () = {
    assert!(size_of::<BootInfo>() == 56);
    assert!(size_of::<HcWalltime>() == 8);
    assert!(size_of::<HcPuts>() == 16);
    assert!(size_of::<HcBlockIo>() == 40);
    assert!(size_of::<HcNetIo>() == 32);
    assert!(size_of::<HcPoll>() == 24);
    assert!(size_of::<HcHalt>() == 16);
    assert!(size_of::<MftEntry>() == 104);
    assert!(core::mem::align_of::<MftEntry>() == 8);
    assert!(size_of::<MftHeader>() == 8);
    assert!(size_of::<AbiNote>() == 36);
    assert!(offset_of!(AbiNote, desc) == 20);
    assert!(size_of::<Mft<0>>() == 8 + 104);
    assert!(size_of::<Mft<63>>() == 8 + 104 * 64);
    assert!(offset_of!(Mft<3>, reserved) == 8);
    assert!(offset_of!(Mft<3>, devices) == 8 + 104);
    assert!(offset_of!(ManifestNote<0>, mft) == 24);
    assert!(offset_of!(ManifestNote<1>, mft) == 24);
    assert!(offset_of!(ManifestNote<63>, mft) == 24);
    assert!(size_of::<ManifestNote<1>>() - 20 == 12 + 104 * 2);
    assert!(MFT_NOTE_DESC_MAX == 6668);
    assert!(x86_64::MFT_COPY_ADDR == 0x10038);
    assert!(TrapFrame::SIZE <= HALT_COOKIE_MAX);
};

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn as_bytes<T>(v: &T) -> &[u8] {
        // Test-only view of a plain-data struct; the structs used here have no padding.
        let p = (v as *const T).cast::<u8>();
        #[allow(unsafe_code)]
        // SAFETY: `v` is a live reference to `size_of::<T>()` initialised bytes (the types
        // passed below contain no padding), and the slice borrows it for its lifetime.
        unsafe {
            core::slice::from_raw_parts(p, size_of::<T>())
        }
    }

    #[test]
    fn hypercall_ports() {
        assert_eq!(Hypercall::Puts.port(), 0x502);
        assert_eq!(Hypercall::from_port(0x508), Some(Hypercall::Halt));
        assert_eq!(Hypercall::from_port(0x500), None);
        assert_eq!(Hypercall::from_port(0x509), None);
        assert_eq!(Hypercall::from_port(0x4ff), None);
        assert_eq!(Hypercall::BlockRead.arg_size(), 40);
    }

    #[test]
    fn abi_note_bytes() {
        let b = as_bytes(&AbiNote::HVT);
        assert_eq!(b.len(), 36);
        assert_eq!(&b[0..12], &[6, 0, 0, 0, 16, 0, 0, 0, 0x41, 0x42, 0x49, 0x31]);
        assert_eq!(&b[12..20], b"Solo5\0\0\0");
        assert_eq!(&b[20..28], &[1, 0, 0, 0, 2, 0, 0, 0]);
        let desc = find_solo5_note(b, NOTE_TYPE_ABI).unwrap().unwrap();
        let d = AbiDesc::read_from(desc).unwrap();
        assert_eq!((d.target, d.version), (abi_target::HVT, HVT_ABI_VERSION));
        assert_eq!(find_solo5_note(b, NOTE_TYPE_MFT), Ok(None));
    }

    #[test]
    fn manifest_note_roundtrip() {
        static NOTE: ManifestNote<2> =
            ManifestNote::new([("storage", DeviceType::BlockBasic), ("service", DeviceType::NetBasic)]);
        let b = as_bytes(&NOTE);
        assert_eq!(b.len(), 24 + 8 + 3 * 104);
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 12 + 3 * 104);
        assert_eq!(&b[8..12], b"MFT1");
        // Entry 0's type word (the test_hello dump has it at +0x64).
        assert_eq!(u32::from_le_bytes(b[0x64..0x68].try_into().unwrap()), mft_type::RESERVED_FIRST);
        let desc = find_solo5_note(b, NOTE_TYPE_MFT).unwrap().unwrap();
        let m = Manifest::parse_exact(desc).unwrap();
        assert_eq!(m.len(), 3);
        let (h, e) = m.find("service").unwrap();
        assert_eq!(h, 2);
        assert_eq!(e.device_type(), Some(DeviceType::NetBasic));
        assert!(m.find("nope").is_none());
        assert_eq!(m.entry(1).to_bytes().as_slice(), &desc[8 + 104..8 + 208]);
    }

    #[test]
    fn manifest_validation() {
        let note = ManifestNote::<1>::new([("disk0", DeviceType::BlockBasic)]);
        let mut raw = std::vec::Vec::from(&as_bytes(&note)[24..]);
        assert!(Manifest::parse_exact(&raw).is_ok());
        assert!(Manifest::parse_exact(&raw[..raw.len() - 1]).is_err());
        let mut e = MftEntry::from_bytes(raw[112..216].try_into().unwrap());
        e.attached = 1;
        e.u = MftDevInfo::block(4 << 20, 512);
        raw[112..216].copy_from_slice(&e.to_bytes());
        assert_eq!(Manifest::parse(&raw).unwrap_err(), MftError::AttachedInImage(1));
        let copy = Manifest::parse_copy(&raw).unwrap();
        assert_eq!(copy.entry(1).u.block_capacity(), 4 << 20);
        assert_eq!(copy.entry(1).u.block_size(), 512);
        raw[0] = 2;
        assert_eq!(Manifest::parse(&raw).unwrap_err(), MftError::BadVersion(2));
    }

    #[test]
    fn net_info() {
        let u = MftDevInfo::net([2, 0, 0, 0, 0, 1], 9000);
        assert_eq!(u.net_mac(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(u.net_mtu(), 9000);
    }

    #[test]
    fn boot_info_codec() {
        let bi = BootInfo {
            mem_size: 512 << 20,
            kernel_end: 0x108000,
            cpu_cycle_freq: 2_300_000_000,
            cmdline: 0x100a8,
            mft: 0x10038,
            host_features: 0,
            guest_features: 0,
            net_ring: 0,
        };
        let b = bi.to_bytes();
        assert_eq!(&b[32..40], &0x10038u64.to_le_bytes());
        assert_eq!(BootInfo::from_bytes(&b), bi);
        let poll = HcPoll { timeout_nsecs: 5, ready_set: 0b10, ret: 1 };
        assert_eq!(HcPoll::from_bytes(&poll.to_bytes()), poll);
    }

    #[test]
    fn names() {
        assert!(valid_device_name(b"service0"));
        assert!(!valid_device_name(b""));
        assert!(!valid_device_name(b"a-b"));
        assert!(!valid_device_name(&[b'a'; 68]));
        assert!(valid_device_name(&[b'a'; 67]));
    }
}
