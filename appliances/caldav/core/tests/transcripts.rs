//! Request → response transcripts against an in-memory store, with the example
//! calendar of RFC 4791 appendix B (tests/data/abcd*.ics) and the REPORT bodies
//! of RFC 4791 §7.8 and §7.9.

use caldav_core::{MemStore, Options, Request, Response, Server, Store, Users};

const ALICE: &str = "alice:$2y$04$bD0NkYp8ncik5LljUWVaAOSkH.m9BPKLLT3t0LcHJ7uuua6BKFmBO";
// "alice:secret" and "bob:hunter2", base64.
const AUTH: &str = "Basic YWxpY2U6c2VjcmV0";
const BOB: &str = "bob:$2y$04$sf.Vc92T4eIipg588t8Utuv1ejgyBNAesylQnyxaf0dC/M.9/g6Jy";
const BOB_AUTH: &str = "Basic Ym9iOmh1bnRlcjI=";

const ABCD: [(&str, &[u8]); 4] = [
    ("abcd1.ics", include_bytes!("data/abcd1.ics")),
    ("abcd2.ics", include_bytes!("data/abcd2.ics")),
    ("abcd3.ics", include_bytes!("data/abcd3.ics")),
    ("abcd4.ics", include_bytes!("data/abcd4.ics")),
];

struct Fixture {
    server: Server,
    store: MemStore,
}

impl Fixture {
    fn new() -> Fixture {
        let mut users = Users::default();
        users.add(ALICE).unwrap();
        users.add(BOB).unwrap();
        Fixture { server: Server::new(users, Options::default()), store: MemStore::default() }
    }

    /// Sends as alice; applies the changes as the wiring would.
    fn send(&mut self, req: Request) -> Response {
        let req = if req.header("Authorization").is_none() { req.with_header("Authorization", AUTH) } else { req };
        let out = self.server.handle_request(&req, &self.store);
        self.store.apply(&out.changes);
        out.response
    }

    /// A calendar at /alice/calendar/ holding appendix B's objects.
    fn with_calendar() -> Fixture {
        let mut f = Fixture::new();
        assert_eq!(f.send(Request::new("MKCALENDAR", "/alice/calendar/")).status, 201);
        for (name, data) in ABCD {
            let r = f.send(
                Request::new("PUT", &format!("/alice/calendar/{name}"))
                    .with_header("Content-Type", "text/calendar")
                    .with_body(data),
            );
            assert_eq!(r.status, 201, "{name}: {}", body(&r));
        }
        f
    }
}

