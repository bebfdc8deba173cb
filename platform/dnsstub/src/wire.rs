//! The few pieces of the DNS message format (RFC 1035 §4) a stub needs: a query
//! for one name and type, and the header, question and answer section of a reply.
//!
//! Every read is bounds-checked and returns [`Malformed`] instead of panicking:
//! replies come from the network (ARCHITECTURE.md, rule 7).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_AAAA: u16 = 28;
pub const CLASS_IN: u16 = 1;

/// RCODEs a stub tells apart (RFC 1035 §4.1.1).
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_REFUSED: u8 = 5;

/// The longest name in wire form, length octets and the root included (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// The longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;
/// Header length (RFC 1035 §4.1.1).
pub const HEADER: usize = 12;

/// A reply we could not read; what was wrong, for the debug log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed DNS message: {}", self.0)
    }
}

/// A domain name in uncompressed wire form (length-prefixed labels, ending in
/// the root's zero octet), compared without regard to ASCII case (RFC 4343).
#[derive(Clone, Debug)]
pub struct Name(Vec<u8>);

impl Name {
    /// A host name as written in a URL: labels separated by dots, an optional
    /// final dot. No escapes: a URL's host cannot carry them.
    pub fn from_host(host: &str) -> Result<Name, String> {
        let trimmed = host.strip_suffix('.').unwrap_or(host);
        if trimmed.is_empty() {
            return Err("empty host name".into());
        }
        let mut wire = Vec::with_capacity(trimmed.len() + 2);
        for label in trimmed.split('.') {
            if label.is_empty() {
                return Err(format!("{host:?}: empty label"));
            }
            if label.len() > MAX_LABEL {
                return Err(format!("{host:?}: a label is longer than {MAX_LABEL} octets"));
            }
            if label.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(format!("{host:?}: control characters or spaces"));
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
        wire.push(0);
        if wire.len() > MAX_NAME {
            return Err(format!("{host:?}: longer than {MAX_NAME} octets"));
        }
        Ok(Name(wire))
    }

    pub fn wire(&self) -> &[u8] {
        &self.0
    }

    /// The key a cache files this name under: the wire form in lower case.
    /// (Length octets are at most 63, below every ASCII letter, so they are
    /// never changed.)
    pub fn key(&self) -> Vec<u8> {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for Name {}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = &self.0[..];
        while let Some((&len, tail)) = rest.split_first() {
            if len == 0 {
                break;
            }
            let (label, tail) = tail.split_at(usize::from(len).min(tail.len()));
            for &b in label {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
            f.write_str(".")?;
            rest = tail;
        }
        if self.0.len() <= 1 {
            f.write_str(".")?;
        }
        Ok(())
    }
}

/// A standard query (opcode 0) for `name`/`qtype`/IN with recursion desired
/// (RFC 1035 §4.1.1: a stub asks a recursive server), no EDNS.
pub fn query(id: u16, name: &Name, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER + name.0.len() + 4);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00]); // RD
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1
    m.extend_from_slice(&name.0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m
}

/// The data of an answer record, as far as a stub looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(Name),
    /// Any other type (or class), skipped.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: Data,
}

/// What a stub reads of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub id: u16,
    pub qr: bool,
    pub opcode: u8,
    pub tc: bool,
    pub rcode: u8,
    /// The question section; a reply to our query has exactly one.
    pub questions: Vec<(Name, u16, u16)>,
    /// The answer section; left empty when TC is set (a truncated answer
    /// section is not to be trusted, RFC 2181 §9: we ask again over TCP).
    pub answers: Vec<Record>,
}

impl Reply {
    pub fn parse(msg: &[u8]) -> Result<Reply, Malformed> {
        if msg.len() < HEADER {
            return Err(Malformed("shorter than a header"));
        }
        let id = u16::from_be_bytes([msg[0], msg[1]]);
        let qr = msg[2] & 0x80 != 0;
        let opcode = (msg[2] >> 3) & 0x0f;
        let tc = msg[2] & 0x02 != 0;
        let rcode = msg[3] & 0x0f;
        let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
        let ancount = u16::from_be_bytes([msg[6], msg[7]]);
        let mut pos = HEADER;
        let mut questions = Vec::new();
        for _ in 0..qdcount {
            let (name, next) = read_name(msg, pos)?;
            let fixed = msg.get(next..next + 4).ok_or(Malformed("question cut short"))?;
            questions.push((name, u16::from_be_bytes([fixed[0], fixed[1]]), u16::from_be_bytes([fixed[2], fixed[3]])));
            pos = next + 4;
        }
        let mut answers = Vec::new();
        if !tc {
            for _ in 0..ancount {
                let (record, next) = read_record(msg, pos)?;
                answers.push(record);
                pos = next;
            }
        }
        Ok(Reply { id, qr, opcode, tc, rcode, questions, answers })
    }
}

