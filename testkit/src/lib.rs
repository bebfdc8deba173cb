//! # testkit: what the workspace's tests share
//!
//! One copy of the scaffolding integration tests used to copy into each other:
//!
//! * [`tmp`]: scratch directories and files removed on drop;
//! * [`tool`]: free ports, tools a test needs ([`require_tool`] fails, never
//!   skips), running a program with a time limit;
//! * [`wait`]: readiness waits with a deadline and a message naming what was
//!   awaited (a condition, a TCP port accepting, a line of output) — never a
//!   fixed sleep;
//! * [`proc`]: a child process whose output lines are collected, killed on drop;
//! * [`netns`]: network namespaces made by the test, deleted on drop;
//! * [`certs`]: a CA, leaves signed by it and PEM files (rcgen);
//! * [`echo`]: a TCP echo peer over the stack API;
//! * [`frames`]: Ethernet test frames and a pcap parser;
//! * [`fuzz`]: the fuzz crates' seed corpora, for the stable tests over them;
//! * [`rng`]: a seeded generator of test inputs (xorshift64*);
//! * [`git`]: real git servers (`git daemon`, smart HTTP(S));
//! * [`nsd`]: NSD in a namespace, and the DNS tools a test needs;
//! * [`boot`]: boot an appliance on a backend (the unix binary, or an hvt image
//!   under the tender) and the [`scenario_list!`] macro that turns one list of
//!   scenarios into tests per backend.
//!
//! A dev-dependency only: no library depends on it.

pub mod boot;
pub mod certs;
pub mod echo;
pub mod frames;
pub mod fuzz;
pub mod git;
pub mod netns;
pub mod nsd;
pub mod proc;
pub mod rng;
pub mod tmp;
pub mod tool;
pub mod wait;

pub use boot::{Appliance, Backend, hvt};
pub use netns::NetNs;
pub use proc::{Lines, Proc, Run, run_limited};
pub use tmp::{TempDir, TempFile};
pub use tool::{free_port, require_tool};
pub use wait::{WAIT, until};
