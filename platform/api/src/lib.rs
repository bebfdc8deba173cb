//! # The platform contract
//!
//! Every appliance is one program written against this crate. A *backend*
//! (`platform-unix`, `platform-sim`, `platform-hvt`) supplies the devices, the
//! clocks and the task runtime; the appliance never names a backend except in
//! its `main.rs`.
//!
//! What the contract promises, in one place:
//!
//! * [`time`]: a monotonic clock ([`time::Instant`], nanoseconds) and a wall
//!   clock, plus timers ([`time::sleep`]). On the simulator the monotonic clock
//!   is virtual and jumps to the next deadline.
//! * [`rt`]: one single-threaded task runtime per appliance: [`rt::spawn`]
//!   runs a `!Send` future to completion alongside the others.
//! * Devices: [`net::Net`] (Ethernet frames), [`block::Block`] (sectors,
//!   durable after flush), [`console::Console`] (lines of log output),
//!   [`entropy::Entropy`] (seed material).
//! * [`stack`]: the network stack API — TCP listen/accept/connect, UDP and raw
//!   frames — implemented by `netstack` (our smoltcp stack, on every backend)
//!   and by host sockets (unix only).
//! * [`args`]: the boot-argument parser with MirageOS-compatible names.
//! * [`appliance`]: the descriptor an appliance exports and the [`Env`] its
//!   `main` receives.
//!
//! Backends build on [`executor`] (a small single-threaded executor that parks
//! in a backend-supplied function) and [`timer`] (the timer wheel every
//! backend shares).

pub mod appliance;
pub mod args;
pub mod block;
pub mod console;
pub mod entropy;
pub mod executor;
pub mod io;
pub mod net;
pub mod rt;
pub mod stack;
pub mod time;
pub mod timer;

pub use appliance::{Appliance, Device, DeviceKind, Env};
