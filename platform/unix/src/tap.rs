//! A Linux tap device as a platform [`Net`].
//!
//! [`tap_net`] attaches an existing tap interface (as Solo5's tenders do):
//! `/dev/net/tun`, `TUNSETIFF` with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`,
//! non-blocking, driven by tokio's [`AsyncFd`]. [`create_tap`] makes a
//! persistent tap for tests.
//!
//! Receive offload: the tap asks the kernel (`TUNSETOFFLOAD`) for TCP
//! segmentation and checksum offload, so that the kernel's TCP hands over
//! its batches of up to 64 KiB in one read instead of cutting them into
//! MTU-sized frames and checksumming each (one system call per 1,500 bytes
//! was most of the cost of receiving through a tap). [`tap_gso`](crate::tap_gso)
//! cuts them here; the [`Net`] user sees ordinary frames. Frames we send go
//! out one by one with an empty `virtio_net_hdr`.

use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use platform::net::{MacAddr, Net, NetInfo};
use tokio::io::unix::AsyncFd;

use crate::tap_gso::{Bad, Batch, TxBatch, VNET_HDR_LEN, VnetHdr, finish_checksum};

/// `SIOCGIFMTU` from `<linux/sockios.h>` (not in the libc crate for Linux).
const SIOCGIFMTU: libc::Ioctl = 0x8921;

/// Attaches the existing tap interface `name` as a [`Net`] device.
///
/// The MAC address is `mac`, else a random locally administered one. The
/// MTU is the interface's. Must be called inside [`crate::block_on`] (the
/// device registers with tokio's reactor). Fails with `NotFound` when no
/// interface `name` exists, and with a message naming the tap when it cannot
/// be attached (held by another process, no permission, not a tap).
pub fn tap_net(name: &str, mac: Option<MacAddr>) -> io::Result<Rc<dyn Net>> {
    Ok(Rc::new(TapNet::attach(name, mac)?))
}

/// Creates the tap interface `name` in the calling thread's network
/// namespace (or attaches it if it exists) and makes it persistent, so that
/// it stays after the returned descriptor is closed and [`tap_net`] can then
/// attach it. Remove it with [`remove_tap`], `ip link del NAME`, or by
/// deleting its network namespace. Needs `CAP_NET_ADMIN`.
pub fn create_tap(name: &str) -> io::Result<OwnedFd> {
    let fd = open_tap(name, false, false)?;
    // SAFETY: TUNSETPERSIST takes an integer argument by value on a tun fd
    // that TUNSETIFF has attached.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETPERSIST, 1 as libc::c_ulong) } < 0 {
        return Err(os_error(&format!("cannot make tap '{name}' persistent")));
    }
    Ok(fd)
}

/// Removes a persistent tap interface made by [`create_tap`]. It must not be
/// attached.
pub fn remove_tap(name: &str) -> io::Result<()> {
    let fd = open_tap(name, false, false)?;
    // SAFETY: as in create_tap.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETPERSIST, 0 as libc::c_ulong) } < 0 {
        return Err(os_error(&format!("cannot remove tap '{name}'")));
    }
    Ok(())
}

fn os_error(context: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{name}' is not a valid interface name (1 to {} bytes)", libc::IFNAMSIZ - 1),
        ));
    }
    // SAFETY: ifreq is plain old data (arrays, integers, a union of those
    // and a raw pointer); all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

/// Whether an interface `name` exists in the calling thread's namespace.
fn interface_exists(name: &str) -> bool {
    let Ok(cname) = CString::new(name) else { return false };
    // SAFETY: `cname` is a valid NUL-terminated string.
    unsafe { libc::if_nametoindex(cname.as_ptr()) != 0 }
}

