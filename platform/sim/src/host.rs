//! Simulated hosts and their devices.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use platform::appliance::{Appliance, AttachError, Attached, Backend, EarlyExit, StackFactory, boot};
use platform::args::{self, Args, NetConfig, Parsed};
use platform::console::{Console, LogFilter};
use platform::entropy::Entropy;
use platform::net::{MacAddr, Net, NetInfo};
use platform::rt::{JoinHandle, LocalBoxFuture};
use platform::stack::Stack;
use platform::time::Instant;
use platform::{DeviceKind, Env};

use crate::block::SimBlock;
use crate::link::{LinkConfig, PortStats};
use crate::rng::{self, Rng};
use crate::world::{HostScope, Port, Segment, Shared, TAG_MAC, TAG_STACK};

/// MTU of every simulated Net device.
pub const MTU: usize = 1500;

/// A host plugged into the world's switch. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    shared: Rc<Shared>,
    idx: usize,
}

impl Host {
    pub(crate) fn new(shared: Rc<Shared>, idx: usize) -> Host {
        Host { shared, idx }
    }

    pub fn index(&self) -> usize {
        self.idx
    }

    pub fn name(&self) -> String {
        self.shared.st.borrow().hosts[self.idx].name.clone()
    }

    /// MAC address of the first Net device (`service`).
    pub fn mac(&self) -> MacAddr {
        self.net().info().mac
    }

    /// The first Net device (`service`).
    pub fn net(&self) -> Rc<SimNet> {
        let port = self.shared.st.borrow().hosts[self.idx].ports[0];
        Rc::new(SimNet { shared: self.shared.clone(), port })
    }

    /// The Net device called `name`.
    pub fn net_named(&self, name: &str) -> Option<Rc<SimNet>> {
        self.port_named(name).map(|port| Rc::new(SimNet { shared: self.shared.clone(), port }))
    }

    /// Names of the Net devices, in the order they were added.
    pub fn net_names(&self) -> Vec<String> {
        let st = self.shared.st.borrow();
        st.hosts[self.idx].ports.iter().map(|&p| st.ports[p].name.clone()).collect()
    }

    fn port_named(&self, name: &str) -> Option<usize> {
        let st = self.shared.st.borrow();
        st.hosts[self.idx].ports.iter().copied().find(|&p| st.ports[p].name == name)
    }

    /// Adds a Net device called `name` plugged into `segment`. Its MAC is
    /// derived from the world's seed and the device's index in the world.
    ///
    /// # Panics
    /// When the host has a Net device of that name.
    pub fn add_net(&self, name: &str, segment: Segment) -> Rc<SimNet> {
        assert!(self.port_named(name).is_none(), "host {} has a net device named '{name}' already", self.name());
        let mut st = self.shared.st.borrow_mut();
        assert!(segment.0 < st.segments.len(), "unknown segment {segment:?}");
        let port = st.ports.len();
        let r = rng::derive(self.shared.seed, &[TAG_MAC, port as u64]).to_le_bytes();
        let mac = MacAddr::local_from([r[0], r[1], r[2], r[3], (port >> 8) as u8, port as u8]);
        st.ports.push(Port {
            host: self.idx,
            name: name.into(),
            segment: segment.0,
            mac,
            rx: Default::default(),
            waker: None,
            busy_until: 0,
            stats: PortStats::default(),
        });
        st.hosts[self.idx].ports.push(port);
        Rc::new(SimNet { shared: self.shared.clone(), port })
    }

    pub fn console(&self) -> Rc<SimConsole> {
        self.shared.st.borrow().hosts[self.idx].console.clone()
    }

    /// Every line written to this host's console so far.
    pub fn console_lines(&self) -> Vec<String> {
        self.console().lines()
    }

    /// The host's entropy: a stream seeded from the world's seed and the
    /// host's index; `source()` is `"sim seed N"`.
    pub fn entropy(&self) -> Rc<SimEntropy> {
        self.shared.st.borrow().hosts[self.idx].entropy.clone()
    }

    /// Attaches a zero-filled in-memory block device (see [`SimBlock`]).
    ///
    /// # Panics
    /// On a bad sector size or a duplicate name.
    pub fn add_block(&self, name: &str, sector_size: usize, sectors: u64) -> Rc<SimBlock> {
        assert!(self.block(name).is_none(), "host {} has a block device named '{name}' already", self.name());
        let b = Rc::new(SimBlock::new(name, sector_size, sectors));
        self.shared.st.borrow_mut().hosts[self.idx].blocks.push(b.clone());
        b
    }

