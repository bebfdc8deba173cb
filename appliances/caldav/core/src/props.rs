//! Live properties (RFC 4918 §15, RFC 4791 §5.2 and §6.2, RFC 5397, RFC 3744 §5.4)
//! and the `DAV:response` elements PROPFIND and REPORT answer with. There are no
//! dead properties: PROPPATCH is not offered yet.

use crate::server::{Handler, Kind, Resource};
use crate::xml::{self, CALDAV, CALSERVER, DAV, Element};

/// What a PROPFIND (or REPORT) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropRequest {
    /// `allprop` (or an empty body), plus any `include`d names.
    All(Vec<(String, String)>),
    /// `propname`.
    Names,
    /// `prop`: these names (namespace, local name), in order.
    Props(Vec<(String, String)>),
}

fn names(el: &Element) -> Vec<(String, String)> {
    el.children.iter().map(|c| (c.ns.clone(), c.name.clone())).collect()
}

impl PropRequest {
    /// A PROPFIND body (RFC 4918 §14.20); empty means allprop.
    pub fn from_body(body: &[u8]) -> Result<PropRequest, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(PropRequest::All(Vec::new()));
        }
        let root = xml::parse(body).map_err(|e| format!("malformed XML: {e}"))?;
        if !root.is(DAV, "propfind") {
            return Err("the body is not a DAV:propfind".into());
        }
        PropRequest::from_parent(&root).ok_or_else(|| "propfind names no prop, allprop or propname".into())
    }

    /// From the children of a propfind or REPORT element.
    pub fn from_parent(el: &Element) -> Option<PropRequest> {
        if let Some(p) = el.child(DAV, "prop") {
            return Some(PropRequest::Props(names(p)));
        }
        if el.child(DAV, "allprop").is_some() {
            return Some(PropRequest::All(el.child(DAV, "include").map(names).unwrap_or_default()));
        }
        el.child(DAV, "propname").map(|_| PropRequest::Names)
    }
}

/// The properties `allprop` returns (RFC 4918 §9.1: the DAV ones; RFC 4791 §5.2
/// leaves the CalDAV ones out).
const ALLPROP: &[(&str, &str)] = &[
    (DAV, "resourcetype"),
    (DAV, "displayname"),
    (DAV, "getetag"),
    (DAV, "getcontentlength"),
    (DAV, "getcontenttype"),
];

/// Every property we can compute, for `propname`.
const ALL_NAMES: &[(&str, &str)] = &[
    (DAV, "resourcetype"),
    (DAV, "displayname"),
    (DAV, "getetag"),
    (DAV, "getcontentlength"),
    (DAV, "getcontenttype"),
    (DAV, "current-user-principal"),
    (DAV, "principal-URL"),
    (DAV, "owner"),
    (DAV, "current-user-privilege-set"),
    (DAV, "supported-report-set"),
    (DAV, "sync-token"),
    (CALDAV, "calendar-home-set"),
    (CALDAV, "calendar-description"),
    (CALDAV, "supported-calendar-component-set"),
    (CALDAV, "supported-calendar-data"),
    (CALDAV, "max-resource-size"),
    (CALSERVER, "getctag"),
];

