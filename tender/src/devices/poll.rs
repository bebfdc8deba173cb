//! POLL: wait until a network device has input or the timeout expires.
//!
//! Uses `ppoll(2)` over the attached tap fds with the timeout as a timespec (one system
//! call per hypercall). `ready_set` gets bit `handle` for each readable tap; `ret` is the
//! number of ready devices.

use crate::mem::{AccessError, GuestMemory};
use std::os::fd::RawFd;

#[derive(Default)]
pub struct Poll {
    /// `(tap fd, manifest handle)` of every attached net device.
    fds: Vec<(RawFd, u32)>,
}

impl Poll {
    pub fn add(&mut self, fd: RawFd, handle: u32) {
        self.fds.push((fd, handle));
    }

    /// `struct hvt_hc_poll { u64 timeout_nsecs; u64 ready_set; i32 ret; }`
    pub fn poll(&self, mem: &mut GuestMemory, arg: u64) -> Result<(), String> {
        mem.slice_mut(arg, 24).map_err(|e| e.to_string())?;
        let timeout = mem.read_u64(arg).map_err(|e| e.to_string())?;
        let mut pfds: Vec<libc::pollfd> =
            self.fds.iter().map(|&(fd, _)| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
        let ts = libc::timespec {
            tv_sec: (timeout / 1_000_000_000).min(i64::MAX as u64) as libc::time_t,
            tv_nsec: (timeout % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: `pfds` holds `pfds.len()` valid pollfd entries and `ts` a valid timespec;
        // no signal mask is passed.
        let n = unsafe { libc::ppoll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, &ts, std::ptr::null()) };
        let mut ready = 0u64;
        let mut count = 0i32;
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(format!("Fatal error: poll: {err}"));
            }
        } else {
            for (p, &(_, handle)) in pfds.iter().zip(&self.fds) {
                if p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0 {
                    ready |= 1 << handle;
                    count += 1;
                }
            }
        }
        let r: Result<(), AccessError> = mem.write_u64(arg + 8, ready).and_then(|()| mem.write_i32(arg + 16, count));
        r.map_err(|e| e.to_string())
    }
}
