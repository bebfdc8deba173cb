//! Lease log records and their byte encoding.
//!
//! Every record starts with a tag byte; integers are big-endian; variable
//! fields are a length byte and the bytes. The log (see [`crate::log`])
//! frames records in checksummed batches, so a record never needs its own
//! checksum.

use std::net::Ipv4Addr;

/// One durable change of the lease table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// `client` holds `addr` until `expires` (wall-clock seconds).
    Bind { addr: Ipv4Addr, client: Vec<u8>, chaddr: Vec<u8>, hostname: Option<String>, expires: u64 },
    /// `client` released `addr` at `at`.
    Release { addr: Ipv4Addr, client: Vec<u8>, at: u64 },
    /// `addr` was declined: quarantined until `until`.
    Decline { addr: Ipv4Addr, until: u64 },
}

const BIND: u8 = 1;
const RELEASE: u8 = 2;
const DECLINE: u8 = 3;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(255);
    out.push(n as u8);
    out.extend_from_slice(&b[..n]);
}

impl Record {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Bind { addr, client, chaddr, hostname, expires } => {
                out.push(BIND);
                out.extend_from_slice(&addr.octets());
                out.extend_from_slice(&expires.to_be_bytes());
                put_bytes(out, client);
                put_bytes(out, chaddr);
                put_bytes(out, hostname.as_deref().unwrap_or("").as_bytes());
            }
            Record::Release { addr, client, at } => {
                out.push(RELEASE);
                out.extend_from_slice(&addr.octets());
                out.extend_from_slice(&at.to_be_bytes());
                put_bytes(out, client);
            }
            Record::Decline { addr, until } => {
                out.push(DECLINE);
                out.extend_from_slice(&addr.octets());
                out.extend_from_slice(&until.to_be_bytes());
            }
        }
    }

    /// Decodes every record of a batch payload; `None` if any is malformed.
    pub fn decode_all(mut buf: &[u8]) -> Option<Vec<Record>> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let (r, rest) = Record::decode(buf)?;
            out.push(r);
            buf = rest;
        }
        Some(out)
    }

    fn decode(buf: &[u8]) -> Option<(Record, &[u8])> {
        let (&tag, rest) = buf.split_first()?;
        let mut r = Reader(rest);
        let addr = Ipv4Addr::from(r.array::<4>()?);
        let time = u64::from_be_bytes(r.array::<8>()?);
        let rec = match tag {
            BIND => {
                let client = r.bytes()?.to_vec();
                let chaddr = r.bytes()?.to_vec();
                let host = r.bytes()?;
                let hostname = if host.is_empty() { None } else { Some(String::from_utf8(host.to_vec()).ok()?) };
                Record::Bind { addr, client, chaddr, hostname, expires: time }
            }
            RELEASE => Record::Release { addr, client: r.bytes()?.to_vec(), at: time },
            DECLINE => Record::Decline { addr, until: time },
            _ => return None,
        };
        Some((rec, r.0))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (a, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*a)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let (&n, rest) = self.0.split_first()?;
        let b = rest.get(..n as usize)?;
        self.0 = &rest[n as usize..];
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let recs = vec![
            Record::Bind {
                addr: Ipv4Addr::new(10, 0, 0, 100),
                client: vec![1, 1, 2, 0, 0, 0, 0, 1],
                chaddr: vec![2, 0, 0, 0, 0, 1],
                hostname: Some("pc".into()),
                expires: 1_700_000_000,
            },
            Record::Release { addr: Ipv4Addr::new(10, 0, 0, 100), client: vec![0, 9], at: 5 },
            Record::Decline { addr: Ipv4Addr::new(10, 0, 0, 101), until: 7 },
        ];
        let mut buf = Vec::new();
        let mut boundaries = vec![0];
        for r in &recs {
            r.encode(&mut buf);
            boundaries.push(buf.len());
        }
        assert_eq!(Record::decode_all(&buf), Some(recs));
        for cut in 0..buf.len() {
            // Every prefix that cuts a record is rejected, never a panic.
            let d = Record::decode_all(&buf[..cut]);
            assert_eq!(d.is_some(), boundaries.contains(&cut), "cut {cut}: {d:?}");
        }
        assert_eq!(Record::decode_all(&[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    }
}
