//! A small bounds-checked ELF64 reader with the Solo5 hvt loader rules (ABI reference §3).
//!
//! Only the ELF header, the program headers and the two Solo5 notes are read; section
//! headers are ignored. Every read goes through [`Bytes`], which refuses out-of-range
//! offsets instead of panicking.

use crate::abi;
use crate::manifest::Manifest;

pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
const PAGE: u64 = 0x1000;

/// One non-empty `PT_LOAD` segment, checked against the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub flags: u32,
    /// Page-aligned range the segment occupies, `[start, end)`.
    pub start: u64,
    pub end: u64,
}

impl Segment {
    pub fn writable(&self) -> bool {
        self.flags & PF_W != 0
    }
    pub fn executable(&self) -> bool {
        self.flags & PF_X != 0
    }
}

/// A validated image: where to load what, the entry point, and its manifest.
#[derive(Debug)]
pub struct Image {
    pub entry: u64,
    pub segments: Vec<Segment>,
    /// Highest aligned end of the non-empty `PT_LOAD`s (boot info `kernel_end`).
    pub kernel_end: u64,
    pub manifest: Manifest,
    /// The image carries our seed note: give it `--hvt-seed=` (see `hvt_abi::NOTE_TYPE_SEED`).
    pub accepts_seed: bool,
}

/// Bounds-checked little-endian reads over the file contents.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn range(&self, off: u64, len: u64) -> Result<&'a [u8], String> {
        let end = off.checked_add(len).ok_or("offset overflow")?;
        if end > self.0.len() as u64 {
            return Err(format!("read of {len} bytes at offset {off:#x} is past the end of the file"));
        }
        Ok(&self.0[off as usize..end as usize])
    }
    fn u16(&self, off: u64) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.range(off, 2)?.try_into().expect("2 bytes")))
    }
    fn u32(&self, off: u64) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.range(off, 4)?.try_into().expect("4 bytes")))
    }
    fn u64(&self, off: u64) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.range(off, 8)?.try_into().expect("8 bytes")))
    }
}

struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

fn align_down(v: u64, a: u64) -> u64 {
    v & !(a - 1)
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    v.checked_add(a - 1).map(|x| x & !(a - 1))
}

