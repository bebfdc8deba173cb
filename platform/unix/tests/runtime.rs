//! The tokio-backed platform runtime: spawn, clocks, timers.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use platform::rt;
use platform::time::{self, Elapsed};
use platform_unix::block_on;

#[test]
fn sleeps_wake_in_deadline_order() {
    let order = block_on(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut handles = Vec::new();
        for (label, ms) in [("c", 60u64), ("a", 10), ("b", 30)] {
            let order = order.clone();
            handles.push(rt::spawn(async move {
                time::sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push(label);
            }));
        }
        for h in handles {
            h.await;
        }
        order.borrow().clone()
    });
    assert_eq!(order, vec!["a", "b", "c"]);
}

#[test]
fn sleep_lasts_at_least_its_duration() {
    block_on(async {
        let start = time::now();
        time::sleep(Duration::from_millis(20)).await;
        let waited = time::now() - start;
        assert!(waited >= Duration::from_millis(20), "woke after {waited:?}");
    });
}

#[test]
fn earlier_timer_rearms_the_driver() {
    // A far timer is pending first; a near one armed later must not wait for it.
    block_on(async {
        let far = rt::spawn(async { time::sleep(Duration::from_secs(30)).await });
        rt::yield_now().await;
        let start = time::now();
        time::sleep(Duration::from_millis(5)).await;
        assert!(time::now() - start < Duration::from_secs(5));
        assert!(!far.is_finished());
        far.abort();
    });
}

#[test]
fn timeout_fires_and_passes_through() {
    block_on(async {
        let slow = time::timeout(Duration::from_millis(10), time::sleep(Duration::from_secs(30))).await;
        assert_eq!(slow, Err(Elapsed));
        let fast = time::timeout(Duration::from_secs(30), async { 7 }).await;
        assert_eq!(fast, Ok(7));
    });
}

#[test]
fn clocks_move_forward() {
    block_on(async {
        let a = time::now();
        time::sleep(Duration::from_millis(2)).await;
        let b = time::now();
        assert!(b > a);
        let wall = time::wall().duration_since(std::time::UNIX_EPOCH).unwrap();
        assert!(wall > Duration::from_secs(1_600_000_000), "wall clock {wall:?} is before 2020");
    });
}

#[test]
fn spawned_tasks_run_and_join() {
    let out = block_on(async {
        let shared = Rc::new(RefCell::new(0));
        let s = shared.clone();
        let h = rt::spawn(async move {
            *s.borrow_mut() += 1;
            41
        });
        let v = h.await + 1;
        (v, *shared.borrow())
    });
    assert_eq!(out, (42, 1));
}

#[test]
fn block_on_can_run_twice_on_one_thread() {
    assert_eq!(block_on(async { 1 }), 1);
    assert_eq!(block_on(async { 2 }), 2);
}

#[test]
#[should_panic(expected = "boom in a task")]
fn panic_in_spawned_task_reaches_block_on() {
    block_on(async {
        rt::spawn(async { panic!("boom in a task") });
        time::sleep(Duration::from_secs(30)).await;
    });
}
