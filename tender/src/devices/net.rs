//! NET_READ / NET_WRITE over an existing tap interface (`--net:NAME=TAP` or `=@FD`).
//!
//! The tender never creates taps: the interface must exist and be up. It is opened through
//! `/dev/net/tun` with `IFF_TAP | IFF_NO_PI`, non-blocking; the MTU comes from
//! `SIOCGIFMTU`, offloads are switched off so the kernel never hands up frames larger than
//! the MTU, and the MAC is random and locally administered unless `--net-mac` gives one.

use super::{Action, Device, Devices, Module, Opt, acc, lookup};
use crate::cli::Config;
use crate::image::MftCopy;
use crate::mem::GuestMemory;
use hvt_abi::{DeviceType, HcNetIo, Hypercall, MftDevInfo, NET_HLEN, result};
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNGETIFF: libc::c_ulong = 0x8004_54d2;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

pub static MODULE: Module = Module {
    name: "net",
    options: &[
        Opt {
            prefix: "--net:",
            usage: "--net:NAME=TAP              attach the existing, up tap interface TAP (or @FD) as NAME",
            attaches: Some(DeviceType::NetBasic),
        },
        Opt {
            prefix: "--net-mac:",
            usage: "--net-mac:NAME=MAC          MAC address of NAME (default: random, locally administered)",
            attaches: None,
        },
    ],
    check_option,
    check_config,
    setup,
    hypercalls: &[Hypercall::NetWrite, Hypercall::NetRead],
    handler: io,
};

fn check_option(opt: &str, prefix: &str, v: &str) -> Result<(), String> {
    if prefix == "--net-mac:" && parse_mac(v).is_none() {
        return Err(format!("Malformed MAC address in `{opt}'"));
    }
    Ok(())
}

fn check_config(cfg: &Config) -> Result<(), String> {
    for (name, _) in cfg.opts("--net-mac:") {
        if cfg.opt("--net:", name).is_none() {
            return Err(format!("--net-mac:{name} given without --net:{name}"));
        }
    }
    Ok(())
}

fn setup(cfg: &Config, mft: &mut MftCopy, devs: &mut Devices) -> Result<(), String> {
    for (name, iface) in cfg.opts("--net:") {
        let idx = lookup(mft, name, DeviceType::NetBasic)?;
        let mac = cfg.opt("--net-mac:", name).and_then(parse_mac);
        let n = Net::attach(iface, mac)?;
        mft.attach(idx, MftDevInfo::net(n.mac, n.mtu), n.fd());
        devs.poll.add(n.fd(), idx as u32);
        devs.devs[idx] = Device::Net(n);
    }
    Ok(())
}

/// `struct hvt_hc_net_{read,write} { u64 handle, data, len; i32 ret; }`
fn io(d: &mut Devices, hc: Hypercall, arg: u64, mem: &mut GuestMemory) -> Result<Action, String> {
    let mut a: HcNetIo = mem.read_inout(arg).map_err(acc)?;
    a.ret = match d.device(a.handle) {
        Device::Net(n) if hc == Hypercall::NetWrite => n.write(mem, &a)?,
        Device::Net(n) => n.read(mem, &mut a)?,
        _ => result::EINVAL,
    };
    mem.write(arg, &a).map_err(acc)?;
    Ok(Action::Continue)
}

pub struct Net {
    fd: OwnedFd,
    pub mac: [u8; 6],
    pub mtu: u16,
}

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    /// Flags (short) or MTU (int), depending on the request.
    data: [u8; 24],
}

fn ifreq(name: &str) -> Result<IfReq, String> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(format!("{name}: invalid interface name"));
    }
    let mut r = IfReq { name: [0; libc::IFNAMSIZ], data: [0; 24] };
    r.name[..name.len()].copy_from_slice(name.as_bytes());
    Ok(r)
}

/// Runs an interface ioctl on a throw-away datagram socket.
fn sock_ioctl(req: libc::c_ulong, r: &mut IfReq) -> std::io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `s` is a fresh fd that nothing else owns.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: `r` is a valid, writable ifreq-sized buffer (40 bytes) for SIOCGIF* requests.
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), req, r as *mut IfReq) };
    if rc < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

fn mtu_of(name: &str) -> Result<u16, String> {
    let mut r = ifreq(name)?;
    sock_ioctl(libc::SIOCGIFMTU, &mut r).map_err(|e| format!("{name}: cannot read MTU: {e}"))?;
    let mtu = i32::from_ne_bytes(r.data[..4].try_into().expect("4 bytes"));
    u16::try_from(mtu).map_err(|_| format!("{name}: unsupported MTU {mtu}"))
}

pub fn random_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut mac)).is_err() {
        // Fall back to time and pid: only uniqueness matters here, not secrecy.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let v = t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 24);
        mac.copy_from_slice(&v.to_le_bytes()[..6]);
    }
    mac[0] = (mac[0] & !0x01) | 0x02; // unicast, locally administered
    mac
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

