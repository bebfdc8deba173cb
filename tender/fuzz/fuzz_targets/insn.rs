//! See [`tender_fuzz::insn`]: arbitrary bytes at a trapping RIP into the process engine's
//! instruction decoder. No panic; no decoded length beyond the bytes given.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tender_fuzz::insn(data);
});
