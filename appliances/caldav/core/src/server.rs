//! The request handler: authentication, routing, and the WebDAV methods (RFC 4918)
//! and CalDAV's MKCALENDAR (RFC 4791 §5.3.1). REPORTs are in [`crate::report`],
//! properties in [`crate::props`].
//!
//! URL space: `/` (the root), `/<user>/` (the user's principal and calendar home,
//! RFC 4791 §6.2.1), `/<user>/<calendar>/` and `/<user>/<calendar>/<object>.ics`.
//! A user reaches only their own home; `/.well-known/caldav` redirects to `/`
//! (RFC 6764 §5), where `current-user-principal` (RFC 5397) leads on.

use crate::collection::{self, Meta};
use crate::http::{Request, Response};
use crate::ical;
use crate::path::{DavPath, PathError};
use crate::props::{self, PropRequest};
use crate::store::{Change, Store};
use crate::xml::{self, CALDAV, DAV, Element};
use crate::{Users, report};

/// What a request yields: the response, and the changes to make to the store
/// before sending it (empty for reads).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub response: Response,
    pub changes: Vec<Change>,
    /// The authenticated user (the author of the changes).
    pub user: Option<String>,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The largest calendar object accepted (`CALDAV:max-resource-size`).
    pub max_resource_size: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { max_resource_size: 1 << 20 }
    }
}

pub struct Server {
    pub users: Users,
    pub options: Options,
}

/// What a path names in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Root,
    /// A collection: the user's home (segments.len() == 1) or one below it.
    Collection(Meta),
    File {
        etag: String,
    },
}

/// A resolved resource.
#[derive(Debug, Clone)]
pub struct Resource {
    pub path: DavPath,
    pub kind: Kind,
}

impl Resource {
    pub fn is_collection(&self) -> bool {
        !matches!(self.kind, Kind::File { .. })
    }

    pub fn is_calendar(&self) -> bool {
        matches!(&self.kind, Kind::Collection(m) if m.calendar)
    }

    pub fn href(&self) -> String {
        self.path.href(self.is_collection())
    }
}

/// Looks a path up. The home of a configured user always exists.
pub fn resolve(store: &dyn Store, path: &DavPath) -> Option<Resource> {
    let kind = if path.segments.is_empty() {
        Kind::Root
    } else {
        let p = path.store_path();
        if let Some((_, etag)) = store.read(&p) {
            Kind::File { etag }
        } else if path.segments.len() == 1 || store.list(&p).is_some() {
            let meta =
                store.read(&format!("{p}/{}", collection::FILE)).map(|(d, _)| Meta::parse(d)).unwrap_or_default();
            Kind::Collection(meta)
        } else {
            return None;
        }
    };
    Some(Resource { path: path.clone(), kind })
}

/// The children of a collection (hidden names left out).
pub fn children(store: &dyn Store, res: &Resource) -> Vec<Resource> {
    let p = res.path.store_path();
    let Some(entries) = store.list(&p) else { return Vec::new() };
    entries
        .into_iter()
        .filter(|e| !e.name.starts_with('.'))
        .filter_map(|e| match e.etag {
            // A file: the listing has all we need (no second lookup per member).
            Some(etag) => Some(Resource { path: res.path.child(&e.name), kind: Kind::File { etag } }),
            None => resolve(store, &res.path.child(&e.name)),
        })
        .collect()
}

/// Every file under `dir` (for deleting a collection).
fn walk(store: &dyn Store, dir: &str, out: &mut Vec<String>) {
    for e in store.list(dir).unwrap_or_default() {
        let p = format!("{dir}/{}", e.name);
        if e.is_dir() {
            walk(store, &p, out);
        } else {
            out.push(p);
        }
    }
}

/// A `DAV:error` body with one precondition element (RFC 4918 §16).
pub fn error_body(ns: &str, inner: &str) -> String {
    let p = xml::prefix(ns).unwrap_or("D");
    let inner = if inner.starts_with('<') { inner.to_string() } else { format!("<{p}:{inner}/>") };
    format!("{}{inner}</D:error>", xml::document_open("error"))
}