impl Net {
    /// Attaches the existing tap `iface`, or an inherited tap fd given as `@FD`.
    pub fn attach(iface: &str, mac: Option<[u8; 6]>) -> Result<Net, String> {
        let mac = mac.unwrap_or_else(random_mac);
        if let Some(fdstr) = iface.strip_prefix('@') {
            let fd: RawFd = fdstr.parse().map_err(|_| format!("{iface}: malformed file descriptor"))?;
            // SAFETY: F_GETFL on an arbitrary number only queries; it fails with EBADF if
            // the fd is not open.
            let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            if fl < 0 {
                return Err(format!("{iface}: {}", std::io::Error::last_os_error()));
            }
            // SAFETY: the fd is open (checked above); the operator handed it to us.
            unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) };
            // SAFETY: the inherited fd becomes ours for the rest of the run.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut r = ifreq("x")?;
            // SAFETY: TUNGETIFF writes an ifreq into `r`, which is large enough.
            let rc = unsafe { libc::ioctl(fd.as_raw_fd(), TUNGETIFF, &mut r as *mut IfReq) };
            let mtu = if rc == 0 {
                let len = r.name.iter().position(|&c| c == 0).unwrap_or(r.name.len());
                mtu_of(&String::from_utf8_lossy(&r.name[..len])).unwrap_or(1500)
            } else {
                1500
            };
            return Ok(Net { fd, mac, mtu });
        }
        let cname = CString::new(iface).map_err(|_| format!("{iface}: invalid interface name"))?;
        // SAFETY: `cname` is a valid NUL-terminated string.
        if unsafe { libc::if_nametoindex(cname.as_ptr()) } == 0 {
            return Err(format!("Could not attach interface: {iface}: no such interface (create it first)"));
        }
        let mut r = ifreq(iface)?;
        sock_ioctl(libc::SIOCGIFFLAGS, &mut r).map_err(|e| format!("Could not attach interface: {iface}: {e}"))?;
        let flags = i16::from_ne_bytes(r.data[..2].try_into().expect("2 bytes"));
        if flags & (libc::IFF_UP as i16 | libc::IFF_RUNNING as i16) == 0 {
            return Err(format!("Could not attach interface: {iface}: interface is down"));
        }
        // SAFETY: open(2) of a constant path; the result is checked and owned below.
        let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(format!("Could not attach interface: /dev/net/tun: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut r = ifreq(iface)?;
        r.data[..2].copy_from_slice(&(IFF_TAP | IFF_NO_PI).to_ne_bytes());
        // SAFETY: TUNSETIFF reads and updates the ifreq in `r`.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut r as *mut IfReq) } < 0 {
            return Err(format!("Could not attach interface: {iface}: {}", std::io::Error::last_os_error()));
        }
        if &r.name[..iface.len()] != iface.as_bytes() || r.name[iface.len()] != 0 {
            return Err(format!("Could not attach interface: {iface}: kernel returned another name"));
        }
        // No offloads: the kernel must never hand up frames larger than the MTU.
        // SAFETY: TUNSETOFFLOAD takes an integer argument; failure is harmless.
        unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD, 0 as libc::c_ulong) };
        let mtu = mtu_of(iface)?;
        Ok(Net { fd, mac, mtu })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends one frame; returns `ret`.
    fn write(&self, mem: &GuestMemory, a: &HcNetIo) -> Result<i32, String> {
        if a.len > u64::from(self.mtu) + NET_HLEN as u64 {
            return Ok(result::EINVAL);
        }
        let buf = mem.slice(a.data, a.len).map_err(acc)?;
        // SAFETY: `buf` is a readable slice of `buf.len()` bytes.
        let n = unsafe { libc::write(self.fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            // A frame that cannot be sent right now is dropped (ABI §1.8).
            if err.raw_os_error() != Some(libc::EAGAIN) {
                return Err(format!("Fatal error: net write: {err}"));
            }
        } else if n as u64 != a.len {
            return Err(format!("Fatal error: net write: short write ({n} of {} bytes)", a.len));
        }
        Ok(result::OK)
    }

    /// Receives one frame into the guest buffer, setting `a.len`; returns `ret`.
    fn read(&self, mem: &mut GuestMemory, a: &mut HcNetIo) -> Result<i32, String> {
        let buf = mem.slice_mut(a.data, a.len).map_err(acc)?;
        // SAFETY: `buf` is a writable slice of `buf.len()` bytes.
        let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EAGAIN) {
                return Err(format!("Fatal error: net read: {err}"));
            }
            return Ok(result::AGAIN);
        }
        if n == 0 {
            return Ok(result::AGAIN);
        }
        a.len = n as u64;
        Ok(result::OK)
    }
}
