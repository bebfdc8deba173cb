//! The Solo5 hvt ABI facts the tender uses, taken from the shared `hvt-abi` crate (the one
//! source of truth for the guest runtime and the tender) under the names this crate uses.

use core::mem::offset_of;
use hvt_abi::{BootInfo, MftEntry, MftHeader, x86_64 as layout};

/// Hypercall port base: a hypercall is a 32-bit OUT to `HVT_PORT_BASE + nr`.
pub const HVT_PORT_BASE: u16 = hvt_abi::HYPERCALL_PIO_BASE;
/// One past the last valid hypercall number.
pub const HVT_HYPERCALL_MAX: u16 = hvt_abi::HYPERCALL_MAX as u16;

pub const HC_WALLTIME: u16 = hvt_abi::hc::WALLTIME as u16;
pub const HC_PUTS: u16 = hvt_abi::hc::PUTS as u16;
pub const HC_POLL: u16 = hvt_abi::hc::POLL as u16;
pub const HC_BLOCK_WRITE: u16 = hvt_abi::hc::BLOCK_WRITE as u16;
pub const HC_BLOCK_READ: u16 = hvt_abi::hc::BLOCK_READ as u16;
pub const HC_NET_WRITE: u16 = hvt_abi::hc::NET_WRITE as u16;
pub const HC_NET_READ: u16 = hvt_abi::hc::NET_READ as u16;
pub const HC_HALT: u16 = hvt_abi::hc::HALT as u16;

/// `solo5_result_t` values written to the `ret` fields.
pub const SOLO5_R_OK: i32 = hvt_abi::result::OK;
pub const SOLO5_R_AGAIN: i32 = hvt_abi::result::AGAIN;
pub const SOLO5_R_EINVAL: i32 = hvt_abi::result::EINVAL;

/// The ABI version this tender implements (exact match required).
pub const HVT_ABI_VERSION: u32 = hvt_abi::HVT_ABI_VERSION;
/// ABI target number of hvt in the ABI note.
pub const ABI_TARGET_HVT: u32 = hvt_abi::abi_target::HVT;
pub const MFT_VERSION: u32 = hvt_abi::MFT_VERSION;
pub const MFT_MAX_ENTRIES: u32 = hvt_abi::MFT_MAX_ENTRIES as u32;

/// Note name and types.
pub const SOLO5_NOTE_NAME: &[u8; 6] = b"Solo5\0";
const _: () = assert!(hvt_abi::NOTE_NAME[5] == 0 && hvt_abi::NOTE_NAMESZ == 6);
pub const NOTE_TYPE_ABI: u32 = hvt_abi::NOTE_TYPE_ABI;
pub const NOTE_TYPE_MFT: u32 = hvt_abi::NOTE_TYPE_MFT;
/// Largest descriptors the loader accepts.
pub const ABI_DESC_MAX: u32 = hvt_abi::ABI_NOTE_DESC_MAX as u32;
pub const MFT_DESC_MAX: u32 = hvt_abi::MFT_NOTE_DESC_MAX as u32;

/// Manifest entry layout (104 bytes).
pub const MFT_ENTRY_SIZE: usize = size_of::<MftEntry>();
pub const MFT_HEADER_SIZE: usize = size_of::<MftHeader>();
pub const MFT_NAME_SIZE: usize = hvt_abi::MFT_NAME_SIZE;
pub const MFT_OFF_TYPE: usize = offset_of!(MftEntry, dev_type);
pub const MFT_OFF_U: usize = offset_of!(MftEntry, u);
pub const MFT_OFF_B: usize = offset_of!(MftEntry, b);
pub const MFT_OFF_ATTACHED: usize = offset_of!(MftEntry, attached);
pub const MFT_DEV_BLOCK_BASIC: u32 = hvt_abi::mft_type::BLOCK_BASIC;
pub const MFT_DEV_NET_BASIC: u32 = hvt_abi::mft_type::NET_BASIC;
pub const MFT_RESERVED_FIRST: u32 = hvt_abi::mft_type::RESERVED_FIRST;

/// Guest-physical memory layout.
pub const GDT_BASE: u64 = layout::GDT_ADDR;
pub const PML4_BASE: u64 = layout::PML4_ADDR;
pub const PDPT_BASE: u64 = layout::PDPT_ADDR;
pub const PD_BASE: u64 = layout::PDE_ADDR;
pub const PT0_BASE: u64 = layout::PT0_ADDR;
pub const BOOT_INFO_BASE: u64 = layout::BOOT_INFO_ADDR;
pub const BOOT_INFO_SIZE: u64 = size_of::<BootInfo>() as u64;
pub const GUEST_MIN_BASE: u64 = layout::GUEST_MIN_BASE;
pub const CMDLINE_SIZE: usize = layout::CMDLINE_SIZE;

/// Boot info field offsets.
pub const BI_MEM_SIZE: usize = offset_of!(BootInfo, mem_size);
pub const BI_KERNEL_END: usize = offset_of!(BootInfo, kernel_end);
pub const BI_CPU_CYCLE_FREQ: usize = offset_of!(BootInfo, cpu_cycle_freq);
pub const BI_CMDLINE: usize = offset_of!(BootInfo, cmdline);
pub const BI_MFT: usize = offset_of!(BootInfo, mft);

/// Initial control registers (long mode).
pub const CR0_INIT: u64 = layout::CR0_INIT;
pub const CR4_INIT: u64 = layout::CR4_INIT;
pub const EFER_INIT: u64 = layout::EFER_INIT;

/// GDT descriptors written at `GDT_BASE`.
pub const GDT_CODE: u64 = layout::GDT_DESC_CODE;
pub const GDT_DATA: u64 = layout::GDT_DESC_DATA;

// The layout this tender was written against (ABI reference Appendix A).
const _: () = {
    assert!(MFT_ENTRY_SIZE == 104 && MFT_HEADER_SIZE == 8 && BOOT_INFO_SIZE == 56);
    assert!(MFT_OFF_TYPE == 68 && MFT_OFF_U == 72 && MFT_OFF_B == 88 && MFT_OFF_ATTACHED == 96);
    assert!(BI_CMDLINE == 24 && BI_MFT == 32 && BOOT_INFO_BASE == 0x10000 && PT0_BASE == 0x8000);
};
