//! The platform backend on hvt: [`run`] boots an [`Appliance`] on the devices of the
//! image's manifest.
//!
//! - Tasks: [`platform::executor::Executor`]; when nothing is runnable, [`HvtPark`] issues
//!   one POLL with the time left until the next timer and wakes the net devices POLL
//!   reports ready.
//! - [`HvtNet`]: NET_READ (non-blocking; AGAIN = no frame) and NET_WRITE.
//! - [`HvtBlock`]: BLOCK_READ / BLOCK_WRITE, one sector per hypercall. **Durability:**
//!   the hvt ABI has no flush hypercall, so `flush` has nothing to send. A write is
//!   durable when its hypercall returns only if the tender makes host writes synchronous
//!   (`O_DSYNC`/`O_SYNC` on the block file, or `fdatasync` after each `pwrite`); upstream
//!   Solo5 and our tender's plain `pwrite` do not, so there a host crash can lose writes
//!   the guest saw complete (a guest crash or kill cannot: the data is in the host's page
//!   cache).
//! - Console: PUTS, one hypercall per line. Entropy: [`crate::random`].
//! - Clocks: monotonic from the TSC, wall clock from WALLTIME.
//!
//! The image declares its devices twice: the appliance's `devices` list and the manifest
//! note (`platform_hvt::manifest!` in `main.rs`, which must be a static). [`run`] compares
//! the tender's copy of the note with the list and refuses to start on a mismatch.

use std::cell::{Cell, RefCell};
use std::io;
use std::process::ExitCode;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hvt_abi::DeviceType;
use platform::appliance::{
    AttachError, Attached, Backend, EarlyExit, FAILURE_EXIT, StackFactory, boot, finish, stack_settings,
};
use platform::args::Args;
use platform::block::{Block, BlockError, BlockInfo, check_range};
use platform::console::Console;
use platform::entropy::Entropy;
use platform::executor::{Executor, Park};
use platform::net::{MacAddr, Net, NetInfo};
use platform::rt::{self, LocalBoxFuture, Runtime};
use platform::time::Instant;
use platform::{Appliance, DeviceKind, Env};

use crate::devices::{self, Error as DevError};
use crate::{hypercall, random, time};

/// The longest single POLL when no timer is pending (the executor parks again).
const MAX_PARK_NS: u64 = 10_000_000_000;