fn body(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn hrefs(r: &Response) -> Vec<String> {
    let b = body(r);
    b.split("<D:href>").skip(1).filter_map(|s| s.split("</D:href>").next()).map(str::to_string).collect()
}

#[test]
fn authentication_is_required_and_homes_are_private() {
    let mut f = Fixture::new();
    let r = f.send(Request::new("PROPFIND", "/alice/").with_header("Authorization", "Basic YWxpY2U6d3Jvbmc="));
    assert_eq!(r.status, 401);
    assert!(r.get_header("WWW-Authenticate").unwrap().starts_with("Basic"));
    let r = f.send(Request::new("PROPFIND", "/bob/").with_header("Depth", "0"));
    assert_eq!(r.status, 403);
    let r = f.send(Request::new("PROPFIND", "/bob/").with_header("Depth", "0").with_header("Authorization", BOB_AUTH));
    assert_eq!(r.status, 207);
}

#[test]
fn paths_never_leave_the_home() {
    let mut f = Fixture::with_calendar();
    for target in ["/alice/../bob/x.ics", "/alice/%2e%2e/bob/x.ics", "/alice/calendar/.collection", "/alice/a%2fb"] {
        let r = f.send(Request::new("PUT", target).with_body("x"));
        assert!(r.status == 403 || r.status == 400, "{target}: {}", r.status);
    }
    assert!(f.store.files.keys().all(|k| k.starts_with("alice/")), "{:?}", f.store.files.keys());
}

#[test]
fn discovery() {
    let mut f = Fixture::new();
    let r = f.send(Request::new("GET", "/.well-known/caldav"));
    assert_eq!((r.status, r.get_header("Location")), (301, Some("/")));
    let propfind = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:current-user-principal/><C:calendar-home-set/><D:principal-URL/></D:prop>
</D:propfind>"#;
    let r = f.send(Request::new("PROPFIND", "/").with_header("Depth", "0").with_body(propfind));
    assert_eq!(r.status, 207);
    assert!(body(&r).contains("<D:current-user-principal><D:href>/alice/</D:href>"), "{}", body(&r));
    let r = f.send(Request::new("PROPFIND", "/alice/").with_header("Depth", "0").with_body(propfind));
    let b = body(&r);
    assert!(b.contains("<C:calendar-home-set><D:href>/alice/</D:href>"), "{b}");
    assert!(b.contains("<D:principal-URL><D:href>/alice/</D:href>"), "{b}");
    assert!(!b.contains("404"), "{b}");
    let r = f.send(Request::new("OPTIONS", "/alice/"));
    let dav = r.get_header("DAV").unwrap();
    assert!(dav.contains("calendar-access") && !dav.split(',').any(|c| c.trim() == "2"), "{dav}");
}

#[test]
fn propfind_depth() {
    let mut f = Fixture::with_calendar();
    let r = f.send(Request::new("PROPFIND", "/alice/calendar/"));
    assert_eq!(r.status, 403);
    assert!(body(&r).contains("propfind-finite-depth"));
    let r = f.send(Request::new("PROPFIND", "/alice/calendar/").with_header("Depth", "infinity"));
    assert_eq!(r.status, 403);
    let r = f.send(Request::new("PROPFIND", "/alice/calendar/").with_header("Depth", "1"));
    assert_eq!(r.status, 207);
    let mut h = hrefs(&r);
    h.sort();
    assert_eq!(
        h,
        [
            "/alice/calendar/",
            "/alice/calendar/abcd1.ics",
            "/alice/calendar/abcd2.ics",
            "/alice/calendar/abcd3.ics",
            "/alice/calendar/abcd4.ics"
        ]
    );
    let unknown = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><x:nope xmlns:x="urn:x"/></D:prop></D:propfind>"#;
    let r = f.send(Request::new("PROPFIND", "/alice/calendar/abcd1.ics").with_header("Depth", "0").with_body(unknown));
    let b = body(&r);
    assert!(b.contains("<X:nope xmlns:X=\"urn:x\"/></D:prop><D:status>HTTP/1.1 404 Not Found"), "{b}");
    let r = f.send(Request::new("PROPFIND", "/alice/calendar/").with_header("Depth", "0").with_body("<D:propfind"));
    assert_eq!(r.status, 400);
}

#[test]
fn ctag_changes_with_members() {
    let mut f = Fixture::with_calendar();
    let ask = r#"<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/></D:prop></D:propfind>"#;
    let ctag = |f: &mut Fixture| {
        body(&f.send(Request::new("PROPFIND", "/alice/calendar/").with_header("Depth", "0").with_body(ask)))
    };
    let before = ctag(&mut f);
    assert!(before.contains("<CS:getctag>"), "{before}");
    assert_eq!(f.send(Request::new("DELETE", "/alice/calendar/abcd4.ics")).status, 204);
    assert_ne!(before, ctag(&mut f));
}

#[test]
fn put_conditions_and_etags() {
    let mut f = Fixture::with_calendar();
    let target = "/alice/calendar/abcd1.ics";
    let get = f.send(Request::new("GET", target));
    let etag = get.get_header("ETag").unwrap().to_string();
    assert_eq!(get.body, ABCD[0].1);
    assert_eq!(etag, format!("\"{}\"", f.store.etag_for(ABCD[0].1)));
    let put = |f: &mut Fixture, h: &str, v: &str| {
        f.send(
            Request::new("PUT", target)
                .with_header(h, v)
                .with_header("Content-Type", "text/calendar")
                .with_body(ABCD[0].1),
        )
    };
    assert_eq!(put(&mut f, "If-None-Match", "*").status, 412);
    assert_eq!(put(&mut f, "If-Match", "\"other\"").status, 412);
    assert_eq!(put(&mut f, "If-Match", &format!("W/{etag}")).status, 412, "weak tags never match If-Match");
    let r = put(&mut f, "If-Match", &etag);
    assert_eq!(r.status, 204);
    assert_eq!(r.get_header("ETag"), Some(etag.as_str()));
    let r = f.send(Request::new("GET", target).with_header("If-None-Match", &etag));
    assert_eq!(r.status, 304);
    assert_eq!(f.send(Request::new("DELETE", target).with_header("If-Match", "\"x\"")).status, 412);
    assert_eq!(f.send(Request::new("DELETE", target).with_header("If-Match", &etag)).status, 204);
    assert_eq!(f.send(Request::new("GET", target)).status, 404);
}

#[test]
fn calendar_object_preconditions() {
    let mut f = Fixture::with_calendar();
    let put = |f: &mut Fixture, name: &str, data: &[u8]| {
        f.send(
            Request::new("PUT", &format!("/alice/calendar/{name}"))
                .with_header("Content-Type", "text/calendar")
                .with_body(data),
        )
    };
    // The same UID as abcd3 under another name (RFC 4791 §5.3.2.1).
    let r = put(&mut f, "copy.ics", ABCD[2].1);
    assert_eq!(r.status, 403);
    assert!(body(&r).contains("<C:no-uid-conflict><D:href>/alice/calendar/abcd3.ics</D:href>"), "{}", body(&r));
    let r = put(&mut f, "junk.ics", b"this is not iCalendar");
    assert!(r.status == 403 && body(&r).contains("valid-calendar-data"), "{}", body(&r));
    let two_uids = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20060101T000000Z\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nDTSTART:20060101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let r = put(&mut f, "two.ics", two_uids);
    assert!(r.status == 403 && body(&r).contains("valid-calendar-object-resource"), "{}", body(&r));
    let with_method = String::from_utf8_lossy(ABCD[0].1)
        .replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST")
        .replace("74855313", "99999999");
    assert_eq!(put(&mut f, "method.ics", with_method.as_bytes()).status, 403);
    // A calendar for events only refuses a VTODO.
    let mk = r#"<?xml version="1.0" encoding="utf-8" ?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>Lisa's Events</D:displayname>
    <C:calendar-description xml:lang="en">Calendar restricted to events.</C:calendar-description>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>"#;
    assert_eq!(f.send(Request::new("MKCALENDAR", "/alice/events/").with_body(mk)).status, 201);
    let r = f.send(
        Request::new("PUT", "/alice/events/t.ics").with_header("Content-Type", "text/calendar").with_body(ABCD[3].1),
    );
    assert!(r.status == 403 && body(&r).contains("supported-calendar-component"), "{}", body(&r));
    let ask = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>"#;
    let r = f.send(Request::new("PROPFIND", "/alice/events/").with_header("Depth", "0").with_body(ask));
    assert!(body(&r).contains("<D:displayname>Lisa&apos;s Events</D:displayname>"), "{}", body(&r));
    // No calendar inside a calendar (RFC 4791 §4.2).
    let r = f.send(Request::new("MKCALENDAR", "/alice/events/inner/"));
    assert!(r.status == 403 && body(&r).contains("calendar-collection-location-ok"));
    assert_eq!(f.send(Request::new("MKCALENDAR", "/alice/events/")).status, 403);
}

/// RFC 4791 §7.8.1's time range: 2006-01-04 UTC holds abcd2 (recurring) and abcd3.
const QUERY_JAN4: &str = r#"<?xml version="1.0" encoding="utf-8" ?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VEVENT">
        <C:time-range start="20060104T000000Z" end="20060105T000000Z"/>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>"#;

fn report(f: &mut Fixture, body: &str) -> Response {
    f.send(Request::new("REPORT", "/alice/calendar/").with_header("Depth", "1").with_body(body))
}

#[test]
fn query_by_time_range() {
    let mut f = Fixture::with_calendar();
    let r = report(&mut f, QUERY_JAN4);
    assert_eq!(r.status, 207);
    assert_eq!(hrefs(&r), ["/alice/calendar/abcd2.ics", "/alice/calendar/abcd3.ics"]);
    assert!(body(&r).contains("SUMMARY:Event #3"));
    // abcd1 is at 10:00 US/Eastern (15:00Z) on January 2nd: in a one-hour window then, not an hour earlier.
    let window = |s: &str, e: &str| QUERY_JAN4.replace("20060104T000000Z", s).replace("20060105T000000Z", e);
    let r = report(&mut f, &window("20060102T150000Z", "20060102T153000Z"));
    assert!(hrefs(&r).contains(&"/alice/calendar/abcd1.ics".to_string()), "{}", body(&r));
    let r = report(&mut f, &window("20060102T140000Z", "20060102T150000Z"));
    assert!(!hrefs(&r).contains(&"/alice/calendar/abcd1.ics".to_string()), "{}", body(&r));
    // Before anything starts.
    assert!(hrefs(&report(&mut f, &window("20050101T000000Z", "20050102T000000Z"))).is_empty());
}

#[test]
fn query_todos_and_text() {
    let mut f = Fixture::with_calendar();
    // RFC 4791 §7.8.6-style: VTODOs with no COMPLETED and not CANCELLED.
    let todos = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO">
    <C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter>
    <C:prop-filter name="STATUS"><C:text-match negate-condition="yes">CANCELLED</C:text-match></C:prop-filter>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"#;
    assert_eq!(hrefs(&report(&mut f, todos)), ["/alice/calendar/abcd4.ics"]);
    // RFC 4791 §7.8.7-style: attendee lisa with PARTSTAT=NEEDS-ACTION (abcd1 and abcd3).
    let attendee = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:prop-filter name="ATTENDEE">
      <C:text-match collation="i;ascii-casemap">mailto:LISA@example.com</C:text-match>
      <C:param-filter name="PARTSTAT"><C:text-match collation="i;ascii-casemap">NEEDS-ACTION</C:text-match></C:param-filter>
    </C:prop-filter>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"#;
    assert_eq!(hrefs(&report(&mut f, attendee)), ["/alice/calendar/abcd1.ics", "/alice/calendar/abcd3.ics"]);
    let octet = attendee.replace("i;ascii-casemap\">mailto", "i;octet\">mailto");
    assert!(hrefs(&report(&mut f, &octet)).is_empty());
    let unknown = attendee.replace("i;ascii-casemap\">mailto", "i;klingon\">mailto");
    let r = report(&mut f, &unknown);
    assert!(r.status == 403 && body(&r).contains("supported-collation"));
    let r = report(&mut f, &QUERY_JAN4.replace("20060104T000000Z", "yesterday"));
    assert!(r.status == 403 && body(&r).contains("valid-filter"));
}

#[test]
fn multiget_reports_missing_hrefs() {
    let mut f = Fixture::with_calendar();
    // RFC 4791 §7.9.1, with one href that does not exist and one of another user.
    let mg = r#"<?xml version="1.0" encoding="utf-8" ?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <D:href>/alice/calendar/abcd1.ics</D:href>
  <D:href>/alice/calendar/mtg1.ics</D:href>
  <D:href>/bob/calendar/abcd1.ics</D:href>
</C:calendar-multiget>"#;
    let r = f.send(Request::new("REPORT", "/alice/calendar/").with_header("Depth", "1").with_body(mg));
    let b = body(&r);
    assert_eq!(r.status, 207);
    assert!(b.contains("SUMMARY:Event #1"), "{b}");
    assert!(b.contains("<D:href>/alice/calendar/mtg1.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status>"), "{b}");
    assert!(b.contains("<D:href>/bob/calendar/abcd1.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status>"), "{b}");
}

#[test]
fn hostile_xml_is_refused() {
    let mut f = Fixture::with_calendar();
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol1;</D:displayname></D:prop></D:propfind>"#;
    let r = f.send(Request::new("PROPFIND", "/alice/calendar/").with_header("Depth", "0").with_body(laughs));
    assert_eq!(r.status, 400);
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:href>&x;</D:href></C:calendar-multiget>"#;
    let r = f.send(Request::new("REPORT", "/alice/calendar/").with_body(xxe));
    assert_eq!(r.status, 400);
}

#[test]
fn mkcol_and_delete_collections() {
    let mut f = Fixture::with_calendar();
    assert_eq!(f.send(Request::new("MKCOL", "/alice/calendar/")).status, 405);
    assert_eq!(f.send(Request::new("MKCOL", "/alice/no/such/")).status, 409);
    assert_eq!(f.send(Request::new("MKCOL", "/alice/plain/").with_body("<x/>")).status, 415);
    let ext = r#"<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype></D:prop></D:set></D:mkcol>"#;
    assert_eq!(f.send(Request::new("MKCOL", "/alice/ext/").with_body(ext)).status, 201);
    let r = f.send(Request::new("PUT", "/alice/ext/a.ics").with_body("not a calendar"));
    assert_eq!(r.status, 403, "extended MKCOL made a calendar");
    assert_eq!(f.send(Request::new("DELETE", "/alice/calendar/")).status, 204);
    assert!(f.store.files.keys().all(|k| !k.starts_with("alice/calendar/")));
    assert_eq!(f.send(Request::new("DELETE", "/alice/")).status, 403);
}

#[test]
fn tzid_times_follow_daylight_saving() {
    use caldav_core::ical::{Zones, parse, parse_time};
    // abcd3 moved to July 4th: US/Eastern is then on EDT (-04:00, the DAYLIGHT observance).
    let july = String::from_utf8_lossy(ABCD[2].1).replace("20060104T100000", "20060704T100000");
    let obj = parse(july.as_bytes()).unwrap();
    let zones = Zones::of(&obj);
    let event = obj.components.iter().find(|c| c.name == "VEVENT").unwrap();
    let start = zones.utc(event.prop("DTSTART").unwrap()).unwrap();
    assert_eq!(start.local, parse_time("20060704T140000Z").unwrap().local);
    let jan = parse(ABCD[2].1).unwrap();
    let event = jan.components.iter().find(|c| c.name == "VEVENT").unwrap();
    let start = Zones::of(&jan).utc(event.prop("DTSTART").unwrap()).unwrap();
    assert_eq!(start.local, parse_time("20060104T150000Z").unwrap().local);
}

#[test]
fn copy_and_move() {
    let mut f = Fixture::with_calendar();
    let mv = |f: &mut Fixture, m: &str, from: &str, to: &str, extra: Option<(&str, &str)>| {
        let mut r = Request::new(m, from).with_header("Destination", &format!("http://localhost{to}"));
        if let Some((h, v)) = extra {
            r = r.with_header(h, v);
        }
        f.send(r)
    };
    // A copy in the same calendar would hold abcd1's UID twice.
    let r = mv(&mut f, "COPY", "/alice/calendar/abcd1.ics", "/alice/calendar/again.ics", None);
    assert!(r.status == 403 && body(&r).contains("no-uid-conflict"), "{}", body(&r));
    // Moving it within the calendar is fine: the source goes.
    assert_eq!(mv(&mut f, "MOVE", "/alice/calendar/abcd1.ics", "/alice/calendar/moved.ics", None).status, 201);
    assert_eq!(f.send(Request::new("GET", "/alice/calendar/abcd1.ics")).status, 404);
    assert_eq!(f.send(Request::new("GET", "/alice/calendar/moved.ics")).body, ABCD[0].1);
    let r = mv(&mut f, "COPY", "/alice/calendar/moved.ics", "/alice/calendar/abcd3.ics", Some(("Overwrite", "F")));
    assert_eq!(r.status, 412);
    assert_eq!(mv(&mut f, "COPY", "/alice/calendar/", "/alice/backup/", None).status, 201);
    assert_eq!(f.send(Request::new("GET", "/alice/backup/moved.ics")).body, ABCD[0].1);
    let r = f.send(Request::new("PROPFIND", "/alice/backup/").with_header("Depth", "0"));
    assert!(body(&r).contains("<C:calendar/>"), "the copy is a calendar too: {}", body(&r));
    assert_eq!(mv(&mut f, "MOVE", "/alice/calendar/moved.ics", "/bob/x.ics", None).status, 403);
    assert_eq!(mv(&mut f, "MOVE", "/alice/calendar/", "/alice/calendar/inner/", None).status, 403);
    assert_eq!(mv(&mut f, "COPY", "/alice/calendar/", "/alice/backup/calendar/", None).status, 403);
}

fn sync(f: &mut Fixture, token: &str) -> Response {
    // RFC 6578 §3.8's request.
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8" ?>
<D:sync-collection xmlns:D="DAV:">
  <D:sync-token>{token}</D:sync-token>
  <D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/></D:prop>
</D:sync-collection>"#
    );
    f.send(Request::new("REPORT", "/alice/calendar/").with_body(body))
}