/// A failed precondition: status and the `DAV:error` body naming it.
pub fn precondition(status: u16, ns: &str, name: &str) -> Response {
    Response::xml(status, error_body(ns, name))
}

fn done(response: Response) -> Outcome {
    Outcome { response, changes: Vec::new(), user: None }
}

const ALLOW: &str = "OPTIONS, GET, HEAD, PUT, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, REPORT";

/// The entity tags of an `If-Match`/`If-None-Match` value; None for `*`.
fn etag_list(v: &str) -> Option<Vec<(bool, String)>> {
    if v.trim() == "*" {
        return None;
    }
    Some(
        v.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (weak, t) = match t.strip_prefix("W/") {
                    Some(rest) => (true, rest),
                    None => (false, t),
                };
                (weak, t.trim_matches('"').to_string())
            })
            .collect(),
    )
}

/// RFC 9110 §13.1.1/§13.1.2 for a resource's current ETag (None: it does not
/// exist). Returns the failing status, if any.
fn preconditions(req: &Request, current: Option<&str>, read: bool) -> Option<u16> {
    if let Some(v) = req.header("If-Match") {
        let ok = match (etag_list(v), current) {
            (_, None) => false,
            (None, Some(_)) => true,
            // Strong comparison: a weak tag never matches.
            (Some(tags), Some(cur)) => tags.iter().any(|(weak, t)| !weak && t == cur),
        };
        if !ok {
            return Some(412);
        }
    }
    if let Some(v) = req.header("If-None-Match") {
        let matched = match (etag_list(v), current) {
            (_, None) => false,
            (None, Some(_)) => true,
            // Weak comparison.
            (Some(tags), Some(cur)) => tags.iter().any(|(_, t)| t == cur),
        };
        if matched {
            return Some(if read { 304 } else { 412 });
        }
    }
    None
}

impl Server {
    pub fn new(users: Users, options: Options) -> Server {
        Server { users, options }
    }

    /// Answers one request against one version of the store.
    pub fn handle_request(&mut self, req: &Request, store: &dyn Store) -> Outcome {
        let target = req.target.split(['?', '#']).next().unwrap_or("");
        if target == "/.well-known/caldav" || target == "/.well-known/caldav/" {
            return done(Response::new(301).header("Location", "/"));
        }
        let Some(user) = self.users.authenticate(req.header("Authorization")) else {
            let r = Response::text(401, "authentication required\n")
                .header("WWW-Authenticate", "Basic realm=\"caldav\", charset=\"UTF-8\"");
            return done(r);
        };
        let path = match DavPath::parse(&req.target) {
            Ok(p) => p,
            Err(PathError::Malformed) => return done(Response::text(400, "malformed request path\n")),
            Err(PathError::Forbidden) => return done(Response::text(403, "this path is not served\n")),
        };
        if path.segments.first().is_some_and(|s| *s != user) {
            return done(Response::text(403, "another user's home\n"));
        }
        let mut out = Handler { server: self, req, store, user: &user }.dispatch(&path);
        out.user = Some(user);
        out
    }
}

/// One request in flight.
pub(crate) struct Handler<'a> {
    pub server: &'a Server,
    pub req: &'a Request,
    pub store: &'a dyn Store,
    pub user: &'a str,
}