/// The content type of a file (calendar objects are text/calendar).
pub fn content_type(res: &Resource) -> &'static str {
    let in_calendar = res.path.segments.len() >= 3 || res.path.segments.last().is_some_and(|n| n.ends_with(".ics"));
    if in_calendar && res.path.segments.last().is_some_and(|n| n.ends_with(".ics")) {
        "text/calendar; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

fn href(h: &str) -> String {
    format!("<D:href>{}</D:href>", xml::escape(h))
}

/// The value (inner XML) of one property of `res`, None if it has none.
pub(crate) fn value(h: &Handler<'_>, res: &Resource, ns: &str, name: &str) -> Option<String> {
    let principal = format!("/{}/", h.user);
    let home = res.path.segments.len() == 1;
    let meta = match &res.kind {
        Kind::Collection(m) => Some(m),
        _ => None,
    };
    match (ns, name) {
        (DAV, "resourcetype") => Some(match &res.kind {
            Kind::File { .. } => String::new(),
            Kind::Root => "<D:collection/>".into(),
            Kind::Collection(_) if home => "<D:collection/><D:principal/>".into(),
            Kind::Collection(m) if m.calendar => "<D:collection/><C:calendar/>".into(),
            Kind::Collection(_) => "<D:collection/>".into(),
        }),
        (DAV, "displayname") => match meta {
            Some(m) => m.displayname.clone().or_else(|| home.then(|| h.user.to_string())).map(|d| xml::escape(&d)),
            None => None,
        },
        (DAV, "getetag") => match &res.kind {
            Kind::File { etag } => Some(format!("\"{}\"", xml::escape(etag))),
            _ => None,
        },
        (DAV, "getcontentlength") => match &res.kind {
            Kind::File { .. } => h.store.read(&res.path.store_path()).map(|(d, _)| d.len().to_string()),
            _ => None,
        },
        (DAV, "getcontenttype") => matches!(res.kind, Kind::File { .. }).then(|| content_type(res).to_string()),
        (DAV, "current-user-principal") => Some(href(&principal)),
        (DAV, "principal-URL") if home => Some(href(&principal)),
        (CALDAV, "calendar-home-set") if home || res.kind == Kind::Root => Some(href(&principal)),
        (DAV, "owner") if !res.path.segments.is_empty() => Some(href(&principal)),
        // The owner may do everything in their home (RFC 3744 §5.4).
        (DAV, "current-user-privilege-set") if !res.path.segments.is_empty() => Some(
            [
                "all",
                "read",
                "write",
                "write-properties",
                "write-content",
                "bind",
                "unbind",
                "read-current-user-privilege-set",
            ]
            .iter()
            .map(|p| format!("<D:privilege><D:{p}/></D:privilege>"))
            .collect(),
        ),
        (DAV, "supported-report-set") if res.is_calendar() => Some(
            ["C:calendar-query", "C:calendar-multiget", "D:sync-collection"]
                .iter()
                .map(|r| format!("<D:supported-report><D:report><{r}/></D:report></D:supported-report>"))
                .collect(),
        ),
        (DAV, "sync-token") if res.is_calendar() => {
            Some(xml::escape(&crate::report::sync_token(h.store.version().as_deref())))
        }
        (CALDAV, "calendar-description") if res.is_calendar() => meta?.description.as_deref().map(xml::escape),
        (CALDAV, "supported-calendar-component-set") if res.is_calendar() => {
            let m = meta?;
            let kinds: Vec<&str> = if m.components.is_empty() {
                crate::ical::KINDS.to_vec()
            } else {
                m.components.iter().map(String::as_str).collect()
            };
            Some(kinds.iter().map(|k| format!("<C:comp name=\"{}\"/>", xml::escape(k))).collect())
        }
        (CALDAV, "supported-calendar-data") if res.is_calendar() => {
            Some("<C:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>".into())
        }
        (CALDAV, "max-resource-size") if res.is_calendar() => Some(h.server.options.max_resource_size.to_string()),
        (CALSERVER, "getctag") if res.is_calendar() => {
            // A calendar's CTag changes with any change to its members (the git tree id).
            h.store.dir_tag(&res.path.store_path()).map(|t| format!("\"{}\"", xml::escape(&t)))
        }
        _ => None,
    }
}

/// Opens and closes a property element with its value.
pub fn element(ns: &str, name: &str, inner: &str) -> String {
    match xml::prefix(ns) {
        Some(p) if inner.is_empty() => format!("<{p}:{name}/>"),
        Some(p) => format!("<{p}:{name}>{inner}</{p}:{name}>"),
        None => xml::empty_element(ns, name),
    }
}

/// `DAV:propstat` blocks for found (200) and missing (404) properties.
pub fn propstats(found: &[String], missing: &[String]) -> String {
    let mut out = String::new();
    for (list, status) in [(found, "200 OK"), (missing, "404 Not Found")] {
        if list.is_empty() {
            continue;
        }
        out.push_str("<D:propstat><D:prop>");
        for p in list {
            out.push_str(p);
        }
        out.push_str(&format!("</D:prop><D:status>HTTP/1.1 {status}</D:status></D:propstat>"));
    }
    out
}

/// Found and missing property elements of `res` for `req`; `extra` answers
/// properties only a REPORT has (calendar-data).
pub(crate) fn evaluate(
    h: &Handler<'_>,
    res: &Resource,
    req: &PropRequest,
    extra: &dyn Fn(&str, &str) -> Option<String>,
) -> (Vec<String>, Vec<String>) {
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    let mut ask = |ns: &str, name: &str, required: bool| match extra(ns, name).or_else(|| value(h, res, ns, name)) {
        Some(v) => found.push(element(ns, name, &v)),
        None if required => missing.push(xml::empty_element(ns, name)),
        None => {}
    };
    match req {
        PropRequest::All(include) => {
            for (ns, name) in ALLPROP {
                ask(ns, name, false);
            }
            for (ns, name) in include {
                ask(ns, name, true);
            }
        }
        PropRequest::Props(list) => {
            for (ns, name) in list {
                ask(ns, name, true);
            }
        }
        PropRequest::Names => {
            for (ns, name) in ALL_NAMES {
                if value(h, res, ns, name).is_some() {
                    found.push(xml::empty_element(ns, name));
                }
            }
        }
    }
    (found, missing)
}

/// One `DAV:response` for PROPFIND.
pub(crate) fn response(h: &Handler<'_>, res: &Resource, req: &PropRequest) -> String {
    let (found, missing) = evaluate(h, res, req, &|_, _| None);
    format!("<D:response>{}{}</D:response>", href(&res.href()), propstats(&found, &missing))
}