    pub fn block(&self, name: &str) -> Option<Rc<SimBlock>> {
        self.shared.st.borrow().hosts[self.idx].blocks.iter().find(|b| b.name() == name).cloned()
    }

    /// Link behaviour for frames this host sends or receives, overriding the
    /// world's ([`crate::World::set_link`]); `None` returns to the world's.
    /// When both ends of a frame have their own, the sender's applies.
    pub fn set_link(&self, link: Option<LinkConfig>) {
        self.shared.st.borrow_mut().hosts[self.idx].link = link;
    }

    /// Counters of the Net device called `name`.
    pub fn net_stats(&self, name: &str) -> Option<PortStats> {
        let p = self.port_named(name)?;
        Some(self.shared.st.borrow().ports[p].stats)
    }

    /// Crashes the host; see [`crate::World::crash`].
    pub fn crash(&self) {
        crate::World { shared: self.shared.clone() }.crash(self)
    }

    /// Spawns a task that belongs to this host: it dies when the host
    /// crashes, and tasks it spawns belong to the host too. Call inside
    /// [`crate::World::run`].
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let _scope = HostScope::enter(&self.shared, self.idx);
        platform::rt::spawn(fut)
    }

    /// A `netstack` over the `service` device configured from boot-argument
    /// style strings (`["--ipv4=10.0.0.2/24", "--ipv4-gateway=10.0.0.1"]`;
    /// the standard arguments, [`platform::args::STANDARD`]). Its seed is
    /// derived from the world's seed, the host and a per-host counter. Call
    /// inside [`crate::World::run`]: the stack spawns its driver task, which
    /// belongs to this host.
    pub fn stack(&self, ip_args: &[&str]) -> io::Result<Stack> {
        self.stack_on("service", ip_args)
    }

    /// Like [`Host::stack`], on the Net device called `net`.
    pub fn stack_on(&self, net: &str, ip_args: &[&str]) -> io::Result<Stack> {
        let argv: Vec<String> = ip_args.iter().map(|s| s.to_string()).collect();
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        let args = match Args::parse(args::STANDARD, &argv).map_err(|e| invalid(e.to_string()))? {
            Parsed::Run(a) => a,
            Parsed::Help(_) => return Err(invalid("--help is not a stack configuration".into())),
        };
        let ip = NetConfig::from_args(&args).map_err(|e| invalid(e.to_string()))?;
        let port = self.port_named(net).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("host {} has no net device '{net}'", self.name()))
        })?;
        self.build_stack(port, ip, net)
    }

    fn build_stack(&self, port: usize, ip: NetConfig, name: &str) -> io::Result<Stack> {
        let seed = {
            let mut st = self.shared.st.borrow_mut();
            let h = &mut st.hosts[self.idx];
            h.stacks_built += 1;
            rng::derive(self.shared.seed, &[TAG_STACK, self.idx as u64, h.stacks_built])
        };
        let net: Rc<dyn Net> = Rc::new(SimNet { shared: self.shared.clone(), port });
        let _scope = HostScope::enter(&self.shared, self.idx);
        netstack::new_stack(net, netstack::Config::new(ip, seed, name))
    }

    /// Boots `app` on this host with boot arguments `argv` (without a program
    /// name), as a task of this host; call inside [`crate::World::run`].
    ///
    /// The appliance's declared Net devices are the host's devices of the
    /// same name; the first declared one falls back to the host's first
    /// device (`service`). Every block device of the host is attached under
    /// its name. Stacks are `netstack` over those devices; the standard IP
    /// arguments configure the default (first) one. `log` output goes to the
    /// host's console, filtered by `-l`.
    ///
    /// The handle yields `Err(message)` for a bad argument (usage error) or
    /// an error returned by the appliance; `--help` prints to the console
    /// and yields `Ok(())`.
    pub fn run_appliance(&self, app: &'static Appliance, argv: &[&str]) -> JoinHandle<Result<(), String>> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let backend = SimBackend { host: self.clone(), ip: None, nets: Vec::new(), default_net: String::new() };
        self.spawn(boot(app, backend, &argv))
    }
}