/// One resource record at `pos` (RFC 1035 §4.1.3); the record and where the next begins.
fn read_record(msg: &[u8], pos: usize) -> Result<(Record, usize), Malformed> {
    let (owner, next) = read_name(msg, pos)?;
    let fixed = msg.get(next..next + 10).ok_or(Malformed("record header cut short"))?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let start = next + 10;
    let rdata = msg.get(start..start + rdlen).ok_or(Malformed("RDATA runs past the end"))?;
    let data = match (class, rtype) {
        (CLASS_IN, TYPE_A) => {
            let octets: [u8; 4] = rdata.try_into().map_err(|_| Malformed("A RDATA is not 4 octets"))?;
            Data::A(Ipv4Addr::from(octets))
        }
        (CLASS_IN, TYPE_AAAA) => {
            let octets: [u8; 16] = rdata.try_into().map_err(|_| Malformed("AAAA RDATA is not 16 octets"))?;
            Data::Aaaa(Ipv6Addr::from(octets))
        }
        (_, TYPE_CNAME) => {
            // The target may be compressed against the whole message; it must
            // fill the RDATA exactly.
            let (target, end) = read_name(msg, start)?;
            if end != start + rdlen {
                return Err(Malformed("CNAME RDATA length does not match its name"));
            }
            Data::Cname(target)
        }
        _ => Data::Other,
    };
    // (ttl: RFC 2181 §8 says a TTL with the top bit set is to be read as zero.)
    let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
    Ok((Record { owner, rtype, class, ttl, data }, start + rdlen))
}