/// Opens `/dev/net/tun` and binds it to tap `name`.
///
/// A single-queue tap takes one descriptor at a time, and a child process that
/// another thread of ours is starting holds a copy of every descriptor between
/// its fork and its exec (close-on-exec acts only at the exec). So `EBUSY` right
/// after the creator closed the tap can be that short window: retry briefly
/// before reporting the tap busy.
fn open_tap(name: &str, nonblocking: bool, vnet_hdr: bool) -> io::Result<OwnedFd> {
    const BUSY_RETRIES: u32 = 20;
    let mut attempt = 0;
    loop {
        match open_tap_once(name, nonblocking, vnet_hdr) {
            Ok(fd) => return Ok(fd),
            Err(TapError::Attach(e)) if e.raw_os_error() == Some(libc::EBUSY) && attempt < BUSY_RETRIES => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(TapError::Attach(e)) => {
                let hint = match e.raw_os_error() {
                    Some(libc::EBUSY) => " (is it attached by another process?)",
                    Some(libc::EPERM) => " (needs CAP_NET_ADMIN, or a tap owned by this user)",
                    Some(libc::EINVAL) => " (is it a tun device, not a tap?)",
                    _ => "",
                };
                return Err(io::Error::new(e.kind(), format!("cannot attach tap '{name}': {e}{hint}")));
            }
            Err(TapError::Other(e)) => return Err(e),
        }
    }
}

enum TapError {
    /// TUNSETIFF failed (the raw OS error, kept for the retry decision).
    Attach(io::Error),
    Other(io::Error),
}

fn open_tap_once(name: &str, nonblocking: bool, vnet_hdr: bool) -> Result<OwnedFd, TapError> {
    let mut req = ifreq_for(name).map_err(TapError::Other)?;
    let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
    if nonblocking {
        flags |= libc::O_NONBLOCK;
    }
    // SAFETY: the path is a NUL-terminated literal.
    let raw = unsafe { libc::open(c"/dev/net/tun".as_ptr(), flags) };
    if raw < 0 {
        return Err(TapError::Other(os_error("cannot open /dev/net/tun")));
    }
    // SAFETY: `raw` is a descriptor we just opened and own exclusively.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut iff = libc::IFF_TAP | libc::IFF_NO_PI;
    if vnet_hdr {
        iff |= libc::IFF_VNET_HDR;
    }
    req.ifr_ifru.ifru_flags = iff as libc::c_short;
    // SAFETY: TUNSETIFF reads (and writes back) an ifreq, which `req` is.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut libc::ifreq) } < 0 {
        return Err(TapError::Attach(io::Error::last_os_error()));
    }
    Ok(fd)
}

/// Sets the tap's offloads (`TUN_F_*`). The setting outlives the
/// descriptor on a persistent tap: whoever attaches next without
/// `IFF_VNET_HDR` must find it cleared (our tender clears it on attach too).
fn set_offload(fd: RawFd, offload: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes an integer argument by value on a tun fd
    // that TUNSETIFF has attached.
    if unsafe { libc::ioctl(fd, libc::TUNSETOFFLOAD, offload as libc::c_ulong) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The MTU of interface `name`.
fn interface_mtu(name: &str) -> io::Result<usize> {
    let mut req = ifreq_for(name)?;
    // SAFETY: plain socket creation.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(os_error("cannot create a socket to query the MTU"));
    }
    // SAFETY: `raw` is a descriptor we just created and own exclusively.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: SIOCGIFMTU fills the ifru_mtu member of the ifreq we pass.
    if unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGIFMTU, &mut req as *mut libc::ifreq) } < 0 {
        return Err(os_error(&format!("cannot read the MTU of '{name}'")));
    }
    // SAFETY: the kernel wrote ifru_mtu; every bit pattern is a valid c_int.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).map_err(|_| io::Error::other(format!("interface '{name}' reports MTU {mtu}")))
}

/// A random locally administered unicast MAC address.
pub(crate) fn random_mac() -> MacAddr {
    let mut seed = [0u8; 6];
    crate::devices::fill_random(&mut seed);
    MacAddr::local_from(seed)
}

/// A tap interface attached as a [`Net`].
pub struct TapNet {
    fd: AsyncFd<OwnedFd>,
    name: String,
    info: NetInfo,
    /// `recv` found the queue empty since the reactor last reported
    /// readiness: `poll_readable` must check before trusting readiness.
    drained: Cell<bool>,
    dropped: Cell<u64>,
    rx: RefCell<RxBatch>,
    /// TCP segments sent in a row, written as one batch when something else
    /// is sent, or when the user next looks for input (see [`Net`] impl).
    tx: RefCell<TxBatch>,
    /// Frames the kernel handed over that could not be passed on.
    rx_malformed: Cell<u64>,
}

