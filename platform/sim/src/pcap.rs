//! A classic pcap writer (libpcap format: magic `0xa1b2c3d4` written
//! little-endian, version 2.4, microsecond timestamps, link type 1 =
//! Ethernet), readable by `tshark -r`, `tcpdump -r` and Wireshark.

use std::io::{self, Write};

/// Link type of Ethernet frames (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Largest frame recorded whole.
pub const SNAPLEN: u32 = 65_535;
/// The magic number (microsecond resolution).
pub const MAGIC: u32 = 0xa1b2_c3d4;

/// Writes a pcap stream to `W`.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone: UTC
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out })
    }

    /// Appends one frame seen at `unix_nanos` (nanoseconds since the Unix
    /// epoch; truncated to microseconds).
    pub fn record(&mut self, unix_nanos: u64, frame: &[u8]) -> io::Result<()> {
        let secs = (unix_nanos / 1_000_000_000) as u32;
        let micros = ((unix_nanos % 1_000_000_000) / 1_000) as u32;
        let incl = frame.len().min(SNAPLEN as usize);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&micros.to_le_bytes());
        h[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&frame[..incl])
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.record(1_767_225_600_000_001_999, &[1, 2, 3]).unwrap();
        let b = w.into_inner();
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(b.len(), 24 + 16 + 3);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 1_767_225_600);
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 1);
        assert_eq!(&b[40..], &[1, 2, 3]);
    }
}
