//! Guest low memory: the boot info page (both engines) and, for KVM, the GDT and identity
//! page tables (ABI reference §2.4, §2.5, §8.2, §8.3).

use crate::mem::{AccessError, GuestMemory};
use hvt_abi::BootInfo;
use hvt_abi::x86_64 as layout;

/// Writes the boot info at 0x10000, the filled-in manifest copy right after it and the
/// NUL-terminated command line after that.
pub fn write_boot_info(
    mem: &mut GuestMemory,
    kernel_end: u64,
    tsc_hz: u64,
    manifest: &[u8],
    cmdline: &str,
) -> Result<(), AccessError> {
    let mft_gpa = layout::MFT_COPY_ADDR;
    let cmdline_gpa = mft_gpa + manifest.len() as u64;
    let bi = BootInfo {
        mem_size: mem.mem_size(),
        kernel_end,
        cpu_cycle_freq: tsc_hz,
        cmdline: cmdline_gpa,
        mft: mft_gpa,
        // No ring I/O offered.
        host_features: 0,
        guest_features: 0,
        net_ring: 0,
    };
    mem.setup_write(layout::BOOT_INFO_ADDR, &bi.to_bytes())?;
    mem.setup_write(mft_gpa, manifest)?;
    let mut c = Vec::with_capacity(cmdline.len() + 1);
    c.extend_from_slice(cmdline.as_bytes());
    c.push(0);
    debug_assert!(c.len() <= layout::CMDLINE_SIZE);
    mem.setup_write(cmdline_gpa, &c)
}

/// GDT at 0x1000 and 4-level identity page tables covering `[0, mem_size)`: pages below
/// 0x10000 not present, 0x10000–0xFFFFF read-only, the rest RW; 4 KiB pages for the first
/// 2 MiB (PT0 at 0x8000), 2 MiB pages above (PDs at 0x4000..0x8000).
pub fn write_page_tables(mem: &mut GuestMemory) -> Result<(), AccessError> {
    const P: u64 = 1;
    const RW: u64 = 2;
    const PS: u64 = 0x80;
    let mem_size = mem.mem_size();
    let gdt: Vec<u8> =
        [0u64, layout::GDT_DESC_CODE, layout::GDT_DESC_DATA].iter().flat_map(|d| d.to_le_bytes()).collect();
    mem.setup_write(layout::GDT_ADDR, &gdt)?;
    mem.setup_write(layout::PML4_ADDR, &(layout::PDPT_ADDR | P | RW).to_le_bytes())?;
    let pdpt: Vec<u8> = (0..4u64).flat_map(|i| ((layout::PDE_ADDR + i * 0x1000) | P | RW).to_le_bytes()).collect();
    mem.setup_write(layout::PDPT_ADDR, &pdpt)?;
    let npd = mem_size.div_ceil(2 << 20);
    let pds: Vec<u8> = (0..npd)
        .flat_map(|i| if i == 0 { layout::PT0_ADDR | P | RW } else { (i << 21) | P | RW | PS }.to_le_bytes())
        .collect();
    mem.setup_write(layout::PDE_ADDR, &pds)?;
    let pt0: Vec<u8> = (0..512u64)
        .flat_map(|i| {
            let a = i << 12;
            let e = if a < layout::BOOT_INFO_ADDR {
                0
            } else if a < layout::GUEST_MIN_BASE {
                a | P
            } else if a < mem_size {
                a | P | RW
            } else {
                0
            };
            e.to_le_bytes()
        })
        .collect();
    mem.setup_write(layout::PT0_ADDR, &pt0)
}
