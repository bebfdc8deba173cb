//! Writes to 0x400000000 (never guest memory): the runtime's trap handler prints
//! `trap: type=#PF ec=0x2 ... cr2=0x400000000` and halts with 255.
#![no_std]
#![no_main]

use platform_hvt::{entry, manifest, println};

manifest!();
entry!(main);

fn main() -> i32 {
    println!("writing to {:#x}", platform_hvt::testing::UNMAPPED_ADDR);
    platform_hvt::testing::write_unmapped();
    println!("FAILURE: the write to unmapped memory went through");
    1
}
