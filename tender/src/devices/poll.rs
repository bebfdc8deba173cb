//! POLL: wait until a network device has input or the timeout expires.
//!
//! Uses `ppoll(2)` over the attached tap fds with the timeout as a timespec (one system
//! call per hypercall). `ready_set` gets bit `handle` for each readable tap; `ret` is the
//! number of ready devices. The net module registers its fds at set-up.

use super::{Action, Devices, Module, acc};
use crate::mem::GuestMemory;
use hvt_abi::{HcPoll, Hypercall};
use std::os::fd::RawFd;

pub static MODULE: Module = Module::core("poll", &[Hypercall::Poll], poll);

#[derive(Default)]
pub struct Poll {
    /// `(tap fd, manifest handle)` of every attached net device.
    fds: Vec<(RawFd, u32)>,
}

impl Poll {
    pub fn add(&mut self, fd: RawFd, handle: u32) {
        self.fds.push((fd, handle));
    }
}

fn poll(d: &mut Devices, _: Hypercall, arg: u64, mem: &mut GuestMemory) -> Result<Action, String> {
    let mut a: HcPoll = mem.read_inout(arg).map_err(acc)?;
    let fds = &d.poll.fds;
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|&(fd, _)| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let ts = libc::timespec {
        tv_sec: (a.timeout_nsecs / 1_000_000_000).min(i64::MAX as u64) as libc::time_t,
        tv_nsec: (a.timeout_nsecs % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `pfds` holds `pfds.len()` valid pollfd entries and `ts` a valid timespec;
    // no signal mask is passed.
    let n = unsafe { libc::ppoll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, &ts, std::ptr::null()) };
    a.ready_set = 0;
    a.ret = 0;
    if n < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("Fatal error: poll: {err}"));
        }
    } else {
        for (p, &(_, handle)) in pfds.iter().zip(fds) {
            if p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0 {
                a.ready_set |= 1 << handle;
                a.ret += 1;
            }
        }
    }
    mem.write(arg, &a).map_err(acc)?;
    Ok(Action::Continue)
}
