//! The world: virtual clock, runtime, park, switch and capture.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::future::Future;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use platform::console::LogFilter;
use platform::executor::{Executor, Park};
use platform::net::{ETHERNET_HEADER_LEN, MacAddr};
use platform::rt::{LocalBoxFuture, Runtime};
use platform::time::Instant;

use crate::block::SimBlock;
use crate::host::{Host, SimConsole, SimEntropy};
use crate::link::{LinkConfig, PortStats, SwitchStats};
use crate::pcap::PcapWriter;
use crate::rng::{self, Rng};

/// The wall clock at virtual time zero: 2026-01-01T00:00:00Z.
pub const WALL_ORIGIN_UNIX_SECS: u64 = 1_767_225_600;
/// Default bound on virtual time (see [`World::set_time_limit`]).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3600);
/// Default number of executor turns without waiting (see [`World::set_spin_limit`]).
pub const DEFAULT_SPIN_LIMIT: u64 = 20_000_000;
/// Default receive queue of a simulated Net device, in frames.
pub const DEFAULT_RX_QUEUE: usize = 512;

pub(crate) const TAG_MAC: u64 = 1;
pub(crate) const TAG_SWITCH: u64 = 2;
pub(crate) const TAG_ENTROPY: u64 = 3;
pub(crate) const TAG_STACK: u64 = 4;

/// Where the capture taps the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapturePoint {
    /// Every frame as a host sends it, at send time, once (like a mirror
    /// port on the switch's ingress). Lost frames appear; duplicates and
    /// reordering do not.
    Sent,
    /// Every copy as it is put into a receiving host's queue, at delivery
    /// time (a broadcast appears once per receiver). Duplicates and
    /// reordering appear; lost frames and frames dropped by a full receive
    /// queue do not.
    Delivered,
}

/// A layer-2 segment: one learning switch. Hosts get their first Net device
/// on [`Segment::DEFAULT`]; [`World::add_segment`] makes separate networks
/// (e.g. the uplink and client side of a firewall).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Segment(pub(crate) usize);

impl Segment {
    pub const DEFAULT: Segment = Segment(0);
}

/// FNV-1a, 64 bit: the trace digest.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

pub(crate) struct Port {
    pub host: usize,
    pub name: String,
    pub segment: usize,
    pub mac: MacAddr,
    pub rx: VecDeque<Rc<[u8]>>,
    pub waker: Option<Waker>,
    pub busy_until: u64,
    pub stats: PortStats,
}

pub(crate) struct HostState {
    pub name: String,
    pub epoch: u64,
    pub ports: Vec<usize>,
    pub blocks: Vec<Rc<SimBlock>>,
    pub console: Rc<SimConsole>,
    pub entropy: Rc<SimEntropy>,
    pub tasks: BTreeMap<u64, Waker>,
    pub next_task: u64,
    pub logger: Option<LogFilter>,
    pub stacks_built: u64,
    pub link: Option<LinkConfig>,
}

struct Flight {
    port: usize,
    seq: u64,
    frame: Rc<[u8]>,
}

struct Capture {
    point: CapturePoint,
    writer: Option<PcapWriter<BufWriter<File>>>,
    path: PathBuf,
    /// Automatic (SIM_PCAP) captures are removed when the test passes.
    remove_unless_panicking: bool,
}

