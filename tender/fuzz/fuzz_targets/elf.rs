//! The shared ELF/note reader (`hvt_abi::elf`, used by the tender and `xtask image`):
//! arbitrary bytes as an image file. No panic; an accepted image keeps the loader's
//! promises (segments inside the file and guest memory, ascending, never W+X).

#![no_main]

use hvt_abi::elf;
use libfuzzer_sys::fuzz_target;

const MEM_SIZE: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    match elf::parse(data, MEM_SIZE) {
        Err(e) => {
            // Every error has a message.
            assert!(!e.to_string().is_empty());
        }
        Ok(img) => {
            let mut prev_end = hvt_abi::x86_64::GUEST_MIN_BASE;
            let mut count = 0;
            for s in img.segments() {
                assert!(s.start >= prev_end && s.end <= MEM_SIZE && s.start <= s.vaddr);
                assert!(!(s.writable() && s.executable()));
                assert_eq!(img.segment_data(&s).len() as u64, s.filesz);
                prev_end = s.end;
                count += 1;
            }
            assert!(count > 0);
            assert_eq!(img.kernel_end, prev_end);
            assert!(img.entry >= hvt_abi::x86_64::GUEST_MIN_BASE && img.entry < MEM_SIZE);
            // The manifest is validated: entries can be read without panicking.
            for (_, e) in img.manifest.iter() {
                let _ = e.name_str();
            }
        }
    }
});
