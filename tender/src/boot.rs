//! Guest low memory: the boot info page (both engines) and, for KVM, the GDT and identity
//! page tables (ABI reference §2.4, §2.5, §8.2, §8.3).

use crate::abi;
use crate::mem::{AccessError, GuestMemory};

/// Writes the boot info at 0x10000, the filled-in manifest copy right after it and the
/// NUL-terminated command line after that.
pub fn write_boot_info(
    mem: &mut GuestMemory,
    kernel_end: u64,
    tsc_hz: u64,
    manifest: &[u8],
    cmdline: &str,
) -> Result<(), AccessError> {
    let mft_gpa = abi::BOOT_INFO_BASE + abi::BOOT_INFO_SIZE;
    let cmdline_gpa = mft_gpa + manifest.len() as u64;
    let mut bi = [0u8; abi::BOOT_INFO_SIZE as usize];
    bi[abi::BI_MEM_SIZE..][..8].copy_from_slice(&mem.mem_size().to_le_bytes());
    bi[abi::BI_KERNEL_END..][..8].copy_from_slice(&kernel_end.to_le_bytes());
    bi[abi::BI_CPU_CYCLE_FREQ..][..8].copy_from_slice(&tsc_hz.to_le_bytes());
    bi[abi::BI_CMDLINE..][..8].copy_from_slice(&cmdline_gpa.to_le_bytes());
    bi[abi::BI_MFT..][..8].copy_from_slice(&mft_gpa.to_le_bytes());
    // host_features, guest_features and net_ring stay 0: no ring I/O offered.
    mem.setup_write(abi::BOOT_INFO_BASE, &bi)?;
    mem.setup_write(mft_gpa, manifest)?;
    let mut c = Vec::with_capacity(cmdline.len() + 1);
    c.extend_from_slice(cmdline.as_bytes());
    c.push(0);
    debug_assert!(c.len() <= abi::CMDLINE_SIZE);
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
    let gdt: Vec<u8> = [0u64, abi::GDT_CODE, abi::GDT_DATA].iter().flat_map(|d| d.to_le_bytes()).collect();
    mem.setup_write(abi::GDT_BASE, &gdt)?;
    mem.setup_write(abi::PML4_BASE, &(abi::PDPT_BASE | P | RW).to_le_bytes())?;
    let pdpt: Vec<u8> = (0..4u64).flat_map(|i| ((abi::PD_BASE + i * 0x1000) | P | RW).to_le_bytes()).collect();
    mem.setup_write(abi::PDPT_BASE, &pdpt)?;
    let npd = mem_size.div_ceil(2 << 20);
    let pds: Vec<u8> = (0..npd)
        .flat_map(|i| if i == 0 { abi::PT0_BASE | P | RW } else { (i << 21) | P | RW | PS }.to_le_bytes())
        .collect();
    mem.setup_write(abi::PD_BASE, &pds)?;
    let pt0: Vec<u8> = (0..512u64)
        .flat_map(|i| {
            let a = i << 12;
            let e = if a < abi::BOOT_INFO_BASE {
                0
            } else if a < abi::GUEST_MIN_BASE {
                a | P
            } else if a < mem_size {
                a | P | RW
            } else {
                0
            };
            e.to_le_bytes()
        })
        .collect();
    mem.setup_write(abi::PT0_BASE, &pt0)
}
