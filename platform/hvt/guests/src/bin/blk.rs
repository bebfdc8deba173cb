//! Block device test on the manifest device "storage" (attach with
//! `--block:storage=FILE`, e.g. a 4 MiB file): writes patterns to several sectors
//! including the last, reads them back, checks that out-of-range and misaligned I/O give
//! EINVAL without ending the guest. SUCCESS, exit 0; exit 1 on any failure.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use platform_hvt::heap::HvtAllocator;
use platform_hvt::{Block, Error, entry, manifest, println};

#[global_allocator]
static ALLOC: HvtAllocator = HvtAllocator;

manifest!(("storage", BlockBasic));
entry!(main);

fn fill(buf: &mut [u8], sector: u64, pass: u8) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (sector as u8).wrapping_mul(31) ^ (i as u8).wrapping_add(pass) ^ ((i >> 8) as u8);
    }
}

fn main() -> i32 {
    let disk = match Block::acquire("storage") {
        Ok(d) => d,
        Err(e) => {
            println!("FAILURE: acquire storage: {e}");
            return 1;
        }
    };
    let bs = disk.block_size();
    let sectors = disk.capacity() / bs;
    println!(
        "storage: handle {} capacity {} bytes, block size {bs}, {sectors} sectors",
        disk.handle(),
        disk.capacity()
    );
    if Block::acquire("storage").err() != Some(Error::AlreadyAcquired) {
        println!("FAILURE: second acquire did not fail");
        return 1;
    }
    if sectors == 0 {
        println!("FAILURE: empty device");
        return 1;
    }

    let mut wbuf = vec![0u8; bs as usize];
    let mut rbuf = vec![0u8; bs as usize];
    let mut targets = [0, 1, sectors / 2, sectors - 2, sectors - 1];
    for t in targets.iter_mut() {
        *t = (*t).min(sectors - 1);
    }
    for pass in 0..2u8 {
        for &s in &targets {
            fill(&mut wbuf, s, pass);
            if let Err(e) = disk.write(s * bs, &wbuf) {
                println!("FAILURE: write sector {s}: {e}");
                return 1;
            }
        }
        for &s in &targets {
            fill(&mut wbuf, s, pass);
            rbuf.fill(0);
            if let Err(e) = disk.read(s * bs, &mut rbuf) {
                println!("FAILURE: read sector {s}: {e}");
                return 1;
            }
            if rbuf != wbuf {
                println!("FAILURE: sector {s} pass {pass}: data read back differs");
                return 1;
            }
        }
    }
    println!("wrote and verified sectors {targets:?}");

    // Out of range: the tender answers EINVAL and the guest carries on.
    let cap = disk.capacity();
    let checks: [(&str, Result<(), Error>); 6] = [
        ("read at capacity", disk.read(cap, &mut rbuf)),
        ("write at capacity", disk.write(cap, &wbuf)),
        ("read far past the end", disk.read(cap + 1024 * bs, &mut rbuf)),
        ("write far past the end", disk.write(cap + 1024 * bs, &wbuf)),
        ("misaligned read", disk.read(1, &mut rbuf)),
        ("short write", disk.write(0, &wbuf[..wbuf.len() - 1])),
    ];
    for (what, r) in checks {
        if r != Err(Error::Invalid) {
            println!("FAILURE: {what}: expected EINVAL, got {r:?}");
            return 1;
        }
        println!("{what}: EINVAL as expected");
    }
    // The data is still there.
    fill(&mut wbuf, sectors - 1, 1);
    if disk.read((sectors - 1) * bs, &mut rbuf).is_err() || rbuf != wbuf {
        println!("FAILURE: last sector changed");
        return 1;
    }
    let (total, free) = platform_hvt::heap::stats();
    println!("heap: {free} of {total} bytes free");
    println!("SUCCESS");
    0
}
