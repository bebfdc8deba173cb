//! `Net`: an Ethernet device that sends and receives whole frames.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::task::{Context, Poll};

/// Length of an Ethernet header (destination, source, ethertype).
pub const ETHERNET_HEADER_LEN: usize = 14;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// A locally administered unicast address derived from `seed` bytes.
    pub fn local_from(seed: [u8; 6]) -> MacAddr {
        let mut b = seed;
        b[0] = (b[0] & 0xfe) | 0x02;
        MacAddr(b)
    }
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a MAC address written as six `:`-separated hex bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMac;

impl fmt::Display for BadMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a MAC address like 02:00:00:00:00:01")
    }
}
impl std::error::Error for BadMac {}

impl FromStr for MacAddr {
    type Err = BadMac;
    fn from_str(s: &str) -> Result<Self, BadMac> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let p = parts.next().ok_or(BadMac)?;
            if p.len() != 2 {
                return Err(BadMac);
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| BadMac)?;
        }
        if parts.next().is_some() {
            return Err(BadMac);
        }
        Ok(MacAddr(out))
    }
}

/// What a `Net` device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetInfo {
    pub mac: MacAddr,
    /// Largest payload after the Ethernet header (1500 on most links).
    pub mtu: usize,
}

impl NetInfo {
    /// Size of a buffer that holds any frame of this device.
    pub fn frame_capacity(&self) -> usize {
        self.mtu + ETHERNET_HEADER_LEN
    }
}

/// An Ethernet device.
///
/// Contract:
/// * frames include the 14-byte Ethernet header and no FCS;
/// * [`Net::recv`] never blocks: it returns `Ok(None)` when no frame is
///   queued, and requires `buf.len() >= info().frame_capacity()`;
/// * [`Net::poll_readable`] registers the task to be woken when a frame may
///   be available (spurious wake-ups are allowed) and returns `Ready` when one
///   may be read now;
/// * [`Net::send`] never blocks: a frame the device cannot take right now is
///   dropped, as on a real wire; frames longer than `frame_capacity()` are an
///   `InvalidInput` error;
/// * an `Err` from `recv` or `send` means the device itself failed (the host
///   tap vanished), not that a frame was bad.
pub trait Net {
    fn info(&self) -> NetInfo;
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()>;
    fn send(&self, frame: &[u8]) -> io::Result<()>;
}
