//! Raw Ethernet frames next to the IP stack.

use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use platform::net::MacAddr;
use platform::stack::{FrameFilter, RawFramesBackend};

use crate::core::{RawQueue, Shared};

pub(crate) fn open(shared: &Rc<Shared>, filter: FrameFilter) -> io::Result<Box<dyn RawFramesBackend>> {
    let mut inner = shared.inner.borrow_mut();
    if let FrameFilter::Ipv4UdpPort(port) = filter
        && inner.raws.iter().flatten().any(|r| r.filter == filter)
    {
        return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("UDP port {port} is already diverted")));
    }
    let queue = RawQueue { filter, frames: VecDeque::new(), waker: None };
    let id = match inner.raws.iter().position(Option::is_none) {
        Some(id) => {
            inner.raws[id] = Some(queue);
            id
        }
        None => {
            inner.raws.push(Some(queue));
            inner.raws.len() - 1
        }
    };
    Ok(Box::new(RawFrames { shared: shared.clone(), id }))
}

struct RawFrames {
    shared: Rc<Shared>,
    id: usize,
}

impl RawFramesBackend for RawFrames {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut inner = self.shared.inner.borrow_mut();
        let Some(raw) = inner.raws.get_mut(self.id).and_then(Option::as_mut) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        match raw.frames.pop_front() {
            Some(frame) => {
                let n = frame.len().min(buf.len());
                buf[..n].copy_from_slice(&frame[..n]);
                Poll::Ready(Ok(n))
            }
            None => {
                raw.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        // Straight to the device: the frame is complete, smoltcp has no part.
        let result = self.shared.net.send(frame);
        let mut inner = self.shared.inner.borrow_mut();
        match &result {
            Ok(()) => inner.stats.tx_frames += 1,
            Err(_) => inner.stats.tx_errors += 1,
        }
        result
    }

    fn mac(&self) -> MacAddr {
        self.shared.net.info().mac
    }
}

impl Drop for RawFrames {
    fn drop(&mut self) {
        if let Some(slot) = self.shared.inner.borrow_mut().raws.get_mut(self.id) {
            *slot = None;
        }
    }
}
