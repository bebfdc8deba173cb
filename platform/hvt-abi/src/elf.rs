//! The one ELF64 reader for hvt images, with the Solo5 hvt loader rules (ABI reference §3):
//! used by the tender to load an image and by `cargo xtask image` to check one.
//!
//! Only the ELF header, the program headers and the Solo5 notes are read; section headers
//! are ignored. Every read is bounds-checked and every sum overflow-checked, so any byte
//! string gives an [`Image`] or an [`ElfError`], never a panic. Nothing is allocated:
//! [`Image`] borrows the file and re-reads its program headers on demand.

use crate::{
    DeviceType, HVT_ABI_VERSION, Manifest, MftEntry, MftError, NOTE_TYPE_ABI, NOTE_TYPE_MFT, NOTE_TYPE_SEED, NoteError,
    abi_target, find_solo5_note, valid_device_name, x86_64::GUEST_MIN_BASE,
};
use core::fmt;

/// Segment flag: executable.
pub const PF_X: u32 = 1;
/// Segment flag: writable.
pub const PF_W: u32 = 2;
/// Segment flag: readable.
pub const PF_R: u32 = 4;
/// Program header type of a loadable segment.
pub const PT_LOAD: u32 = 1;
/// Program header type of the dynamic section (never in an hvt image).
pub const PT_DYNAMIC: u32 = 2;
/// Program header type of a note segment.
pub const PT_NOTE: u32 = 4;
/// `e_type` of a fixed-address executable.
pub const ET_EXEC: u16 = 2;
/// `e_machine` of x86_64.
pub const EM_X86_64: u16 = 62;
/// Size of the ELF64 header.
pub const EHDR_SIZE: u64 = 64;
/// Size of an ELF64 program header.
pub const PHDR_SIZE: u64 = 56;
const PAGE: u64 = 0x1000;

/// One program header, as read from the file (unchecked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// One non-empty `PT_LOAD` segment that passed the loader rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    pub const fn writable(&self) -> bool {
        self.flags & PF_W != 0
    }
    pub const fn executable(&self) -> bool {
        self.flags & PF_X != 0
    }
}

/// What is wrong with one `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentProblem {
    BelowMinBase,
    BadAlign(u64),
    FileszAboveMemsz,
    OutsideFile,
    Overlaps,
    Overflows,
    TooBig(u64),
    Unaligned,
    WritableAndExecutable,
}

/// Why an image was rejected. The `Display` texts are the tender's error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    TruncatedHeader,
    BadMagic,
    Not64Bit,
    NotLittleEndian,
    BadIdentVersion,
    NotExec(u16),
    NotX86_64(u16),
    BadHeader,
    NoProgramHeaders,
    ProgramHeaderOutside(u16),
    Segment {
        index: u16,
        vaddr: u64,
        problem: SegmentProblem,
    },
    NoLoadableSegment,
    EntryOutside {
        entry: u64,
        mem_size: u64,
    },
    NoteTooSmall,
    NoteOutside,
    BadNoteSize,
    NoAbiNote,
    AbiNoteTooShort,
    WrongTarget(u32),
    WrongVersion(u32),
    NoManifest,
    Manifest(MftError),
    /// Manifest entry `index` declares a type that is neither block nor net.
    UnknownDeviceType {
        index: usize,
        entry: MftEntry,
    },
    InvalidDeviceName {
        index: usize,
        entry: MftEntry,
    },
    DuplicateDevice {
        index: usize,
        entry: MftEntry,
    },
}

