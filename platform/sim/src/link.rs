//! Link behaviour: latency, jitter, bandwidth and injected faults.

use std::time::Duration;

/// How frames travel between a host and the switch.
///
/// Every random decision is drawn from the world's seeded generator, so the
/// same seed gives the same losses, duplicates and delays.
///
/// A frame's delivery time at one destination port is
/// `serialisation end + latency + U[0, jitter] (+ U[0, reorder_delay] with
/// probability reorder)`, where the serialisation end accounts for
/// `bandwidth` (frames queue behind each other on the destination port).
/// Jitter and the reorder delay let later frames overtake earlier ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` for every frame.
    pub jitter: Duration,
    /// Probability that a frame is lost (per destination).
    pub loss: f64,
    /// Probability that a frame is delivered twice (each copy gets its own delay).
    pub duplicate: f64,
    /// Probability that a frame is held back by an extra `U[0, reorder_delay]`.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// Bits per second of the destination port; `None`: unlimited.
    pub bandwidth: Option<u64>,
}

impl Default for LinkConfig {
    /// 50 µs latency, no jitter, no faults, unlimited bandwidth.
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_micros(50),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(1),
            bandwidth: None,
        }
    }
}

impl LinkConfig {
    /// No delay at all: frames arrive at the instant they are sent (still
    /// after the sender yields).
    pub fn instant() -> Self {
        LinkConfig { latency: Duration::ZERO, ..Self::default() }
    }
    pub fn latency(mut self, d: Duration) -> Self {
        self.latency = d;
        self
    }
    pub fn jitter(mut self, d: Duration) -> Self {
        self.jitter = d;
        self
    }
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }
    pub fn reorder(mut self, p: f64, max_delay: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = max_delay;
        self
    }
    pub fn bandwidth(mut self, bits_per_second: u64) -> Self {
        self.bandwidth = Some(bits_per_second);
        self
    }
}

/// Counters of the switch (whole world).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Frames hosts handed to their Net devices.
    pub sent: u64,
    /// Frames too short to carry an Ethernet header (dropped).
    pub malformed: u64,
    /// Copies lost by fault injection.
    pub lost: u64,
    /// Extra copies made by fault injection.
    pub duplicated: u64,
    /// Copies held back by the reorder delay.
    pub reordered: u64,
    /// Copies put into a host's receive queue.
    pub delivered: u64,
    /// Copies dropped because the receive queue was full.
    pub rx_dropped: u64,
}

/// Counters of one Net device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub sent: u64,
    pub received: u64,
    /// Arrived while the receive queue was full.
    pub rx_dropped: u64,
    /// Frames the device was asked to send that were shorter than a header.
    pub malformed: u64,
}
