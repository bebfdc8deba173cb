//! Checks the clocks: monotonic never goes backwards and advances by at least 10 ms across
//! a 10 ms POLL (and across `yield_until`); wall clock is after 2020-01-01. SUCCESS, 0.
#![no_std]
#![no_main]

use platform_hvt::time::{monotonic_ns, poll, wall_ns, yield_until};
use platform_hvt::{entry, manifest, println};

manifest!();
entry!(main);

const MS: u64 = 1_000_000;
const JAN_2020_NS: u64 = 1_577_836_800 * 1_000_000_000;

fn main() -> i32 {
    let mut ok = true;
    let mut last = monotonic_ns();
    for _ in 0..1000 {
        let now = monotonic_ns();
        if now < last {
            println!("FAILURE: monotonic went back from {last} to {now}");
            ok = false;
        }
        last = now;
    }

    let before = monotonic_ns();
    let ready = poll(10 * MS);
    let slept = monotonic_ns() - before;
    println!("poll(10 ms) returned ready set {ready:#x} after {} us", slept / 1000);
    if slept < 10 * MS {
        println!("FAILURE: poll(10 ms) took only {slept} ns");
        ok = false;
    }

    let before = monotonic_ns();
    yield_until(before + 10 * MS);
    let slept = monotonic_ns() - before;
    println!("yield_until(+10 ms) returned after {} us", slept / 1000);
    if slept < 10 * MS {
        println!("FAILURE: yield_until(+10 ms) took only {slept} ns");
        ok = false;
    }

    let wall = wall_ns();
    println!("wall clock: {}.{:09} s since the epoch", wall / 1_000_000_000, wall % 1_000_000_000);
    if wall < JAN_2020_NS {
        println!("FAILURE: wall clock is before 2020");
        ok = false;
    }
    let wall2 = wall_ns();
    if wall2 < wall {
        println!("note: wall clock went back by {} ns (allowed)", wall - wall2);
    }

    if ok {
        println!("SUCCESS");
        0
    } else {
        1
    }
}