/// The last read: a batch of TCP segments being handed out frame by frame.
struct RxBatch {
    /// `virtio_net_hdr` and frame as read (room for the largest batch).
    buf: Vec<u8>,
    /// Length of the frame after the header.
    len: usize,
    batch: Option<Batch>,
    /// The next frame of `batch` to hand out.
    next: usize,
}

/// The largest frame the kernel hands over with segmentation offload: an IP
/// packet of 64 KiB plus Ethernet and VLAN headers.
const MAX_BATCH: usize = 65535 + 14 + 4;

impl TapNet {
    /// See [`tap_net`].
    pub fn attach(name: &str, mac: Option<MacAddr>) -> io::Result<TapNet> {
        if !interface_exists(name) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no network interface '{name}' (create it with: ip tuntap add {name} mode tap)"),
            ));
        }
        let fd = open_tap(name, true, true)?;
        // Without offload the tap still works, one frame per read.
        if let Err(e) = set_offload(fd.as_raw_fd(), libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6) {
            log::debug!("tap '{name}': no segmentation offload ({e})");
        }
        let mtu = interface_mtu(name)?;
        let mac = mac.unwrap_or_else(random_mac);
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(format!("tap '{name}' must be attached inside platform_unix::block_on")));
        }
        // SAFETY: the OwnedFd owns an open descriptor that stays open, and is
        // the same descriptor, for as long as the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| io::Error::other(format!("cannot register tap '{name}' with tokio: {e}")))?;
        Ok(TapNet {
            fd,
            name: name.to_string(),
            info: NetInfo { mac, mtu },
            drained: Cell::new(false),
            dropped: Cell::new(0),
            rx: RefCell::new(RxBatch { buf: vec![0; VNET_HDR_LEN + MAX_BATCH], len: 0, batch: None, next: 0 }),
            tx: RefCell::new(TxBatch::new()),
            rx_malformed: Cell::new(0),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames dropped by `send` because the device could not take them.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Frames the kernel handed over that `recv` dropped as malformed.
    pub fn rx_malformed(&self) -> u64 {
        self.rx_malformed.get()
    }

    fn raw(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }

    /// Writes the pending transmit batch, if any.
    fn flush(&self) -> io::Result<()> {
        let mut tx = self.tx.borrow_mut();
        match tx.take() {
            Some(bytes) => self.write_raw(bytes),
            None => Ok(()),
        }
    }

    /// Writes `virtio_net_hdr` + frame in one buffer.
    fn write_raw(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes.
        self.write_frame(|| unsafe { libc::write(self.raw(), bytes.as_ptr().cast(), bytes.len()) })
    }

    /// Runs one `write`/`writev` of a whole frame, retrying on EINTR. A frame
    /// the tap cannot take (queue full, link down) is dropped and counted, as
    /// on a wire; any other error is fatal for the device.
    fn write_frame(&self, mut write: impl FnMut() -> isize) -> io::Result<()> {
        loop {
            if write() >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) | Some(libc::EIO) | Some(libc::ENOBUFS) => {
                    self.dropped.set(self.dropped.get() + 1);
                    return Ok(());
                }
                _ => return Err(io::Error::new(e.kind(), format!("tap '{}' failed: {e}", self.name))),
            }
        }
    }

    /// Whether a frame is queued now (poll with a zero timeout).
    fn readable_now(&self) -> io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.raw(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n > 0 && pfd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
    }
}

