//! Panics: the runtime prints `panic: ...` and halts with 255.
#![no_std]
#![no_main]

use platform_hvt::{entry, manifest, println};

manifest!();
entry!(main);

fn main() -> i32 {
    println!("about to panic");
    let words = platform_hvt::args().count();
    panic!("deliberate test panic ({words} arguments)");
}
