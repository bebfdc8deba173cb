//! See [`dns_fuzz::query`]: arbitrary bytes as a request to the server. No panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dns_fuzz::query(data);
});