impl Capture {
    fn record(&mut self, point: CapturePoint, now: u64, frame: &[u8]) {
        if point != self.point {
            return;
        }
        if let Some(w) = &mut self.writer
            && let Err(e) = w.record(WALL_ORIGIN_UNIX_SECS * 1_000_000_000 + now, frame)
        {
            eprintln!("platform-sim: capture {} stopped: {e}", self.path.display());
            self.writer = None;
        }
    }
    fn flush(&mut self) {
        if let Some(w) = &mut self.writer
            && let Err(e) = w.flush()
        {
            eprintln!("platform-sim: capture {} stopped: {e}", self.path.display());
            self.writer = None;
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.flush();
        if self.remove_unless_panicking && !std::thread::panicking() {
            self.writer = None;
            let _ = std::fs::remove_file(&self.path);
        } else if std::thread::panicking() {
            eprintln!("platform-sim: capture of the failed run: {}", self.path.display());
        }
    }
}

pub(crate) struct State {
    pub rng: Rng,
    pub link: LinkConfig,
    pub rx_capacity: usize,
    pub segments: Vec<BTreeMap<MacAddr, usize>>,
    pub ports: Vec<Port>,
    pub hosts: Vec<HostState>,
    in_flight: BTreeMap<(u64, u64), Flight>,
    next_seq: u64,
    pub stats: SwitchStats,
    trace: Fnv,
    capture: Option<Capture>,
}

impl State {
    fn trace(&mut self, kind: u8, now: u64, port: usize, seq: u64, bytes: &[u8]) {
        self.trace.update(&[kind]);
        self.trace.update(&now.to_le_bytes());
        self.trace.update(&(port as u64).to_le_bytes());
        self.trace.update(&seq.to_le_bytes());
        self.trace.update(&(bytes.len() as u64).to_le_bytes());
        self.trace.update(bytes);
    }

    fn link_for(&self, src: usize, dst: usize) -> LinkConfig {
        self.hosts[self.ports[src].host].link.or(self.hosts[self.ports[dst].host].link).unwrap_or(self.link)
    }

    /// A host put `frame` on the wire of port `src` at `now`.
    pub(crate) fn switch(&mut self, now: u64, src: usize, frame: &[u8]) {
        self.ports[src].stats.sent += 1;
        self.stats.sent += 1;
        self.trace(b'S', now, src, 0, frame);
        if frame.len() < ETHERNET_HEADER_LEN {
            self.ports[src].stats.malformed += 1;
            self.stats.malformed += 1;
            return;
        }
        if let Some(c) = &mut self.capture {
            c.record(CapturePoint::Sent, now, frame);
        }
        let seg = self.ports[src].segment;
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&frame[6..12]);
        let src_mac = MacAddr(mac);
        if src_mac.is_unicast() {
            self.segments[seg].insert(src_mac, src);
        }
        mac.copy_from_slice(&frame[0..6]);
        let dst_mac = MacAddr(mac);
        let known = if dst_mac.is_unicast() { self.segments[seg].get(&dst_mac).copied() } else { None };
        let targets: Vec<usize> = match known {
            Some(p) if p == src => Vec::new(),
            Some(p) => vec![p],
            None => (0..self.ports.len()).filter(|&p| p != src && self.ports[p].segment == seg).collect(),
        };
        let frame: Rc<[u8]> = frame.into();
        for dst in targets {
            self.schedule(now, src, dst, &frame);
        }
    }

    fn schedule(&mut self, now: u64, src: usize, dst: usize, frame: &Rc<[u8]>) {
        let cfg = self.link_for(src, dst);
        if self.rng.chance(cfg.loss) {
            self.stats.lost += 1;
            self.trace(b'L', now, dst, 0, &[]);
            return;
        }
        let copies = if self.rng.chance(cfg.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut end = now;
            if let Some(bps) = cfg.bandwidth.filter(|&b| b > 0) {
                let tx = (frame.len() as u128 * 8 * 1_000_000_000 / bps as u128) as u64;
                end = now.max(self.ports[dst].busy_until).saturating_add(tx);
                self.ports[dst].busy_until = end;
            }
            let mut delay = nanos(cfg.latency).saturating_add(self.rng.up_to(nanos(cfg.jitter)));
            if self.rng.chance(cfg.reorder) {
                self.stats.reordered += 1;
                delay = delay.saturating_add(self.rng.up_to(nanos(cfg.reorder_delay)));
            }
            let at = end.saturating_add(delay);
            let seq = self.next_seq;
            self.next_seq += 1;
            self.trace(b'Q', at, dst, seq, &[]);
            self.in_flight.insert((at, seq), Flight { port: dst, seq, frame: frame.clone() });
        }
    }

