//! REPORTs of RFC 4791: calendar-multiget (§7.9) and calendar-query (§7.8) with the
//! filters of §9.7 (comp-filter, prop-filter, param-filter, is-not-defined,
//! time-range, text-match with `i;ascii-casemap`, `i;octet` and
//! `i;unicode-casemap`, negate-condition).
//!
//! Not done: `expand` and `limit-recurrence-set` (calendar-data is returned
//! whole), calendar-data `comp`/`prop` subsetting (likewise), free-busy-query,
//! time-range on VALARM and VFREEBUSY (never matches).

use crate::http::Response;
use crate::ical::{self, Comp, Object, Range, Zones};
use crate::path::DavPath;
use crate::props::{self, PropRequest};
use crate::server::{Handler, Kind, Resource, children, precondition, resolve};
use crate::xml::{self, CALDAV, DAV, Element};

pub(crate) fn report(h: &Handler<'_>, target: &Resource) -> Response {
    let root = match xml::parse(&h.req.body) {
        Ok(r) => r,
        Err(e) => return Response::text(400, &format!("malformed XML: {e}\n")),
    };
    if root.is(CALDAV, "calendar-multiget") {
        multiget(h, &root)
    } else if root.is(CALDAV, "calendar-query") {
        query(h, target, &root)
    } else if root.is(DAV, "sync-collection") && target.is_collection() {
        sync_collection(h, target, &root)
    } else {
        // RFC 3253 §3.6.
        precondition(403, DAV, "supported-report")
    }
}

fn prop_request(root: &Element) -> PropRequest {
    PropRequest::from_parent(root).unwrap_or(PropRequest::All(Vec::new()))
}

/// The response element of one calendar object with `calendar-data` filled in.
fn object_response(h: &Handler<'_>, res: &Resource, req: &PropRequest) -> String {
    let data = |ns: &str, name: &str| -> Option<String> {
        if ns != CALDAV || name != "calendar-data" {
            return None;
        }
        let (bytes, _) = h.store.read(&res.path.store_path())?;
        Some(xml::escape(&String::from_utf8_lossy(bytes)))
    };
    let (found, missing) = props::evaluate(h, res, req, &data);
    format!(
        "<D:response><D:href>{}</D:href>{}</D:response>",
        xml::escape(&res.href()),
        props::propstats(&found, &missing)
    )
}

fn not_found(href: &str) -> String {
    format!(
        "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>",
        xml::escape(href)
    )
}

fn multiget(h: &Handler<'_>, root: &Element) -> Response {
    let req = prop_request(root);
    let mut body = xml::document_open("multistatus");
    for el in root.children_named(DAV, "href") {
        let text = el.text.trim();
        let res = DavPath::parse(text)
            .ok()
            .filter(|p| p.segments.first().is_some_and(|u| u == h.user))
            .and_then(|p| resolve(h.store, &p))
            .filter(|r| matches!(r.kind, Kind::File { .. }));
        match res {
            Some(r) => body.push_str(&object_response(h, &r, &req)),
            // Missing, or not the user's: the same answer (RFC 4791 §7.9).
            None => body.push_str(&not_found(text)),
        }
    }
    body.push_str("</D:multistatus>");
    Response::xml(207, body)
}

/// The sync-token of a store version (RFC 6578 §3.2: a URI).
pub fn sync_token(version: Option<&str>) -> String {
    format!("{TOKEN_PREFIX}{}", version.unwrap_or("empty"))
}

const TOKEN_PREFIX: &str = "urn:x-caldav-git:sync:";

