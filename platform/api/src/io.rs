//! Small I/O helpers over `futures_io` streams.

pub use futures_io::{AsyncRead, AsyncWrite};
pub use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
