//! iCalendar objects (RFC 5545) as a calendar collection holds them: parsing with
//! the `icalendar` crate, the checks of RFC 4791 §4.1, and the times that
//! calendar-query's time-range compares (RFC 4791 §9.9).
//!
//! Times are seconds since the Unix epoch. What is and is not handled:
//! * UTC (`Z`) and floating times and DATE values; floating times and dates are
//!   taken as UTC (RFC 4791 §9.9 would use the calendar's time zone);
//! * `TZID=` times use the object's VTIMEZONE: the offset of the observance
//!   (STANDARD/DAYLIGHT) whose latest onset precedes the time, with yearly
//!   `BYMONTH`/`BYDAY` rules as time zone definitions write them; an unknown
//!   TZID is taken as UTC;
//! * recurrence: not expanded. A component with RRULE or RDATE is taken to
//!   overlap every range after its start (up to RRULE's UNTIL): a superset, never
//!   a missed instance. Overridden instances (RECURRENCE-ID) are checked as
//!   components of their own.

use icalendar::parser::{Component, Property, read_calendar, unfold};

/// The parsed object, owned.
#[derive(Debug, Clone)]
pub struct Object {
    /// VCALENDAR's own properties.
    pub properties: Vec<Prop>,
    pub components: Vec<Comp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comp {
    pub name: String,
    pub properties: Vec<Prop>,
    pub components: Vec<Comp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub value: String,
}

impl Prop {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Comp {
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.properties.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn props<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.properties.iter().filter(move |p| p.name.eq_ignore_ascii_case(name))
    }
}

fn own_prop(p: &Property<'_>) -> Prop {
    Prop {
        name: p.name.as_str().to_ascii_uppercase(),
        params: p
            .params
            .iter()
            .map(|x| (x.key.as_str().to_ascii_uppercase(), x.val.as_ref().map_or("", |v| v.as_str()).to_string()))
            .collect(),
        value: p.val.as_str().to_string(),
    }
}

fn own_comp(c: &Component<'_>) -> Comp {
    Comp {
        name: c.name.as_str().to_ascii_uppercase(),
        properties: c.properties.iter().map(own_prop).collect(),
        components: c.components.iter().map(own_comp).collect(),
    }
}

/// Why an object cannot be stored in a calendar collection (RFC 4791 §5.3.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// `valid-calendar-data`: not iCalendar.
    Data(String),
    /// `valid-calendar-object-resource`: iCalendar, but not one object as §4.1 wants.
    Object(String),
}

/// The component kinds a calendar collection may hold.
pub const KINDS: &[&str] = &["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"];

/// One calendar object resource: its kind (VEVENT, …) and UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub kind: String,
    pub uid: String,
}

pub fn parse(data: &[u8]) -> Result<Object, Invalid> {
    let text = std::str::from_utf8(data).map_err(|_| Invalid::Data("not UTF-8".into()))?;
    let unfolded = unfold(text);
    let cal = read_calendar(&unfolded).map_err(|e| Invalid::Data(first_line(&e)))?;
    if !unfolded.trim_start().get(..15).is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCALENDAR")) {
        return Err(Invalid::Data("not a VCALENDAR".into()));
    }
    Ok(Object {
        properties: cal.properties.iter().map(own_prop).collect(),
        components: cal.components.iter().map(own_comp).collect(),
    })
}

fn first_line(e: &str) -> String {
    e.lines().take(3).collect::<Vec<_>>().join(" ")
}

/// RFC 4791 §4.1: one kind of component (besides VTIMEZONE), all with the same
/// UID, and no METHOD property.
pub fn check(obj: &Object) -> Result<Summary, Invalid> {
    let bad = |m: &str| Err(Invalid::Object(m.to_string()));
    if obj.properties.iter().any(|p| p.name == "METHOD") {
        return bad("METHOD is not allowed in a stored calendar object");
    }
    if !obj.properties.iter().any(|p| p.name == "VERSION" && p.value.trim() == "2.0") {
        return Err(Invalid::Data("VERSION:2.0 is missing".into()));
    }
    let mut summary: Option<Summary> = None;
    for c in obj.components.iter().filter(|c| c.name != "VTIMEZONE") {
        if !KINDS.contains(&c.name.as_str()) && !c.name.starts_with("X-") {
            return Err(Invalid::Data(format!("unknown component {}", c.name)));
        }
        let Some(uid) = c.prop("UID").map(|p| p.value.clone()) else { return bad("a component has no UID") };
        match &summary {
            None => summary = Some(Summary { kind: c.name.clone(), uid }),
            Some(s) if s.kind != c.name => return bad("components of more than one kind"),
            Some(s) if s.uid != uid => return bad("components with different UIDs"),
            Some(_) => {}
        }
    }
    summary.ok_or_else(|| Invalid::Object("no VEVENT, VTODO, VJOURNAL or VFREEBUSY".into()))
}

