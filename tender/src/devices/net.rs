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
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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

fn mtu_of(name: &str) -> Result<u16, String> {
    let mtu = tap::mtu(name).map_err(|e| format!("{name}: cannot read MTU: {e}"))?;
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
            // Not necessarily a tap (the tests hand over a socket): then the MTU is 1500.
            let mtu = tap::bound_name(fd.as_raw_fd()).ok().and_then(|n| mtu_of(&n).ok()).unwrap_or(1500);
            return Ok(Net { fd, mac, mtu });
        }
        let fail = |e: &dyn std::fmt::Display| format!("Could not attach interface: {iface}: {e}");
        if !tap::exists(iface) {
            return Err(fail(&"no such interface (create it first)"));
        }
        if !tap::is_up(iface).map_err(|e| fail(&e))? {
            return Err(fail(&"interface is down"));
        }
        let fd = tap::open(iface, tap::Options { nonblocking: true, vnet_hdr: false }).map_err(|e| fail(&e))?;
        // No offloads: the kernel must never hand up frames larger than the MTU.
        let _ = tap::set_offload(fd.as_raw_fd(), 0);
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