fn name_of(e: &MftEntry) -> &str {
    e.name_str().unwrap_or("?")
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TruncatedHeader => write!(f, "not an ELF file (truncated header)"),
            Self::BadMagic => write!(f, "not an ELF file (bad magic)"),
            Self::Not64Bit => write!(f, "not a 64-bit ELF file"),
            Self::NotLittleEndian => write!(f, "not a little-endian ELF file"),
            Self::BadIdentVersion => write!(f, "unsupported ELF version"),
            Self::NotExec(t) => write!(
                f,
                "ELF type is {t}, not ET_EXEC (static-PIE images are not supported: link with -C relocation-model=static)"
            ),
            Self::NotX86_64(m) => write!(f, "ELF machine is {m}, not EM_X86_64"),
            Self::BadHeader => write!(f, "invalid ELF header (version, header size or program header size)"),
            Self::NoProgramHeaders => write!(f, "ELF file has no program headers"),
            Self::ProgramHeaderOutside(i) => write!(f, "program header {i} lies outside the file"),
            Self::Segment { index, vaddr, problem } => {
                write!(f, "PT_LOAD segment {index} (vaddr {vaddr:#x}) ")?;
                match problem {
                    SegmentProblem::BelowMinBase => write!(f, "is below {GUEST_MIN_BASE:#x}"),
                    SegmentProblem::BadAlign(a) => write!(f, "has an invalid alignment {a:#x}"),
                    SegmentProblem::FileszAboveMemsz => write!(f, "has p_filesz > p_memsz"),
                    SegmentProblem::OutsideFile => write!(f, "lies outside the file"),
                    SegmentProblem::Overlaps => {
                        write!(f, "overlaps the previous segment or segments are not in ascending order")
                    }
                    SegmentProblem::Overflows => write!(f, "overflows"),
                    SegmentProblem::TooBig(m) => {
                        write!(f, "does not fit in guest memory ({m:#x} bytes); use a larger --mem")
                    }
                    SegmentProblem::Unaligned => write!(f, "is not 4 KiB aligned"),
                    SegmentProblem::WritableAndExecutable => write!(f, "is both writable and executable (W+X)"),
                }
            }
            Self::NoLoadableSegment => write!(f, "ELF file has no loadable segment"),
            Self::EntryOutside { entry, mem_size } => {
                write!(f, "entry point {entry:#x} is outside guest memory [{GUEST_MIN_BASE:#x}, {mem_size:#x})")
            }
            Self::NoteTooSmall => {
                write!(f, "note does not fall within valid size (PT_NOTE smaller than a note header)")
            }
            Self::NoteOutside => write!(f, "PT_NOTE lies outside the file"),
            Self::BadNoteSize => write!(f, "note does not fall within valid size"),
            Self::NoAbiNote => write!(f, "no Solo5 ABI note found in executable (is this a Solo5 image?)"),
            Self::AbiNoteTooShort => write!(f, "Solo5 ABI note is too short"),
            Self::WrongTarget(t) => write!(f, "executable is not for the solo5-hvt target (ABI target {t})"),
            Self::WrongVersion(v) => write!(
                f,
                "executable requests unsupported ABI version {v} (this tender implements version {HVT_ABI_VERSION})"
            ),
            Self::NoManifest => write!(f, "no Solo5 manifest found in executable"),
            Self::Manifest(e) => write!(f, "invalid manifest: {e}"),
            Self::UnknownDeviceType { entry, .. } => {
                write!(f, "invalid manifest: device '{}' has unknown type {:#x}", name_of(&entry), entry.dev_type)
            }
            Self::InvalidDeviceName { index, .. } => {
                write!(f, "invalid manifest: entry {index} has an invalid device name")
            }
            Self::DuplicateDevice { entry, .. } => {
                write!(f, "invalid manifest: device '{}' declared twice", name_of(&entry))
            }
        }
    }
}

fn range(file: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let end = off.checked_add(len)?;
    file.get(usize::try_from(off).ok()?..usize::try_from(end).ok()?)
}

fn le<const N: usize>(file: &[u8], off: u64) -> Option<[u8; N]> {
    range(file, off, N as u64)?.try_into().ok()
}

fn u16_at(file: &[u8], off: u64) -> u16 {
    le(file, off).map_or(0, u16::from_le_bytes)
}
fn u32_at(file: &[u8], off: u64) -> u32 {
    le(file, off).map_or(0, u32::from_le_bytes)
}
fn u64_at(file: &[u8], off: u64) -> u64 {
    le(file, off).map_or(0, u64::from_le_bytes)
}

/// A validated image: where to load what, the entry point, and its manifest.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    file: &'a [u8],
    phoff: u64,
    phnum: u16,
    mem_size: u64,
    /// Entry point (guest-physical).
    pub entry: u64,
    /// Highest aligned end of the non-empty `PT_LOAD`s (boot info `kernel_end`).
    pub kernel_end: u64,
    /// The validated manifest (the MFT1 descriptor after its padding).
    pub manifest: Manifest<'a>,
    /// The image carries the seed note: give it `--hvt-seed=` (see [`NOTE_TYPE_SEED`]).
    pub accepts_seed: bool,
}

