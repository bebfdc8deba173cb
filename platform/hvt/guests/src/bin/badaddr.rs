//! Issues PUTS with a buffer outside guest memory. A conforming tender stops the guest
//! with an error (upstream: "Invalid guest access", exit 1). If the hypercall returns,
//! the guest prints FAILURE and exits 3.
//!
//! Argument selects the bad range: `end` (default: 16 bytes straddling mem_size),
//! `high` (16 bytes at 0xfffffffffffff000), `wrap` (len = u64::MAX from 0x100000),
//! `past` (16 bytes at mem_size).
#![no_std]
#![no_main]

use platform_hvt::{entry, manifest, println};

manifest!();
entry!(main);

fn main() -> i32 {
    let mem = platform_hvt::boot_info().mem_size;
    let which = platform_hvt::args().next().unwrap_or("end");
    let (data, len) = match which {
        "end" => (mem - 8, 16),
        "past" => (mem, 16),
        "high" => (0xffff_ffff_ffff_f000, 16),
        "wrap" => (0x10_0000, u64::MAX),
        _ => {
            println!("usage: badaddr [end|past|high|wrap]");
            return 1;
        }
    };
    println!("PUTS data={data:#x} len={len:#x}");
    platform_hvt::hypercall::puts_raw(data, len);
    println!("FAILURE: the tender accepted a PUTS outside guest memory");
    3
}