/// Reads a possibly compressed name at `pos` (RFC 1035 §4.1.4); the name and
/// the position after it in the message.
///
/// A pointer must point strictly before the start of the labels that contain
/// it. RFC 1035 has pointers refer to "a prior occurrence" of a name, so every
/// real compressor does this, and it makes loops impossible: each jump goes
/// to a smaller offset. Forward pointers, pointers beyond the message, the
/// reserved label types 01 and 10, and names over 255 octets are rejected.
pub fn read_name(msg: &[u8], pos: usize) -> Result<(Name, usize), Malformed> {
    let mut wire = Vec::new();
    let mut at = pos;
    // Where this run of labels began: pointers must go below it.
    let mut run_start = pos;
    // Where the name ends in the message (after its first pointer, or its root).
    let mut end = None;
    loop {
        let &len = msg.get(at).ok_or(Malformed("name runs past the end"))?;
        match len & 0xc0 {
            0x00 => {
                let len = usize::from(len);
                let label = msg.get(at + 1..at + 1 + len).ok_or(Malformed("label runs past the end"))?;
                if wire.len() + 1 + len > MAX_NAME {
                    return Err(Malformed("name longer than 255 octets"));
                }
                wire.push(len as u8);
                wire.extend_from_slice(label);
                at += 1 + len;
                if len == 0 {
                    return Ok((Name(wire), end.unwrap_or(at)));
                }
            }
            0xc0 => {
                let &low = msg.get(at + 1).ok_or(Malformed("pointer cut short"))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= run_start {
                    return Err(Malformed("compression pointer does not point back"));
                }
                end.get_or_insert(at + 2);
                at = target;
                run_start = target;
            }
            _ => return Err(Malformed("reserved label type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_matches_rfc_1035_layout() {
        // RFC 1035 §4.1: header, then QNAME as labels, QTYPE, QCLASS.
        let q = query(0xbeef, &Name::from_host("git.test").unwrap(), TYPE_AAAA);
        let expected: &[u8] = &[
            0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header: RD, QDCOUNT 1
            3, b'g', b'i', b't', 4, b't', b'e', b's', b't', 0, // QNAME
            0, 28, 0, 1, // AAAA IN
        ];
        assert_eq!(q, expected);
    }

    #[test]
    fn host_names_are_checked() {
        assert!(Name::from_host("git.test.").is_ok());
        assert_eq!(Name::from_host("GIT.test"), Name::from_host("git.TEST."));
        assert!(Name::from_host("").is_err());
        assert!(Name::from_host(".").is_err());
        assert!(Name::from_host("a..b").is_err());
        assert!(Name::from_host(&"a".repeat(64)).is_err());
        assert!(Name::from_host(&"a".repeat(63)).is_ok());
        // 4 labels of 63 + length octets + root = 257 > 255.
        let long = [&"a".repeat(63)[..]; 4].join(".");
        assert!(Name::from_host(&long).is_err());
        assert!(Name::from_host("a b.test").is_err());
    }

    /// RFC 1035 §4.1.4's example: F.ISI.ARPA at 20, FOO.F.ISI.ARPA at 40 by a
    /// pointer to 20, and ARPA by a pointer to 26.
    #[test]
    fn rfc_1035_compression_example() {
        let mut msg = vec![0u8; 20];
        msg.extend_from_slice(&[1, b'F', 3, b'I', b'S', b'I', 4, b'A', b'R', b'P', b'A', 0]);
        msg.resize(40, 0);
        msg.extend_from_slice(&[3, b'F', b'O', b'O', 0xc0, 20]);
        msg.extend_from_slice(&[0xc0, 26]);
        let (n, end) = read_name(&msg, 20).unwrap();
        assert_eq!((n.to_string(), end), ("F.ISI.ARPA.".to_string(), 32));
        let (n, end) = read_name(&msg, 40).unwrap();
        assert_eq!((n.to_string(), end), ("FOO.F.ISI.ARPA.".to_string(), 46));
        let (n, end) = read_name(&msg, 46).unwrap();
        assert_eq!((n.to_string(), end), ("ARPA.".to_string(), 48));
    }

    #[test]
    fn hostile_names_are_rejected() {
        // A pointer to itself, and two pointers pointing at each other.
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(&[0xc0, 12]);
        assert_eq!(read_name(&msg, 12), Err(Malformed("compression pointer does not point back")));
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(&[1, b'a', 0xc0, 16, 1, b'b', 0xc0, 12]);
        assert!(read_name(&msg, 12).is_err());
        assert!(read_name(&msg, 16).is_err(), "b -> a -> b loops");
        // A forward pointer, and one beyond the message.
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(&[0xc0, 14, 0]);
        assert!(read_name(&msg, 12).is_err());
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(&[0xff, 0xff]);
        assert!(read_name(&msg, 12).is_err());
        // Reserved label types 01 and 10.
        for t in [0x40, 0x80] {
            let mut msg = vec![0u8; 12];
            msg.extend_from_slice(&[t, 0]);
            assert_eq!(read_name(&msg, 12), Err(Malformed("reserved label type")));
        }
        // Cut short: a label past the end, no root.
        assert!(read_name(&[5, b'a', b'b'], 0).is_err());
        assert!(read_name(&[1, b'a'], 0).is_err());
        // Over 255 octets through pointers: each level adds 63+1 octets.
        let mut msg = vec![0u8];
        let mut prev = 0usize;
        for _ in 0..5 {
            let here = msg.len();
            msg.push(63);
            msg.extend_from_slice(&[b'x'; 63]);
            msg.extend_from_slice(&[0xc0 | (prev >> 8) as u8, prev as u8]);
            prev = here;
        }
        assert_eq!(read_name(&msg, prev), Err(Malformed("name longer than 255 octets")));
    }

    #[test]
    fn truncated_and_bad_rdata() {
        assert!(Reply::parse(&[0; 11]).is_err());
        let mut reply = query(1, &Name::from_host("a.test").unwrap(), TYPE_A);
        reply[2] |= 0x80;
        reply[7] = 1; // ANCOUNT 1
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 3, 1, 2, 3]);
        assert_eq!(Reply::parse(&reply), Err(Malformed("A RDATA is not 4 octets")));
        let n = reply.len();
        reply[n - 4] = 4; // RDLENGTH 4 but only 3 octets follow
        assert_eq!(Reply::parse(&reply), Err(Malformed("RDATA runs past the end")));
        // Every cut of a good reply fails cleanly.
        reply.push(4);
        assert!(Reply::parse(&reply).is_ok());
        for cut in 0..reply.len() {
            assert!(Reply::parse(&reply[..cut]).is_err(), "cut at {cut}");
        }
    }
}
