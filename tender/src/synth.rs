//! Synthesised hvt images: the engine probe guest, and hand-built (also deliberately
//! malformed) images for tests. Not a general linker: one code segment at 0x100000, an ABI
//! note and a manifest note, each in its own `PT_NOTE`.

use crate::elf::{PF_R, PF_X};

/// Where the code segment is loaded.
pub const CODE_BASE: u64 = 0x100000;
/// Offset of the data area inside the code segment used by [`puts_halt`].
const DATA_OFF: usize = 0x800;

#[derive(Debug, Clone)]
pub struct ImageBuilder {
    code: Vec<u8>,
    entry: u64,
    vaddr: u64,
    flags: u32,
    align: u64,
    memsz: Option<u64>,
    abi_target: u32,
    abi_version: u32,
    abi: bool,
    manifest: bool,
    mft_version: u32,
    attached: bool,
    devices: Vec<(String, u32)>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageBuilder {
    pub fn new() -> Self {
        ImageBuilder {
            code: puts_halt(b"", 0, &[]),
            entry: CODE_BASE,
            vaddr: CODE_BASE,
            flags: PF_R | PF_X,
            align: 0x1000,
            memsz: None,
            abi_target: hvt_abi::abi_target::HVT,
            abi_version: hvt_abi::HVT_ABI_VERSION,
            abi: true,
            manifest: true,
            mft_version: hvt_abi::MFT_VERSION,
            attached: false,
            devices: Vec::new(),
        }
    }
    pub fn code(mut self, code: Vec<u8>) -> Self {
        self.code = code;
        self
    }
    pub fn entry(mut self, entry: u64) -> Self {
        self.entry = entry;
        self
    }
    pub fn vaddr(mut self, vaddr: u64) -> Self {
        self.vaddr = vaddr;
        self
    }
    pub fn flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }
    pub fn align(mut self, align: u64) -> Self {
        self.align = align;
        self
    }
    pub fn memsz(mut self, memsz: u64) -> Self {
        self.memsz = Some(memsz);
        self
    }
    pub fn abi_version(mut self, v: u32) -> Self {
        self.abi_version = v;
        self
    }
    pub fn abi_target(mut self, v: u32) -> Self {
        self.abi_target = v;
        self
    }
    pub fn no_abi(mut self) -> Self {
        self.abi = false;
        self
    }
    pub fn no_manifest(mut self) -> Self {
        self.manifest = false;
        self
    }
    pub fn mft_version(mut self, v: u32) -> Self {
        self.mft_version = v;
        self
    }
    pub fn attached_in_image(mut self) -> Self {
        self.attached = true;
        self
    }
    pub fn device(mut self, name: &str, kind: u32) -> Self {
        self.devices.push((name.to_string(), kind));
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let abi_off = 0x100usize;
        let mft_off = 0x200usize;
        let code_off = 0x2000usize;
        let mut phdrs: Vec<[u64; 7]> = Vec::new(); // type|flags, offset, vaddr, paddr, filesz, memsz, align
        let filesz = self.code.len() as u64;
        let memsz = self.memsz.unwrap_or(filesz).max(filesz);
        phdrs.push([
            1 | (u64::from(self.flags) << 32),
            code_off as u64,
            self.vaddr,
            self.vaddr,
            filesz,
            memsz,
            self.align,
        ]);

        let mut abi_note = Vec::new();
        if self.abi {
            abi_note.extend_from_slice(&6u32.to_le_bytes());
            abi_note.extend_from_slice(&16u32.to_le_bytes());
            abi_note.extend_from_slice(&hvt_abi::NOTE_TYPE_ABI.to_le_bytes());
            abi_note.extend_from_slice(b"Solo5\0\0\0");
            for w in [self.abi_target, self.abi_version, 0, 0] {
                abi_note.extend_from_slice(&w.to_le_bytes());
            }
            phdrs.push([4 | (u64::from(PF_R) << 32), abi_off as u64, 0, 0, abi_note.len() as u64, 0, 4]);
        }
        let mut mft_note = Vec::new();
        if self.manifest {
            let n = 1 + self.devices.len();
            mft_note.extend_from_slice(&6u32.to_le_bytes());
            mft_note.extend_from_slice(&((12 + 104 * n) as u32).to_le_bytes());
            mft_note.extend_from_slice(&hvt_abi::NOTE_TYPE_MFT.to_le_bytes());
            mft_note.extend_from_slice(b"Solo5\0\0\0");
            mft_note.extend_from_slice(&[0; 4]);
            mft_note.extend_from_slice(&self.mft_version.to_le_bytes());
            mft_note.extend_from_slice(&(n as u32).to_le_bytes());
            let mut entry = |name: &str, kind: u32, attached: bool| {
                let mut e = [0u8; 104];
                e[..name.len()].copy_from_slice(name.as_bytes());
                e[68..72].copy_from_slice(&kind.to_le_bytes());
                e[96] = u8::from(attached);
                mft_note.extend_from_slice(&e);
            };
            entry("", hvt_abi::mft_type::RESERVED_FIRST, self.attached);
            for (name, kind) in &self.devices {
                entry(name, *kind, false);
            }
            phdrs.push([4 | (u64::from(PF_R) << 32), mft_off as u64, 0, 0, mft_note.len() as u64, 0, 8]);
        }

        let mut f = vec![0u8; code_off + self.code.len()];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // little endian
        f[6] = 1; // EV_CURRENT
        f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        f[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&self.entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, p) in phdrs.iter().enumerate() {
            let o = 64 + 56 * i;
            f[o..o + 4].copy_from_slice(&(p[0] as u32).to_le_bytes());
            f[o + 4..o + 8].copy_from_slice(&((p[0] >> 32) as u32).to_le_bytes());
            for (j, v) in p[1..].iter().enumerate() {
                f[o + 8 + 8 * j..o + 16 + 8 * j].copy_from_slice(&v.to_le_bytes());
            }
        }
        f[abi_off..abi_off + abi_note.len()].copy_from_slice(&abi_note);
        f[mft_off..mft_off + mft_note.len()].copy_from_slice(&mft_note);
        f[code_off..].copy_from_slice(&self.code);
        f
    }
}

