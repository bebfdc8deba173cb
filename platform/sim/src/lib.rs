//! # platform-sim: the deterministic backend for tests
//!
//! A [`World`] holds a virtual clock, a seeded random generator and an
//! in-memory Ethernet switch; [`Host`]s plug into it with a [`SimNet`]
//! device, a seeded [`SimEntropy`], a capturing [`SimConsole`] and in-memory
//! [`SimBlock`]s. [`World::run`] drives every task on the platform's
//! single-threaded executor; whenever all tasks wait, the clock jumps to the
//! next timer deadline or frame delivery, so an hour of virtual time passes
//! in microseconds.
//!
//! Faults ([`LinkConfig`]): latency, jitter, loss, duplication, reordering
//! and a bandwidth limit, all drawn from the seed. [`World::capture`] writes
//! a pcap file that `tshark -r` opens.
//!
//! Same seed, same code → same run: every decision comes from the seed, the
//! clock never reads the host's, and nothing iterates a hash map.
//! [`World::trace_hash`] digests every switch event so tests can check it.
//!
//! Rules of a run:
//! * Build stacks ([`Host::stack`]) and boot appliances
//!   ([`Host::run_appliance`]) inside [`World::run`]: they spawn tasks.
//! * Tasks still pending when the main future of `run` completes are
//!   dropped; each `run` starts with no task (frames in flight, console
//!   lines and block contents carry over).
//! * Tasks spawned through a [`Host`] (and every task they spawn, including
//!   a stack's driver) belong to it: [`World::crash`] ends them, and their
//!   `log` output goes to the host's console once an appliance runs there.
//! * Nothing runnable, no timer and no frame in flight is a deadlock and
//!   panics, as do passing the virtual time limit (default one hour,
//!   [`World::set_time_limit`]) and tasks that never wait
//!   ([`World::set_spin_limit`]).
//!
//! Environment: `SIM_LOG=1` echoes console lines to stderr with the virtual
//! time and host name; `SIM_PCAP=DIR` captures every world to
//! `DIR/<test>-seed<N>.pcap`, kept only when the test panics.
//!
//! ```no_run
//! use platform_sim::World;
//! let world = World::new(42);
//! let a = world.add_host("a");
//! world.run(async move {
//!     platform::time::sleep(std::time::Duration::from_secs(3600)).await;
//!     let _stack = a.stack(&["--ipv4=10.0.0.2/24"]);
//! });
//! ```

mod block;
mod host;
mod link;
pub mod pcap;
pub mod rng;
mod world;

pub use block::{BlockStats, SimBlock};
pub use host::{Host, MTU, SimConsole, SimEntropy, SimNet};
pub use link::{LinkConfig, PortStats, SwitchStats};
pub use world::{
    CapturePoint, DEFAULT_RX_QUEUE, DEFAULT_SPIN_LIMIT, DEFAULT_TIME_LIMIT, Segment, WALL_ORIGIN_UNIX_SECS, World,
};
