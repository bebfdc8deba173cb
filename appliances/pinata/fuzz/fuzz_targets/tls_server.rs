//! Arbitrary bytes as a client's TLS records into the port-10000 server
//! connection (client certificate chaining to the Piñata CA required).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pinata_fuzz::feed(pinata_fuzz::server(), data);
});