fn io_error(what: &str, e: DevError) -> io::Error {
    let kind = match e {
        DevError::Invalid => io::ErrorKind::InvalidInput,
        DevError::NotFound | DevError::NotAttached => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{what}: {e}"))
}

/// The runtime: TSC clock, WALLTIME, tasks on the shared executor.
struct HvtRuntime {
    executor: Executor,
}

impl Runtime for HvtRuntime {
    fn now(&self) -> Instant {
        Instant::from_nanos(time::monotonic_ns())
    }
    fn wall(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(time::wall_ns())
    }
    fn spawn(&self, task: LocalBoxFuture<'static, ()>) {
        self.executor.spawn(task)
    }
    fn timer_armed(&self, _deadline: Instant) {
        // Park reads the next deadline before every POLL; nothing to interrupt.
    }
}

/// Readiness of one net device, shared by the device and [`HvtPark`].
struct Readiness {
    /// The device's bit in POLL's ready set.
    bit: u64,
    /// A frame may be queued: set by POLL, cleared when NET_READ says AGAIN.
    maybe: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Parks in POLL until the next timer deadline or net input.
pub struct HvtPark {
    nets: Vec<Rc<Readiness>>,
}

impl HvtPark {
    /// Turns POLL's ready set into device readiness and wake-ups.
    fn mark_ready(&self, ready: u64) {
        for n in &self.nets {
            if ready & n.bit != 0 {
                n.maybe.set(true);
                if let Some(w) = n.waker.borrow_mut().take() {
                    w.wake();
                }
            }
        }
    }
}

impl Park for HvtPark {
    fn park(&mut self, deadline: Option<Instant>) {
        let timeout = match deadline {
            Some(d) => d.as_nanos().saturating_sub(time::monotonic_ns()).min(MAX_PARK_NS),
            None => MAX_PARK_NS,
        };
        let ready = hypercall::poll(timeout);
        self.mark_ready(ready);
    }
}

/// A net device over NET_READ / NET_WRITE.
pub struct HvtNet {
    dev: devices::Net,
    ready: Rc<Readiness>,
}

impl Net for HvtNet {
    fn info(&self) -> NetInfo {
        NetInfo { mac: MacAddr(self.dev.mac()), mtu: usize::from(self.dev.mtu()) }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.dev.read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(DevError::Again) => {
                self.ready.maybe.set(false);
                Ok(None)
            }
            Err(e) => Err(io_error("net read", e)),
        }
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ready.maybe.get() {
            return Poll::Ready(());
        }
        let mut w = self.ready.waker.borrow_mut();
        match &*w {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.dev.write(frame).map_err(|e| io_error("net write", e))
    }
}

/// A block device over BLOCK_READ / BLOCK_WRITE (see the module docs on durability).
pub struct HvtBlock {
    dev: devices::Block,
    info: BlockInfo,
}

impl HvtBlock {
    fn new(dev: devices::Block) -> io::Result<HvtBlock> {
        let sector_size = dev.block_size() as usize;
        if sector_size < 512 || !sector_size.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("sector size {sector_size} is not a power of two of at least 512"),
            ));
        }
        let sectors = dev.capacity() / dev.block_size();
        Ok(HvtBlock { dev, info: BlockInfo { sector_size, sectors } })
    }
}

impl Block for HvtBlock {
    fn info(&self) -> BlockInfo {
        self.info
    }

    fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(self.info, sector, buf.len())?;
        let ss = self.info.sector_size;
        for (i, chunk) in buf.chunks_exact_mut(ss).enumerate() {
            let offset = (sector + i as u64) * ss as u64;
            self.dev.read(offset, chunk).map_err(|e| io_error("block read", e))?;
        }
        Ok(())
    }

    fn write(&self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_range(self.info, sector, buf.len())?;
        let ss = self.info.sector_size;
        for (i, chunk) in buf.chunks_exact(ss).enumerate() {
            let offset = (sector + i as u64) * ss as u64;
            self.dev.write(offset, chunk).map_err(|e| io_error("block write", e))?;
        }
        Ok(())
    }

    /// Nothing to do: the hvt ABI has no flush; every write hypercall has completed on the
    /// host when it returns (durable across a host crash only if the tender writes
    /// synchronously, see the module docs).
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// Log lines through PUTS (one hypercall per line).
pub struct PutsConsole;

impl Console for PutsConsole {
    fn write_line(&self, line: &str) {
        let mut s = String::with_capacity(line.len() + 1);
        s.push_str(line);
        s.push('\n');
        crate::console::write(s.as_bytes());
    }
}

/// Entropy from the guest's CSPRNG ([`crate::random`]).
pub struct HvtEntropy;

impl Entropy for HvtEntropy {
    fn fill(&self, buf: &mut [u8]) {
        random::fill(buf)
    }
    fn source(&self) -> &str {
        random::source().describe()
    }
}

fn kind_name(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Net => "net",
        DeviceKind::Block => "block",
    }
}

/// `(name, kind)` of each device of a manifest (without the reserved entry); `Err` names
/// an entry of an unknown type.
fn manifest_devices(m: &hvt_abi::Manifest<'_>) -> Result<Vec<(String, DeviceKind)>, String> {
    m.iter()
        .skip(1)
        .map(|(i, e)| {
            let name = e.name_str().unwrap_or("?").to_string();
            match e.device_type() {
                Some(DeviceType::NetBasic) => Ok((name, DeviceKind::Net)),
                Some(DeviceType::BlockBasic) => Ok((name, DeviceKind::Block)),
                _ => Err(format!("manifest entry {i} ('{name}') has an unknown device type")),
            }
        })
        .collect()
}