/// The UID of stored iCalendar text, read without a full parse (for the
/// no-uid-conflict check over a whole collection).
pub fn quick_uid(data: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(data).ok()?;
    let unfolded = unfold(text);
    unfolded.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let name = name.split(';').next()?;
        name.trim().eq_ignore_ascii_case("UID").then(|| value.trim_end().to_string())
    })
}

// ---- time ----

const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A DATE or DATE-TIME value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// Local seconds since the epoch (UTC when `utc`).
    pub local: i64,
    pub date_only: bool,
    pub utc: bool,
}

/// Parses `YYYYMMDD`, `YYYYMMDDTHHMMSS` or `YYYYMMDDTHHMMSSZ`.
pub fn parse_time(v: &str) -> Option<Time> {
    let v = v.trim();
    if !v.is_ascii() {
        return None;
    }
    let (date, rest) = (v.get(..8)?, v.get(8..)?);
    let (y, m, d) = (digits(date.get(..4)?)?, digits(date.get(4..6)?)?, digits(date.get(6..)?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    if rest.is_empty() {
        return Some(Time { local: days * DAY, date_only: true, utc: false });
    }
    let rest = rest.strip_prefix('T')?;
    let (hms, utc) = match rest.strip_suffix('Z') {
        Some(h) => (h, true),
        None => (rest, false),
    };
    if hms.len() != 6 {
        return None;
    }
    let (h, mi, s) = (digits(&hms[..2])?, digits(&hms[2..4])?, digits(&hms[4..])?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(Time { local: days * DAY + h * 3600 + mi * 60 + s, date_only: false, utc })
}

/// Parses an RFC 5545 §3.3.6 duration (`P1D`, `-PT1H30M`, `P2W`) into seconds.
pub fn parse_duration(v: &str) -> Option<i64> {
    let v = v.trim();
    let (sign, v) = match v.as_bytes().first()? {
        b'-' => (-1, &v[1..]),
        b'+' => (1, &v[1..]),
        _ => (1, v),
    };
    let v = v.strip_prefix('P')?;
    let mut total = 0i64;
    let mut num = String::new();
    let mut in_time = false;
    let mut any = false;
    for c in v.chars() {
        match c {
            '0'..='9' => num.push(c),
            'T' if !in_time && num.is_empty() => in_time = true,
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let n = digits(&num)?;
                num.clear();
                let unit = match (c, in_time) {
                    ('W', false) => 7 * DAY,
                    ('D', false) => DAY,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
                total = total.checked_add(n.checked_mul(unit)?)?;
                any = true;
            }
            _ => return None,
        }
    }
    (any && num.is_empty()).then_some(sign * total)
}

/// Time-zone definitions of an object, to turn `TZID=` local times into UTC.
pub struct Zones<'a> {
    zones: Vec<&'a Comp>,
}

impl<'a> Zones<'a> {
    pub fn of(obj: &'a Object) -> Zones<'a> {
        Zones { zones: obj.components.iter().filter(|c| c.name == "VTIMEZONE").collect() }
    }

    /// UTC seconds of a property's DATE/DATE-TIME value.
    pub fn utc(&self, p: &Prop) -> Option<Time> {
        let mut t = parse_time(&p.value)?;
        if t.utc || t.date_only {
            return Some(t);
        }
        if let Some(tzid) = p.param("TZID")
            && let Some(zone) = self.zones.iter().find(|z| z.prop("TZID").is_some_and(|x| x.value == tzid))
        {
            t.local -= offset_at(zone, t.local);
        }
        Some(t)
    }
}

/// Seconds east of UTC in `zone` at local time `local`: the observance with the
/// latest onset not after `local`.
fn offset_at(zone: &Comp, local: i64) -> i64 {
    let mut best: Option<(i64, i64)> = None;
    for obs in zone.components.iter().filter(|c| c.name == "STANDARD" || c.name == "DAYLIGHT") {
        let (Some(start), Some(to)) = (
            obs.prop("DTSTART").and_then(|p| parse_time(&p.value)),
            obs.prop("TZOFFSETTO").and_then(|p| parse_offset(&p.value)),
        ) else {
            continue;
        };
        let onset = match obs.prop("RRULE") {
            Some(r) => yearly_onset(&r.value, start.local, local),
            None => (start.local <= local).then_some(start.local),
        };
        if let Some(onset) = onset
            && best.is_none_or(|(b, _)| onset > b)
        {
            best = Some((onset, to));
        }
    }
    best.map_or(0, |(_, off)| off)
}

/// `+HHMM[SS]` / `-HHMM[SS]` into seconds.
fn parse_offset(v: &str) -> Option<i64> {
    let v = v.trim();
    let sign = match v.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let d = &v[1..];
    if !d.is_ascii() || (d.len() != 4 && d.len() != 6) {
        return None;
    }
    let (h, m) = (digits(&d[..2])?, digits(&d[2..4])?);
    let s = if d.len() == 6 { digits(&d[4..])? } else { 0 };
    Some(sign * (h * 3600 + m * 60 + s))
}

/// The latest onset not after `local` of a yearly observance rule
/// `FREQ=YEARLY;BYMONTH=m;BYDAY=nDD` (n may be negative: from the month's end),
/// first effective at `start`. Other rules: None (the observance is skipped).
fn yearly_onset(rule: &str, start: i64, local: i64) -> Option<i64> {
    let mut month = None;
    let mut byday = None;
    let mut until = None;
    for part in rule.split(';') {
        let (k, v) = part.split_once('=')?;
        match k.to_ascii_uppercase().as_str() {
            "FREQ" if !v.eq_ignore_ascii_case("YEARLY") => return None,
            "BYMONTH" => month = digits(v).filter(|m| (1..=12).contains(m)),
            "BYDAY" => byday = Some(v.to_ascii_uppercase()),
            "UNTIL" => until = parse_time(v).map(|t| t.local),
            _ => {}
        }
    }
    let (month, byday) = (month? as u32, byday?);
    if !byday.is_ascii() {
        return None;
    }
    let weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"].iter().position(|d| byday.ends_with(d))? as i64;
    let n: i64 = byday[..byday.len() - 2].parse().ok().filter(|n: &i64| (-5..=5).contains(n))?;
    let time_of_day = start.rem_euclid(DAY);
    let onset_in = |year: i64| -> Option<i64> {
        // 1970-01-01 was a Thursday (index 3 from Monday).
        let wd = |days: i64| (days + 3).rem_euclid(7);
        let day = if n > 0 {
            let first = days_from_civil(year, month, 1);
            first + (weekday - wd(first)).rem_euclid(7) + (n - 1) * 7
        } else if n < 0 {
            let next = if month == 12 { days_from_civil(year + 1, 1, 1) } else { days_from_civil(year, month + 1, 1) };
            let last = next - 1;
            last - (wd(last) - weekday).rem_euclid(7) + (n + 1) * 7
        } else {
            return None;
        };
        Some(day * DAY + time_of_day)
    };
    let (year, _, _) = civil_from_days(local.div_euclid(DAY));
    for y in [year, year - 1] {
        let onset = onset_in(y)?;
        if onset <= local && onset >= start && until.is_none_or(|u| onset <= u) {
            return Some(onset);
        }
    }
    (start <= local).then_some(start)
}

/// A time-range of calendar-query: `start` inclusive-ish and `end` as §9.9 compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: i64,
    pub end: i64,
}

impl Range {
    /// From the `start`/`end` attributes (UTC DATE-TIMEs; either may be missing).
    pub fn parse(start: Option<&str>, end: Option<&str>) -> Option<Range> {
        let utc = |v: &str| parse_time(v).filter(|t| t.utc && !t.date_only).map(|t| t.local);
        let start = match start {
            Some(s) => utc(s)?,
            None => i64::MIN,
        };
        let end = match end {
            Some(e) => utc(e)?,
            None => i64::MAX,
        };
        Some(Range { start, end })
    }
}

/// Whether a component overlaps `r`, by the table of RFC 4791 §9.9.
pub fn overlaps(c: &Comp, zones: &Zones<'_>, r: Range) -> bool {
    let time = |name: &str| c.prop(name).and_then(|p| zones.utc(p));
    let dtstart = time("DTSTART");
    let duration = c.prop("DURATION").and_then(|p| parse_duration(&p.value));
    let recurring = c.prop("RRULE").is_some() || c.prop("RDATE").is_some();
    if recurring && let Some(s) = dtstart {
        let until = c
            .prop("RRULE")
            .and_then(|p| p.value.split(';').find_map(|kv| kv.strip_prefix("UNTIL=")).and_then(parse_time))
            .map(|t| t.local);
        let span = match (time("DTEND").or(time("DUE")), duration) {
            (Some(e), _) => e.local.saturating_sub(s.local),
            (None, Some(d)) => d,
            (None, None) if s.date_only => DAY,
            (None, None) => 0,
        };
        let last_end = until.map_or(i64::MAX, |u| u.saturating_add(span.max(DAY)));
        return r.start < last_end && r.end > s.local;
    }
    match c.name.as_str() {
        "VEVENT" => {
            let Some(s) = dtstart else { return false };
            let s_ = s.local;
            if let Some(e) = time("DTEND") {
                return r.start < e.local && r.end > s_;
            }
            match duration {
                Some(d) if d > 0 => r.start < s_.saturating_add(d) && r.end > s_,
                Some(_) => r.start <= s_ && r.end > s_,
                None if s.date_only => r.start < s_ + DAY && r.end > s_,
                None => r.start <= s_ && r.end > s_,
            }
        }
        "VTODO" => {
            let due = time("DUE").map(|t| t.local);
            let completed = time("COMPLETED").map(|t| t.local);
            let created = time("CREATED").map(|t| t.local);
            match (dtstart.map(|t| t.local), duration, due) {
                (Some(s), Some(d), _) => r.start <= s.saturating_add(d) && (r.end > s || r.end >= s.saturating_add(d)),
                (Some(s), None, Some(due)) => (r.start < due || r.start <= s) && (r.end > s || r.end >= due),
                (Some(s), None, None) => r.start <= s && r.end > s,
                (None, _, Some(due)) => r.start < due && r.end >= due,
                (None, _, None) => match (completed, created) {
                    (Some(co), Some(cr)) => (r.start <= cr || r.start <= co) && (r.end >= cr || r.end >= co),
                    (Some(co), None) => r.start <= co && r.end >= co,
                    (None, Some(cr)) => r.end > cr,
                    (None, None) => true,
                },
            }
        }
        "VJOURNAL" => match dtstart {
            Some(s) if s.date_only => r.start < s.local + DAY && r.end > s.local,
            Some(s) => r.start <= s.local && r.end > s.local,
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2006, 2, 28) + 1), (2006, 3, 1));
        assert_eq!(parse_time("20060104T140000Z").unwrap().local, 1_136_383_200);
        assert!(parse_time("20061304").is_none());
        assert!(parse_time("2006010").is_none());
        assert_eq!(parse_duration("PT1H30M"), Some(5400));
        assert_eq!(parse_duration("-P1W"), Some(-7 * DAY));
        assert_eq!(parse_duration("P1DT1S"), Some(DAY + 1));
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT1D"), None);
        assert_eq!(parse_duration("P99999999999999999999D"), None);
    }

    #[test]
    fn non_ascii_values_are_refused_not_sliced() {
        assert!(parse_time("20060101T1é000").is_none());
        assert!(parse_time("2006é101").is_none());
        assert!(parse_offset("+1é2").is_none());
        assert_eq!(parse_offset("-0500"), Some(-5 * 3600));
        assert!(yearly_onset("FREQ=YEARLY;BYMONTH=4;BYDAY=éSU", 0, 1_000_000_000).is_none());
        assert!(yearly_onset("FREQ=YEARLY;BYMONTH=4;BYDAY=99999999SU", 0, 1_000_000_000).is_none());
    }
}
