//! The one tap opener: `/dev/net/tun` + `TUNSETIFF` (`IFF_TAP | IFF_NO_PI`, optionally
//! `IFF_VNET_HDR`), and the interface queries both users need (MTU, flags, offloads).
//!
//! Shared by `platform-unix` (tap-backed `Net`) and the tender (`--net:NAME=TAP`). Only
//! plain descriptors and `io::Error`s cross this boundary; each user wraps them in its own
//! device type and words its own messages around them.
//!
//! `unsafe` is allowed on each function that makes a system call (libc's `open`,
//! `socket`, `ioctl`, `if_nametoindex`) or reads a member of the kernel-filled `ifreq`
//! union, each block with a SAFETY comment; the crate as a whole denies it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `SIOCGIFMTU` from `<linux/sockios.h>` (not in the libc crate for Linux).
const SIOCGIFMTU: libc::Ioctl = 0x8921;

/// How to open a tap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `O_NONBLOCK` on the descriptor.
    pub nonblocking: bool,
    /// `IFF_VNET_HDR`: every frame is preceded by a `virtio_net_hdr`.
    pub vnet_hdr: bool,
}

fn os_error(context: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

#[allow(unsafe_code)]
fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{name}' is not a valid interface name (1 to {} bytes)", libc::IFNAMSIZ - 1),
        ));
    }
    // SAFETY: ifreq is plain old data (arrays, integers, a union of those and a raw
    // pointer); all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

fn name_from(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req.ifr_name.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether an interface `name` exists in the calling thread's network namespace.
#[allow(unsafe_code)]
pub fn exists(name: &str) -> bool {
    let Ok(cname) = CString::new(name) else { return false };
    // SAFETY: `cname` is a valid NUL-terminated string.
    unsafe { libc::if_nametoindex(cname.as_ptr()) != 0 }
}

/// Opens `/dev/net/tun` and binds it to tap `name` (created if it does not exist, which
/// needs `CAP_NET_ADMIN`).
///
/// A single-queue tap takes one descriptor at a time, and a child process that another
/// thread is starting holds a copy of every descriptor between its fork and its exec
/// (close-on-exec acts only at the exec). So `EBUSY` right after the previous holder
/// closed the tap can be that short window: retry briefly before reporting it busy.
pub fn open(name: &str, opts: Options) -> io::Result<OwnedFd> {
    const BUSY_RETRIES: u32 = 20;
    let mut attempt = 0;
    loop {
        match open_once(name, opts) {
            Ok(fd) => return Ok(fd),
            Err(OpenError::Attach(e)) if e.raw_os_error() == Some(libc::EBUSY) && attempt < BUSY_RETRIES => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(OpenError::Attach(e)) => {
                let hint = match e.raw_os_error() {
                    Some(libc::EBUSY) => " (is it attached by another process?)",
                    Some(libc::EPERM) => " (needs CAP_NET_ADMIN, or a tap owned by this user)",
                    Some(libc::EINVAL) => " (is it a tun device, not a tap?)",
                    _ => "",
                };
                return Err(io::Error::new(e.kind(), format!("cannot attach tap '{name}': {e}{hint}")));
            }
            Err(OpenError::Other(e)) => return Err(e),
        }
    }
}

enum OpenError {
    /// TUNSETIFF failed (the raw OS error, kept for the retry decision).
    Attach(io::Error),
    Other(io::Error),
}

#[allow(unsafe_code)]
fn open_once(name: &str, opts: Options) -> Result<OwnedFd, OpenError> {
    let mut req = ifreq_for(name).map_err(OpenError::Other)?;
    let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
    if opts.nonblocking {
        flags |= libc::O_NONBLOCK;
    }
    // SAFETY: the path is a NUL-terminated literal.
    let raw = unsafe { libc::open(c"/dev/net/tun".as_ptr(), flags) };
    if raw < 0 {
        return Err(OpenError::Other(os_error("cannot open /dev/net/tun")));
    }
    // SAFETY: `raw` is a descriptor we just opened and own exclusively.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut iff = libc::IFF_TAP | libc::IFF_NO_PI;
    if opts.vnet_hdr {
        iff |= libc::IFF_VNET_HDR;
    }
    req.ifr_ifru.ifru_flags = iff as libc::c_short;
    // SAFETY: TUNSETIFF reads (and writes back) an ifreq, which `req` is.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut libc::ifreq) } < 0 {
        return Err(OpenError::Attach(io::Error::last_os_error()));
    }
    // The kernel writes back the name it bound; anything else than ours would be
    // another interface (names are truncated, never rewritten, so this does not happen
    // with a valid name, but a wrong attachment must not pass silently).
    let bound = name_from(&req);
    if bound != name {
        return Err(OpenError::Other(io::Error::other(format!("tap '{name}': the kernel bound '{bound}' instead"))));
    }
    Ok(fd)
}

