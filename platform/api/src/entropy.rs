//! `Entropy`: seed material for the appliance's random number generators.

/// A source of unpredictable bytes.
///
/// Contract: `fill` always fills the whole buffer (a backend that cannot get
/// entropy halts the appliance rather than return weak bytes silently);
/// `source` names where the bytes come from, for the boot log.
pub trait Entropy {
    fn fill(&self, buf: &mut [u8]);
    fn source(&self) -> &str;
}