    /// Puts every frame due at `now` into its receive queue; returns the
    /// wakers to wake.
    fn deliver_due(&mut self, now: u64) -> Vec<Waker> {
        let mut wakers = Vec::new();
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let f = entry.remove();
            let port = &mut self.ports[f.port];
            if port.rx.len() >= self.rx_capacity {
                port.stats.rx_dropped += 1;
                self.stats.rx_dropped += 1;
                self.trace(b'X', now, f.port, f.seq, &[]);
                continue;
            }
            port.stats.received += 1;
            port.rx.push_back(f.frame.clone());
            if let Some(w) = port.waker.take() {
                wakers.push(w);
            }
            self.stats.delivered += 1;
            self.trace(b'D', now, f.port, f.seq, &[]);
            if let Some(c) = &mut self.capture {
                c.record(CapturePoint::Delivered, now, &f.frame);
            }
        }
        wakers
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub(crate) struct Shared {
    pub seed: u64,
    pub clock: Rc<Cell<u64>>,
    pub echo: bool,
    pub current_host: Cell<Option<usize>>,
    running: Cell<bool>,
    spins: Cell<u64>,
    spin_limit: Cell<u64>,
    time_limit: Cell<u64>,
    pub st: RefCell<State>,
}

impl Shared {
    pub(crate) fn now(&self) -> u64 {
        self.clock.get()
    }
}

/// Marks the host whose code is running, so that tasks it spawns belong to it.
pub(crate) struct HostScope<'a> {
    shared: &'a Shared,
    previous: Option<usize>,
}

impl<'a> HostScope<'a> {
    pub(crate) fn enter(shared: &'a Shared, host: usize) -> Self {
        HostScope { shared, previous: shared.current_host.replace(Some(host)) }
    }
}

impl Drop for HostScope<'_> {
    fn drop(&mut self) {
        self.shared.current_host.set(self.previous);
    }
}

/// A task that belongs to a host: it ends when the host crashes, and the
/// host's console receives its `log` output.
struct HostTask {
    shared: Rc<Shared>,
    host: usize,
    epoch: u64,
    id: u64,
    inner: Option<LocalBoxFuture<'static, ()>>,
}

impl HostTask {
    fn forget(&self) {
        if let Ok(mut st) = self.shared.st.try_borrow_mut() {
            st.hosts[self.host].tasks.remove(&self.id);
        }
    }
}

impl Future for HostTask {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let logger = {
            let mut st = this.shared.st.borrow_mut();
            let h = &mut st.hosts[this.host];
            if h.epoch != this.epoch {
                None
            } else {
                match h.tasks.get(&this.id) {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => {
                        h.tasks.insert(this.id, cx.waker().clone());
                    }
                }
                Some(h.logger.clone().map(|f| (h.console.clone(), f)))
            }
        };
        let Some(logger) = logger else {
            // The host crashed: the task dies with it.
            let inner = this.inner.take();
            let _scope = HostScope::enter(&this.shared, this.host);
            drop(inner);
            this.forget();
            return Poll::Ready(());
        };
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(()) };
        if let Some((console, filter)) = logger {
            platform::console::install_logger(console, filter);
        }
        let _scope = HostScope::enter(&this.shared, this.host);
        let r = inner.as_mut().poll(cx);
        if r.is_ready() {
            this.inner = None;
            this.forget();
        }
        r
    }
}

impl Drop for HostTask {
    fn drop(&mut self) {
        self.forget();
    }
}

struct SimRuntime {
    shared: Rc<Shared>,
    executor: RefCell<Option<Executor>>,
}

impl Runtime for SimRuntime {
    fn now(&self) -> Instant {
        let spins = self.shared.spins.get() + 1;
        self.shared.spins.set(spins);
        if spins > self.shared.spin_limit.get() {
            panic!(
                "simulation livelocked: {spins} turns at virtual time {:?} without ever waiting for a timer or a \
                 frame (tasks keep waking each other); raise World::set_spin_limit if this is real work",
                Instant::from_nanos(self.shared.now())
            );
        }
        Instant::from_nanos(self.shared.now())
    }

