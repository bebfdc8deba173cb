//! What an appliance exports, and the environment its `main` receives.

use std::cell::RefCell;
use std::error::Error;
use std::io;
use std::rc::Rc;

use crate::args::{self, ArgError, ArgSpec, Args, NetConfig, Parsed};
use crate::block::Block;
use crate::console::{Console, LogFilter};
use crate::entropy::Entropy;
use crate::net::Net;
use crate::rt::LocalBoxFuture;
use crate::stack::Stack;

/// Kind of a device an appliance declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Net,
    Block,
}

/// A device the appliance needs. On hvt this becomes an entry of the image's
/// manifest; names are `[A-Za-z0-9]{1,67}` (Solo5's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: &'static str,
    pub kind: DeviceKind,
}

impl Device {
    pub const fn net(name: &'static str) -> Device {
        Device { name, kind: DeviceKind::Net }
    }
    pub const fn block(name: &'static str) -> Device {
        Device { name, kind: DeviceKind::Block }
    }
}

/// The result of an appliance's `main`.
pub type AppResult = Result<(), Box<dyn Error>>;

/// The descriptor every appliance crate exports; `main.rs` hands it to a
/// backend's `run`.
pub struct Appliance {
    pub name: &'static str,
    pub summary: &'static str,
    pub version: &'static str,
    pub devices: &'static [Device],
    /// Appliance-specific arguments; [`args::STANDARD`] are always accepted.
    pub args: &'static [ArgSpec],
    pub main: fn(Env) -> LocalBoxFuture<'static, AppResult>,
}

impl Appliance {
    /// Every argument this appliance accepts.
    pub fn arg_specs(&self) -> Vec<ArgSpec> {
        let mut specs = args::STANDARD.to_vec();
        specs.extend_from_slice(self.args);
        specs
    }
}

/// Exit status of an appliance whose `main` returned an error.
pub const FAILURE_EXIT: u8 = 1;