impl Net for TapNet {
    fn info(&self) -> NetInfo {
        self.info
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if buf.len() < self.info.frame_capacity() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "receive buffer of {} bytes is smaller than a frame ({})",
                    buf.len(),
                    self.info.frame_capacity()
                ),
            ));
        }
        // Looking for input ends a burst of output: write what is batched.
        self.flush()?;
        let mut rx = self.rx.borrow_mut();
        let rx = &mut *rx;
        loop {
            // The rest of the last batch first.
            if let Some(batch) = rx.batch {
                let frame = &rx.buf[VNET_HDR_LEN..VNET_HDR_LEN + rx.len];
                let n = batch.segment(frame, rx.next, buf);
                rx.next += 1;
                if rx.next == batch.count() {
                    rx.batch = None;
                }
                return Ok(Some(n));
            }
            // SAFETY: `rx.buf` is valid for writes of `rx.buf.len()` bytes.
            let n = unsafe { libc::read(self.raw(), rx.buf.as_mut_ptr().cast(), rx.buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        self.drained.set(true);
                        return Ok(None);
                    }
                    _ => return Err(io::Error::new(e.kind(), format!("tap '{}' failed: {e}", self.name))),
                }
            }
            let n = n as usize;
            if n < VNET_HDR_LEN {
                self.rx_malformed.set(self.rx_malformed.get() + 1);
                continue;
            }
            let mut raw_hdr = [0u8; VNET_HDR_LEN];
            raw_hdr.copy_from_slice(&rx.buf[..VNET_HDR_LEN]);
            let hdr = VnetHdr::parse(&raw_hdr);
            let len = n - VNET_HDR_LEN;
            let frame = &mut rx.buf[VNET_HDR_LEN..n];
            let outcome = if hdr.is_gso() {
                Batch::parse(&hdr, frame, self.info.frame_capacity()).map(|b| {
                    rx.len = len;
                    rx.next = 0;
                    rx.batch = Some(b);
                    None
                })
            } else if len > buf.len() {
                Err(Bad::Malformed)
            } else {
                finish_checksum(&hdr, frame).map(|()| {
                    buf[..len].copy_from_slice(frame);
                    Some(len)
                })
            };
            match outcome {
                Ok(Some(len)) => return Ok(Some(len)),
                Ok(None) => {}
                Err(Bad::Malformed) => {
                    self.rx_malformed.set(self.rx_malformed.get() + 1);
                    if self.rx_malformed.get().is_power_of_two() {
                        log::warn!("tap '{}': dropped a malformed frame from the kernel ({hdr:?})", self.name);
                    }
                }
            }
        }
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        // A user about to wait for input has sent what it had to send.
        if self.flush().is_err() {
            return Poll::Ready(());
        }
        if self.rx.borrow().batch.is_some() {
            return Poll::Ready(());
        }
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(guard)) => guard,
                // The reactor is gone; report ready so that recv surfaces the error.
                Poll::Ready(Err(_)) => return Poll::Ready(()),
            };
            if !self.drained.get() {
                return Poll::Ready(());
            }
            match self.readable_now() {
                Ok(false) => {
                    // Clears only the readiness this guard saw: an event that
                    // arrives after the check keeps the fd ready.
                    guard.clear_ready();
                    self.drained.set(false);
                }
                Ok(true) | Err(_) => {
                    self.drained.set(false);
                    return Poll::Ready(());
                }
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > self.info.frame_capacity() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {} bytes exceeds the {}-byte capacity", frame.len(), self.info.frame_capacity()),
            ));
        }
        // TCP segments of one connection sent in a row are joined and go
        // out together (see `tx`); anything else goes out at once, after
        // what is batched, so that the order on the wire is kept.
        let mut tx = self.tx.borrow_mut();
        if tx.append(frame) {
            return Ok(());
        }
        if let Some(bytes) = tx.take() {
            self.write_raw(bytes)?;
        }
        if tx.start(frame) {
            return Ok(());
        }
        drop(tx);
        // An empty virtio_net_hdr: a complete frame, nothing to offload.
        let hdr = [0u8; VNET_HDR_LEN];
        let iov = [
            libc::iovec { iov_base: hdr.as_ptr() as *mut libc::c_void, iov_len: hdr.len() },
            libc::iovec { iov_base: frame.as_ptr() as *mut libc::c_void, iov_len: frame.len() },
        ];
        // SAFETY: both iovecs point to live buffers of the given lengths,
        // which writev only reads.
        self.write_frame(|| unsafe { libc::writev(self.raw(), iov.as_ptr(), iov.len() as libc::c_int) })
    }
}

impl Drop for TapNet {
    fn drop(&mut self) {
        let _ = self.flush();
        // A persistent tap keeps its offloads: the next user may not expect
        // batches (see `set_offload`).
        let _ = set_offload(self.raw(), 0);
    }
}