/// Checks that the manifest lists exactly the appliance's devices (same names and
/// kinds, any order).
pub fn check_manifest(app: &Appliance, manifest: &[(String, DeviceKind)]) -> Result<(), String> {
    let show = |v: &mut dyn Iterator<Item = (&str, DeviceKind)>| {
        let list: Vec<String> = v.map(|(n, k)| format!("{n} ({})", kind_name(k))).collect();
        if list.is_empty() { "no devices".to_string() } else { list.join(", ") }
    };
    let same_len = manifest.len() == app.devices.len();
    let all_found = app.devices.iter().all(|d| manifest.iter().any(|(n, k)| n == d.name && *k == d.kind));
    if same_len && all_found {
        return Ok(());
    }
    Err(format!(
        "the image's manifest declares {} but appliance '{}' declares {}; make the \
         platform_hvt::manifest!(...) line in its main.rs list the appliance's devices",
        show(&mut manifest.iter().map(|(n, k)| (n.as_str(), *k))),
        app.name,
        show(&mut app.devices.iter().map(|d| (d.name, d.kind))),
    ))
}

/// Runs `app` with the guest's command line; returns the exit status for `main` to
/// return (the image then HALTs with it).
pub fn run(app: &'static Appliance) -> ExitCode {
    ExitCode::from(run_with_args(app, std::env::args().skip(1).collect()))
}

/// Like [`run`] with explicit arguments (without the program name).
pub fn run_with_args(app: &'static Appliance, argv: Vec<String>) -> u8 {
    boot(app, HvtBackend::default(), &argv)
}

/// The hvt side of [`boot`]: devices from the tender's manifest, the shared executor
/// parked in POLL for `main`.
#[derive(Default)]
struct HvtBackend {
    /// Readiness of each attached net device, for [`HvtPark`].
    readiness: Vec<Rc<Readiness>>,
    /// One "name: kind details" entry per attached device, for the start line.
    shown: Vec<String>,
}

impl Backend for HvtBackend {
    type Outcome = u8;

    /// The image must declare what the appliance declares; the tender passed the note.
    fn backend_args(&mut self, app: &'static Appliance, argv: &[String]) -> Result<Vec<String>, EarlyExit> {
        let declared = match devices::manifest().ok_or_else(|| "the tender passed no valid manifest".to_string()) {
            Ok(m) => manifest_devices(&m),
            Err(e) => Err(e),
        };
        match declared.and_then(|m| check_manifest(app, &m)) {
            Ok(()) => Ok(argv.to_vec()),
            Err(e) => Err(EarlyExit { message: Some(format!("{}: error: {e}", app.name)), status: FAILURE_EXIT }),
        }
    }

    fn exit_early(self, _app: &'static Appliance, exit: EarlyExit) -> u8 {
        if let Some(message) = exit.message {
            println!("{message}");
        }
        exit.status
    }

    fn console(&self) -> Rc<dyn Console> {
        Rc::new(PutsConsole)
    }

    fn entropy(&self) -> Rc<dyn Entropy> {
        Rc::new(HvtEntropy)
    }

    fn attach(&mut self, app: &'static Appliance, _args: &Args) -> Result<Attached, AttachError> {
        let mut attached = Attached::default();
        for d in app.devices {
            match d.kind {
                DeviceKind::Net => {
                    let dev = devices::Net::acquire(d.name).map_err(|e| AttachError::new("net", d.name, e))?;
                    let ready =
                        Rc::new(Readiness { bit: dev.ready_bit(), maybe: Cell::new(true), waker: RefCell::new(None) });
                    let net = HvtNet { dev, ready: ready.clone() };
                    let info = net.info();
                    self.shown.push(format!("{}: net mac {} mtu {}", d.name, info.mac, info.mtu));
                    self.readiness.push(ready);
                    attached.nets.push((d.name.to_string(), Rc::new(net)));
                }
                DeviceKind::Block => {
                    let dev = devices::Block::acquire(d.name)
                        .map_err(|e| e.to_string())
                        .and_then(|dev| HvtBlock::new(dev).map_err(|e| e.to_string()))
                        .map_err(|e| AttachError::new("block", d.name, e))?;
                    let info = dev.info();
                    self.shown
                        .push(format!("{}: block {} sectors of {} bytes", d.name, info.sectors, info.sector_size));
                    attached.blocks.push((d.name.to_string(), Rc::new(dev)));
                }
            }
        }
        Ok(attached)
    }