fn token_of(r: &Response) -> String {
    let b = body(r);
    b.split("<D:sync-token>").nth(1).and_then(|s| s.split("</D:sync-token>").next()).unwrap().to_string()
}

#[test]
fn sync_collection_reports_changes_and_deletions() {
    let mut f = Fixture::with_calendar();
    let first = sync(&mut f, "");
    assert_eq!(first.status, 207);
    assert_eq!(hrefs(&first).len(), 4, "{}", body(&first));
    let token = token_of(&first);
    assert!(hrefs(&sync(&mut f, &token)).is_empty(), "nothing changed since");
    assert_eq!(f.send(Request::new("DELETE", "/alice/calendar/abcd4.ics")).status, 204);
    let changed = String::from_utf8_lossy(ABCD[0].1).replace("Event #1", "Event #1 changed");
    let r = f.send(Request::new("PUT", "/alice/calendar/abcd1.ics").with_body(changed));
    assert_eq!(r.status, 204);
    let r = sync(&mut f, &token);
    let b = body(&r);
    assert_eq!(hrefs(&r), ["/alice/calendar/abcd1.ics", "/alice/calendar/abcd4.ics"]);
    assert!(b.contains("<D:href>/alice/calendar/abcd4.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status>"), "{b}");
    assert_ne!(token_of(&r), token);
    let r = sync(&mut f, "urn:x-caldav-git:sync:999");
    assert!(r.status == 403 && body(&r).contains("valid-sync-token"), "{}", body(&r));
    let r = sync(&mut f, "http://example.com/other-server-token");
    assert_eq!(r.status, 403);
}

