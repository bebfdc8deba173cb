//! Console output through PUTS (best effort, may lose data, never fails).

use core::fmt;

use crate::hypercall;

/// Writes bytes to the console immediately (one PUTS).
pub fn write(s: &[u8]) {
    hypercall::puts(s);
}

/// Writes a string to the console immediately (one PUTS).
pub fn write_str(s: &str) {
    hypercall::puts(s.as_bytes());
}

/// A small stack buffer that turns many `fmt` pieces into few PUTS hypercalls. It flushes
/// when full and when dropped.
pub struct BufferedConsole {
    buf: [u8; 256],
    len: usize,
}

impl BufferedConsole {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self { buf: [0; 256], len: 0 }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        hypercall::puts(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Default for BufferedConsole {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for BufferedConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut s = s.as_bytes();
        while !s.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
            self.len += n;
            s = &s[n..];
        }
        Ok(())
    }
}

impl Drop for BufferedConsole {
    fn drop(&mut self) {
        self.flush();
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut c = BufferedConsole::new();
    let _ = fmt::Write::write_fmt(&mut c, args);
}

/// Formats to the console (like `std::print!`).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Formats a line to the console (like `std::println!`).
#[macro_export]
macro_rules! println {
    () => { $crate::console::write(b"\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
