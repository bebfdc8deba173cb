//! Remote URLs in MirageOS `--remote=` syntax: `git://host[:port]/path`,
//! `http://…`, `https://…`, each with an optional `#branch` (default `main`).

use std::fmt;
use std::net::IpAddr;

use crate::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Git,
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Git => 9418,
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    pub scheme: Scheme,
    /// Host name or IP literal (without IPv6 brackets).
    pub host: String,
    pub port: u16,
    /// Path on the server, starting with '/'.
    pub path: String,
    /// Branch name without `refs/heads/`.
    pub branch: String,
}

impl Remote {
    pub fn parse(url: &str) -> Result<Remote, Error> {
        let bad = |why: &str| Error::BadUrl(format!("{url:?}: {why}"));
        let (url_part, branch) = match url.split_once('#') {
            Some((u, b)) => (u, b.to_string()),
            None => (url, "main".to_string()),
        };
        if branch.is_empty() || branch.contains(['\0', '\n', ' ', '~', '^', ':', '\\']) || branch.contains("..") {
            return Err(bad("invalid branch name"));
        }
        let (scheme, rest) = if let Some(r) = url_part.strip_prefix("git://") {
            (Scheme::Git, r)
        } else if let Some(r) = url_part.strip_prefix("http://") {
            (Scheme::Http, r)
        } else if let Some(r) = url_part.strip_prefix("https://") {
            (Scheme::Https, r)
        } else {
            return Err(bad("scheme must be git://, http:// or https:// (ssh is not supported yet)"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(bad("user names and passwords in the URL are not supported"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if path.len() <= 1 || path.contains(['\0', '\n', '\r', ' ', '?']) {
            return Err(bad("no repository path, or a path with spaces, '?' or control characters"));
        }
        Ok(Remote {
            scheme,
            host: host.to_string(),
            port: port.unwrap_or(scheme.default_port()),
            path: path.to_string(),
            branch,
        })
    }

    /// `refs/heads/<branch>`.
    pub fn refname(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    /// The host as an IP address, when it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// "host:port" for Host headers and git://'s `host=`.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == self.scheme.default_port() { host } else { format!("{host}:{}", self.port) }
    }
}

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match authority.split_once(':') {
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((authority, None)),
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Git => "git",
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}{}#{}", self.host_header(), self.path, self.branch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mirage_syntax() {
        let r = Remote::parse("git://10.0.0.1/zones.git#live").unwrap();
        assert_eq!(
            (r.scheme, r.host.as_str(), r.port, r.path.as_str(), r.branch.as_str()),
            (Scheme::Git, "10.0.0.1", 9418, "/zones.git", "live")
        );
        let r = Remote::parse("https://[::1]:8443/a/b").unwrap();
        assert_eq!((r.host.as_str(), r.port, r.branch.as_str()), ("::1", 8443, "main"));
        assert_eq!(r.to_string(), "https://[::1]:8443/a/b#main");
        for bad in
            ["ssh://h/x", "git://h", "git://h:99999/x", "http://u@h/x", "git://h/x#", "git://h/x#a..b", "git:///x"]
        {
            assert!(matches!(Remote::parse(bad), Err(Error::BadUrl(_))), "{bad}");
        }
    }
}
