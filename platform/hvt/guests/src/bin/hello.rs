//! Prints a greeting and the command line, then SUCCESS; exits 0.
#![no_std]
#![no_main]

use platform_hvt::{entry, manifest, println};

manifest!();
entry!(main);

fn main() -> i32 {
    println!("Hello, World");
    println!("Command line is: '{}'", platform_hvt::cmdline());
    println!("SUCCESS");
    0
}