    fn wall(&self) -> SystemTime {
        wall_at(self.shared.now())
    }

    fn spawn(&self, task: LocalBoxFuture<'static, ()>) {
        let task = match self.shared.current_host.get() {
            Some(host) => {
                let (epoch, id) = {
                    let mut st = self.shared.st.borrow_mut();
                    let h = &mut st.hosts[host];
                    h.next_task += 1;
                    (h.epoch, h.next_task)
                };
                Box::pin(HostTask { shared: self.shared.clone(), host, epoch, id, inner: Some(task) })
            }
            None => task,
        };
        if let Some(e) = self.executor.borrow().as_ref() {
            e.spawn(task);
        }
    }

    fn timer_armed(&self, _deadline: Instant) {}
}

fn wall_at(now: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(WALL_ORIGIN_UNIX_SECS) + Duration::from_nanos(now)
}

struct SimPark {
    shared: Rc<Shared>,
}

impl Park for SimPark {
    fn park(&mut self, deadline: Option<Instant>) {
        let shared = &self.shared;
        shared.spins.set(0);
        let wakers = {
            let mut st = shared.st.borrow_mut();
            let next_frame = st.in_flight.keys().next().map(|k| k.0);
            let now = shared.now();
            let target = match (deadline.map(Instant::as_nanos), next_frame) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => {
                    drop(st);
                    panic!(
                        "simulation deadlocked: no runnable task, no timer, no frame in flight (at virtual time {:?}; \
                         every task waits for something that can no longer happen)",
                        Instant::from_nanos(now)
                    );
                }
            };
            if target > now {
                let limit = shared.time_limit.get();
                if target > limit {
                    drop(st);
                    panic!(
                        "simulation exceeded its virtual time limit of {:?}: the next event is at {:?} (a livelock, \
                         or a test that needs World::set_time_limit)",
                        Instant::from_nanos(limit),
                        Instant::from_nanos(target)
                    );
                }
                shared.clock.set(target);
            }
            st.deliver_due(shared.now())
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// One simulated world: a virtual clock, a seeded random generator, a switch
/// and the hosts plugged into it. One per test.
///
/// Everything is deterministic: the same seed and the same test code give
/// the same run, frame for frame and nanosecond for nanosecond
/// ([`World::trace_hash`]). Cloning gives another handle on the same world.
///
/// Environment variables (read by [`World::new`]): `SIM_LOG=1` echoes every
/// host's console lines to stderr; `SIM_PCAP=DIR` captures every world to
/// `DIR/<test name>-seed<N>.pcap` and keeps the file only when the test
/// panics.
#[derive(Clone)]
pub struct World {
    pub(crate) shared: Rc<Shared>,
}

impl World {
    pub fn new(seed: u64) -> World {
        let echo = std::env::var_os("SIM_LOG").is_some_and(|v| !v.is_empty() && v != "0");
        let state = State {
            rng: Rng::new(rng::derive(seed, &[TAG_SWITCH])),
            link: LinkConfig::default(),
            rx_capacity: DEFAULT_RX_QUEUE,
            segments: vec![BTreeMap::new()],
            ports: Vec::new(),
            hosts: Vec::new(),
            in_flight: BTreeMap::new(),
            next_seq: 0,
            stats: SwitchStats::default(),
            trace: Fnv::new(),
            capture: None,
        };
        let world = World {
            shared: Rc::new(Shared {
                seed,
                clock: Rc::new(Cell::new(0)),
                echo,
                current_host: Cell::new(None),
                running: Cell::new(false),
                spins: Cell::new(0),
                spin_limit: Cell::new(DEFAULT_SPIN_LIMIT),
                time_limit: Cell::new(nanos(DEFAULT_TIME_LIMIT)),
                st: RefCell::new(state),
            }),
        };
        if let Some(dir) = std::env::var_os("SIM_PCAP").filter(|d| !d.is_empty()) {
            let test = std::thread::current().name().unwrap_or("sim").to_string();
            let safe: String =
                test.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
            let path = Path::new(&dir).join(format!("{safe}-seed{seed}.pcap"));
            let _ = std::fs::create_dir_all(&dir);
            if let Err(e) = world.start_capture(&path, CapturePoint::Sent, true) {
                eprintln!("platform-sim: SIM_PCAP capture {} failed: {e}", path.display());
            }
        }
        world
    }

    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// The virtual monotonic clock (zero at creation).
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.shared.now())
    }

