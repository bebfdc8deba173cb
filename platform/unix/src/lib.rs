//! # platform-unix: the unix backend
//!
//! Runs an appliance as an ordinary Linux process:
//!
//! * tasks and timers on a tokio `current_thread` runtime with a `LocalSet`
//!   ([`block_on`]); the monotonic clock counts from the runtime's start, the
//!   wall clock is the host's;
//! * the stack of each net device is the host's sockets ([`host_stack`]) by
//!   default, or netstack over a tap device ([`tap_net`]) when the device is
//!   given one with `--net:NAME=TAP` — the path hvt uses too;
//! * block devices are regular files ([`file_block`]; flush = fsync);
//! * the console is stdout, entropy comes from `getrandom(2)`.
//!
//! Appliances call [`run`] from their `main.rs`; tests and tools use the
//! pieces directly.
//!
//! `unsafe_code` is allowed only on the modules that call the host's C interface
//! directly (`host`: interface addresses; `tap`: the tun/tap ioctls; `testnet`: namespaces).

mod devices;
#[allow(unsafe_code)]
mod host;
#[allow(unsafe_code)]
mod netns;
mod runner;
mod runtime;
#[allow(unsafe_code)]
mod tap;
mod tap_gso;

pub use devices::{DEFAULT_SECTOR_SIZE, FileBlock, GetrandomEntropy, StdoutConsole, file_block};
pub use host::host_stack;
pub use netns::enter_net_namespace;
pub use runner::{BlockArg, DeviceArgs, NetArg, device_help, run, run_with_args, split_device_args};
pub use runtime::block_on;
pub use tap::{TapNet, create_tap, remove_tap, tap_net};
