//! Receive offload of the tap: with `IFF_VNET_HDR` and `TUNSETOFFLOAD`, the
//! kernel hands over TCP segments of up to 64 KiB (its own TSO/GSO batches,
//! not yet cut to the MTU) with a `virtio_net_hdr` in front, and leaves
//! checksums of locally generated packets unfinished. One read then carries
//! what would otherwise take dozens, and the kernel skips segmenting and
//! checksumming. This module cuts such a batch into MTU-sized frames and
//! finishes checksums, so that the [`Net`](platform::net::Net) user still
//! sees ordinary, complete Ethernet frames.

/// Size of `struct virtio_net_hdr` (the tap's default `TUNSETVNETHDRSZ`).
pub(crate) const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start +
/// csum_offset` holds only the pseudo-header sum.
const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
/// Set in `gso_type` together with a TCP type when the batch has ECN's CWR.
const GSO_ECN: u8 = 0x80;

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// The fields of a `virtio_net_hdr` we use (little-endian on the tap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VnetHdr {
    flags: u8,
    gso_type: u8,
    gso_size: u16,
    csum_start: u16,
    csum_offset: u16,
}

impl VnetHdr {
    pub(crate) fn parse(b: &[u8; VNET_HDR_LEN]) -> VnetHdr {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        VnetHdr { flags: b[0], gso_type: b[1], gso_size: u16_at(4), csum_start: u16_at(6), csum_offset: u16_at(8) }
    }

    /// A batch to cut into several frames (`false`: one frame as it is).
    pub(crate) fn is_gso(&self) -> bool {
        self.gso_type & !GSO_ECN != GSO_NONE
    }
}

/// Why a frame the kernel handed over cannot be passed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Headers too short or inconsistent, or a GSO kind we did not ask for.
    Malformed,
}

/// Finishes the checksum of a frame marked `NEEDS_CSUM`: the 16-bit field at
/// `csum_start + csum_offset` holds the pseudo-header sum, and the one's
/// complement sum runs from `csum_start` to the end of the frame.
pub(crate) fn finish_checksum(hdr: &VnetHdr, frame: &mut [u8]) -> Result<(), Bad> {
    if hdr.flags & F_NEEDS_CSUM == 0 {
        return Ok(());
    }
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > frame.len() {
        return Err(Bad::Malformed);
    }
    let sum = fold(add(&frame[start..], 0));
    // A UDP checksum of zero means "none"; one's complement has two zeros.
    let c = match !sum {
        0 => 0xffff,
        c => c,
    };
    frame[at..at + 2].copy_from_slice(&c.to_ne_bytes());
    Ok(())
}

/// Where the pieces of a TCP batch are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Batch {
    ipv6: bool,
    /// Offset of the TCP header (after Ethernet and IP headers).
    tcp_at: usize,
    /// Length of all headers, Ethernet to TCP options.
    hdr_len: usize,
    mss: usize,
    /// Payload bytes of the whole batch.
    payload: usize,
}

impl Batch {
    /// Checks the headers of a GSO batch of `len` bytes and where it splits.
    pub(crate) fn parse(hdr: &VnetHdr, frame: &[u8], capacity: usize) -> Result<Batch, Bad> {
        let bad = Err(Bad::Malformed);
        if frame.len() < ETH_LEN {
            return bad;
        }
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let (ipv6, tcp_at) = match (hdr.gso_type & !GSO_ECN, ethertype) {
            (GSO_TCPV4, ETHERTYPE_IPV4) => {
                let ip = &frame[ETH_LEN..];
                if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != IPPROTO_TCP {
                    return bad;
                }
                (false, ETH_LEN + usize::from(ip[0] & 0x0f) * 4)
            }
            // Only a TCP header right after the fixed header: the kernel's
            // own batches carry no extension headers.
            (GSO_TCPV6, ETHERTYPE_IPV6) => {
                let ip = &frame[ETH_LEN..];
                if ip.len() < 40 || ip[0] >> 4 != 6 || ip[6] != IPPROTO_TCP {
                    return bad;
                }
                (true, ETH_LEN + 40)
            }
            _ => return bad,
        };
        if frame.len() < tcp_at + 20 {
            return bad;
        }
        let hdr_len = tcp_at + usize::from(frame[tcp_at + 12] >> 4) * 4;
        let mss = usize::from(hdr.gso_size);
        if hdr_len > frame.len() || mss == 0 || hdr_len + mss > capacity {
            return bad;
        }
        Ok(Batch { ipv6, tcp_at, hdr_len, mss, payload: frame.len() - hdr_len })
    }

