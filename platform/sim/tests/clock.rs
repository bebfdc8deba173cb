//! Virtual clock, timers, limits.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use platform::rt;
use platform::time::{self, Instant};
use platform_sim::{WALL_ORIGIN_UNIX_SECS, World};

#[test]
fn an_hour_of_virtual_time_passes_instantly() {
    let world = World::new(1);
    let started = std::time::Instant::now();
    let (t0, t1, wall) = world.run(async {
        let t0 = time::now();
        time::sleep(Duration::from_secs(3600)).await;
        (t0, time::now(), time::wall())
    });
    assert_eq!(t0, Instant::ZERO);
    assert_eq!(t1, Instant::from_nanos(3600 * 1_000_000_000));
    assert_eq!(world.now(), t1);
    assert_eq!(wall.duration_since(UNIX_EPOCH).unwrap(), Duration::from_secs(WALL_ORIGIN_UNIX_SECS + 3600));
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[test]
fn a_week_with_a_raised_limit() {
    let world = World::new(1);
    world.set_time_limit(Duration::from_secs(8 * 86400));
    world.run(time::sleep_until(Instant::from_nanos(7 * 86400 * 1_000_000_000)));
    assert_eq!(world.now().as_millis(), 7 * 86400 * 1000);
}

#[test]
fn timers_fire_in_deadline_order_at_their_deadline() {
    let world = World::new(2);
    let log = Rc::new(RefCell::new(Vec::new()));
    world.run(async {
        let mut handles = Vec::new();
        for (name, ms) in [("c", 300u64), ("a", 100), ("b", 200), ("a2", 100), ("z", 0)] {
            let log = log.clone();
            handles.push(rt::spawn(async move {
                time::sleep(Duration::from_millis(ms)).await;
                log.borrow_mut().push((name, time::now().as_millis()));
            }));
        }
        for h in handles {
            h.await;
        }
    });
    assert_eq!(*log.borrow(), vec![("z", 0), ("a", 100), ("a2", 100), ("b", 200), ("c", 300)]);
    assert_eq!(world.now().as_millis(), 300);
}

#[test]
fn timeouts_use_virtual_time() {
    let world = World::new(3);
    let r = world.run(time::timeout(Duration::from_secs(5), std::future::pending::<()>()));
    assert!(r.is_err());
    assert_eq!(world.now().as_millis(), 5000);
    let r = world.run(async { time::timeout(Duration::from_secs(5), time::sleep(Duration::from_secs(1))).await });
    assert!(r.is_ok());
    assert_eq!(world.now().as_millis(), 6000);
}

#[test]
#[should_panic(expected = "simulation deadlocked: no runnable task, no timer, no frame in flight")]
fn deadlock_is_reported() {
    let world = World::new(4);
    world.run(std::future::pending::<()>());
}

#[test]
#[should_panic(expected = "virtual time limit")]
fn time_limit_catches_endless_waits() {
    let world = World::new(5);
    world.set_time_limit(Duration::from_secs(60));
    world.run(async {
        loop {
            time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[test]
#[should_panic(expected = "livelocked")]
fn spin_limit_catches_tasks_that_never_wait() {
    let world = World::new(6);
    world.set_spin_limit(10_000);
    world.run(async {
        loop {
            rt::yield_now().await;
        }
    });
}

#[test]
fn leftover_tasks_are_dropped_when_run_returns() {
    let world = World::new(7);
    let flag = Rc::new(RefCell::new(false));
    let f = flag.clone();
    world.run(async move {
        rt::spawn(async move {
            time::sleep(Duration::from_secs(10)).await;
            *f.borrow_mut() = true;
        });
        time::sleep(Duration::from_secs(1)).await;
    });
    assert_eq!(world.now().as_millis(), 1000);
    assert!(!*flag.borrow());
    assert_eq!(Rc::strong_count(&flag), 1, "the leftover task was dropped");
}
