//! See [`tender_fuzz::elf`]: arbitrary bytes as an image file into the shared ELF/note
//! reader. No panic; an accepted image keeps the loader's promises.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tender_fuzz::elf(data);
});