/// Code (plus data) for the code segment: run `prefix`, PUTS `msg`, then HALT with `status`.
/// Only 32-bit immediates are used, so it runs in long mode from [`CODE_BASE`].
pub fn puts_halt(msg: &[u8], status: i32, prefix: &[u8]) -> Vec<u8> {
    assert!(prefix.len() < 0x700 && msg.len() < 0x700);
    let base = CODE_BASE as u32 + DATA_OFF as u32;
    let (puts, halt, text) = (base, base + 16, base + 32);
    let mut c = prefix.to_vec();
    if !msg.is_empty() {
        c.push(0xb8); // mov eax, imm32
        c.extend_from_slice(&puts.to_le_bytes());
        c.push(0xba); // mov edx, imm32
        c.extend_from_slice(&u32::from(hvt_abi::Hypercall::Puts.port()).to_le_bytes());
        c.push(0xef); // out dx, eax
    }
    c.push(0xb8);
    c.extend_from_slice(&halt.to_le_bytes());
    c.push(0xba);
    c.extend_from_slice(&u32::from(hvt_abi::Hypercall::Halt.port()).to_le_bytes());
    c.push(0xef);
    c.extend_from_slice(&[0xeb, 0xfe]); // jmp . (never reached)
    c.resize(DATA_OFF, 0xcc);
    c.extend_from_slice(&u64::from(text).to_le_bytes());
    c.extend_from_slice(&(msg.len() as u64).to_le_bytes());
    c.extend_from_slice(&0u64.to_le_bytes());
    c.extend_from_slice(&i64::from(status).to_le_bytes());
    c.extend_from_slice(msg);
    c.resize(c.len().next_multiple_of(16), 0);
    c
}

/// `xorps xmm0, xmm0`: an SSE arithmetic instruction that this machine's KVM emulator lacks.
pub const XORPS: &[u8] = &[0x0f, 0x57, 0xc0];
/// `mov eax, 39 (getpid); syscall`.
pub const SYSCALL_GETPID: &[u8] = &[0xb8, 39, 0, 0, 0, 0x0f, 0x05];