impl Handler<'_> {
    fn dispatch(&self, path: &DavPath) -> Outcome {
        let res = resolve(self.store, path);
        match self.req.method.as_str() {
            "OPTIONS" => done(
                Response::new(200)
                    .header("DAV", "1, 3, calendar-access, extended-mkcol")
                    .header("Allow", ALLOW)
                    .header("Content-Length", "0"),
            ),
            "GET" | "HEAD" => done(self.get(res)),
            "PUT" => self.put(path, res),
            "DELETE" => self.delete(res),
            "MKCOL" => self.mkcol(path, res, false),
            "MKCALENDAR" => self.mkcol(path, res, true),
            "PROPFIND" => done(self.propfind(res)),
            "REPORT" => done(match res {
                Some(r) => report::report(self, &r),
                None => Response::text(404, "not found\n"),
            }),
            "COPY" => self.copy_move(res, false),
            "MOVE" => self.copy_move(res, true),
            "PROPPATCH" => self.proppatch(res),
            "LOCK" | "UNLOCK" => done(Response::text(501, "not supported by this server yet\n").header("Allow", ALLOW)),
            _ => done(Response::text(405, "method not allowed\n").header("Allow", ALLOW)),
        }
    }

    fn get(&self, res: Option<Resource>) -> Response {
        let Some(res) = res else { return Response::text(404, "not found\n") };
        let Kind::File { etag } = &res.kind else {
            return Response::text(405, "a collection has no content; use PROPFIND\n").header("Allow", ALLOW);
        };
        if let Some(status) = preconditions(self.req, Some(etag), true) {
            return Response::new(status).header("ETag", format!("\"{etag}\""));
        }
        let data = self.store.read(&res.path.store_path()).map(|(d, _)| d.to_vec()).unwrap_or_default();
        let ctype = props::content_type(&res);
        let body = if self.req.method == "HEAD" { Vec::new() } else { data.clone() };
        let mut r = Response::new(200).header("ETag", format!("\"{etag}\"")).header("Content-Type", ctype);
        if self.req.method == "HEAD" {
            r = r.header("Content-Length", data.len().to_string());
        }
        r.body(body)
    }

    fn parent_collection(&self, path: &DavPath) -> Option<Resource> {
        resolve(self.store, &path.parent()?).filter(|p| p.is_collection() && p.kind != Kind::Root)
    }

    fn put(&self, path: &DavPath, res: Option<Resource>) -> Outcome {
        if path.segments.len() < 2 || res.as_ref().is_some_and(Resource::is_collection) {
            return done(Response::text(405, "PUT cannot replace a collection\n").header("Allow", ALLOW));
        }
        let current = match &res {
            Some(Resource { kind: Kind::File { etag }, .. }) => Some(etag.as_str()),
            _ => None,
        };
        if let Some(status) = preconditions(self.req, current, false) {
            return done(Response::text(status, "precondition failed\n"));
        }
        let Some(parent) = self.parent_collection(path) else {
            return done(Response::text(409, "the parent collection does not exist\n"));
        };
        let body = &self.req.body;
        if parent.is_calendar()
            && let Err(r) = self.check_calendar_object(&parent, body, &[path])
        {
            return done(r);
        }
        let etag = self.store.etag_for(body);
        let status = if current.is_some() { 204 } else { 201 };
        Outcome {
            response: Response::new(status).header("ETag", format!("\"{etag}\"")),
            changes: vec![Change { path: path.store_path(), content: Some(body.clone()) }],
            user: None,
        }
    }

    /// The preconditions of PUT into a calendar collection (RFC 4791 §5.3.2.1).
    /// `replaced` are the paths whose current content does not count for the UID
    /// check (the target itself; for MOVE also the source).
    fn check_calendar_object(&self, cal: &Resource, body: &[u8], replaced: &[&DavPath]) -> Result<(), Response> {
        let Kind::Collection(meta) = &cal.kind else { return Ok(()) };
        if let Some(ct) = self.req.header("Content-Type")
            && !ct.trim().to_ascii_lowercase().starts_with("text/calendar")
        {
            return Err(precondition(403, CALDAV, "supported-calendar-data"));
        }
        if body.len() > self.server.options.max_resource_size {
            return Err(precondition(403, CALDAV, "max-resource-size"));
        }
        let obj = ical::parse(body).map_err(|_| precondition(403, CALDAV, "valid-calendar-data"))?;
        let summary = ical::check(&obj).map_err(|e| match e {
            ical::Invalid::Data(_) => precondition(403, CALDAV, "valid-calendar-data"),
            ical::Invalid::Object(_) => precondition(403, CALDAV, "valid-calendar-object-resource"),
        })?;
        if !meta.accepts(&summary.kind) {
            return Err(precondition(403, CALDAV, "supported-calendar-component"));
        }
        let dir = cal.path.store_path();
        for e in self.store.list(&dir).unwrap_or_default() {
            if e.is_dir() || e.name.starts_with('.') || replaced.iter().any(|p| *p == &cal.path.child(&e.name)) {
                continue;
            }
            let Some((data, _)) = self.store.read(&format!("{dir}/{}", e.name)) else { continue };
            if ical::quick_uid(data).as_deref() == Some(summary.uid.as_str()) {
                let href = cal.path.child(&e.name).href(false);
                let inner = format!("<C:no-uid-conflict><D:href>{}</D:href></C:no-uid-conflict>", xml::escape(&href));
                return Err(Response::xml(403, error_body(CALDAV, &inner)));
            }
        }
        Ok(())
    }

    fn delete(&self, res: Option<Resource>) -> Outcome {
        let Some(res) = res else { return done(Response::text(404, "not found\n")) };
        let current = match &res.kind {
            Kind::File { etag } => Some(etag.as_str()),
            _ => None,
        };
        if let Some(status) = preconditions(self.req, current.or(Some("")), false) {
            return done(Response::text(status, "precondition failed\n"));
        }
        if res.path.segments.len() < 2 {
            return done(Response::text(403, "a home cannot be deleted\n"));
        }
        let p = res.path.store_path();
        let mut files = Vec::new();
        if res.is_collection() {
            walk(self.store, &p, &mut files);
        } else {
            files.push(p);
        }
        Outcome {
            response: Response::new(204),
            changes: files.into_iter().map(|path| Change { path, content: None }).collect(),
            user: None,
        }
    }

    /// COPY and MOVE (RFC 4918 §9.8, §9.9) within the user's home.
    fn copy_move(&self, res: Option<Resource>, is_move: bool) -> Outcome {
        let Some(src) = res else { return done(Response::text(404, "not found\n")) };
        if src.path.segments.len() < 2 {
            return done(Response::text(403, "a home cannot be copied or moved\n"));
        }
        let Some(dest) = self.req.header("Destination") else {
            return done(Response::text(400, "Destination is missing\n"));
        };
        let dest = match DavPath::parse(dest) {
            Ok(d) if d.segments.first().is_some_and(|u| u == self.user) && d.segments.len() >= 2 => d,
            Ok(_) | Err(PathError::Forbidden) => return done(Response::text(403, "the destination is not served\n")),
            Err(PathError::Malformed) => return done(Response::text(400, "malformed Destination\n")),
        };
        if dest == src.path || dest.segments.starts_with(&src.path.segments) {
            return done(Response::text(403, "the destination is the source or inside it\n"));
        }
        // Depth: infinity by default; MOVE of a collection knows no other (§9.9.2).
        let shallow = match self.req.header("Depth").map(str::trim) {
            None | Some("infinity") => false,
            Some("0") if !is_move => true,
            _ => return done(Response::text(400, "bad Depth for COPY/MOVE\n")),
        };
        let existing = resolve(self.store, &dest);
        let overwrite = !self.req.header("Overwrite").is_some_and(|v| v.trim().eq_ignore_ascii_case("F"));
        if existing.is_some() && !overwrite {
            return done(Response::text(412, "the destination exists and Overwrite is F\n"));
        }
        let Some(parent) = self.parent_collection(&dest) else {
            return done(Response::text(409, "the destination's parent collection does not exist\n"));
        };
        // What to copy: (path relative to the source, bytes).
        let from = src.path.store_path();
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        if src.is_collection() {
            if parent.is_calendar() {
                return done(precondition(403, CALDAV, "calendar-collection-location-ok"));
            }
            let mut paths = Vec::new();
            if shallow {
                paths.push(format!("{from}/{}", collection::FILE));
            } else {
                walk(self.store, &from, &mut paths);
            }
            for p in paths {
                if let Some((data, _)) = self.store.read(&p) {
                    files.push((p[from.len()..].to_string(), data.to_vec()));
                }
            }
        } else {
            let data = self.store.read(&from).map(|(d, _)| d.to_vec()).unwrap_or_default();
            if parent.is_calendar() {
                let mut replaced = vec![&dest];
                if is_move {
                    replaced.push(&src.path);
                }
                if let Err(r) = self.check_calendar_object(&parent, &data, &replaced) {
                    return done(r);
                }
            }
            files.push((String::new(), data));
        }
        let to = dest.store_path();
        let mut changes = Vec::new();
        if existing.is_some() {
            // §9.8.4: an overwritten destination is deleted first.
            let mut old = Vec::new();
            walk(self.store, &to, &mut old);
            if old.is_empty() {
                old.push(to.clone());
            }
            changes.extend(old.into_iter().map(|path| Change { path, content: None }));
        }
        if is_move {
            let mut gone = Vec::new();
            if src.is_collection() {
                walk(self.store, &from, &mut gone);
            } else {
                gone.push(from.clone());
            }
            changes.extend(gone.into_iter().map(|path| Change { path, content: None }));
        }
        changes.extend(files.into_iter().map(|(rel, data)| Change { path: format!("{to}{rel}"), content: Some(data) }));
        let status = if existing.is_some() { 204 } else { 201 };
        Outcome { response: Response::new(status), changes, user: None }
    }

    /// MKCOL (RFC 4918 §9.3), extended MKCOL (RFC 5689) and MKCALENDAR (RFC 4791 §5.3.1).
    fn mkcol(&self, path: &DavPath, res: Option<Resource>, calendar: bool) -> Outcome {
        if res.is_some() {
            let r = if calendar {
                precondition(403, DAV, "resource-must-be-null")
            } else {
                Response::text(405, "something exists there already\n").header("Allow", ALLOW)
            };
            return done(r);
        }
        let Some(parent) = self.parent_collection(path) else {
            return done(Response::text(409, "the parent collection does not exist\n"));
        };
        if parent.is_calendar() {
            return done(precondition(403, CALDAV, "calendar-collection-location-ok"));
        }
        let mut meta = Meta { calendar, ..Meta::default() };
        if !self.req.body.iter().all(u8::is_ascii_whitespace) {
            let root = match xml::parse(&self.req.body) {
                Ok(r) => r,
                Err(_) if !calendar => return done(Response::text(415, "MKCOL body not understood\n")),
                Err(e) => return done(Response::text(400, &format!("malformed XML: {e}\n"))),
            };
            let expected = if calendar { root.is(CALDAV, "mkcalendar") } else { root.is(DAV, "mkcol") };
            if !expected {
                return done(Response::text(415, "MKCOL body not understood\n"));
            }
            if let Err(r) = apply_set(&root, &mut meta, calendar) {
                return done(r);
            }
        }
        let file = format!("{}/{}", path.store_path(), collection::FILE);
        Outcome {
            response: Response::new(201).header("Content-Length", "0"),
            changes: vec![Change { path: file, content: Some(meta.to_bytes()) }],
            user: None,
        }
    }

    /// PROPPATCH (RFC 4918 §9.2): a collection's displayname and
    /// calendar-description can be set and removed; there are no dead properties,
    /// so any other property is refused (403) and, the request being atomic,
    /// nothing is changed (424 for the rest).
    fn proppatch(&self, res: Option<Resource>) -> Outcome {
        let Some(res) = res else { return done(Response::text(404, "not found\n")) };
        let root = match xml::parse(&self.req.body) {
            Ok(r) if r.is(DAV, "propertyupdate") => r,
            Ok(_) => return done(Response::text(400, "the body is not a DAV:propertyupdate\n")),
            Err(e) => return done(Response::text(400, &format!("malformed XML: {e}\n"))),
        };
        let mut meta = match &res.kind {
            Kind::Collection(m) if res.path.segments.len() >= 2 => Some(m.clone()),
            _ => None,
        };
        let (mut ok, mut refused) = (Vec::new(), Vec::new());
        // Instructions apply in document order (§14.19).
        for op in &root.children {
            let set = op.is(DAV, "set");
            if !set && !op.is(DAV, "remove") {
                continue;
            }
            for p in op.children_named(DAV, "prop").flat_map(|p| p.children.iter()) {
                let name = xml::empty_element(&p.ns, &p.name);
                let value = set.then(|| p.text.clone());
                let slot = match (&mut meta, p.ns.as_str(), p.name.as_str()) {
                    (Some(m), DAV, "displayname") => Some(&mut m.displayname),
                    (Some(m), CALDAV, "calendar-description") if m.calendar => Some(&mut m.description),
                    _ => None,
                };
                match slot {
                    Some(slot) => {
                        *slot = value;
                        ok.push(name);
                    }
                    None => refused.push(name),
                }
            }
        }
        let stat = |list: &[String], status: &str| {
            if list.is_empty() {
                return String::new();
            }
            format!("<D:propstat><D:prop>{}</D:prop><D:status>HTTP/1.1 {status}</D:status></D:propstat>", list.concat())
        };
        let failed = !refused.is_empty();
        let body = format!(
            "{}<D:response><D:href>{}</D:href>{}{}</D:response></D:multistatus>",
            xml::document_open("multistatus"),
            xml::escape(&res.href()),
            stat(&ok, if failed { "424 Failed Dependency" } else { "200 OK" }),
            stat(&refused, "403 Forbidden"),
        );
        let changes = match meta {
            Some(m) if !failed && !ok.is_empty() => {
                vec![Change {
                    path: format!("{}/{}", res.path.store_path(), collection::FILE),
                    content: Some(m.to_bytes()),
                }]
            }
            _ => Vec::new(),
        };
        Outcome { response: Response::xml(207, body), changes, user: None }
    }

    fn propfind(&self, res: Option<Resource>) -> Response {
        let Some(res) = res else { return Response::text(404, "not found\n") };
        let depth = match self.req.header("Depth").map(str::trim) {
            Some("0") => 0,
            Some("1") => 1,
            // RFC 4918 §9.1: no Depth means infinity, which we refuse.
            _ => return precondition(403, DAV, "propfind-finite-depth"),
        };
        let request = match PropRequest::from_body(&self.req.body) {
            Ok(r) => r,
            Err(why) => return Response::text(400, &format!("{why}\n")),
        };
        let mut body = xml::document_open("multistatus");
        body.push_str(&props::response(self, &res, &request));
        if depth == 1 && res.is_collection() {
            let kids = match res.kind {
                // The root lists only the user's own home.
                Kind::Root => {
                    resolve(self.store, &DavPath::from_segments(vec![self.user.to_string()])).into_iter().collect()
                }
                _ => children(self.store, &res),
            };
            for child in kids {
                body.push_str(&props::response(self, &child, &request));
            }
        }
        body.push_str("</D:multistatus>");
        Response::xml(207, body)
    }
}

/// The properties of an MKCALENDAR or extended MKCOL body's `DAV:set`. Properties
/// we do not keep (e.g. `calendar-timezone`, colours) are accepted and dropped.
fn apply_set(root: &Element, meta: &mut Meta, calendar: bool) -> Result<(), Response> {
    for set in root.children_named(DAV, "set") {
        for prop in set.children_named(DAV, "prop") {
            for p in &prop.children {
                if p.is(DAV, "displayname") {
                    meta.displayname = Some(p.text.clone());
                } else if p.is(CALDAV, "calendar-description") {
                    meta.description = Some(p.text.clone());
                } else if p.is(CALDAV, "supported-calendar-component-set") {
                    meta.components = p
                        .children_named(CALDAV, "comp")
                        .filter_map(|c| c.attr("name"))
                        .map(str::to_ascii_uppercase)
                        .collect();
                    if meta.components.iter().any(|c| !ical::KINDS.contains(&c.as_str())) {
                        return Err(precondition(403, CALDAV, "supported-calendar-component"));
                    }
                } else if p.is(DAV, "resourcetype") {
                    meta.calendar = calendar || p.child(CALDAV, "calendar").is_some();
                }
            }
        }
    }
    Ok(())
}
