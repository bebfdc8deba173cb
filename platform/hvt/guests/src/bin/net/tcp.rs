//! A minimal TCP echo responder on raw frames (RFC 9293 subset), enough for a host client
//! to connect, send data, half-close and read the echo back:
//!
//! - passive open on one port: SYN → SYN-ACK (MSS option only, so the peer turns off window
//!   scaling, timestamps and SACK), repeated SYNs get the same SYN-ACK;
//! - in-order data is acknowledged and echoed in the same segment (split to the peer's
//!   MSS); out-of-order or duplicate data gets a duplicate ACK and is dropped;
//! - a FIN from the peer is acknowledged together with our own FIN; the connection ends
//!   when the peer acknowledges it (counted in [`TcpEcho::completed`]);
//! - unacknowledged SYN-ACK, data and FIN are retransmitted after [`RTO_NS`] by [`TcpEcho::tick`];
//! - RST for segments that belong to no connection; an incoming RST drops the connection.
//!
//! No congestion control and no window management beyond a cap on buffered echo data: it is
//! a test guest on a tap, not a stack.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::{ETH_HLEN, ETHERTYPE_IPV4, be16, checksum};

pub const IPPROTO_TCP: u8 = 6;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
/// Retransmission timeout.
pub const RTO_NS: u64 = 200_000_000;
/// Retransmissions before a connection is dropped.
const MAX_RETRIES: u32 = 20;
/// Echo data kept for retransmission, per connection; more is not accepted (the peer resends).
const MAX_BUFFERED: usize = 256 * 1024;
/// Our receive window (no scaling).
const WINDOW: u16 = 65535;

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// `a < b` in sequence space.
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn seq_le(a: u32, b: u32) -> bool {
    a == b || seq_lt(a, b)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    SynReceived,
    Established,
    /// Our FIN is sent (after the peer's); waiting for its ACK.
    LastAck,
}

struct Conn {
    peer_mac: [u8; 6],
    peer_ip: [u8; 4],
    peer_port: u16,
    state: State,
    iss: u32,
    rcv_nxt: u32,
    snd_una: u32,
    snd_nxt: u32,
    /// Echo data not yet acknowledged; `buf[0]` has sequence number `buf_seq`.
    buf: VecDeque<u8>,
    buf_seq: u32,
    fin_seq: Option<u32>,
    peer_mss: usize,
    last_tx: u64,
    retries: u32,
}

/// One outgoing segment, before framing.
struct Seg<'a> {
    seq: u32,
    ack: u32,
    flags: u8,
    mss_option: Option<u16>,
    data: &'a [u8],
}

pub struct TcpEcho {
    mac: [u8; 6],
    ip: [u8; 4],
    port: u16,
    mss: usize,
    conns: Vec<Conn>,
    ip_id: u16,
    /// Frames to send, drained by the caller.
    pub outbox: Vec<Vec<u8>>,
    /// Connections closed cleanly (FIN exchanged and acknowledged).
    pub completed: u64,
    /// Segments dropped as malformed (bad length or checksum).
    pub dropped: u64,
}

impl TcpEcho {
    pub fn new(mac: [u8; 6], ip: [u8; 4], port: u16, mtu: u16) -> TcpEcho {
        TcpEcho {
            mac,
            ip,
            port,
            mss: usize::from(mtu).saturating_sub(40).max(536),
            conns: Vec::new(),
            ip_id: 1,
            outbox: Vec::new(),
            completed: 0,
            dropped: 0,
        }
    }

    /// Whether some connection waits for an acknowledgement (the caller then polls with a
    /// short timeout so that [`TcpEcho::tick`] can retransmit).
    pub fn pending(&self) -> bool {
        self.conns.iter().any(|c| c.snd_una != c.snd_nxt)
    }

