//! The `.collection` file of a collection directory: what kind of collection it
//! is and its properties, as `key: value` lines (readable in a git diff).
//!
//! ```text
//! type: calendar
//! displayname: Work
//! components: VEVENT VTODO
//! description: Meetings
//! ```

/// The name of the file in every collection directory.
pub const FILE: &str = ".collection";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub calendar: bool,
    pub displayname: Option<String>,
    pub description: Option<String>,
    /// For calendars: the component kinds allowed (empty: all of [`crate::ical::KINDS`]).
    pub components: Vec<String>,
}

/// Values are one line; a line break inside one becomes a space.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

impl Meta {
    pub fn parse(data: &[u8]) -> Meta {
        let mut m = Meta::default();
        for line in String::from_utf8_lossy(data).lines() {
            let Some((k, v)) = line.split_once(':') else { continue };
            let v = v.trim();
            match k.trim() {
                "type" => m.calendar = v == "calendar",
                "displayname" => m.displayname = Some(v.to_string()),
                "description" => m.description = Some(v.to_string()),
                "components" => m.components = v.split_whitespace().map(str::to_ascii_uppercase).collect(),
                _ => {}
            }
        }
        m
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("type: {}\n", if self.calendar { "calendar" } else { "collection" });
        if let Some(d) = &self.displayname {
            s.push_str(&format!("displayname: {}\n", one_line(d)));
        }
        if let Some(d) = &self.description {
            s.push_str(&format!("description: {}\n", one_line(d)));
        }
        if !self.components.is_empty() {
            s.push_str(&format!("components: {}\n", self.components.join(" ")));
        }
        s.into_bytes()
    }

    /// The component kinds this calendar accepts.
    pub fn accepts(&self, kind: &str) -> bool {
        if self.components.is_empty() {
            crate::ical::KINDS.contains(&kind)
        } else {
            self.components.iter().any(|c| c == kind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Meta {
            calendar: true,
            displayname: Some("Work\nstuff".into()),
            description: None,
            components: vec!["VEVENT".into()],
        };
        let back = Meta::parse(&m.to_bytes());
        assert_eq!(back.displayname.as_deref(), Some("Work stuff"));
        assert!(back.calendar && back.accepts("VEVENT") && !back.accepts("VTODO"));
        assert!(Meta::parse(b"type: calendar\n").accepts("VTODO"));
    }
}