    /// The virtual wall clock: 2026-01-01T00:00:00Z plus [`World::now`].
    pub fn wall(&self) -> SystemTime {
        wall_at(self.shared.now())
    }

    /// The link behaviour of every host without its own ([`Host::set_link`]).
    pub fn set_link(&self, link: LinkConfig) {
        self.shared.st.borrow_mut().link = link;
    }

    pub fn link(&self) -> LinkConfig {
        self.shared.st.borrow().link
    }

    /// Panic when virtual time would pass `limit` (default one hour): a
    /// livelocked test (endless retransmissions) fails instead of spinning.
    pub fn set_time_limit(&self, limit: Duration) {
        self.shared.time_limit.set(nanos(limit));
    }

    /// Panic after `turns` executor turns (clock reads) at one virtual instant
    /// without ever waiting: catches tasks that wake each other forever.
    pub fn set_spin_limit(&self, turns: u64) {
        self.shared.spin_limit.set(turns);
    }

    /// Receive queue length of every Net device, in frames (default 512);
    /// frames arriving at a full queue are dropped and counted.
    pub fn set_rx_queue(&self, frames: usize) {
        self.shared.st.borrow_mut().rx_capacity = frames;
    }

    /// A new host with one Net device, `service`, on [`Segment::DEFAULT`].
    ///
    /// # Panics
    /// When a host of that name exists.
    pub fn add_host(&self, name: &str) -> Host {
        let seed = self.shared.seed;
        let idx = {
            let mut st = self.shared.st.borrow_mut();
            assert!(st.hosts.iter().all(|h| h.name != name), "a host named '{name}' exists already");
            let idx = st.hosts.len();
            st.hosts.push(HostState {
                name: name.into(),
                epoch: 0,
                ports: Vec::new(),
                blocks: Vec::new(),
                console: Rc::new(SimConsole::new(name, self.shared.clock.clone(), self.shared.echo)),
                entropy: Rc::new(SimEntropy::new(rng::derive(seed, &[TAG_ENTROPY, idx as u64]), seed)),
                tasks: BTreeMap::new(),
                next_task: 0,
                logger: None,
                stacks_built: 0,
                link: None,
            });
            idx
        };
        let host = Host::new(self.shared.clone(), idx);
        host.add_net("service", Segment::DEFAULT);
        host
    }

    /// A new, separate layer-2 network.
    pub fn add_segment(&self) -> Segment {
        let mut st = self.shared.st.borrow_mut();
        st.segments.push(BTreeMap::new());
        Segment(st.segments.len() - 1)
    }

    pub fn hosts(&self) -> Vec<Host> {
        let n = self.shared.st.borrow().hosts.len();
        (0..n).map(|i| Host::new(self.shared.clone(), i)).collect()
    }

    pub fn host(&self, name: &str) -> Option<Host> {
        let i = self.shared.st.borrow().hosts.iter().position(|h| h.name == name)?;
        Some(Host::new(self.shared.clone(), i))
    }

