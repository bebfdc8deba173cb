//! The secret: bytes that never format themselves.

use std::fmt;

/// The Piñata's secret. It has no `Display`, its `Debug` prints only its
/// length, and the only way to the bytes is [`Secret::expose`], called at the
/// single place that writes it into an authenticated TLS session.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into().into_boxed_slice())
    }

    /// The bytes. Only for writing into a TLS session whose peer chained to
    /// the CA.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes, redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_reveal() {
        let s = Secret::new("hunter2-bounty");
        let shown = format!("{s:?} {:?}", Some(&s));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("14 bytes"));
        assert_eq!(s.expose(), b"hunter2-bounty");
    }
}