/// Parses and validates `file` for a guest with `mem_size` bytes of RAM.
pub fn parse(file: &[u8], mem_size: u64) -> Result<Image, String> {
    let b = Bytes(file);
    let ident = b.range(0, 16).map_err(|_| "not an ELF file (truncated header)".to_string())?;
    if &ident[0..4] != b"\x7fELF" {
        return Err("not an ELF file (bad magic)".into());
    }
    if ident[4] != 2 {
        return Err("not a 64-bit ELF file".into());
    }
    if ident[5] != 1 {
        return Err("not a little-endian ELF file".into());
    }
    if ident[6] != 1 {
        return Err("unsupported ELF version".into());
    }
    b.range(0, 64).map_err(|_| "not an ELF file (truncated header)".to_string())?;
    let e_type = b.u16(16)?;
    let e_machine = b.u16(18)?;
    let e_version = b.u32(20)?;
    let e_entry = b.u64(24)?;
    let e_phoff = b.u64(32)?;
    let e_ehsize = b.u16(52)?;
    let e_phentsize = b.u16(54)?;
    let e_phnum = b.u16(56)?;
    if e_type != ET_EXEC {
        return Err(format!(
            "ELF type is {e_type}, not ET_EXEC (static-PIE images are not supported: link with -C relocation-model=static)"
        ));
    }
    if e_machine != EM_X86_64 {
        return Err(format!("ELF machine is {e_machine}, not EM_X86_64"));
    }
    if e_version != 1 || e_ehsize != 64 || e_phentsize != 56 {
        return Err("invalid ELF header (version, header size or program header size)".into());
    }
    if e_phnum == 0 {
        return Err("ELF file has no program headers".into());
    }
    let mut phdrs = Vec::with_capacity(e_phnum as usize);
    for i in 0..u64::from(e_phnum) {
        let off = i.checked_mul(56).and_then(|x| x.checked_add(e_phoff)).ok_or("program header offset overflow")?;
        b.range(off, 56).map_err(|_| format!("program header {i} lies outside the file"))?;
        phdrs.push(Phdr {
            p_type: b.u32(off)?,
            flags: b.u32(off + 4)?,
            offset: b.u64(off + 8)?,
            vaddr: b.u64(off + 16)?,
            filesz: b.u64(off + 32)?,
            memsz: b.u64(off + 40)?,
            align: b.u64(off + 48)?,
        });
    }

    let mut segments: Vec<Segment> = Vec::new();
    let mut prev_end = abi::GUEST_MIN_BASE;
    for (i, p) in phdrs.iter().enumerate().filter(|(_, p)| p.p_type == PT_LOAD && p.filesz != 0) {
        let what = format!("PT_LOAD segment {i} (vaddr {:#x})", p.vaddr);
        if p.vaddr < abi::GUEST_MIN_BASE {
            return Err(format!("{what} is below {:#x}", abi::GUEST_MIN_BASE));
        }
        if p.align == 0 || !p.align.is_power_of_two() {
            return Err(format!("{what} has an invalid alignment {:#x}", p.align));
        }
        if p.memsz < p.filesz {
            return Err(format!("{what} has p_filesz > p_memsz"));
        }
        b.range(p.offset, p.filesz).map_err(|_| format!("{what} lies outside the file"))?;
        let start = align_down(p.vaddr, p.align);
        if start < prev_end {
            return Err(format!("{what} overlaps the previous segment or segments are not in ascending order"));
        }
        let file_end = p.vaddr.checked_add(p.filesz).ok_or_else(|| format!("{what} overflows"))?;
        let mem_end = p.vaddr.checked_add(p.memsz).ok_or_else(|| format!("{what} overflows"))?;
        let end = align_up(mem_end, p.align).ok_or_else(|| format!("{what} overflows"))?;
        if file_end > mem_size || end > mem_size {
            return Err(format!("{what} does not fit in guest memory ({mem_size:#x} bytes); use a larger --mem"));
        }
        if !start.is_multiple_of(PAGE) || !end.is_multiple_of(PAGE) {
            return Err(format!("{what} is not 4 KiB aligned"));
        }
        if p.flags & PF_W != 0 && p.flags & PF_X != 0 {
            return Err(format!("{what} is both writable and executable (W+X)"));
        }
        prev_end = end;
        segments.push(Segment {
            vaddr: p.vaddr,
            offset: p.offset,
            filesz: p.filesz,
            memsz: p.memsz,
            flags: p.flags,
            start,
            end,
        });
    }
    if segments.is_empty() {
        return Err("ELF file has no loadable segment".into());
    }
    if e_entry < abi::GUEST_MIN_BASE || e_entry >= mem_size {
        return Err(format!(
            "entry point {e_entry:#x} is outside guest memory [{:#x}, {mem_size:#x})",
            abi::GUEST_MIN_BASE
        ));
    }
    let kernel_end = prev_end;

    let abi_desc = find_note(&b, &phdrs, abi::NOTE_TYPE_ABI, abi::ABI_DESC_MAX, 4)?
        .ok_or("no Solo5 ABI note found in executable (is this a Solo5 image?)")?;
    if abi_desc.len() < 8 {
        return Err("Solo5 ABI note is too short".into());
    }
    let target = u32::from_le_bytes(abi_desc[0..4].try_into().expect("4 bytes"));
    let version = u32::from_le_bytes(abi_desc[4..8].try_into().expect("4 bytes"));
    if target != abi::ABI_TARGET_HVT {
        return Err(format!("executable is not for the solo5-hvt target (ABI target {target})"));
    }
    if version != abi::HVT_ABI_VERSION {
        return Err(format!(
            "executable requests unsupported ABI version {version} (this tender implements version {})",
            abi::HVT_ABI_VERSION
        ));
    }
    let mft_desc = find_note(&b, &phdrs, abi::NOTE_TYPE_MFT, abi::MFT_DESC_MAX, 8)?
        .ok_or("no Solo5 manifest found in executable")?;
    let manifest = Manifest::parse(mft_desc)?;
    let accepts_seed = find_note(&b, &phdrs, hvt_abi::NOTE_TYPE_SEED, 4, 4)?
        .is_some_and(|d| d.len() >= 4 && u32::from_le_bytes(d[0..4].try_into().expect("4 bytes")) >= 1);

    Ok(Image { entry: e_entry, segments, kernel_end, manifest, accepts_seed })
}

