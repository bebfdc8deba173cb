//! See [`tender_fuzz::hypercall`]: the hypercall dispatcher with guest memory as the
//! input. No panic; a bad argument is an error, never a wild access.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tender_fuzz::hypercall(data);
});