/// The sim side of [`boot`]: the host's devices, `main` as a task of the host whose
/// handle yields `Err(message)` for a usage error or an error of `main`.
struct SimBackend {
    host: Host,
    /// The IP configuration of the default stack, from the boot arguments.
    ip: Option<NetConfig>,
    /// `(name, port)` of each attached net device.
    nets: Vec<(String, usize)>,
    default_net: String,
}

impl Backend for SimBackend {
    type Outcome = LocalBoxFuture<'static, Result<(), String>>;

    fn exit_early(self, _app: &'static Appliance, exit: EarlyExit) -> Self::Outcome {
        let console = self.host.console();
        let message = exit.message.unwrap_or_default();
        for line in message.lines() {
            console.write_line(line);
        }
        let result = if exit.status == 0 { Ok(()) } else { Err(format!("exit status {}: {message}", exit.status)) };
        Box::pin(std::future::ready(result))
    }

    /// The default stack's IP configuration is read before anything else, as a usage
    /// error (unix and hvt find a bad one when the stack is first built).
    fn check_args(&mut self, app: &'static Appliance, args: &Args) -> Result<(), Self::Outcome> {
        match NetConfig::from_args(args) {
            Ok(ip) => {
                self.ip = Some(ip);
                Ok(())
            }
            Err(e) => {
                let message = format!("exit status {}: {}: {e}", args::USAGE_EXIT, app.name);
                Err(Box::pin(std::future::ready(Err(message))))
            }
        }
    }

    fn console(&self) -> Rc<dyn Console> {
        self.host.console()
    }

    fn entropy(&self) -> Rc<dyn Entropy> {
        self.host.entropy()
    }

    /// The world's logger routes each host's lines to its console with its filter.
    fn install_logger(&mut self, _console: Rc<dyn Console>, filter: LogFilter) {
        self.host.shared.st.borrow_mut().hosts[self.host.idx].logger = Some(filter);
    }

    fn attach(&mut self, app: &'static Appliance, _args: &Args) -> Result<Attached, AttachError> {
        let host = &self.host;
        // Net devices: declared names first, then the host's other devices.
        let host_nets = host.net_names();
        let mut nets: Vec<(String, usize)> = Vec::new();
        for (i, dev) in app.devices.iter().filter(|d| d.kind == DeviceKind::Net).enumerate() {
            let port = host.port_named(dev.name).or_else(|| (i == 0).then(|| host.port_named(&host_nets[0])).flatten());
            if let Some(p) = port {
                nets.push((dev.name.to_string(), p));
            }
        }
        let default_net = app
            .devices
            .iter()
            .find(|d| d.kind == DeviceKind::Net)
            .map(|d| d.name.to_string())
            .unwrap_or_else(|| "service".into());
        if nets.is_empty() {
            nets.push((default_net.clone(), host.port_named(&host_nets[0]).expect("every host has a net")));
        }
        for name in &host_nets {
            let port = host.port_named(name).expect("listed");
            if nets.iter().all(|(n, p)| n != name && *p != port) {
                nets.push((name.clone(), port));
            }
        }

        let mut attached = Attached::default();
        for (name, port) in &nets {
            attached.nets.push((name.clone(), Rc::new(SimNet { shared: host.shared.clone(), port: *port })));
        }
        let blocks = host.shared.st.borrow().hosts[host.idx].blocks.clone();
        for blk in blocks {
            attached.blocks.push((blk.name().to_string(), blk));
        }
        self.nets = nets;
        self.default_net = default_net;
        Ok(attached)
    }

    /// No start line: simulated hosts' consoles hold the appliance's own lines only.
    fn describe(&self, _app: &'static Appliance, _args: &Args) -> Option<String> {
        None
    }

    fn stack_factory(
        &mut self,
        _app: &'static Appliance,
        _args: &Args,
        _entropy: Rc<dyn Entropy>,
        _attached: &Attached,
    ) -> StackFactory {
        let host = self.host.clone();
        let nets = std::mem::take(&mut self.nets);
        let default_net = self.default_net.clone();
        let ip = self.ip.take().expect("check_args ran");
        Box::new(move |name: &str| {
            let port = nets.iter().find(|(n, _)| n == name).map(|(_, p)| *p).ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no net device named '{name}' is attached"))
            })?;
            let cfg = if name == default_net {
                ip.clone()
            } else {
                NetConfig { ipv4: None, ipv4_gateway: None, ipv6: None, ipv6_gateway: None, dhcp: false }
            };
            host.build_stack(port, cfg, name)
        })
    }

    fn default_net(&self) -> Option<String> {
        Some(self.default_net.clone())
    }

    fn run_main(self, app: &'static Appliance, env: Env) -> Self::Outcome {
        Box::pin(async move { (app.main)(env).await.map_err(|e| format!("{}: {e}", app.name)) })
    }
}