/// sync-collection (RFC 6578 §3.2): the members changed since the token's version
/// (all of them for an empty token), and the removed ones as 404 responses.
/// Calendars hold no collections, so sync-level 1 and infinite answer the same.
/// `limit` is not honoured: every change is returned at once.
fn sync_collection(h: &Handler<'_>, target: &Resource, root: &Element) -> Response {
    let req = prop_request(root);
    let token = root.child(DAV, "sync-token").map_or("", |t| t.text.trim());
    let dir = target.path.store_path();
    let old: Option<Vec<crate::store::Entry>> = if token.is_empty() {
        None
    } else {
        let version = token.strip_prefix(TOKEN_PREFIX);
        let old = match version {
            Some("empty") => Some(None),
            Some(v) => h.store.list_at(v, &dir),
            None => None,
        };
        match old {
            Some(entries) => Some(entries.unwrap_or_default()),
            None => return precondition(403, DAV, "valid-sync-token"),
        }
    };
    let now = h.store.list(&dir).unwrap_or_default();
    let visible = |e: &&crate::store::Entry| !e.name.starts_with('.') && !e.is_dir();
    let mut body = xml::document_open("multistatus");
    for e in now.iter().filter(visible) {
        let unchanged = old.as_ref().is_some_and(|o| o.iter().any(|x| x.name == e.name && x.etag == e.etag));
        if unchanged {
            continue;
        }
        if let Some(res) = resolve(h.store, &target.path.child(&e.name)) {
            body.push_str(&object_response(h, &res, &req));
        }
    }
    for e in old.iter().flatten().filter(visible) {
        if !now.iter().any(|x| x.name == e.name && !x.is_dir()) {
            body.push_str(&not_found(&target.path.child(&e.name).href(false)));
        }
    }
    body.push_str(&format!(
        "<D:sync-token>{}</D:sync-token></D:multistatus>",
        xml::escape(&sync_token(h.store.version().as_deref()))
    ));
    Response::xml(207, body)
}

/// A text-match (RFC 4791 §9.7.5).
#[derive(Debug, Clone)]
struct TextMatch {
    text: String,
    collation: Collation,
    negate: bool,
}

#[derive(Debug, Clone, Copy)]
enum Collation {
    Octet,
    AsciiCasemap,
    UnicodeCasemap,
}

impl TextMatch {
    fn parse(el: &Element) -> Result<TextMatch, Response> {
        let collation = match el.attr("collation").unwrap_or("i;ascii-casemap") {
            "i;octet" => Collation::Octet,
            "i;ascii-casemap" => Collation::AsciiCasemap,
            // RFC 4790 §9.3 and RFC 5051: full case folding; lower-casing is our approximation.
            "i;unicode-casemap" => Collation::UnicodeCasemap,
            _ => return Err(precondition(403, CALDAV, "supported-collation")),
        };
        Ok(TextMatch { text: el.text.clone(), collation, negate: el.attr("negate-condition") == Some("yes") })
    }

    fn matches(&self, value: &str) -> bool {
        let hit = match self.collation {
            Collation::Octet => value.contains(&self.text),
            Collation::AsciiCasemap => value.to_ascii_lowercase().contains(&self.text.to_ascii_lowercase()),
            Collation::UnicodeCasemap => value.to_lowercase().contains(&self.text.to_lowercase()),
        };
        hit != self.negate
    }
}

#[derive(Debug, Clone)]
struct ParamFilter {
    name: String,
    not_defined: bool,
    text: Option<TextMatch>,
}

#[derive(Debug, Clone)]
struct PropFilter {
    name: String,
    not_defined: bool,
    range: Option<Range>,
    text: Option<TextMatch>,
    params: Vec<ParamFilter>,
    any_of: bool,
}

#[derive(Debug, Clone)]
struct CompFilter {
    name: String,
    not_defined: bool,
    range: Option<Range>,
    comps: Vec<CompFilter>,
    props: Vec<PropFilter>,
    any_of: bool,
}

fn bad_filter() -> Response {
    precondition(403, CALDAV, "valid-filter")
}

fn name_of(el: &Element) -> Result<String, Response> {
    el.attr("name").map(str::to_ascii_uppercase).ok_or_else(bad_filter)
}

fn range_of(el: &Element) -> Result<Option<Range>, Response> {
    match el.child(CALDAV, "time-range") {
        Some(t) => Range::parse(t.attr("start"), t.attr("end")).map(Some).ok_or_else(bad_filter),
        None => Ok(None),
    }
}

fn text_of(el: &Element) -> Result<Option<TextMatch>, Response> {
    el.child(CALDAV, "text-match").map(TextMatch::parse).transpose()
}

/// The `test` attribute of calendarserver's extension: `anyof` ORs the nested filters.
fn any_of(el: &Element) -> bool {
    el.attr("test") == Some("anyof")
}

impl CompFilter {
    fn parse(el: &Element) -> Result<CompFilter, Response> {
        Ok(CompFilter {
            name: name_of(el)?,
            not_defined: el.child(CALDAV, "is-not-defined").is_some(),
            range: range_of(el)?,
            comps: el.children_named(CALDAV, "comp-filter").map(CompFilter::parse).collect::<Result<_, _>>()?,
            props: el.children_named(CALDAV, "prop-filter").map(PropFilter::parse).collect::<Result<_, _>>()?,
            any_of: any_of(el),
        })
    }

