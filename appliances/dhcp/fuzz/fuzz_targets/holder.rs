//! See [`dhcp_fuzz::holder`]: who may change a lease (RFC 2131 §4.3.2–§4.3.4); no
//! stranger's message takes over, releases or declines the victim's lease.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dhcp_fuzz::holder(data);
});
