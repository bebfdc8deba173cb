//! Loading an image: the shared reader (`hvt_abi::elf`) validates it; this keeps what the
//! engines need once the file is gone, and the guest's copy of the manifest, which the
//! device modules fill in as they attach.

use hvt_abi::elf::{self, Segment};
use hvt_abi::{Manifest, MftDevInfo, MftEntry};

/// A validated image, independent of the file bytes except for `segments`' offsets.
#[derive(Debug)]
pub struct Loaded {
    pub entry: u64,
    /// Non-empty `PT_LOAD`s, in ascending order.
    pub segments: Vec<Segment>,
    /// Highest aligned end of the segments (boot info `kernel_end`).
    pub kernel_end: u64,
    pub mft: MftCopy,
    /// The image carries our seed note: give it `--hvt-seed=` (see `hvt_abi::NOTE_TYPE_SEED`).
    pub accepts_seed: bool,
}

/// Parses and validates `file` for a guest with `mem_size` bytes of RAM.
pub fn load(file: &[u8], mem_size: u64) -> Result<Loaded, String> {
    let i = elf::parse(file, mem_size).map_err(|e| e.to_string())?;
    Ok(Loaded {
        entry: i.entry,
        segments: i.segments().collect(),
        kernel_end: i.kernel_end,
        mft: MftCopy { bytes: i.manifest.as_bytes().to_vec() },
        accepts_seed: i.accepts_seed,
    })
}

/// The guest's copy of the manifest (`struct mft`, validated by the reader): the image's
/// bytes, with `u`, `b` and `attached` filled in for every attached device.
#[derive(Debug, Clone)]
pub struct MftCopy {
    bytes: Vec<u8>,
}

impl MftCopy {
    fn view(&self) -> Manifest<'_> {
        Manifest::parse_copy(&self.bytes).expect("validated when loaded")
    }

    /// Number of entries, the reserved entry 0 included.
    pub fn len(&self) -> usize {
        self.view().len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn entry(&self, i: usize) -> MftEntry {
        self.view().entry(i)
    }

    /// Index (= guest handle) of the device `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.view().find(name).map(|(i, _)| i)
    }

    /// Marks device `i` attached with its device info and host fd.
    pub fn attach(&mut self, i: usize, info: MftDevInfo, fd: i32) {
        let mut e = self.entry(i);
        e.u = info;
        e.b = i64::from(fd) as u64;
        e.attached = 1;
        let off = Manifest::entry_offset(i);
        self.bytes[off..off + MftEntry::SIZE].copy_from_slice(&e.to_bytes());
    }

    /// The bytes of the guest's copy (`8 + 104 * entries`).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::ImageBuilder;
    use hvt_abi::elf::{PF_R, PF_W, PF_X};

    fn parse(file: &[u8], mem_size: u64) -> Result<Loaded, String> {
        load(file, mem_size)
    }

    const MEM: u64 = 512 << 20;

    #[test]
    fn good_image_parses() {
        let img = ImageBuilder::new().build();
        let i = parse(&img, MEM).expect("valid image");
        assert_eq!(i.entry, 0x100000);
        assert_eq!(i.segments.len(), 1);
        assert_eq!(i.kernel_end, 0x101000);
        assert_eq!(i.mft.len(), 1);
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
        let img = ImageBuilder::new().device("service0", hvt_abi::mft_type::NET_BASIC).device("storage", 1).build();
        let i = parse(&img, MEM).unwrap();
        assert_eq!(i.mft.len(), 3);
        assert_eq!(i.mft.entry(1).name_str(), Some("service0"));
        assert_eq!(i.mft.entry(2).dev_type, hvt_abi::mft_type::BLOCK_BASIC);
        assert_eq!(i.mft.find("storage"), Some(2));
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