    /// How many frames the batch makes.
    pub(crate) fn count(&self) -> usize {
        self.payload.div_ceil(self.mss).max(1)
    }

    /// Writes frame `k` of the batch `frame` into `out`; returns its length.
    /// `out` must hold `hdr_len + mss` bytes (checked by [`Batch::parse`]
    /// against the device's frame capacity).
    pub(crate) fn segment(&self, frame: &[u8], k: usize, out: &mut [u8]) -> usize {
        let from = self.hdr_len + k * self.mss;
        let seg = self.mss.min(frame.len() - from);
        let len = self.hdr_len + seg;
        let out = &mut out[..len];
        out[..self.hdr_len].copy_from_slice(&frame[..self.hdr_len]);
        out[self.hdr_len..].copy_from_slice(&frame[from..from + seg]);
        let tcp_len = len - self.tcp_at;
        if self.ipv6 {
            let plen = u16::try_from(tcp_len).unwrap_or(u16::MAX);
            out[ETH_LEN + 4..ETH_LEN + 6].copy_from_slice(&plen.to_be_bytes());
        } else {
            let ip = &mut out[ETH_LEN..self.tcp_at];
            let total = u16::try_from(len - ETH_LEN).unwrap_or(u16::MAX);
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            // Each segment gets the next identification, as the kernel's
            // own segmentation does.
            let id = u16::from_be_bytes([ip[4], ip[5]]).wrapping_add(k as u16);
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            ip[10..12].fill(0);
            let c = !fold(add(ip, 0));
            ip[10..12].copy_from_slice(&c.to_ne_bytes());
        }
        let tcp_at = self.tcp_at;
        let seq = u32::from_be_bytes(out[tcp_at + 4..tcp_at + 8].try_into().unwrap_or([0; 4]));
        let seq = seq.wrapping_add((k * self.mss) as u32);
        out[tcp_at + 4..tcp_at + 8].copy_from_slice(&seq.to_be_bytes());
        // FIN and PSH belong to the last segment, CWR to the first.
        let last = k + 1 == self.count();
        let mut flags = out[tcp_at + 13];
        if !last {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if k > 0 {
            flags &= !TCP_CWR;
        }
        out[tcp_at + 13] = flags;
        out[tcp_at + 16..tcp_at + 18].fill(0);
        // Pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1), then the segment.
        let mut acc =
            if self.ipv6 { add(&out[ETH_LEN + 8..ETH_LEN + 40], 0) } else { add(&out[ETH_LEN + 12..ETH_LEN + 20], 0) };
        let mut tail = [0u8; 8];
        tail[..4].copy_from_slice(&(tcp_len as u32).to_be_bytes());
        tail[7] = IPPROTO_TCP;
        acc = add(&tail, acc);
        let c = !fold(add(&out[tcp_at..], acc));
        out[tcp_at + 16..tcp_at + 18].copy_from_slice(&c.to_ne_bytes());
        len
    }
}

/// Transmit offload: consecutive TCP segments of one connection, as a stack
/// sends them in one burst, joined into one batch that the kernel takes in
/// one write (`virtio_net_hdr` with `GSO_TCPV4`/`GSO_TCPV6`). A local
/// receiver gets the batch as one packet; anything forwarded is cut again by
/// the kernel exactly along the original segment boundaries (all segments
/// but the last have the first one's size, and headers are equal but for
/// what segmentation rewrites).
pub(crate) struct TxBatch {
    /// `virtio_net_hdr`, then the first frame's headers, then all payloads.
    buf: Vec<u8>,
    /// Bytes of `buf` in use (0: no batch).
    used: usize,
    ipv6: bool,
    tcp_at: usize,
    /// Ethernet to TCP options, as in the first frame.
    hdr_len: usize,
    /// Payload of each segment but the last.
    mss: usize,
    segments: usize,
    next_seq: u32,
    /// The last segment was short or had PSH: nothing may follow.
    closed: bool,
    /// The last segment had PSH.
    push: bool,
}

/// TCP flags a segment may carry to be joined (ACK, PSH).
const TCP_ACK: u8 = 0x10;

impl TxBatch {
    pub(crate) fn new() -> TxBatch {
        TxBatch {
            buf: vec![0; VNET_HDR_LEN + MAX_IP_BATCH + ETH_LEN],
            used: 0,
            ipv6: false,
            tcp_at: 0,
            hdr_len: 0,
            mss: 0,
            segments: 0,
            next_seq: 0,
            closed: false,
            push: false,
        }
    }

