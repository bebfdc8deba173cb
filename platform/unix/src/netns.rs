//! Entering a network namespace, for the test kit's namespaces (`testkit::NetNs`):
//! the one system call they need that std does not offer, kept here because
//! `unsafe` code lives in `platform/` only.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Moves the calling thread (only it) into the network namespace `ns` (a file
/// such as `/var/run/netns/NAME`); sockets and taps it creates afterwards live
/// there. The move cannot be undone.
pub fn enter_net_namespace(ns: &File) -> io::Result<()> {
    // SAFETY: setns with a descriptor that stays open for the call; it changes
    // only the calling thread's network namespace and touches no memory of ours.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
