//! The process engine's instruction decoder: arbitrary bytes at a trapping RIP. No panic,
//! and a decoded instruction never claims more bytes than it was given (at most 15).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tender::process::insn;

fuzz_target!(|data: &[u8]| {
    let b = &data[..data.len().min(15)];
    if let Some(d) = insn::decode(b) {
        assert!(d.len >= 1 && d.len <= b.len(), "len {} of {} bytes", d.len, b.len());
    }
});