/// Finds the first note of each `PT_NOTE` that is a Solo5 note of `note_type`; returns its
/// descriptor (after alignment padding).
fn find_note<'a>(
    b: &Bytes<'a>,
    phdrs: &[Phdr],
    note_type: u32,
    max_desc: u32,
    align: u64,
) -> Result<Option<&'a [u8]>, String> {
    for p in phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        if p.filesz < 12 {
            return Err("note does not fall within valid size (PT_NOTE smaller than a note header)".into());
        }
        if p.filesz < 20 {
            continue;
        }
        let hdr = b.range(p.offset, 20).map_err(|_| "PT_NOTE lies outside the file".to_string())?;
        let namesz = u32::from_le_bytes(hdr[0..4].try_into().expect("4 bytes"));
        let descsz = u32::from_le_bytes(hdr[4..8].try_into().expect("4 bytes"));
        let ntype = u32::from_le_bytes(hdr[8..12].try_into().expect("4 bytes"));
        if namesz != 6 || &hdr[12..18] != abi::SOLO5_NOTE_NAME || ntype != note_type {
            continue;
        }
        if descsz == 0 || descsz > max_desc || p.filesz < 20 + u64::from(descsz) {
            return Err("note does not fall within valid size".into());
        }
        let pad = align_up(20, align).expect("small") - 20;
        if u64::from(descsz) < pad {
            return Err("note does not fall within valid size".into());
        }
        let desc = b
            .range(p.offset + 20 + pad, u64::from(descsz) - pad)
            .map_err(|_| "note does not fall within valid size (past end of file)".to_string())?;
        return Ok(Some(desc));
    }
    Ok(None)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::synth::ImageBuilder;

    const MEM: u64 = 512 << 20;

    #[test]
    fn good_image_parses() {
        let img = ImageBuilder::new().build();
        let i = parse(&img, MEM).expect("valid image");
        assert_eq!(i.entry, 0x100000);
        assert_eq!(i.segments.len(), 1);
        assert_eq!(i.kernel_end, 0x101000);
        assert_eq!(i.manifest.entries.len(), 1);
    }

    #[test]
    fn truncated_elf() {
        let img = ImageBuilder::new().build();
        for len in [0, 3, 10, 63, 100] {
            let e = parse(&img[..len], MEM).unwrap_err();
            assert!(!e.is_empty(), "len {len}");
        }
        // Cut inside the segment data.
        let e = parse(&img[..img.len() - 10], MEM).unwrap_err();
        assert!(e.contains("outside the file") || e.contains("past the end"), "{e}");
    }

    #[test]
    fn wrong_abi_version() {
        let img = ImageBuilder::new().abi_version(3).build();
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("unsupported ABI version 3"), "{e}");
        let img = ImageBuilder::new().abi_target(2).build();
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("not for the solo5-hvt target"), "{e}");
    }

    #[test]
    fn wx_segment() {
        let img = ImageBuilder::new().flags(PF_R | PF_W | PF_X).build();
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("W+X"), "{e}");
    }

    #[test]
    fn entry_below_1mib() {
        let img = ImageBuilder::new().entry(0xff000).build();
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("entry point"), "{e}");
    }

    #[test]
    fn segment_below_1mib() {
        let img = ImageBuilder::new().vaddr(0x80000).entry(0x80000).build();
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("below"), "{e}");
    }

    #[test]
    fn missing_manifest() {
        let img = ImageBuilder::new().no_manifest().build();
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("No Solo5 manifest") || e.contains("no Solo5 manifest"), "{e}");
    }

    #[test]
    fn missing_abi_note() {
        let img = ImageBuilder::new().no_abi().build();
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("ABI note"), "{e}");
    }

    #[test]
    fn not_exec() {
        let mut img = ImageBuilder::new().build();
        img[16] = 3; // ET_DYN
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("ET_EXEC"), "{e}");
    }

    #[test]
    fn too_big_for_memory() {
        let img = ImageBuilder::new().memsz(8 << 20).build();
        let e = parse(&img, 4 << 20).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
    }

    #[test]
    fn unaligned_segment() {
        let img = ImageBuilder::new().vaddr(0x100010).entry(0x100010).align(1).build();
        let e = parse(&img, MEM).unwrap_err();
        assert!(e.contains("4 KiB"), "{e}");
    }

    #[test]
    fn manifest_with_devices() {
        let img = ImageBuilder::new().device("service0", abi::MFT_DEV_NET_BASIC).device("storage", 1).build();
        let i = parse(&img, MEM).unwrap();
        assert_eq!(i.manifest.entries.len(), 3);
        assert_eq!(i.manifest.entries[1].name, "service0");
        assert_eq!(i.manifest.entries[2].kind, abi::MFT_DEV_BLOCK_BASIC);
    }

    #[test]
    fn bad_manifest_rejected() {
        let img = ImageBuilder::new().mft_version(2).build();
        assert!(parse(&img, MEM).unwrap_err().contains("manifest"));
        let img = ImageBuilder::new().attached_in_image().build();
        assert!(parse(&img, MEM).unwrap_err().contains("attached"));
    }

    #[test]
    fn fuzzish_truncations_never_panic() {
        let img = ImageBuilder::new().device("a", 1).build();
        for len in 0..img.len() {
            let _ = parse(&img[..len], MEM);
        }
        let mut m = img.clone();
        for i in 0..m.len() {
            let old = m[i];
            m[i] = 0xff;
            let _ = parse(&m, MEM);
            m[i] = old;
        }
    }
}