    /// Adds `frame` to the batch; false when it cannot join it (then flush
    /// and [`TxBatch::start`] anew).
    pub(crate) fn append(&mut self, frame: &[u8]) -> bool {
        if self.used == 0 || self.closed {
            return false;
        }
        let Some(seg) = tcp_segment(frame) else { return false };
        let (h, t) = (self.hdr_len, self.tcp_at);
        let first = &self.buf[VNET_HDR_LEN..VNET_HDR_LEN + h];
        let payload = frame.len() - seg.hdr_len;
        let same_headers = seg.hdr_len == h
            && seg.tcp_at == t
            && seg.ipv6 == self.ipv6
            // Ethernet header, and IP addresses and all else but lengths,
            // identification and checksum.
            && frame[..ETH_LEN] == first[..ETH_LEN]
            && if self.ipv6 {
                frame[ETH_LEN..ETH_LEN + 4] == first[ETH_LEN..ETH_LEN + 4]
                    && frame[ETH_LEN + 6..t] == first[ETH_LEN + 6..t]
            } else {
                frame[ETH_LEN..ETH_LEN + 2] == first[ETH_LEN..ETH_LEN + 2]
                    && frame[ETH_LEN + 6..ETH_LEN + 10] == first[ETH_LEN + 6..ETH_LEN + 10]
                    && frame[ETH_LEN + 12..t] == first[ETH_LEN + 12..t]
            }
            // Ports, then acknowledgment, data offset, flags but PSH,
            // window, urgent pointer and options.
            && frame[t..t + 4] == first[t..t + 4]
            && frame[t + 8..t + 13] == first[t + 8..t + 13]
            && frame[t + 13] & !TCP_PSH == first[t + 13] & !TCP_PSH
            && frame[t + 14..t + 16] == first[t + 14..t + 16]
            && frame[t + 18..h] == first[t + 18..h];
        if !same_headers
            || seg.seq != self.next_seq
            || payload > self.mss
            || self.used + payload > self.buf.len()
            || self.used - VNET_HDR_LEN - ETH_LEN + payload > MAX_IP_BATCH
        {
            return false;
        }
        self.buf[self.used..self.used + payload].copy_from_slice(&frame[seg.hdr_len..]);
        self.used += payload;
        self.segments += 1;
        self.next_seq = self.next_seq.wrapping_add(payload as u32);
        self.push = frame[t + 13] & TCP_PSH != 0;
        self.closed = payload < self.mss || self.push;
        true
    }

    /// Starts a batch with `frame`; false when it is not a TCP segment that
    /// could be joined (then send it alone).
    pub(crate) fn start(&mut self, frame: &[u8]) -> bool {
        let Some(seg) = tcp_segment(frame) else { return false };
        let payload = frame.len() - seg.hdr_len;
        self.buf[VNET_HDR_LEN..VNET_HDR_LEN + frame.len()].copy_from_slice(frame);
        self.used = VNET_HDR_LEN + frame.len();
        self.ipv6 = seg.ipv6;
        self.tcp_at = seg.tcp_at;
        self.hdr_len = seg.hdr_len;
        self.mss = payload;
        self.segments = 1;
        self.next_seq = seg.seq.wrapping_add(payload as u32);
        self.push = frame[seg.tcp_at + 13] & TCP_PSH != 0;
        self.closed = self.push;
        true
    }

