//! Halts with the status given as its first argument (e.g. `7`); exits 1 if the
//! argument is missing or not a number.
#![no_std]
#![no_main]

use platform_hvt::{entry, manifest, println};

manifest!();
entry!(main);

fn main() -> i32 {
    match platform_hvt::args().next().map(str::parse::<i32>) {
        Some(Ok(status)) => {
            println!("exiting with status {status}");
            platform_hvt::exit(status)
        }
        _ => {
            println!("usage: exit STATUS");
            1
        }
    }
}