/// The exit status for an error returned by an appliance's `main`: a boot-argument
/// error (an appliance validating its own settings returns [`ArgError`]) is a usage
/// error, [`args::USAGE_EXIT`]; anything else is [`FAILURE_EXIT`].
pub fn exit_status(err: &(dyn Error + 'static)) -> u8 {
    if err.downcast_ref::<ArgError>().is_some() { args::USAGE_EXIT } else { FAILURE_EXIT }
}

/// What a backend does with the boot arguments before it builds devices.
pub enum Boot {
    Run {
        args: Args,
        log_filter: LogFilter,
    },
    /// Print this to stdout and exit with the status.
    Exit {
        message: String,
        status: u8,
    },
}

/// Parses boot arguments the same way on every backend.
pub fn parse_boot_args(app: &Appliance, argv: &[String]) -> Boot {
    let usage = |e: ArgError| Boot::Exit { message: format!("{}: {e}", app.name), status: args::USAGE_EXIT };
    match Args::parse(&app.arg_specs(), argv) {
        Err(e) => usage(e),
        Ok(Parsed::Help(text)) => {
            Boot::Exit { message: format!("{} — {}\n\n{text}", app.name, app.summary), status: 0 }
        }
        Ok(Parsed::Run(args)) => match LogFilter::parse(args.get("logs").unwrap_or("info")) {
            Ok(log_filter) => Boot::Run { args, log_filter },
            Err(reason) => usage(args.invalid("logs", reason)),
        },
    }
}

/// Builds the IP stack of a named net device; supplied by the backend.
pub type StackFactory = Box<dyn Fn(&str) -> io::Result<Stack>>;

/// How a boot ends before `main` runs: `--help`, a bad argument, a device that could
/// not be attached.
#[derive(Debug, PartialEq, Eq)]
pub struct EarlyExit {
    /// What the backend shows the user; `None` when it has been logged already.
    pub message: Option<String>,
    pub status: u8,
}

/// A device a backend could not attach (see [`attach_failed`]).
#[derive(Debug)]
pub struct AttachError {
    /// "net" or "block".
    pub kind: &'static str,
    pub name: String,
    pub error: String,
}

impl AttachError {
    pub fn new(kind: &'static str, name: &str, error: impl std::fmt::Display) -> AttachError {
        AttachError { kind, name: name.to_string(), error: error.to_string() }
    }
}

/// What differs between backends in [`boot`]: where the console, entropy and devices
/// come from, how `main` is run (clock, executor), and how the end is reported. The
/// order of the calls is fixed by [`boot`].
pub trait Backend {
    /// What a boot yields: an exit status on unix and hvt, a task's result on sim.
    type Outcome;

    /// Takes the backend's own arguments (unix `--net:`/`--block:`) out of `argv`, or
    /// checks what the host handed over (the hvt manifest); the rest are boot arguments.
    fn backend_args(&mut self, _app: &'static Appliance, argv: &[String]) -> Result<Vec<String>, EarlyExit> {
        Ok(argv.to_vec())
    }
    /// Ends the boot before `main`: shows `exit.message` (when given) and reports
    /// `exit.status`.
    fn exit_early(self, app: &'static Appliance, exit: EarlyExit) -> Self::Outcome;
    /// A check of the parsed arguments before anything is attached (sim: the IP
    /// configuration of its default stack); `Err` ends the boot with that outcome.
    fn check_args(&mut self, _app: &'static Appliance, _args: &Args) -> Result<(), Self::Outcome> {
        Ok(())
    }
    fn console(&self) -> Rc<dyn Console>;
    fn entropy(&self) -> Rc<dyn Entropy>;
    /// Routes `log` output to `console` with `filter`.
    fn install_logger(&mut self, console: Rc<dyn Console>, filter: LogFilter) {
        crate::console::install_logger(console, filter)
    }
    /// Attaches the appliance's devices.
    fn attach(&mut self, app: &'static Appliance, args: &Args) -> Result<Attached, AttachError>;
    /// What the start line says after "starting on" (backend name and devices), or
    /// `None` for no start line.
    fn describe(&self, app: &'static Appliance, args: &Args) -> Option<String>;
    /// How [`Env::stack_on`] builds the stack of each net device.
    fn stack_factory(
        &mut self,
        app: &'static Appliance,
        args: &Args,
        entropy: Rc<dyn Entropy>,
        attached: &Attached,
    ) -> StackFactory;
    /// The device [`Env::stack`] uses; `None`: `service`.
    fn default_net(&self) -> Option<String> {
        None
    }
    /// Runs `(app.main)(env)` to its end on the backend's clock and executor and
    /// reports how it ended (usually through [`finish`]).
    fn run_main(self, app: &'static Appliance, env: Env) -> Self::Outcome;
}

/// The one boot path of every backend: backend arguments → boot arguments (`--help`,
/// usage errors: [`Backend::exit_early`]) → logger → devices (failure:
/// [`attach_failed`]) → start line → [`Env`] with the backend's stacks → `main`.
pub fn boot<B: Backend>(app: &'static Appliance, mut backend: B, argv: &[String]) -> B::Outcome {
    let boot_args = match backend.backend_args(app, argv) {
        Ok(rest) => rest,
        Err(exit) => return backend.exit_early(app, exit),
    };
    let (args, log_filter) = match parse_boot_args(app, &boot_args) {
        Boot::Exit { message, status } => return backend.exit_early(app, EarlyExit { message: Some(message), status }),
        Boot::Run { args, log_filter } => (args, log_filter),
    };
    if let Err(outcome) = backend.check_args(app, &args) {
        return outcome;
    }
    let console = backend.console();
    backend.install_logger(console.clone(), log_filter);
    let entropy = backend.entropy();
    let attached = match backend.attach(app, &args) {
        Ok(attached) => attached,
        Err(e) => {
            let status = attach_failed(app, e.kind, &e.name, &e.error);
            return backend.exit_early(app, EarlyExit { message: None, status });
        }
    };
    if let Some(on) = backend.describe(app, &args) {
        let instance = args.get("name").map(|n| format!(" ({n})")).unwrap_or_default();
        log::info!(
            target: app.name,
            "{}{instance} {} starting on {on}; entropy {}",
            app.name,
            app.version,
            entropy.source()
        );
    }
    let factory = backend.stack_factory(app, &args, entropy.clone(), &attached);
    let default_net = backend.default_net();
    let env = attached.into_env(args, console, entropy, factory, default_net.as_deref());
    backend.run_main(app, env)
}

/// The devices a backend attached, as trait objects, by their declared names.
#[derive(Default)]
pub struct Attached {
    pub nets: Vec<(String, Rc<dyn Net>)>,
    pub blocks: Vec<(String, Rc<dyn Block>)>,
}

impl Attached {
    /// The environment `main` receives: these devices, stacks from `factory`, and
    /// `default_net` (when given) as the device [`Env::stack`] uses.
    pub fn into_env(
        self,
        args: Args,
        console: Rc<dyn Console>,
        entropy: Rc<dyn Entropy>,
        factory: StackFactory,
        default_net: Option<&str>,
    ) -> Env {
        let mut builder = EnvBuilder::new(args, console, entropy, factory);
        if let Some(name) = default_net {
            builder = builder.default_net(name);
        }
        for (name, net) in self.nets {
            builder = builder.net(&name, net);
        }
        for (name, dev) in self.blocks {
            builder = builder.block(&name, dev);
        }
        builder.build()
    }
}

/// What a backend's netstack over a device needs from the boot: the IP configuration
/// of the standard arguments (a bad one is `InvalidInput`) and a fresh stack seed.
pub fn stack_settings(args: &Args, entropy: &dyn Entropy) -> io::Result<(NetConfig, u64)> {
    let ip = NetConfig::from_args(args).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut seed = [0u8; 8];
    entropy.fill(&mut seed);
    Ok((ip, u64::from_le_bytes(seed)))
}

/// Logs that the device `name` of `kind` ("net", "block") could not be attached and
/// returns the exit status for it, [`FAILURE_EXIT`].
pub fn attach_failed(app: &Appliance, kind: &str, name: &str, err: &dyn std::fmt::Display) -> u8 {
    log::error!(target: app.name, "error: {kind} device {name}: {err}");
    FAILURE_EXIT
}

/// The end of a boot: logs how `main` ended and returns the process's exit status (0,
/// or [`exit_status`] of the error).
pub fn finish(app: &Appliance, outcome: AppResult) -> u8 {
    match outcome {
        Ok(()) => {
            log::info!(target: app.name, "{} exited", app.name);
            0
        }
        Err(e) => {
            log::error!(target: app.name, "error: {e}");
            exit_status(&*e)
        }
    }
}

/// The environment an appliance's `main` receives: its arguments and devices.
pub struct Env {
    args: Args,
    console: Rc<dyn Console>,
    entropy: Rc<dyn Entropy>,
    nets: Vec<(String, Rc<dyn Net>)>,
    blocks: Vec<(String, Rc<dyn Block>)>,
    default_net: String,
    stacks: RefCell<Vec<(String, Stack)>>,
    stack_factory: StackFactory,
}

/// Assembles an [`Env`]; used by backends only.
pub struct EnvBuilder {
    env: Env,
}

impl EnvBuilder {
    pub fn new(args: Args, console: Rc<dyn Console>, entropy: Rc<dyn Entropy>, stack_factory: StackFactory) -> Self {
        EnvBuilder {
            env: Env {
                args,
                console,
                entropy,
                nets: Vec::new(),
                blocks: Vec::new(),
                default_net: "service".into(),
                stacks: RefCell::new(Vec::new()),
                stack_factory,
            },
        }
    }
    pub fn net(mut self, name: &str, dev: Rc<dyn Net>) -> Self {
        self.env.nets.push((name.into(), dev));
        self
    }
    pub fn block(mut self, name: &str, dev: Rc<dyn Block>) -> Self {
        self.env.blocks.push((name.into(), dev));
        self
    }
    /// The net device [`Env::stack`] uses (default `service`).
    pub fn default_net(mut self, name: &str) -> Self {
        self.env.default_net = name.into();
        self
    }
    pub fn build(self) -> Env {
        self.env
    }
}

fn not_attached(kind: &str, name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no {kind} device named '{name}' is attached"))
}

impl Env {
    pub fn args(&self) -> &Args {
        &self.args
    }
    pub fn console(&self) -> Rc<dyn Console> {
        self.console.clone()
    }
    pub fn entropy(&self) -> Rc<dyn Entropy> {
        self.entropy.clone()
    }
    /// The IP stack of the default (`service`) interface.
    pub fn stack(&self) -> io::Result<Stack> {
        let name = self.default_net.clone();
        self.stack_on(&name)
    }
    /// The IP stack of interface `name`, built on first use.
    pub fn stack_on(&self, name: &str) -> io::Result<Stack> {
        if let Some((_, s)) = self.stacks.borrow().iter().find(|(n, _)| n == name) {
            return Ok(s.clone());
        }
        let stack = (self.stack_factory)(name)?;
        self.stacks.borrow_mut().push((name.into(), stack.clone()));
        Ok(stack)
    }
    /// The raw frame device `name` (for appliances that forward frames).
    pub fn net(&self, name: &str) -> io::Result<Rc<dyn Net>> {
        self.nets.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone()).ok_or_else(|| not_attached("net", name))
    }
    pub fn block(&self, name: &str) -> io::Result<Rc<dyn Block>> {
        self.blocks.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone()).ok_or_else(|| not_attached("block", name))
    }
}