/// Makes the tap `fd` is bound to persistent (it stays after the last descriptor is
/// closed) or not (it goes away with the last one).
#[allow(unsafe_code)]
pub fn set_persist(fd: RawFd, persist: bool) -> io::Result<()> {
    // SAFETY: TUNSETPERSIST takes an integer argument by value on a tun descriptor.
    if unsafe { libc::ioctl(fd, libc::TUNSETPERSIST, libc::c_ulong::from(persist)) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the tap's offloads (`TUN_F_*`; 0 for none). The setting outlives the descriptor
/// on a persistent tap: whoever attaches next without `IFF_VNET_HDR` must clear it.
#[allow(unsafe_code)]
pub fn set_offload(fd: RawFd, offload: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes an integer argument by value on a tun descriptor.
    if unsafe { libc::ioctl(fd, libc::TUNSETOFFLOAD, libc::c_ulong::from(offload)) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The name of the interface a tun descriptor (for example an inherited one) is bound to.
#[allow(unsafe_code)]
pub fn bound_name(fd: RawFd) -> io::Result<String> {
    // SAFETY: as in `ifreq_for`: all-zero is a valid ifreq.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: TUNGETIFF writes an ifreq into `req`.
    if unsafe { libc::ioctl(fd, libc::TUNGETIFF, &mut req as *mut libc::ifreq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(name_from(&req))
}

/// Runs an interface query on a throw-away datagram socket.
#[allow(unsafe_code)]
fn query(name: &str, request: libc::Ioctl, what: &str) -> io::Result<libc::ifreq> {
    let mut req = ifreq_for(name)?;
    // SAFETY: plain socket creation.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(os_error(&format!("cannot create a socket to query the {what}")));
    }
    // SAFETY: `raw` is a descriptor we just created and own exclusively.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the SIOCGIF* requests used here fill a member of the ifreq we pass.
    if unsafe { libc::ioctl(sock.as_raw_fd(), request, &mut req as *mut libc::ifreq) } < 0 {
        return Err(os_error(&format!("cannot read the {what} of '{name}'")));
    }
    Ok(req)
}

/// The MTU of interface `name`.
#[allow(unsafe_code)]
pub fn mtu(name: &str) -> io::Result<usize> {
    let req = query(name, SIOCGIFMTU, "MTU")?;
    // SAFETY: the kernel wrote ifru_mtu; every bit pattern is a valid c_int.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).map_err(|_| io::Error::other(format!("interface '{name}' reports MTU {mtu}")))
}

/// Whether interface `name` is up (`IFF_UP` or `IFF_RUNNING`).
#[allow(unsafe_code)]
pub fn is_up(name: &str) -> io::Result<bool> {
    let req = query(name, libc::SIOCGIFFLAGS, "flags")?;
    // SAFETY: the kernel wrote ifru_flags; every bit pattern is a valid c_short.
    let flags = i32::from(unsafe { req.ifr_ifru.ifru_flags });
    Ok(flags & (libc::IFF_UP | libc::IFF_RUNNING) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_system_call() {
        for bad in ["", "a\0b", "0123456789abcdef"] {
            let e = open(bad, Options::default()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
        assert!(!exists("no-such-if0"));
        assert!(mtu("lo").is_ok_and(|m| m > 0));
        assert!(is_up("lo").unwrap());
    }
}
