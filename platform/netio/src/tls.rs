//! TLS over any `futures_io` byte stream, with rustls' buffered connections.
//!
//! ```text
//!   plaintext  ──writer()──▶ rustls::Connection ──write_tls──▶ io.poll_write
//!   plaintext ◀──reader()─── rustls::Connection ◀──read_tls─── io.poll_read
//! ```
//!
//! [`TlsStream::handshake`] runs the handshake to its end and reports its
//! failure reason as an `io::Error` of kind `InvalidData` wrapping the
//! [`rustls::Error`] ([`tls_error`] gets it back); the alert rustls queued for
//! the peer is sent, best effort, before the error is returned. Reading and
//! writing before the handshake finished drive it too.
//!
//! End of stream: a `close_notify` from the peer reads as `Ok(0)`; so does a
//! transport EOF without one (the usual behaviour of HTTP clients). Callers
//! for whom truncation matters check [`TlsStream::received_close_notify`].

pub mod verify;

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::UNIX_EPOCH;

use futures_io::{AsyncRead, AsyncWrite};
use rustls::pki_types::{ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

/// A rustls `TimeProvider` reading the platform's wall clock
/// ([`platform::time::wall`]), so certificate validity follows the backend's
/// clock. Outside a platform runtime it has no time, and rustls fails the
/// handshake (`FailedToGetCurrentTime`) instead of guessing.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlatformTime;

impl rustls::time_provider::TimeProvider for PlatformTime {
    fn current_time(&self) -> Option<UnixTime> {
        let wall = platform::time::try_wall()?;
        let since = wall.duration_since(UNIX_EPOCH).ok()?;
        Some(UnixTime::since_unix_epoch(since))
    }
}

/// The rustls error inside an error returned by this module, if it is one.
pub fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A TLS connection over the byte stream `IO`.
pub struct TlsStream<IO> {
    io: IO,
    conn: Connection,
    /// The transport reported end of stream.
    eof: bool,
    close_notify_sent: bool,
    clean_close: bool,
    /// TLS records taken from rustls, not yet accepted by the transport:
    /// each flight goes out in as few writes as the transport allows.
    out: Vec<u8>,
    out_pos: usize,
}

/// Presents a polled stream as a blocking `Read` whose `Pending` is
/// `WouldBlock`, which is what rustls' `read_tls` expects.
struct SyncIo<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncRead + Unpin> Read for SyncIo<'_, '_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_read(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

fn would_block<T>(r: io::Result<T>) -> Poll<io::Result<T>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        r => Poll::Ready(r),
    }
}

impl<IO> TlsStream<IO> {
    /// The rustls connection: negotiated version, cipher suite, peer
    /// certificates, SNI.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// The transport and the rustls connection. TLS records that were
    /// produced but not yet accepted by the transport are dropped: flush or
    /// close first.
    pub fn into_inner(self) -> (IO, Connection) {
        (self.io, self.conn)
    }

    /// Whether a read has seen the peer's `close_notify` (a clean end of
    /// stream, as opposed to the transport closing).
    pub fn received_close_notify(&self) -> bool {
        self.clean_close
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// Wraps `io` with an established-or-not rustls connection.
    pub fn new(io: IO, conn: impl Into<Connection>) -> TlsStream<IO> {
        TlsStream {
            io,
            conn: conn.into(),
            eof: false,
            close_notify_sent: false,
            clean_close: false,
            out: Vec::new(),
            out_pos: 0,
        }
    }

    /// The server side of a TLS connection on `io` (handshake not yet run).
    pub fn server(io: IO, config: Arc<ServerConfig>) -> io::Result<TlsStream<IO>> {
        let conn = ServerConnection::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(TlsStream::new(io, conn))
    }

    /// The client side of a TLS connection on `io` to `name` (handshake not
    /// yet run).
    pub fn client(io: IO, config: Arc<ClientConfig>, name: ServerName<'static>) -> io::Result<TlsStream<IO>> {
        let conn = ClientConnection::new(config, name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(TlsStream::new(io, conn))
    }

    /// Runs the handshake to its end (a no-op once it has finished).
    pub async fn handshake(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_handshake(cx)).await
    }

    /// Sends pending TLS records; `Ready(Ok(()))` when none are left.
    fn poll_send_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
                if !self.conn.wants_write() {
                    return Poll::Ready(Ok(()));
                }
                // Writing into a Vec takes everything rustls has queued.
                while self.conn.wants_write() {
                    self.conn.write_tls(&mut self.out)?;
                }
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
    }

    /// Reads TLS records from the transport and processes them; `Ok(0)` at
    /// the transport's end of stream. A protocol error is returned after the
    /// alert rustls queued has been sent, if the transport takes it at once.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let n = ready!(would_block(self.conn.read_tls(&mut SyncIo { io: &mut self.io, cx })))?;
        if n == 0 {
            self.eof = true;
        }
        match self.conn.process_new_packets() {
            Ok(_) => Poll::Ready(Ok(n)),
            Err(e) => {
                // Best effort: the alert goes out if the transport accepts it now.
                let _ = self.poll_send_pending(cx);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)))
            }
        }
    }

    /// Polls the handshake to its end.
    pub fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_send_pending(cx))?;
            if !self.conn.is_handshaking() {
                return Pin::new(&mut self.io).poll_flush(cx);
            }
            if self.eof {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection during the TLS handshake",
                )));
            }
            ready!(self.poll_receive(cx))?;
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            match this.conn.reader().read(buf) {
                Ok(n) => {
                    this.clean_close |= n == 0;
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Alerts, handshake messages or key updates may be waiting to go
            // out; a full transport must not stop us from reading.
            match this.poll_send_pending(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) | Poll::Pending => {}
            }
            if this.eof {
                return Poll::Ready(Ok(0));
            }
            ready!(this.poll_receive(cx))?;
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.conn.is_handshaking() {
            ready!(this.poll_handshake(cx))?;
        }
        // At most two rounds: a full plaintext buffer is drained once, then
        // written into again.
        for _ in 0..2 {
            let n = this.conn.writer().write(buf)?;
            let sent = this.poll_send_pending(cx);
            if let Poll::Ready(Err(e)) = sent {
                return Poll::Ready(Err(e));
            }
            if n > 0 || buf.is_empty() {
                return Poll::Ready(Ok(n));
            }
            if sent.is_pending() {
                return Poll::Pending;
            }
        }
        Poll::Ready(Err(io::ErrorKind::WriteZero.into()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.is_handshaking() {
            ready!(this.poll_handshake(cx))?;
        }
        this.conn.writer().flush()?;
        ready!(this.poll_send_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_notify_sent {
            this.conn.send_close_notify();
            this.close_notify_sent = true;
        }
        ready!(this.poll_send_pending(cx))?;
        Pin::new(&mut this.io).poll_close(cx)
    }
}

/// "TLSv1_3 TLS13_AES_128_GCM_SHA256", or what is known of it so far.
pub fn describe_session(conn: &Connection) -> String {
    let version = conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_else(|| "no version".into());
    let suite =
        conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_else(|| "no cipher suite".into());
    format!("{version} {suite}")
}