    /// The batch as `virtio_net_hdr` and frame, ready to write; empties it.
    pub(crate) fn take(&mut self) -> Option<&[u8]> {
        if self.used == 0 {
            return None;
        }
        let used = std::mem::take(&mut self.used);
        let (t, h) = (self.tcp_at, self.hdr_len);
        let buf = &mut self.buf[..used];
        buf[..VNET_HDR_LEN].fill(0);
        if self.segments == 1 {
            // One frame, complete as the stack built it.
            return Some(buf);
        }
        let frame = &mut buf[VNET_HDR_LEN..];
        let len = frame.len();
        let tcp_len = len - t;
        // The last segment's PSH goes on the batch (the kernel keeps PSH on
        // the last segment only).
        if self.push {
            frame[t + 13] |= TCP_PSH;
        }
        if self.ipv6 {
            let plen = (len - ETH_LEN - 40) as u16;
            frame[ETH_LEN + 4..ETH_LEN + 6].copy_from_slice(&plen.to_be_bytes());
        } else {
            let ip = &mut frame[ETH_LEN..t];
            ip[2..4].copy_from_slice(&((len - ETH_LEN) as u16).to_be_bytes());
            ip[10..12].fill(0);
            let c = !fold(add(ip, 0));
            ip[10..12].copy_from_slice(&c.to_ne_bytes());
        }
        // With NEEDS_CSUM the checksum field holds the pseudo-header sum
        // (not complemented); the kernel finishes it where it is needed.
        let mut tail = [0u8; 8];
        tail[..4].copy_from_slice(&(tcp_len as u32).to_be_bytes());
        tail[7] = IPPROTO_TCP;
        let pseudo = if self.ipv6 {
            add(&frame[ETH_LEN + 8..ETH_LEN + 40], add(&tail, 0))
        } else {
            add(&frame[ETH_LEN + 12..ETH_LEN + 20], add(&tail, 0))
        };
        frame[t + 16..t + 18].copy_from_slice(&fold(pseudo).to_ne_bytes());
        let hdr = &mut buf[..VNET_HDR_LEN];
        hdr[0] = F_NEEDS_CSUM;
        hdr[1] = if self.ipv6 { GSO_TCPV6 } else { GSO_TCPV4 };
        hdr[2..4].copy_from_slice(&(h as u16).to_le_bytes());
        hdr[4..6].copy_from_slice(&(self.mss as u16).to_le_bytes());
        hdr[6..8].copy_from_slice(&(t as u16).to_le_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
        Some(buf)
    }
}

/// The largest IP packet of a batch.
const MAX_IP_BATCH: usize = 65535;

/// Where the headers of a joinable TCP segment are.
struct Segment {
    ipv6: bool,
    tcp_at: usize,
    hdr_len: usize,
    seq: u32,
}

/// A TCP segment with payload and only ACK (and PSH) set, in an IPv4 packet
/// without options or fragmentation, or an IPv6 packet without extension
/// headers, whose lengths match the frame.
fn tcp_segment(frame: &[u8]) -> Option<Segment> {
    if frame.len() < ETH_LEN + 40 {
        return None;
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &frame[ETH_LEN..];
    let (ipv6, tcp_at) = match ethertype {
        ETHERTYPE_IPV4 => {
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
            if ip[0] != 0x45 || ip[9] != IPPROTO_TCP || frag != 0 || total != ip.len() {
                return None;
            }
            (false, ETH_LEN + 20)
        }
        ETHERTYPE_IPV6 => {
            let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            if ip.len() < 60 || ip[0] >> 4 != 6 || ip[6] != IPPROTO_TCP || plen + 40 != ip.len() {
                return None;
            }
            (true, ETH_LEN + 40)
        }
        _ => return None,
    };
    if frame.len() < tcp_at + 20 {
        return None;
    }
    let hdr_len = tcp_at + usize::from(frame[tcp_at + 12] >> 4) * 4;
    let flags = frame[tcp_at + 13];
    if hdr_len < tcp_at + 20 || hdr_len >= frame.len() || flags & !(TCP_ACK | TCP_PSH) != 0 || flags & TCP_ACK == 0 {
        return None;
    }
    let seq = u32::from_be_bytes([frame[tcp_at + 4], frame[tcp_at + 5], frame[tcp_at + 6], frame[tcp_at + 7]]);
    Some(Segment { ipv6, tcp_at, hdr_len, seq })
}

/// Adds `data` to a one's complement accumulator in native byte order, 8
/// bytes at a time (RFC 1071 §2: the sum is independent of byte order and
/// may be taken over wider words, then folded). `data` starts at an even
/// offset of the summed region; a short tail is zero-padded.
fn add(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let (s, carry) = acc.overflowing_add(u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])));
        acc = s + u64::from(carry);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        let (s, carry) = acc.overflowing_add(u64::from_ne_bytes(last));
        acc = s + u64::from(carry);
    }
    acc
}