    /// Builds one Ethernet + IPv4 + TCP frame into the outbox.
    fn emit(&mut self, peer_mac: [u8; 6], peer_ip: [u8; 4], peer_port: u16, s: &Seg<'_>) {
        let opt_len = if s.mss_option.is_some() { 4 } else { 0 };
        let tcp_len = 20 + opt_len + s.data.len();
        let ip_len = 20 + tcp_len;
        let mut f = alloc::vec![0u8; ETH_HLEN + ip_len];
        f[0..6].copy_from_slice(&peer_mac);
        f[6..12].copy_from_slice(&self.mac);
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = &mut f[ETH_HLEN..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
        ip[8] = 64;
        ip[9] = IPPROTO_TCP;
        ip[12..16].copy_from_slice(&self.ip);
        ip[16..20].copy_from_slice(&peer_ip);
        let c = checksum(0, &ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let t = &mut ip[20..];
        t[0..2].copy_from_slice(&self.port.to_be_bytes());
        t[2..4].copy_from_slice(&peer_port.to_be_bytes());
        t[4..8].copy_from_slice(&s.seq.to_be_bytes());
        t[8..12].copy_from_slice(&s.ack.to_be_bytes());
        t[12] = (((20 + opt_len) / 4) as u8) << 4;
        t[13] = s.flags;
        t[14..16].copy_from_slice(&WINDOW.to_be_bytes());
        if let Some(mss) = s.mss_option {
            t[20] = 2;
            t[21] = 4;
            t[22..24].copy_from_slice(&mss.to_be_bytes());
        }
        t[20 + opt_len..].copy_from_slice(s.data);
        let c = checksum(pseudo_sum(&self.ip, &peer_ip, tcp_len), t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        self.outbox.push(f);
    }

    fn emit_conn(&mut self, i: usize, seq: u32, flags: u8, data: &[u8]) {
        let c = &self.conns[i];
        let (mac, ip, port) = (c.peer_mac, c.peer_ip, c.peer_port);
        let seg = Seg { seq, ack: c.rcv_nxt, flags, mss_option: None, data };
        self.emit(mac, ip, port, &seg);
    }

    fn emit_synack(&mut self, i: usize) {
        let c = &self.conns[i];
        let (mac, ip, port) = (c.peer_mac, c.peer_ip, c.peer_port);
        let mss = self.mss as u16;
        let seg = Seg { seq: c.iss, ack: c.rcv_nxt, flags: SYN | ACK, mss_option: Some(mss), data: &[] };
        self.emit(mac, ip, port, &seg);
    }

    /// Sends `len` bytes of connection `i`'s buffer starting at buffer offset `from`, in
    /// segments of at most the peer's MSS.
    fn emit_data(&mut self, i: usize, from: usize, len: usize) {
        let seg_max = self.conns[i].peer_mss.min(self.mss);
        let mut off = from;
        while off < from + len {
            let n = seg_max.min(from + len - off);
            let c = &self.conns[i];
            let chunk: Vec<u8> = c.buf.range(off..off + n).copied().collect();
            let seq = c.buf_seq.wrapping_add(off as u32);
            self.emit_conn(i, seq, ACK | PSH, &chunk);
            off += n;
        }
    }

    /// Handles one TCP segment (`seg` = TCP header and payload) from `peer_ip`/`peer_mac`.
    pub fn input(&mut self, now: u64, peer_mac: [u8; 6], peer_ip: [u8; 4], seg: &[u8]) {
        if seg.len() < 20 || checksum(pseudo_sum(&peer_ip, &self.ip, seg.len()), seg) != 0 {
            self.dropped += 1;
            return;
        }
        let doff = usize::from(seg[12] >> 4) * 4;
        if doff < 20 || doff > seg.len() {
            self.dropped += 1;
            return;
        }
        let (sport, dport) = (be16(seg, 0), be16(seg, 2));
        let (seq, ack) = (be32(seg, 4), be32(seg, 8));
        let flags = seg[13];
        let data = &seg[doff..];
        let found = self.conns.iter().position(|c| c.peer_ip == peer_ip && c.peer_port == sport);
        let found = if dport == self.port { found } else { None };
        if flags & RST != 0 {
            if let Some(i) = found {
                self.conns.swap_remove(i);
            }
            return;
        }
        let is_syn = flags & (SYN | ACK) == SYN;
        if dport == self.port && is_syn {
            if let Some(i) = found {
                let c = &self.conns[i];
                if c.state == State::SynReceived && c.rcv_nxt == seq.wrapping_add(1) {
                    self.emit_synack(i); // our SYN-ACK was lost
                    return;
                }
                self.conns.swap_remove(i);
            }
            let iss = (now as u32) ^ (u32::from(sport) << 16) ^ u32::from_be_bytes(peer_ip);
            self.conns.push(Conn {
                peer_mac,
                peer_ip,
                peer_port: sport,
                state: State::SynReceived,
                iss,
                rcv_nxt: seq.wrapping_add(1),
                snd_una: iss,
                snd_nxt: iss.wrapping_add(1),
                buf: VecDeque::new(),
                buf_seq: iss.wrapping_add(1),
                fin_seq: None,
                peer_mss: mss_option(&seg[20..doff]).map_or(536, usize::from),
                last_tx: now,
                retries: 0,
            });
            self.emit_synack(self.conns.len() - 1);
            return;
        }
        let Some(i) = found else {
            // No connection: reset (RFC 9293 §3.10.7.1).
            let seg_len = data.len() as u32 + u32::from(flags & SYN != 0) + u32::from(flags & FIN != 0);
            let reply = if flags & ACK != 0 {
                Seg { seq: ack, ack: 0, flags: RST, mss_option: None, data: &[] }
            } else {
                Seg { seq: 0, ack: seq.wrapping_add(seg_len), flags: RST | ACK, mss_option: None, data: &[] }
            };
            self.emit(peer_mac, peer_ip, sport, &reply);
            return;
        };
        if flags & ACK == 0 {
            return;
        }
        let c = &mut self.conns[i];
        if seq_lt(c.snd_una, ack) && seq_le(ack, c.snd_nxt) {
            c.snd_una = ack;
            if c.state == State::SynReceived {
                c.state = State::Established;
            }
            let acked = (ack.wrapping_sub(c.buf_seq) as i32).max(0) as usize;
            let acked = acked.min(c.buf.len());
            c.buf.drain(..acked);
            c.buf_seq = c.buf_seq.wrapping_add(acked as u32);
            c.last_tx = now;
            c.retries = 0;
            if c.state == State::LastAck && c.fin_seq.is_some_and(|f| ack == f.wrapping_add(1)) {
                self.conns.swap_remove(i);
                self.completed += 1;
                return;
            }
        }
        let fin = flags & FIN != 0;
        if data.is_empty() && !fin {
            return;
        }
        let c = &mut self.conns[i];
        if seq != c.rcv_nxt || c.state != State::Established {
            let snd_nxt = c.snd_nxt;
            self.emit_conn(i, snd_nxt, ACK, &[]); // duplicate ACK
            return;
        }
        if !data.is_empty() {
            if c.buf.len() + data.len() > MAX_BUFFERED {
                let snd_nxt = c.snd_nxt;
                self.emit_conn(i, snd_nxt, ACK, &[]);
                return;
            }
            let from = c.buf.len();
            c.buf.extend(data.iter().copied());
            c.rcv_nxt = c.rcv_nxt.wrapping_add(data.len() as u32);
            c.snd_nxt = c.snd_nxt.wrapping_add(data.len() as u32);
            c.last_tx = now;
            self.emit_data(i, from, data.len());
        }
        if fin {
            let c = &mut self.conns[i];
            c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
            let fin_seq = c.snd_nxt;
            c.fin_seq = Some(fin_seq);
            c.snd_nxt = c.snd_nxt.wrapping_add(1);
            c.state = State::LastAck;
            c.last_tx = now;
            self.emit_conn(i, fin_seq, FIN | ACK, &[]);
        }
    }

    /// Retransmits what is unacknowledged after [`RTO_NS`]; drops connections that never answer.
    pub fn tick(&mut self, now: u64) {
        let mut i = 0;
        while i < self.conns.len() {
            let c = &mut self.conns[i];
            if c.snd_una == c.snd_nxt || now.saturating_sub(c.last_tx) < RTO_NS {
                i += 1;
                continue;
            }
            if c.retries >= MAX_RETRIES {
                self.conns.swap_remove(i);
                continue;
            }
            c.retries += 1;
            c.last_tx = now;
            if c.state == State::SynReceived {
                self.emit_synack(i);
            } else if !c.buf.is_empty() {
                let n = c.buf.len().min(4 * c.peer_mss.min(self.mss));
                self.emit_data(i, 0, n);
            } else if let Some(f) = c.fin_seq {
                self.emit_conn(i, f, FIN | ACK, &[]);
            }
            i += 1;
        }
    }
}

/// The TCP pseudo-header's partial sum.
fn pseudo_sum(src: &[u8; 4], dst: &[u8; 4], tcp_len: usize) -> u32 {
    let mut sum = u32::from(IPPROTO_TCP) + tcp_len as u32;
    for c in src.chunks_exact(2).chain(dst.chunks_exact(2)) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    sum
}

/// The MSS option of a SYN, if present and well-formed.
fn mss_option(mut opts: &[u8]) -> Option<u16> {
    while let [kind, rest @ ..] = opts {
        match kind {
            0 => return None,
            1 => opts = rest,
            _ => {
                let len = usize::from(*rest.first()?);
                if len < 2 || len > opts.len() {
                    return None;
                }
                if *kind == 2 && len == 4 {
                    return Some(u16::from_be_bytes([opts[2], opts[3]]));
                }
                opts = &opts[len..];
            }
        }
    }
    None
}
