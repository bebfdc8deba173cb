//! hyper 1.x `rt::Read` / `rt::Write` over any `futures_io` stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::ReadBufCursor;

/// Largest read handed to the inner stream at once.
const READ_CHUNK: usize = 16 * 1024;

/// Adapts a `futures_io` stream (a [`platform::stack::TcpStream`], a
/// [`crate::TlsStream`], ...) to hyper's IO traits.
///
/// Reads go through a small scratch buffer (hyper hands out uninitialised
/// memory, which safe code may not pass to `AsyncRead`), so each read costs
/// one extra copy.
pub struct HyperIo<T> {
    inner: T,
    scratch: Vec<u8>,
}

impl<T> HyperIo<T> {
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner, scratch: Vec::new() }
    }
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let want = buf.remaining().min(READ_CHUNK);
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.scratch.len() < want {
            this.scratch.resize(want, 0);
        }
        let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.scratch[..want]))?;
        buf.put_slice(&this.scratch[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
