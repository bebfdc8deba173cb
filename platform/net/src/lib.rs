//! `netstack`: smoltcp 0.14 over any [`platform::net::Net`], exposing the
//! platform stack API ([`platform::stack::StackBackend`]).
//!
//! (Being written; the entry point below is the fixed interface other crates
//! build against.)

use std::io;
use std::rc::Rc;

use platform::args::NetConfig;
use platform::net::Net;
use platform::stack::Stack;

/// Configuration of one stack instance.
#[derive(Clone, Debug)]
pub struct Config {
    /// Addresses, gateways, DHCP (from the standard boot arguments).
    pub ip: NetConfig,
    /// Seed for initial sequence numbers and ephemeral ports; take it from
    /// the platform's entropy (the simulator passes its seed).
    pub seed: u64,
    /// Receive and send buffer of each TCP socket, in bytes.
    pub tcp_buffer: usize,
    /// Name of the interface for logs and `describe()` (e.g. "tap0", "service").
    pub name: String,
}

impl Config {
    pub fn new(ip: NetConfig, seed: u64, name: &str) -> Config {
        Config { ip, seed, tcp_buffer: 64 * 1024, name: name.to_string() }
    }
}

/// Builds a stack on `net` and spawns its driver task on the current
/// platform runtime (call it from inside a backend's runtime).
pub fn new_stack(net: Rc<dyn Net>, config: Config) -> io::Result<Stack> {
    let _ = (net, config);
    Err(io::Error::new(io::ErrorKind::Unsupported, "netstack is not written yet"))
}
