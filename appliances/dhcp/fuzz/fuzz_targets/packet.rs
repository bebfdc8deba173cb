//! See [`dhcp_fuzz::packet`]: the packet path of the DHCP server, no panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dhcp_fuzz::packet(data);
});