impl<'a> Image<'a> {
    /// The file the image was parsed from.
    pub fn file(&self) -> &'a [u8] {
        self.file
    }

    /// Every program header, in file order.
    pub fn phdrs(&self) -> impl Iterator<Item = Phdr> + 'a {
        phdrs(self.file, self.phoff, self.phnum)
    }

    /// The non-empty `PT_LOAD` segments (all of which passed the loader rules).
    pub fn segments(&self) -> impl Iterator<Item = Segment> + 'a {
        let mem_size = self.mem_size;
        let file = self.file;
        self.phdrs()
            .filter(|p| p.p_type == PT_LOAD && p.filesz != 0)
            .filter_map(move |p| check_segment(file, &p, 0, mem_size).ok())
    }

    /// The bytes of segment `s` in the file.
    pub fn segment_data(&self, s: &Segment) -> &'a [u8] {
        range(self.file, s.offset, s.filesz).unwrap_or(&[])
    }
}

fn phdrs(file: &[u8], phoff: u64, phnum: u16) -> impl Iterator<Item = Phdr> + '_ {
    (0..u64::from(phnum)).map(move |i| {
        let off = phoff.saturating_add(i * PHDR_SIZE);
        Phdr {
            p_type: u32_at(file, off),
            flags: u32_at(file, off + 4),
            offset: u64_at(file, off + 8),
            vaddr: u64_at(file, off + 16),
            filesz: u64_at(file, off + 32),
            memsz: u64_at(file, off + 40),
            align: u64_at(file, off + 48),
        }
    })
}

/// Checks one non-empty `PT_LOAD` against the rules; `prev_end` is the end of the one
/// before it (segments must ascend and not overlap).
fn check_segment(file: &[u8], p: &Phdr, prev_end: u64, mem_size: u64) -> Result<Segment, SegmentProblem> {
    use SegmentProblem as P;
    if p.vaddr < GUEST_MIN_BASE {
        return Err(P::BelowMinBase);
    }
    if p.align == 0 || !p.align.is_power_of_two() {
        return Err(P::BadAlign(p.align));
    }
    if p.memsz < p.filesz {
        return Err(P::FileszAboveMemsz);
    }
    range(file, p.offset, p.filesz).ok_or(P::OutsideFile)?;
    let start = p.vaddr & !(p.align - 1);
    if start < prev_end.max(GUEST_MIN_BASE) {
        return Err(P::Overlaps);
    }
    let file_end = p.vaddr.checked_add(p.filesz).ok_or(P::Overflows)?;
    let mem_end = p.vaddr.checked_add(p.memsz).ok_or(P::Overflows)?;
    let end = mem_end.checked_add(p.align - 1).ok_or(P::Overflows)? & !(p.align - 1);
    if file_end > mem_size || end > mem_size {
        return Err(P::TooBig(mem_size));
    }
    if !start.is_multiple_of(PAGE) || !end.is_multiple_of(PAGE) {
        return Err(P::Unaligned);
    }
    if p.flags & PF_W != 0 && p.flags & PF_X != 0 {
        return Err(P::WritableAndExecutable);
    }
    Ok(Segment { vaddr: p.vaddr, offset: p.offset, filesz: p.filesz, memsz: p.memsz, flags: p.flags, start, end })
}

/// The descriptor of the first Solo5 note of `note_type` that begins a `PT_NOTE`.
fn find_note(file: &[u8], phoff: u64, phnum: u16, note_type: u32) -> Result<Option<&[u8]>, ElfError> {
    for p in phdrs(file, phoff, phnum).filter(|p| p.p_type == PT_NOTE) {
        if p.filesz < 12 {
            return Err(ElfError::NoteTooSmall);
        }
        // The header (and name) must be in the file; the descriptor is checked against
        // both the segment and the end of the file.
        range(file, p.offset, p.filesz.min(20)).ok_or(ElfError::NoteOutside)?;
        let avail = (file.len() as u64).saturating_sub(p.offset).min(p.filesz);
        let seg = range(file, p.offset, avail).ok_or(ElfError::NoteOutside)?;
        match find_solo5_note(seg, note_type) {
            Ok(None) => continue,
            Ok(Some(desc)) => return Ok(Some(desc)),
            Err(NoteError::SegmentTooSmall) => return Err(ElfError::NoteTooSmall),
            Err(NoteError::BadDescSize(_)) => return Err(ElfError::BadNoteSize),
        }
    }
    Ok(None)
}