/// Mangled versions of the RFC's objects and queries (bytes flipped, cut,
/// duplicated, a deterministic generator): every request is answered, none panics.
#[test]
fn mangled_input_never_panics() {
    let mut f = Fixture::with_calendar();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces: [&[u8]; 16] = [
        b"\r\n",
        b":",
        b";",
        b"=",
        b"-",
        b"+",
        b"T",
        b"Z",
        b"P",
        b"9",
        b"0",
        "é".as_bytes(),
        b"<",
        b"&",
        b" ",
        b"BEGIN:",
    ];
    let originals: Vec<&[u8]> = ABCD.iter().map(|(_, d)| *d).chain([QUERY_JAN4.as_bytes()]).collect();
    for round in 0..1500 {
        let mut data = originals[round % originals.len()].to_vec();
        for _ in 0..(next() % 8 + 1) {
            if data.is_empty() {
                data.push(b'B');
            }
            let at = (next() as usize) % data.len().max(1);
            match next() % 4 {
                0 => {
                    data.remove(at);
                }
                1 => data.truncate(at),
                2 => {
                    let piece = pieces[(next() as usize) % pieces.len()];
                    data.splice(at..at, piece.iter().copied());
                }
                _ => {
                    let end = (at + (next() as usize % 40)).min(data.len());
                    let piece = data[at..end].to_vec();
                    data.splice(at..at, piece);
                }
            }
        }
        let r = if round % originals.len() == ABCD.len() {
            report(&mut f, &String::from_utf8_lossy(&data))
        } else {
            f.send(Request::new("PUT", "/alice/calendar/fuzz.ics").with_body(data))
        };
        assert!(r.status >= 200, "round {round}");
        // The stored objects keep answering queries.
        if round % 50 == 0 {
            assert_eq!(report(&mut f, QUERY_JAN4).status, 207);
        }
    }
}

