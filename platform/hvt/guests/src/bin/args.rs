//! Echoes its command-line words one per line, then SUCCESS; exits 0.
#![no_std]
#![no_main]

use platform_hvt::{entry, manifest, println};

manifest!();
entry!(main);

fn main() -> i32 {
    for word in platform_hvt::args() {
        println!("{word}");
    }
    println!("SUCCESS");
    0
}
