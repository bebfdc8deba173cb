//! Ethernet frames for link tests, and a parser of the pcap files captures write.

use platform::net::MacAddr;

/// An Ethernet frame to `dst` from `src` with ethertype 0x88b5 (local
/// experimental) and `payload`.
pub fn frame(dst: MacAddr, src: MacAddr, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(payload);
    f
}

/// A numbered frame: payload is the big-endian `n` padded to 46 bytes.
pub fn numbered(dst: MacAddr, src: MacAddr, n: u32) -> Vec<u8> {
    let mut p = vec![0u8; 46];
    p[..4].copy_from_slice(&n.to_be_bytes());
    frame(dst, src, &p)
}

pub fn number_of(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[14..18].try_into().unwrap())
}

/// One record of a pcap file.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub secs: u32,
    pub micros: u32,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// Parses a classic little-endian microsecond pcap file, checking the header.
pub fn parse_pcap(bytes: &[u8]) -> Vec<Record> {
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
    assert!(bytes.len() >= 24, "pcap shorter than its header");
    assert_eq!(u32_at(0), 0xa1b2_c3d4, "magic");
    assert_eq!((u16_at(4), u16_at(6)), (2, 4), "version");
    assert_eq!(u32_at(8), 0, "thiszone");
    assert_eq!(u32_at(16), 65535, "snaplen");
    assert_eq!(u32_at(20), 1, "linktype ethernet");
    let mut out = Vec::new();
    let mut o = 24;
    while o < bytes.len() {
        assert!(o + 16 <= bytes.len(), "truncated record header");
        let (secs, micros, incl, orig) = (u32_at(o), u32_at(o + 4), u32_at(o + 8) as usize, u32_at(o + 12));
        assert!(micros < 1_000_000);
        assert!(incl as u32 <= orig);
        o += 16;
        assert!(o + incl <= bytes.len(), "truncated record");
        out.push(Record { secs, micros, orig_len: orig, data: bytes[o..o + incl].to_vec() });
        o += incl;
    }
    out
}