    /// Crashes `host` (kill -9 / power cut): its tasks end at their next
    /// wake-up (their join handles never complete), queued received frames
    /// are lost, and every block device loses its unflushed writes. The host
    /// can be used again at once (run a new appliance on it: a reboot).
    pub fn crash(&self, host: &Host) {
        let (wakers, blocks) = {
            let mut st = self.shared.st.borrow_mut();
            let st = &mut *st;
            let h = &mut st.hosts[host.index()];
            h.epoch += 1;
            h.logger = None;
            let wakers: Vec<Waker> = std::mem::take(&mut h.tasks).into_values().collect();
            let blocks = h.blocks.clone();
            for &p in &h.ports {
                st.ports[p].rx.clear();
                st.ports[p].waker = None;
            }
            (wakers, blocks)
        };
        blocks.iter().for_each(|b| b.crash());
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Captures frames crossing the switch to a pcap file at `path`, as sent
    /// ([`CapturePoint::Sent`]). Replaces an earlier capture.
    pub fn capture(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.capture_at(path, CapturePoint::Sent)
    }

    /// Like [`World::capture`], tapping the switch at `point`.
    pub fn capture_at(&self, path: impl AsRef<Path>, point: CapturePoint) -> io::Result<()> {
        self.start_capture(path.as_ref(), point, false)
    }

    fn start_capture(&self, path: &Path, point: CapturePoint, remove_unless_panicking: bool) -> io::Result<()> {
        let writer = PcapWriter::new(BufWriter::new(File::create(path)?))?;
        let capture = Capture { point, writer: Some(writer), path: path.to_path_buf(), remove_unless_panicking };
        let old = self.shared.st.borrow_mut().capture.replace(capture);
        drop(old);
        Ok(())
    }

    /// Writes buffered capture records to the file (also done after every
    /// [`World::run`] and when the world is dropped).
    pub fn flush_capture(&self) {
        if let Some(c) = &mut self.shared.st.borrow_mut().capture {
            c.flush();
        }
    }

    /// Closes the capture file.
    pub fn stop_capture(&self) {
        let old = self.shared.st.borrow_mut().capture.take();
        drop(old);
    }

    pub fn stats(&self) -> SwitchStats {
        self.shared.st.borrow().stats
    }

    /// Copies scheduled for delivery and not delivered yet.
    pub fn frames_in_flight(&self) -> usize {
        self.shared.st.borrow().in_flight.len()
    }

    /// A digest (FNV-1a 64) of every switch event so far: each frame sent
    /// (time, port, bytes), each copy scheduled, lost, delivered or dropped
    /// (time, port, sequence number). Equal for two runs with the same seed
    /// and code; almost surely different otherwise.
    pub fn trace_hash(&self) -> u64 {
        self.shared.st.borrow().trace.0
    }

    /// Runs `main` and the tasks spawned meanwhile until `main` completes;
    /// the clock jumps whenever every task waits.
    ///
    /// Tasks still pending when `main` completes are dropped (the run is
    /// over; so are stacks and appliances started in it); frames in flight
    /// stay in flight for the next run. Build stacks and start appliances
    /// from inside `main`: they spawn tasks.
    ///
    /// # Panics
    /// When the simulation deadlocks (nothing runnable, no timer, no frame in
    /// flight), exceeds its time or spin limit, when a task panics, or when
    /// called from inside another `run`.
    pub fn run<F: Future>(&self, main: F) -> F::Output {
        assert!(!self.shared.running.replace(true), "World::run is not reentrant");
        struct Done<'a>(&'a World);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.shared.running.set(false);
                self.0.shared.spins.set(0);
                self.0.flush_capture();
            }
        }
        let _done = Done(self);
        let executor = Executor::new();
        let runtime =
            Rc::new(SimRuntime { shared: self.shared.clone(), executor: RefCell::new(Some(executor.clone())) });
        let rt: Rc<dyn Runtime> = runtime.clone();
        platform::rt::enter(rt, move || {
            let mut park = SimPark { shared: self.shared.clone() };
            let out = executor.block_on(main, &mut park);
            // Drop the leftover tasks while the runtime is still installed.
            runtime.executor.borrow_mut().take();
            drop(executor);
            out
        })
    }
}