    /// Whether the components `scope` (the children of one component) satisfy this filter.
    fn matches(&self, scope: &[Comp], zones: &Zones<'_>) -> bool {
        let mut named = scope.iter().filter(|c| c.name == self.name);
        if self.not_defined {
            return named.next().is_none();
        }
        named.any(|c| self.matches_one(c, zones))
    }

    fn matches_one(&self, c: &Comp, zones: &Zones<'_>) -> bool {
        if let Some(r) = self.range
            && !ical::overlaps(c, zones, r)
        {
            // An overridden instance (RECURRENCE-ID) is a component of its own: it
            // is checked in its own right by `named.any`.
            return false;
        }
        let mut tests = self
            .comps
            .iter()
            .map(|f| f.matches(&c.components, zones))
            .chain(self.props.iter().map(|f| f.matches(c, zones)));
        if self.any_of {
            tests.any(|t| t) || (self.comps.is_empty() && self.props.is_empty())
        } else {
            tests.all(|t| t)
        }
    }
}

impl PropFilter {
    fn parse(el: &Element) -> Result<PropFilter, Response> {
        let params = el
            .children_named(CALDAV, "param-filter")
            .map(|p| {
                Ok(ParamFilter {
                    name: name_of(p)?,
                    not_defined: p.child(CALDAV, "is-not-defined").is_some(),
                    text: text_of(p)?,
                })
            })
            .collect::<Result<_, Response>>()?;
        Ok(PropFilter {
            name: name_of(el)?,
            not_defined: el.child(CALDAV, "is-not-defined").is_some(),
            range: range_of(el)?,
            text: text_of(el)?,
            params,
            any_of: any_of(el),
        })
    }

    fn matches(&self, c: &Comp, zones: &Zones<'_>) -> bool {
        let mut named = c.props(&self.name);
        if self.not_defined {
            return named.next().is_none();
        }
        named.any(|p| {
            let mut tests: Vec<bool> = Vec::new();
            if let Some(r) = self.range {
                // A DATE-TIME property value in the range [start, end) (§9.9).
                tests.push(zones.utc(p).is_some_and(|t| r.start <= t.local && t.local < r.end));
            }
            if let Some(t) = &self.text {
                tests.push(t.matches(&p.value));
            }
            for f in &self.params {
                let value = p.param(&f.name);
                tests.push(match (f.not_defined, value, &f.text) {
                    (true, v, _) => v.is_none(),
                    (false, None, _) => false,
                    (false, Some(_), None) => true,
                    (false, Some(v), Some(t)) => t.matches(v),
                });
            }
            if self.any_of { tests.is_empty() || tests.iter().any(|t| *t) } else { tests.iter().all(|t| *t) }
        })
    }
}

/// calendar-query: the object resources of the target that pass the filter.
fn query(h: &Handler<'_>, target: &Resource, root: &Element) -> Response {
    let req = prop_request(root);
    let Some(filter) = root.child(CALDAV, "filter") else { return bad_filter() };
    let Some(top) = filter.child(CALDAV, "comp-filter") else { return bad_filter() };
    let top = match CompFilter::parse(top) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if top.name != "VCALENDAR" {
        return bad_filter();
    }
    let depth = h.req.header("Depth").map_or("0", str::trim);
    let candidates = match (&target.kind, depth) {
        (Kind::File { .. }, _) => vec![target.clone()],
        (Kind::Collection(_), "1" | "infinity") => children(h.store, target),
        _ => Vec::new(),
    };
    let mut body = xml::document_open("multistatus");
    for res in candidates.iter().filter(|r| matches!(r.kind, Kind::File { .. })) {
        let Some((data, _)) = h.store.read(&res.path.store_path()) else { continue };
        let Ok(obj) = ical::parse(data) else { continue };
        if matches_object(&top, &obj) {
            body.push_str(&object_response(h, res, &req));
        }
    }
    body.push_str("</D:multistatus>");
    Response::xml(207, body)
}

/// The top filter against the object as one VCALENDAR component.
fn matches_object(top: &CompFilter, obj: &Object) -> bool {
    let zones = Zones::of(obj);
    let cal = Comp { name: "VCALENDAR".into(), properties: obj.properties.clone(), components: obj.components.clone() };
    top.matches(std::slice::from_ref(&cal), &zones)
}
