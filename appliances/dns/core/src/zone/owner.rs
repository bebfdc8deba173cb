//! Owner names as stored in a zone: 16 bytes and one small allocation instead of
//! hickory's 80-byte `Name`, which matters at a million names.
//!
//! The bytes are the wire labels (length, octets) in reverse order, root-most first,
//! in the case written. Comparing them label by label, ASCII case folded, a shorter
//! label first, is the canonical DNS name order of RFC 4034 §6.1; and X's descendants
//! are exactly the names whose bytes start with X's bytes (case folded).

use std::cmp::Ordering;

use hickory_proto::rr::Name;

#[derive(Clone, Debug)]
pub(crate) struct Owner(Box<[u8]>);

impl Owner {
    pub(crate) fn new(name: &Name) -> Owner {
        let labels: Vec<&[u8]> = name.iter().collect();
        let mut v = Vec::with_capacity(labels.iter().map(|l| l.len() + 1).sum());
        for l in labels.iter().rev() {
            v.push(l.len() as u8);
            v.extend_from_slice(l);
        }
        Owner(v.into_boxed_slice())
    }

    fn labels(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest: &[u8] = &self.0;
        std::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            let (label, tail) = tail.split_at_checked(usize::from(len))?;
            rest = tail;
            Some(label)
        })
    }

    /// The name, fully qualified, in the case written.
    pub(crate) fn name(&self) -> Name {
        let labels: Vec<&[u8]> = self.labels().collect();
        let mut n = Name::from_labels(labels.into_iter().rev()).unwrap_or_else(|_| Name::root());
        n.set_fqdn(true);
        n
    }

    /// Whether `self` is strictly below `ancestor`.
    pub(crate) fn is_below(&self, ancestor: &Owner) -> bool {
        self.0.len() > ancestor.0.len() && self.0[..ancestor.0.len()].eq_ignore_ascii_case(&ancestor.0)
    }
}

impl Ord for Owner {
    fn cmp(&self, other: &Owner) -> Ordering {
        let (mut a, mut b) = (self.labels(), other.labels());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let by_bytes = x.iter().map(u8::to_ascii_lowercase).cmp(y.iter().map(u8::to_ascii_lowercase));
                    if by_bytes != Ordering::Equal {
                        return by_bytes;
                    }
                }
            }
        }
    }
}

impl PartialOrd for Owner {
    fn partial_cmp(&self, other: &Owner) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Owner {
    fn eq(&self, other: &Owner) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Owner {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name from labels, leaf first ("a.b." is ["a", "b"]), any bytes allowed.
    fn n(labels: &[&[u8]]) -> Name {
        let mut n = Name::from_labels(labels.iter().copied()).unwrap();
        n.set_fqdn(true);
        n
    }

    fn o(s: &str) -> Owner {
        Owner::new(&Name::from_ascii(s).unwrap())
    }

    #[test]
    fn canonical_order_matches_hickory() {
        // RFC 4034 §6.1's example list, in order.
        let names = [
            n(&[b"example"]),
            n(&[b"a", b"example"]),
            n(&[b"yljkjljk", b"a", b"example"]),
            n(&[b"Z", b"a", b"example"]),
            n(&[b"zABC", b"a", b"EXAMPLE"]),
            n(&[b"z", b"example"]),
            n(&[b"\x01", b"z", b"example"]),
            n(&[b"*", b"z", b"example"]),
            n(&[b"\xc8", b"z", b"example"]),
        ];
        for w in names.windows(2) {
            assert_eq!(Owner::new(&w[0]).cmp(&Owner::new(&w[1])), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(w[0].cmp(&w[1]), Ordering::Less);
        }
        assert_eq!(o("WWW.Example.org."), o("www.example.ORG."));
        assert_eq!(o("Mixed.Case.org.").name().to_string(), "Mixed.Case.org.");
        assert!(o("a.b.example.").is_below(&o("B.example.")));
        assert!(!o("ab.example.").is_below(&o("b.example.")));
        assert!(!o("b.example.").is_below(&o("b.example.")));
    }
}
