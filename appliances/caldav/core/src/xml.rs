//! Request bodies as a small element tree, and the escaping for the answers.
//!
//! quick-xml reads the body with namespaces resolved. No DTD is processed: a
//! `<!DOCTYPE` is refused outright, so neither entity expansion ("billion laughs")
//! nor external entities can happen, and a reference to any entity other than the
//! five predefined ones and character references is an error (XML 1.0 §4.1, §4.6).

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

pub const DAV: &str = "DAV:";
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// Apple's namespace, for `getctag` (draft-daboo-webdav-sync predecessor, used by clients).
pub const CALSERVER: &str = "http://calendarserver.org/ns/";

/// Deeper request documents than this are refused (no CalDAV body needs it).
const MAX_DEPTH: usize = 32;
/// More elements than this in one body are refused.
const MAX_ELEMENTS: usize = 10_000;

/// One element: namespace, local name, attributes (local name → value), children, text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The first child with this name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Every child with this name.
    pub fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why a body was refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(what: impl std::fmt::Display) -> XmlError {
    XmlError(what.to_string())
}

/// Parses a whole document into its root element.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| err("the body is not UTF-8"))?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(err)?;
        let ns = match ns {
            ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(p) => {
                return Err(err(format!("undeclared namespace prefix {:?}", String::from_utf8_lossy(&p))));
            }
        };
        match event {
            Event::DocType(_) => return Err(err("DTDs are not accepted")),
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                return Err(err(format!(
                    "content after the root element: {:?}",
                    String::from_utf8_lossy(e.name().as_ref())
                )));
            }
            Event::Start(e) => {
                count += 1;
                check_size(count, stack.len())?;
                stack.push(open(&e, ns, &reader)?);
            }
            Event::Empty(e) => {
                count += 1;
                check_size(count, stack.len())?;
                let el = open(&e, ns, &reader)?;
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| err("unbalanced end tag"))?;
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let t = t.decode().map_err(err)?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&t),
                    None if t.trim().is_empty() => {}
                    None => return Err(err("text outside the root element")),
                }
            }
            Event::CData(t) => {
                let t = t.decode().map_err(err)?;
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(err)? {
                    Some(c) => c,
                    None => match r.decode().map_err(err)?.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(err(format!("undefined entity &{other};"))),
                    },
                };
                if let Some(el) = stack.last_mut() {
                    el.text.push(ch);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(err("the document ends inside an element"));
    }
    root.ok_or_else(|| err("no root element"))
}

fn check_size(count: usize, depth: usize) -> Result<(), XmlError> {
    if count > MAX_ELEMENTS || depth >= MAX_DEPTH {
        return Err(err("the document is too large or too deep"));
    }
    Ok(())
}

/// The element a start tag opens: its name and attributes (namespace declarations left out).
fn open(e: &BytesStart<'_>, ns: String, reader: &NsReader<&[u8]>) -> Result<Element, XmlError> {
    let mut el =
        Element { ns, name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(), ..Element::default() };
    for a in e.attributes() {
        let a = a.map_err(err)?;
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let value = a.decode_and_unescape_value(reader.decoder()).map_err(err)?;
        el.attrs.push((String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(), value.into_owned()));
    }
    Ok(el)
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

/// Escapes text for element content and attribute values (`<`, `>`, `&`, `'`, `"`).
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// The prefix our answers use for a namespace (declared on the root element by
/// [`multistatus_open`]), or None for one we declare on the element itself.
pub fn prefix(ns: &str) -> Option<&'static str> {
    match ns {
        DAV => Some("D"),
        CALDAV => Some("C"),
        CALSERVER => Some("CS"),
        _ => None,
    }
}

/// An empty element naming a property, as in a 404 propstat.
pub fn empty_element(ns: &str, name: &str) -> String {
    match prefix(ns) {
        Some(p) => format!("<{p}:{name}/>"),
        None if ns.is_empty() => format!("<{name} xmlns=\"\"/>"),
        None => format!("<X:{name} xmlns:X=\"{}\"/>", escape(ns)),
    }
}

/// The start of a document whose root is `D:<root>`, with our prefixes declared.
pub fn document_open(root: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:{root} xmlns:D=\"{DAV}\" xmlns:C=\"{CALDAV}\" xmlns:CS=\"{CALSERVER}\">"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_resolved() {
        let doc = br#"<?xml version="1.0"?><A:propfind xmlns:A="DAV:"><A:prop><x:foo xmlns:x="urn:x"/></A:prop></A:propfind>"#;
        let root = parse(doc).unwrap();
        assert!(root.is(DAV, "propfind"));
        let prop = root.child(DAV, "prop").unwrap();
        assert!(prop.children[0].is("urn:x", "foo"));
    }

    #[test]
    fn entities_and_dtds_are_refused() {
        let laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><D:propfind xmlns:D="DAV:">&lol2;</D:propfind>"#;
        assert!(parse(laughs).is_err());
        let external = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:a xmlns:D="DAV:">&e;</D:a>"#;
        assert!(parse(external).is_err());
        let undefined = br#"<D:a xmlns:D="DAV:">&e;</D:a>"#;
        assert!(parse(undefined).is_err());
        let fine = br#"<D:a xmlns:D="DAV:">&lt;&#65;&#x42;</D:a>"#;
        assert_eq!(parse(fine).unwrap().text, "<AB");
    }

    #[test]
    fn malformed_documents_are_errors() {
        for doc in [&b"<D:a xmlns:D=\"DAV:\">"[..], b"<a></b>", b"", b"<x:a/>", b"<a/><b/>", b"text"] {
            assert!(parse(doc).is_err(), "{:?}", String::from_utf8_lossy(doc));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
