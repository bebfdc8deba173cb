//! Arbitrary bytes as a server's TLS records into the Piñata's client
//! connection of ports 10001 and 10002 (server must chain to the Piñata CA),
//! after its ClientHello.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pinata_fuzz::feed(pinata_fuzz::client(), data);
});
