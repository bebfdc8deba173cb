//! Test scaffolding: a virtual-clock runtime on the platform executor, and a
//! pair of in-memory Ethernet ports joined by a wire.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use netstack::{Config, StackHandle};
use platform::args::{Ipv4Cidr, Ipv6Cidr, NetConfig};
use platform::executor::{Executor, Park};
use platform::net::{MacAddr, Net, NetInfo};
use platform::rt::{LocalBoxFuture, Runtime};
use platform::stack::Stack;
use platform::time::{Duration, Instant};

/// A clock that only moves when every task is waiting: it then jumps to the
/// next timer. Runs are fast and deterministic.
struct VirtualRuntime {
    now: Cell<u64>,
    exec: Executor,
}

impl Runtime for VirtualRuntime {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.now.get())
    }
    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(self.now.get())
    }
    fn spawn(&self, task: LocalBoxFuture<'static, ()>) {
        self.exec.spawn(task)
    }
    fn timer_armed(&self, _deadline: Instant) {}
}

struct VirtualPark {
    rt: Rc<VirtualRuntime>,
}

/// A test that leaves the virtual clock running this long is stuck.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(3600);

impl Park for VirtualPark {
    fn park(&mut self, deadline: Option<Instant>) {
        // Wires wake their readers when a frame is sent, so nothing but time
        // can make a task runnable here.
        let deadline = deadline.expect("deadlock: no task runnable and no timer pending");
        assert!(
            deadline.as_nanos() < VIRTUAL_LIMIT.as_nanos() as u64,
            "virtual clock passed {VIRTUAL_LIMIT:?}: the test is stuck"
        );
        if deadline.as_nanos() > self.rt.now.get() {
            self.rt.now.set(deadline.as_nanos());
        }
    }
}

/// Runs `main` on a fresh virtual-clock runtime.
pub fn run<F, Fut>(main: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    let _ = env_logger_lite();
    let exec = Executor::new();
    let rt = Rc::new(VirtualRuntime { now: Cell::new(0), exec: exec.clone() });
    let mut park = VirtualPark { rt: rt.clone() };
    platform::rt::enter(rt, || exec.block_on(main(), &mut park))
}

/// Logs to stderr when `NETSTACK_TEST_LOG` is set (no extra dependencies).
fn env_logger_lite() -> Result<(), log::SetLoggerError> {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            eprintln!("{:5} {}: {}", r.level(), r.target(), r.args());
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    match std::env::var("NETSTACK_TEST_LOG") {
        Ok(level) => {
            log::set_logger(&LOGGER)?;
            log::set_max_level(level.parse().unwrap_or(log::LevelFilter::Debug));
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

struct Queue {
    frames: RefCell<VecDeque<Vec<u8>>>,
    waker: RefCell<Option<Waker>>,
    dropped: Cell<u64>,
}

const WIRE_QUEUE: usize = 8192;

/// One end of an in-memory Ethernet link.
pub struct Port {
    info: NetInfo,
    rx: Rc<Queue>,
    tx: Rc<Queue>,
}

impl Port {
    /// Frames this end sent that the other end's full queue dropped.
    pub fn dropped(&self) -> u64 {
        self.tx.dropped.get()
    }

    /// Waits for the next frame.
    pub async fn next_frame(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.info.frame_capacity()];
        poll_fn(|cx| {
            loop {
                if let Some(n) = self.recv(&mut buf).expect("wire recv") {
                    return Poll::Ready(buf[..n].to_vec());
                }
                if self.poll_readable(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        })
        .await
    }
}

pub fn wire(a: MacAddr, b: MacAddr) -> (Rc<Port>, Rc<Port>) {
    let q = || Rc::new(Queue { frames: RefCell::default(), waker: RefCell::default(), dropped: Cell::new(0) });
    let (ab, ba) = (q(), q());
    let port = |mac, rx, tx| Rc::new(Port { info: NetInfo { mac, mtu: 1500 }, rx, tx });
    (port(a, ba.clone(), ab.clone()), port(b, ab, ba))
}

impl Net for Port {
    fn info(&self) -> NetInfo {
        self.info
    }
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        assert!(buf.len() >= self.info.frame_capacity());
        Ok(self.rx.frames.borrow_mut().pop_front().map(|f| {
            buf[..f.len()].copy_from_slice(&f);
            f.len()
        }))
    }
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.rx.frames.borrow().is_empty() {
            *self.rx.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
    fn send(&self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > self.info.frame_capacity() {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let mut frames = self.tx.frames.borrow_mut();
        if frames.len() >= WIRE_QUEUE {
            self.tx.dropped.set(self.tx.dropped.get() + 1);
        } else {
            frames.push_back(frame.to_vec());
        }
        drop(frames);
        if let Some(w) = self.tx.waker.borrow_mut().take() {
            w.wake();
        }
        Ok(())
    }
}

pub const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
pub const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
pub const V4_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const V4_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const V6_A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
pub const V6_B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

pub fn static_config(v4: Ipv4Addr, v6: Ipv6Addr, seed: u64, name: &str) -> Config {
    let ip = NetConfig {
        ipv4: Some(Ipv4Cidr { addr: v4, prefix: 24 }),
        ipv4_gateway: None,
        ipv6: Some(Ipv6Cidr { addr: v6, prefix: 64 }),
        ipv6_gateway: None,
        dhcp: false,
    };
    Config::new(ip, seed, name)
}

pub struct Pair {
    pub a: Stack,
    pub a_handle: StackHandle,
    pub b: Stack,
    pub b_handle: StackHandle,
    pub wire_a: Rc<Port>,
    pub wire_b: Rc<Port>,
}

/// Two stacks on one link: A is 10.0.0.1 / fd00::1, B is 10.0.0.2 / fd00::2.
/// Call inside [`run`].
pub fn pair_with(tune: impl Fn(&mut Config)) -> Pair {
    let (wire_a, wire_b) = wire(MAC_A, MAC_B);
    let mut ca = static_config(V4_A, V6_A, 1, "a");
    let mut cb = static_config(V4_B, V6_B, 2, "b");
    tune(&mut ca);
    tune(&mut cb);
    let (a, a_handle) = netstack::new_stack_with_handle(wire_a.clone(), ca).expect("stack a");
    let (b, b_handle) = netstack::new_stack_with_handle(wire_b.clone(), cb).expect("stack b");
    Pair { a, a_handle, b, b_handle, wire_a, wire_b }
}

pub fn pair() -> Pair {
    pair_with(|_| {})
}

/// Byte `i` of the test pattern (period 251, a prime, so that it never
/// lines up with buffer or segment sizes).
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8 ^ (i >> 16) as u8
}
