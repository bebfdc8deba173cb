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
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use platform::net::{MacAddr, Net, NetInfo};
use tokio::io::unix::AsyncFd;

use crate::tap_gso::{Bad, Batch, TxBatch, VNET_HDR_LEN, VnetHdr, finish_checksum};

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
    let fd = tap::open(name, tap::Options::default())?;
    tap::set_persist(fd.as_raw_fd(), true)
        .map_err(|e| in_context(e, &format!("cannot make tap '{name}' persistent")))?;
    Ok(fd)
}

/// Removes a persistent tap interface made by [`create_tap`]. It must not be
/// attached.
pub fn remove_tap(name: &str) -> io::Result<()> {
    let fd = tap::open(name, tap::Options::default())?;
    tap::set_persist(fd.as_raw_fd(), false).map_err(|e| in_context(e, &format!("cannot remove tap '{name}'")))
}

fn in_context(e: io::Error, context: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
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
        if !tap::exists(name) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no network interface '{name}' (create it with: ip tuntap add {name} mode tap)"),
            ));
        }
        let fd = tap::open(name, tap::Options { nonblocking: true, vnet_hdr: true })?;
        // Without offload the tap still works, one frame per read. The setting outlives
        // the descriptor on a persistent tap: whoever attaches next without
        // `IFF_VNET_HDR` must find it cleared (our tender clears it on attach too).
        if let Err(e) = tap::set_offload(fd.as_raw_fd(), libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6) {
            log::debug!("tap '{name}': no segmentation offload ({e})");
        }
        let mtu = tap::mtu(name)?;
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
        // batches (see `tap::set_offload`).
        let _ = tap::set_offload(self.raw(), 0);
    }
}
