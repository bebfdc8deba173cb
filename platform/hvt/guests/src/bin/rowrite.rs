//! Writes to the read-only boot-info page (0x1002c): on a conforming tender the CPU
//! raises #PF (ec=0x3) and the trap handler halts with 255.
#![no_std]
#![no_main]

use platform_hvt::{entry, manifest, println};

manifest!();
entry!(main);

fn main() -> i32 {
    println!("writing to the boot info page");
    platform_hvt::testing::write_boot_info();
    println!("FAILURE: the write to the read-only boot info went through");
    1
}