#[test]
fn proppatch_is_atomic() {
    let mut f = Fixture::with_calendar();
    let patch = |name: &str, extra: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8" ?>
<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop><D:displayname>{name}</D:displayname>{extra}</D:prop></D:set>
  <D:remove><D:prop><C:calendar-description/></D:prop></D:remove>
</D:propertyupdate>"#
        )
    };
    let ask = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>"#;
    let name = |f: &mut Fixture| {
        body(&f.send(Request::new("PROPFIND", "/alice/calendar/").with_header("Depth", "0").with_body(ask)))
    };
    let r = f.send(
        Request::new("PROPPATCH", "/alice/calendar/")
            .with_body(patch("Work", "<x:color xmlns:x=\"urn:x\">red</x:color>")),
    );
    let b = body(&r);
    assert_eq!(r.status, 207);
    assert!(b.contains("<X:color xmlns:X=\"urn:x\"/></D:prop><D:status>HTTP/1.1 403 Forbidden"), "{b}");
    assert!(b.contains("424 Failed Dependency"), "{b}");
    assert!(!name(&mut f).contains("Work"), "nothing changed");
    let r = f.send(Request::new("PROPPATCH", "/alice/calendar/").with_body(patch("Work", "")));
    assert!(body(&r).contains("200 OK") && !body(&r).contains("403"), "{}", body(&r));
    assert!(name(&mut f).contains("<D:displayname>Work</D:displayname>"));
}
