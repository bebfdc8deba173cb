//! Request paths: percent-decoded, split into segments, checked so that no request
//! names anything outside the store or a file the server keeps for itself.
//!
//! RFC 3986 §5.2.4 would resolve `.` and `..` against the path; a DAV client never
//! needs them, so any `.`/`..` segment (also when spelled `%2e`) is refused rather
//! than resolved, as is a decoded `/`, `\` or NUL inside a segment (which would
//! change what the store path means). Names starting with `.` are the server's
//! own (`.collection`) and are not addressable.

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// A checked request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavPath {
    /// Decoded segments, none empty.
    pub segments: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not valid percent-encoded UTF-8, or not an absolute path.
    Malformed,
    /// A `.`/`..` segment, an encoded separator, or a hidden name.
    Forbidden,
}

/// Characters escaped in the hrefs we send (RFC 3986 `pchar` keeps the rest).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'/');

impl DavPath {
    /// Parses a request target or an href: `/a/b`, or `http://host/a/b` (the
    /// authority is dropped: one server answers for its whole URL space). A query
    /// or fragment is ignored.
    pub fn parse(raw: &str) -> Result<DavPath, PathError> {
        let raw = raw.split(['?', '#']).next().unwrap_or("");
        let path = match raw.find("://") {
            Some(i) => {
                let rest = &raw[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            }
            None => raw,
        };
        if !path.starts_with('/') {
            return Err(PathError::Malformed);
        }
        let mut segments = Vec::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            let decoded = percent_decode_str(seg).decode_utf8().map_err(|_| PathError::Malformed)?;
            if decoded.starts_with('.') || decoded.contains(['/', '\\', '\0']) {
                return Err(PathError::Forbidden);
            }
            segments.push(decoded.into_owned());
        }
        Ok(DavPath { segments })
    }

    pub fn from_segments(segments: Vec<String>) -> DavPath {
        DavPath { segments }
    }

    /// The path in the store: segments joined by `/` (empty for the root).
    pub fn store_path(&self) -> String {
        self.segments.join("/")
    }

    pub fn parent(&self) -> Option<DavPath> {
        let (_, rest) = self.segments.split_last()?;
        Some(DavPath { segments: rest.to_vec() })
    }

    pub fn child(&self, name: &str) -> DavPath {
        let mut segments = self.segments.clone();
        segments.push(name.to_string());
        DavPath { segments }
    }

    /// The href of this path; collections end in `/`.
    pub fn href(&self, collection: bool) -> String {
        let mut out = String::from("/");
        for s in &self.segments {
            out.extend(utf8_percent_encode(s, SEGMENT));
            out.push('/');
        }
        if !collection && out.len() > 1 {
            out.pop();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Result<Vec<String>, PathError> {
        DavPath::parse(p).map(|p| p.segments)
    }

    #[test]
    fn decodes_and_splits() {
        assert_eq!(segs("/alice/cal%20one/x.ics").unwrap(), ["alice", "cal one", "x.ics"]);
        assert_eq!(segs("//alice//cal/").unwrap(), ["alice", "cal"]);
        assert_eq!(segs("http://example.com:8080/alice/?x=1").unwrap(), ["alice"]);
        assert_eq!(segs("/").unwrap(), Vec::<String>::new());
        assert_eq!(segs("/%C3%A9t%C3%A9").unwrap(), ["été"]);
    }

    #[test]
    fn escapes_are_refused() {
        for p in [
            "/alice/../bob/x.ics",
            "/alice/%2e%2e/bob",
            "/alice/%2E%2E/bob",
            "/alice/./x",
            "/alice/a%2fb",
            "/alice/a%5cb",
            "/alice/a%00b",
            "/alice/.collection",
            "/alice/cal/%2ecollection",
        ] {
            assert_eq!(segs(p), Err(PathError::Forbidden), "{p}");
        }
        assert_eq!(segs("/a/%ff"), Err(PathError::Malformed));
        assert_eq!(segs("relative"), Err(PathError::Malformed));
    }

    #[test]
    fn hrefs_round_trip() {
        let p = DavPath::parse("/alice/cal%20one/a%23b%3F.ics").unwrap();
        assert_eq!(p.href(false), "/alice/cal%20one/a%23b%3F.ics");
        assert_eq!(DavPath::parse(&p.href(false)).unwrap(), p);
        assert_eq!(p.parent().unwrap().href(true), "/alice/cal%20one/");
        assert_eq!(DavPath::from_segments(vec![]).href(true), "/");
    }
}