/// A simulated Ethernet device (MTU 1500) plugged into the world's switch.
///
/// Frames sent are switched at once and delivered to the receivers' queues
/// at their delivery time (see [`crate::LinkConfig`]). The device receives
/// every frame the switch gives it (promiscuous: unknown unicast is flooded
/// until the switch learns the address).
pub struct SimNet {
    shared: Rc<Shared>,
    port: usize,
}

impl SimNet {
    /// Frames waiting in the receive queue.
    pub fn queued(&self) -> usize {
        self.shared.st.borrow().ports[self.port].rx.len()
    }

    pub fn stats(&self) -> PortStats {
        self.shared.st.borrow().ports[self.port].stats
    }

    /// Awaits one frame and returns it (convenience for raw-frame tests).
    pub async fn recv_frame(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.info().frame_capacity()];
        loop {
            if let Some(n) = self.recv(&mut buf).expect("simulated nets do not fail") {
                buf.truncate(n);
                return buf;
            }
            poll_fn(|cx| self.poll_readable(cx)).await;
        }
    }
}

impl Net for SimNet {
    fn info(&self) -> NetInfo {
        NetInfo { mac: self.shared.st.borrow().ports[self.port].mac, mtu: MTU }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut st = self.shared.st.borrow_mut();
        let rx = &mut st.ports[self.port].rx;
        let Some(frame) = rx.front() else { return Ok(None) };
        if buf.len() < frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("receive buffer of {} bytes is smaller than the frame capacity", buf.len()),
            ));
        }
        let frame = rx.pop_front().expect("checked");
        buf[..frame.len()].copy_from_slice(&frame);
        Ok(Some(frame.len()))
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.shared.st.borrow_mut();
        let port = &mut st.ports[self.port];
        if !port.rx.is_empty() {
            return Poll::Ready(());
        }
        match &port.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => port.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > MTU + platform::net::ETHERNET_HEADER_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {} bytes exceeds the MTU of {MTU}", frame.len()),
            ));
        }
        let now = self.shared.now();
        self.shared.st.borrow_mut().switch(now, self.port, frame);
        Ok(())
    }
}

/// A host's console: keeps every line; with `SIM_LOG=1`, echoes them to
/// stderr prefixed with the virtual time and host name.
pub struct SimConsole {
    host: String,
    clock: Rc<Cell<u64>>,
    echo: bool,
    lines: RefCell<Vec<String>>,
    waiters: RefCell<Vec<Waker>>,
}

impl SimConsole {
    pub(crate) fn new(host: &str, clock: Rc<Cell<u64>>, echo: bool) -> SimConsole {
        SimConsole { host: host.into(), clock, echo, lines: RefCell::default(), waiters: RefCell::default() }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.borrow().clone()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.lines.borrow().iter().any(|l| l.contains(needle))
    }

    /// Completes with the first line (already written or future) that
    /// contains `needle`: how tests wait for an appliance's readiness line.
    pub async fn wait_for(&self, needle: &str) -> String {
        poll_fn(|cx| {
            if let Some(l) = self.lines.borrow().iter().find(|l| l.contains(needle)) {
                return Poll::Ready(l.clone());
            }
            self.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Console for SimConsole {
    fn write_line(&self, line: &str) {
        if self.echo {
            eprintln!("[{:?} {}] {line}", Instant::from_nanos(self.clock.get()), self.host);
        }
        self.lines.borrow_mut().push(line.to_string());
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// Reproducible "entropy": a xoshiro256** stream seeded from the world's seed.
pub struct SimEntropy {
    rng: RefCell<Rng>,
    source: String,
}

impl SimEntropy {
    pub(crate) fn new(stream_seed: u64, world_seed: u64) -> SimEntropy {
        SimEntropy { rng: RefCell::new(Rng::new(stream_seed)), source: format!("sim seed {world_seed}") }
    }
}

impl Entropy for SimEntropy {
    fn fill(&self, buf: &mut [u8]) {
        self.rng.borrow_mut().fill(buf)
    }
    fn source(&self) -> &str {
        &self.source
    }
}