    fn describe(&self, _app: &'static Appliance, _args: &Args) -> Option<String> {
        let (heap_total, _) = crate::heap::stats();
        let devices = if self.shown.is_empty() { "none".to_string() } else { self.shown.join(", ") };
        Some(format!(
            "hvt; memory {} MiB (heap {} MiB); devices {devices}",
            crate::boot_info().mem_size >> 20,
            heap_total >> 20
        ))
    }

    fn stack_factory(
        &mut self,
        _app: &'static Appliance,
        args: &Args,
        entropy: Rc<dyn Entropy>,
        attached: &Attached,
    ) -> StackFactory {
        stack_factory(attached.nets.clone(), args.clone(), entropy)
    }

    fn run_main(self, app: &'static Appliance, env: Env) -> u8 {
        let executor = Executor::new();
        let runtime = Rc::new(HvtRuntime { executor: executor.clone() });
        let mut park = HvtPark { nets: self.readiness };
        let outcome = rt::enter(runtime, || executor.block_on((app.main)(env), &mut park));
        finish(app, outcome)
    }
}

/// netstack over each declared net device, configured from the standard arguments.
fn stack_factory(nets: Vec<(String, Rc<dyn Net>)>, args: Args, entropy: Rc<dyn Entropy>) -> StackFactory {
    Box::new(move |name: &str| {
        let Some((_, net)) = nets.iter().find(|(n, _)| n == name) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the appliance declares no net device named '{name}'"),
            ));
        };
        let (ip, seed) = stack_settings(&args, &*entropy)?;
        let mut config = netstack::Config::new(ip, seed, name);
        // Socket buffers may take half the heap; the rest is the appliance's.
        config.tcp_memory_budget = Some(crate::heap::stats().0 / 2);
        netstack::new_stack(net.clone(), config)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::Device;

    static APP: Appliance = Appliance {
        name: "t",
        summary: "",
        version: "0",
        devices: &[Device::net("service"), Device::block("storage")],
        args: &[],
        main: |_| Box::pin(async { Ok(()) }),
    };

    #[test]
    fn manifest_must_match_the_appliance() {
        let ok = vec![("storage".to_string(), DeviceKind::Block), ("service".to_string(), DeviceKind::Net)];
        assert!(check_manifest(&APP, &ok).is_ok());
        let wrong_kind = vec![("storage".to_string(), DeviceKind::Net), ("service".to_string(), DeviceKind::Net)];
        let e = check_manifest(&APP, &wrong_kind).unwrap_err();
        assert!(e.contains("storage (net)") && e.contains("storage (block)"), "{e}");
        assert!(check_manifest(&APP, &ok[..1]).unwrap_err().contains("manifest!"));
    }

    #[test]
    fn park_wakes_only_ready_devices() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mk = |bit| Rc::new(Readiness { bit, maybe: Cell::new(false), waker: RefCell::new(None) });
        let (a, b) = (mk(1 << 1), mk(1 << 2));
        *a.waker.borrow_mut() = Some(Waker::from(count.clone()));
        *b.waker.borrow_mut() = Some(Waker::from(count.clone()));
        let park = HvtPark { nets: vec![a.clone(), b.clone()] };
        park.mark_ready(1 << 2);
        assert!(!a.maybe.get() && b.maybe.get());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(a.waker.borrow().is_some() && b.waker.borrow().is_none());
    }
}
