//! Hypercall handling shared by both engines.
//!
//! An engine decodes a hypercall (port `0x500 + nr`, 32-bit guest-physical address of the
//! argument struct) and calls [`Devices::hypercall`], which touches the guest only through
//! the [`GuestMemory`] accessor.

pub mod block;
pub mod console;
pub mod halt;
pub mod net;
pub mod poll;
pub mod walltime;

use crate::abi;
use crate::mem::GuestMemory;
use block::Block;
use net::Net;
use poll::Poll;

pub enum Device {
    None,
    Block(Block),
    Net(Net),
}

/// What the engine does after a hypercall.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    Halt(i32),
}

pub struct Devices {
    /// Indexed by manifest handle.
    pub devs: Vec<Device>,
    pub poll: Poll,
    /// Test hook (`TENDER_TEST_SECCOMP_KILL=1`): issue a forbidden system call on the first
    /// PUTS, to show that the seccomp filter is in force while the guest runs.
    pub test_forbidden_syscall: bool,
}

impl Devices {
    /// File descriptors the guest's hypercalls may use, for the seccomp filters.
    pub fn block_fds(&self) -> Vec<i32> {
        self.devs.iter().filter_map(|d| if let Device::Block(b) = d { Some(b.fd()) } else { None }).collect()
    }

    pub fn net_fds(&self) -> Vec<i32> {
        self.devs.iter().filter_map(|d| if let Device::Net(n) = d { Some(n.fd()) } else { None }).collect()
    }

    fn handle(&self, mem: &GuestMemory, arg: u64) -> Result<Option<&Device>, String> {
        let h = mem.read_u64(arg).map_err(|e| e.to_string())?;
        Ok(usize::try_from(h).ok().and_then(|h| self.devs.get(h)))
    }

    /// Serves hypercall `nr` with its argument at `arg`. `Err` is fatal (exit 1).
    pub fn hypercall(&mut self, nr: u16, arg: u64, mem: &mut GuestMemory) -> Result<Action, String> {
        let acc = |e: crate::mem::AccessError| e.to_string();
        match nr {
            abi::HC_WALLTIME => walltime::walltime(mem, arg).map_err(acc)?,
            abi::HC_PUTS => {
                if self.test_forbidden_syscall {
                    // SAFETY: getppid has no arguments and no memory effects; under the
                    // seccomp filter it is not allowed and ends the process.
                    unsafe { libc::syscall(libc::SYS_getppid) };
                }
                console::puts(mem, arg).map_err(acc)?
            }
            abi::HC_POLL => self.poll.poll(mem, arg)?,
            abi::HC_BLOCK_WRITE | abi::HC_BLOCK_READ => match self.handle(mem, arg)? {
                Some(Device::Block(b)) => b.io(mem, arg, nr == abi::HC_BLOCK_WRITE)?,
                _ => mem.write_i32(arg + 32, abi::SOLO5_R_EINVAL).map_err(acc)?,
            },
            abi::HC_NET_WRITE | abi::HC_NET_READ => match self.handle(mem, arg)? {
                Some(Device::Net(n)) if nr == abi::HC_NET_WRITE => n.write(mem, arg)?,
                Some(Device::Net(n)) => n.read(mem, arg)?,
                _ => mem.write_i32(arg + 24, abi::SOLO5_R_EINVAL).map_err(acc)?,
            },
            abi::HC_HALT => return halt::halt(mem, arg).map(Action::Halt).map_err(acc),
            _ => return Err(format!("Invalid guest hypercall: num={nr}")),
        }
        Ok(Action::Continue)
    }
}
