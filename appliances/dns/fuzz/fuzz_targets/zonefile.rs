//! See [`dns_fuzz::zonefile`]: arbitrary text into the master-file parser. No panic;
//! what parses writes back to an equal zone.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dns_fuzz::zonefile(data);
});