/// Parses and validates `file` for a guest with `mem_size` bytes of RAM.
pub fn parse(file: &[u8], mem_size: u64) -> Result<Image<'_>, ElfError> {
    let ident = file.get(..16).ok_or(ElfError::TruncatedHeader)?;
    if ident[0..4] != *b"\x7fELF" {
        return Err(ElfError::BadMagic);
    }
    if ident[4] != 2 {
        return Err(ElfError::Not64Bit);
    }
    if ident[5] != 1 {
        return Err(ElfError::NotLittleEndian);
    }
    if ident[6] != 1 {
        return Err(ElfError::BadIdentVersion);
    }
    if (file.len() as u64) < EHDR_SIZE {
        return Err(ElfError::TruncatedHeader);
    }
    let e_type = u16_at(file, 16);
    let e_machine = u16_at(file, 18);
    let e_version = u32_at(file, 20);
    let entry = u64_at(file, 24);
    let phoff = u64_at(file, 32);
    let e_ehsize = u16_at(file, 52);
    let e_phentsize = u16_at(file, 54);
    let phnum = u16_at(file, 56);
    if e_type != ET_EXEC {
        return Err(ElfError::NotExec(e_type));
    }
    if e_machine != EM_X86_64 {
        return Err(ElfError::NotX86_64(e_machine));
    }
    if e_version != 1 || u64::from(e_ehsize) != EHDR_SIZE || u64::from(e_phentsize) != PHDR_SIZE {
        return Err(ElfError::BadHeader);
    }
    if phnum == 0 {
        return Err(ElfError::NoProgramHeaders);
    }
    for i in 0..phnum {
        let off = u64::from(i).checked_mul(PHDR_SIZE).and_then(|x| x.checked_add(phoff));
        if off.and_then(|o| range(file, o, PHDR_SIZE)).is_none() {
            return Err(ElfError::ProgramHeaderOutside(i));
        }
    }

    let mut prev_end = GUEST_MIN_BASE;
    let mut loads = 0;
    for (i, p) in phdrs(file, phoff, phnum).enumerate().filter(|(_, p)| p.p_type == PT_LOAD && p.filesz != 0) {
        let s = check_segment(file, &p, prev_end, mem_size).map_err(|problem| ElfError::Segment {
            index: i as u16,
            vaddr: p.vaddr,
            problem,
        })?;
        prev_end = s.end;
        loads += 1;
    }
    if loads == 0 {
        return Err(ElfError::NoLoadableSegment);
    }
    if entry < GUEST_MIN_BASE || entry >= mem_size {
        return Err(ElfError::EntryOutside { entry, mem_size });
    }
    let kernel_end = prev_end;

    let abi = find_note(file, phoff, phnum, NOTE_TYPE_ABI)?.ok_or(ElfError::NoAbiNote)?;
    // Only `target` and `version` are required; the reserved words may be absent.
    let (Some(target), Some(version)) = (le::<4>(abi, 0), le::<4>(abi, 4)) else {
        return Err(ElfError::AbiNoteTooShort);
    };
    let (target, version) = (u32::from_le_bytes(target), u32::from_le_bytes(version));
    if target != abi_target::HVT {
        return Err(ElfError::WrongTarget(target));
    }
    if version != HVT_ABI_VERSION {
        return Err(ElfError::WrongVersion(version));
    }
    let mft = find_note(file, phoff, phnum, NOTE_TYPE_MFT)?.ok_or(ElfError::NoManifest)?;
    let manifest = Manifest::parse_exact(mft).map_err(ElfError::Manifest)?;
    for (index, entry) in manifest.iter().skip(1) {
        if DeviceType::from_raw(entry.dev_type).is_none() {
            return Err(ElfError::UnknownDeviceType { index, entry });
        }
        if !valid_device_name(entry.name_bytes()) {
            return Err(ElfError::InvalidDeviceName { index, entry });
        }
        if manifest.iter().skip(1).take(index - 1).any(|(_, e)| e.name_bytes() == entry.name_bytes()) {
            return Err(ElfError::DuplicateDevice { index, entry });
        }
    }
    let accepts_seed = find_note(file, phoff, phnum, NOTE_TYPE_SEED)?
        .and_then(|d| le::<4>(d, 0))
        .is_some_and(|v| u32::from_le_bytes(v) >= 1);

    Ok(Image { file, phoff, phnum, mem_size, entry, kernel_end, manifest, accepts_seed })
}