/// Folds a 64-bit accumulator to 16 bits (native byte order).
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 1071 checksum, 16 bits at a time, big-endian: the reference.
    fn reference(parts: &[&[u8]]) -> u16 {
        let mut bytes = Vec::new();
        for p in parts {
            bytes.extend_from_slice(p);
        }
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut sum: u32 = 0;
        for w in bytes.chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn valid_ipv4_tcp(f: &[u8]) -> bool {
        let ip = &f[ETH_LEN..ETH_LEN + 20];
        let tcp = &f[ETH_LEN + 20..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ip[12..20]);
        pseudo.extend_from_slice(&[0, IPPROTO_TCP]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        reference(&[ip]) == 0 && reference(&[&pseudo, tcp]) == 0
    }

    /// An Ethernet + IPv4 + TCP batch with `payload` bytes, as the kernel
    /// hands it over (lengths of the whole batch, checksum unfinished).
    fn batch_v4(payload: usize, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; ETH_LEN + 20 + 20];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = &mut f[ETH_LEN..ETH_LEN + 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&0xfffeu16.to_be_bytes());
        ip[8] = 64;
        ip[9] = IPPROTO_TCP;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let tcp = &mut f[ETH_LEN + 20..];
        tcp[0..2].copy_from_slice(&5555u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&9u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        tcp[16..18].copy_from_slice(&[0x12, 0x34]);
        f.extend((0..payload).map(|i| (i * 7 % 256) as u8));
        f
    }

    #[test]
    fn a_tcp_v4_batch_becomes_valid_mss_sized_segments() {
        let payload = 3 * 1448 + 100;
        let frame = batch_v4(payload, 0x18 | TCP_FIN | TCP_CWR); // PSH|ACK|FIN|CWR
        let hdr = VnetHdr { flags: F_NEEDS_CSUM, gso_type: GSO_TCPV4, gso_size: 1448, csum_start: 34, csum_offset: 16 };
        let b = Batch::parse(&hdr, &frame, 1514).unwrap();
        assert_eq!(b.count(), 4);
        let mut out = vec![0u8; 1514];
        let mut data = Vec::new();
        for k in 0..4 {
            let n = b.segment(&frame, k, &mut out);
            let f = &out[..n];
            assert_eq!(n, 54 + if k < 3 { 1448 } else { 100 });
            assert!(valid_ipv4_tcp(f), "segment {k} has a bad checksum");
            assert_eq!(u16::from_be_bytes([f[16], f[17]]) as usize, n - ETH_LEN);
            assert_eq!(u16::from_be_bytes([f[18], f[19]]), 0xfffeu16.wrapping_add(k as u16));
            let seq = u32::from_be_bytes(f[38..42].try_into().unwrap());
            assert_eq!(seq, 0xffff_fff0u32.wrapping_add(1448 * k as u32));
            let flags = f[47];
            assert_eq!(flags & TCP_FIN != 0, k == 3);
            assert_eq!(flags & TCP_PSH != 0, k == 3);
            assert_eq!(flags & TCP_CWR != 0, k == 0);
            data.extend_from_slice(&f[54..]);
        }
        assert_eq!(data, frame[54..]);
    }

    #[test]
    fn a_tcp_v6_batch_becomes_valid_segments() {
        let payload = 2000;
        let mut f = vec![0u8; ETH_LEN + 40 + 32];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        f[ETH_LEN] = 0x60;
        f[ETH_LEN + 6] = IPPROTO_TCP;
        f[ETH_LEN + 7] = 64;
        f[ETH_LEN + 8] = 0xfd;
        f[ETH_LEN + 39] = 1;
        f[ETH_LEN + 24] = 0xfd;
        f[ETH_LEN + 55] = 2;
        f[ETH_LEN + 40 + 12] = 8 << 4; // 12 bytes of options
        f.extend((0..payload).map(|i| (i % 253) as u8));
        let hdr = VnetHdr { flags: F_NEEDS_CSUM, gso_type: GSO_TCPV6, gso_size: 1200, csum_start: 54, csum_offset: 16 };
        let b = Batch::parse(&hdr, &f, 1514).unwrap();
        assert_eq!(b.count(), 2);
        let mut out = vec![0u8; 1514];
        for k in 0..2 {
            let n = b.segment(&f, k, &mut out);
            let s = &out[..n];
            let tcp = &s[ETH_LEN + 40..];
            assert_eq!(u16::from_be_bytes([s[18], s[19]]) as usize, tcp.len());
            let mut pseudo = s[ETH_LEN + 8..ETH_LEN + 40].to_vec();
            pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_TCP]);
            assert_eq!(reference(&[&pseudo, tcp]), 0, "segment {k}");
        }
    }

    #[test]
    fn an_unfinished_checksum_is_finished() {
        // A single segment with the pseudo-header sum in the checksum field,
        // as the kernel leaves it for the device.
        let mut f = batch_v4(333, 0x18);
        let tcp_len = f.len() - 34;
        let mut pseudo = f[26..34].to_vec();
        pseudo.extend_from_slice(&[0, IPPROTO_TCP]);
        pseudo.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        let partial = !reference(&[&pseudo]);
        f[50..52].copy_from_slice(&partial.to_be_bytes());
        let ip_sum = reference(&[&f[14..34]]);
        f[24..26].copy_from_slice(&ip_sum.to_be_bytes());
        let hdr = VnetHdr { flags: F_NEEDS_CSUM, gso_type: GSO_NONE, gso_size: 0, csum_start: 34, csum_offset: 16 };
        finish_checksum(&hdr, &mut f).unwrap();
        assert!(valid_ipv4_tcp(&f));
        // Out of range: refused, not a panic.
        let hdr = VnetHdr { csum_start: 2000, ..hdr };
        assert_eq!(finish_checksum(&hdr, &mut f), Err(Bad::Malformed));
    }

    #[test]
    fn malformed_batches_are_refused() {
        let frame = batch_v4(3000, 0x10);
        let hdr = VnetHdr { flags: F_NEEDS_CSUM, gso_type: GSO_TCPV4, gso_size: 1448, csum_start: 34, csum_offset: 16 };
        assert!(Batch::parse(&hdr, &frame[..20], 1514).is_err());
        assert!(Batch::parse(&VnetHdr { gso_size: 0, ..hdr }, &frame, 1514).is_err());
        assert!(Batch::parse(&VnetHdr { gso_size: 1500, ..hdr }, &frame, 1514).is_err());
        assert!(Batch::parse(&VnetHdr { gso_type: GSO_TCPV6, ..hdr }, &frame, 1514).is_err());
        assert!(Batch::parse(&VnetHdr { gso_type: 3, ..hdr }, &frame, 1514).is_err());
    }

    /// A complete IPv4 segment with `payload` bytes starting at `seq`.
    fn segment_v4(seq: u32, payload: &[u8], flags: u8) -> Vec<u8> {
        let mut f = batch_v4(0, flags);
        f[38..42].copy_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(payload);
        let total = (f.len() - ETH_LEN) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[24..26].fill(0);
        let c = reference(&[&f[14..34]]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[50..52].fill(0);
        let tcp_len = f.len() - 34;
        let mut pseudo = f[26..34].to_vec();
        pseudo.extend_from_slice(&[0, IPPROTO_TCP]);
        pseudo.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        let c = reference(&[&pseudo, &f[34..]]);
        f[50..52].copy_from_slice(&c.to_be_bytes());
        assert!(valid_ipv4_tcp(&f));
        f
    }

    #[test]
    fn a_burst_is_joined_and_cuts_back_into_the_same_segments() {
        let data: Vec<u8> = (0..4000u32).map(|i| (i % 249) as u8).collect();
        let segs = [
            segment_v4(1000, &data[..1448], TCP_ACK),
            segment_v4(2448, &data[1448..2896], TCP_ACK),
            segment_v4(3896, &data[2896..], TCP_ACK | TCP_PSH),
        ];
        let mut tx = TxBatch::new();
        assert!(tx.start(&segs[0]));
        assert!(tx.append(&segs[1]));
        assert!(tx.append(&segs[2]));
        // After PSH nothing more joins.
        assert!(!tx.append(&segment_v4(5000, &data[..10], TCP_ACK)));
        let out = tx.take().unwrap().to_vec();
        assert!(tx.take().is_none());
        let mut raw = [0u8; VNET_HDR_LEN];
        raw.copy_from_slice(&out[..VNET_HDR_LEN]);
        let hdr = VnetHdr::parse(&raw);
        assert_eq!((hdr.flags, hdr.gso_type, hdr.gso_size), (F_NEEDS_CSUM, GSO_TCPV4, 1448));
        let frame = &out[VNET_HDR_LEN..];
        assert_eq!(frame.len(), 54 + 4000);
        assert_eq!(reference(&[&frame[14..34]]), 0, "IP header checksum of the batch");
        // Cutting it as the kernel would gives back the original segments
        // (our receive path does exactly that).
        let b = Batch::parse(&hdr, frame, 1514).unwrap();
        assert_eq!(b.count(), 3);
        let mut buf = vec![0u8; 1514];
        for (k, orig) in segs.iter().enumerate() {
            let n = b.segment(frame, k, &mut buf);
            let mut got = buf[..n].to_vec();
            let mut want = orig.clone();
            // Identification is renumbered from the first.
            got[18..20].fill(0);
            got[24..26].fill(0);
            want[18..20].fill(0);
            want[24..26].fill(0);
            assert_eq!(got, want, "segment {k}");
        }
    }

    #[test]
    fn only_matching_segments_join() {
        let p = [7u8; 100];
        let mut tx = TxBatch::new();
        // Not joinable at all: no payload, SYN, FIN.
        assert!(!tx.start(&segment_v4(1, &[], TCP_ACK)));
        assert!(!tx.start(&segment_v4(1, &p, 0x02)));
        assert!(!tx.start(&segment_v4(1, &p, TCP_ACK | TCP_FIN)));
        assert!(tx.start(&segment_v4(1, &p, TCP_ACK)));
        // A gap in sequence, another port, a larger segment: no.
        assert!(!tx.append(&segment_v4(102, &p, TCP_ACK)));
        let mut other = segment_v4(101, &p, TCP_ACK);
        other[34] ^= 1;
        assert!(!tx.append(&other));
        assert!(!tx.append(&segment_v4(101, &[7u8; 101], TCP_ACK)));
        // A shorter one joins and ends the batch.
        assert!(tx.append(&segment_v4(101, &p[..50], TCP_ACK)));
        assert!(!tx.append(&segment_v4(151, &p, TCP_ACK)));
        // A lone segment goes out as it is.
        let mut tx = TxBatch::new();
        let one = segment_v4(1, &p, TCP_ACK);
        assert!(tx.start(&one));
        let out = tx.take().unwrap();
        assert_eq!(&out[..VNET_HDR_LEN], &[0; VNET_HDR_LEN]);
        assert_eq!(&out[VNET_HDR_LEN..], &one[..]);
    }
}
