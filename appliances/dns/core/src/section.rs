//! The sections of a DNS message that carry records (RFC 1035 §4.1): a leaf module
//! shared by the resolver (`query`) and the dispatcher (`server`).

/// Which section an rrset goes to, in message order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}
