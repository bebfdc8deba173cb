//! The rules page: plain, readable HTML with the rules, the CA certificate,
//! the uptime and the counters. It is rendered from public facts only — the
//! secret is not an input.

use sansio::Duration;
use std::fmt::Write;

use crate::Ports;
use crate::stats::{Service, Stats};

/// What the page shows.
#[derive(Debug)]
pub struct PageContext<'a> {
    /// The address the visitor reached the Piñata at.
    pub address: &'a str,
    pub hostname: &'a str,
    pub ports: Ports,
    pub ca_pem: &'a str,
    pub test_mode: bool,
    pub uptime: Duration,
    pub stats: &'a Stats,
    /// Minimum time between two connect-backs to the same source.
    pub connect_back_interval: Duration,
    pub version: &'a str,
    /// Validity of the certificates, for display.
    pub valid_from: &'a str,
    pub valid_until: &'a str,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "3 days, 04:05:06".
pub fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    match days {
        0 => format!("{h:02}:{m:02}:{sec:02}"),
        1 => format!("1 day, {h:02}:{m:02}:{sec:02}"),
        _ => format!("{days} days, {h:02}:{m:02}:{sec:02}"),
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em;line-height:1.5}\
pre{background:#f4f4f4;padding:1em;overflow-x:auto}table{border-collapse:collapse}\
td,th{border:1px solid #bbb;padding:.2em .6em;text-align:right}th:first-child,td:first-child{text-align:left}\
.test{background:#fdd;border:2px solid #c00;padding:.5em 1em}";

/// Renders the rules page.
pub fn render(cx: &PageContext<'_>) -> String {
    let p = cx.ports;
    let addr = escape(cx.address);
    let host = escape(cx.hostname);
    let mut h = String::with_capacity(8 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Piñata — a TLS bounty</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Piñata — a TLS bounty</h1>\n"
    );
    if cx.test_mode {
        h.push_str(
            "<p class=\"test\"><strong>TEST MODE.</strong> This Piñata uses the fixed test CA whose private key \
             is published in its source code. Anyone can make a certificate it accepts: the secret here is \
             worthless. Never run a real bounty with <code>--test</code>.</p>\n",
        );
    }
    let _ = write!(
        h,
        "<p>This Piñata runs at <strong>{addr}</strong> (<code>{host}</code>). It holds a secret and gives it \
         away to whoever completes a mutually authenticated TLS handshake it should never accept: the only \
         certificates it trusts are signed by its own CA, made at boot, whose private key has never left its \
         memory. If you get the secret, you found a flaw in its TLS or X.509 stack.</p>\n\
         <h2>Rules</h2>\n<ul>\n\
         <li><strong>Port {s}</strong>: a TLS server that requires a client certificate. Complete the handshake \
         with a certificate chaining to the Piñata CA and it sends the secret, then closes.</li>\n\
         <li><strong>Port {cb}</strong>: connect, and the Piñata closes the connection, then connects back to \
         your address on port <strong>{t}</strong> as a TLS client presenting its client certificate. If your \
         server's certificate chains to the Piñata CA, it sends you the secret. At most one connect-back per \
         source every {iv} seconds.</li>\n\
         <li><strong>Port {c}</strong>: connect, and the Piñata starts a TLS <em>client</em> handshake on your \
         connection, presenting its client certificate. If your certificate chains to the Piñata CA, it sends \
         the secret.</li>\n\
         <li><strong>Ports {http} and {https}</strong>: this page over HTTP and HTTPS.</li>\n\
         </ul>\n<p>TLS 1.3 and 1.2. The CA certificate is the only trust anchor, validated per RFC 5280 at \
         the current time; names in server certificates are not checked.</p>\n",
        s = p.server,
        cb = p.connect_back,
        t = p.connect_back_target,
        c = p.client,
        http = p.http,
        https = p.https,
        iv = cx.connect_back_interval.as_secs(),
    );
    let _ = write!(
        h,
        "<h2>The Piñata CA</h2>\n<p>Download: <a href=\"/ca.pem\">ca.pem</a>. The Piñata's certificates are \
         valid from {} until {}.</p>\n<pre>{}</pre>\n",
        escape(cx.valid_from),
        escape(cx.valid_until),
        escape(cx.ca_pem.trim_end())
    );
    let _ = write!(
        h,
        "<h2>Statistics</h2>\n<p>Up for {}.</p>\n<table>\n\
         <tr><th>port</th><th>service</th><th>connections</th><th>handshakes completed</th>\
         <th>handshakes failed</th><th>rate limited</th></tr>\n",
        format_uptime(cx.uptime)
    );
    for service in Service::ALL {
        let st = cx.stats.get(service);
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.of(service),
            service.name(),
            st.connections,
            st.handshakes,
            st.handshake_failures,
            st.rate_limited
        );
    }
    let _ = write!(h, "</table>\n<p><small>pinata {}</small></p>\n</body>\n</html>\n", escape(cx.version));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(test_mode: bool, stats: &Stats) -> String {
        render(&PageContext {
            address: "10.0.0.2",
            hostname: "pinata.local",
            ports: Ports::default(),
            ca_pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            test_mode,
            uptime: Duration::from_secs(90_061),
            stats,
            connect_back_interval: Duration::from_secs(10),
            version: "0.1.0",
            valid_from: "2027-01-15 07:00:00 UTC",
            valid_until: "2028-01-15 08:00:00 UTC",
        })
    }

    #[test]
    fn shows_rules_ca_counters() {
        let mut stats = Stats::default();
        stats.connection(Service::Server);
        stats.connection(Service::Server);
        stats.handshake_failed(Service::Server);
        let h = page(false, &stats);
        for needle in
            ["10.0.0.2", "Port 10000", "Port 10001", "Port 10002", "40001", "BEGIN CERTIFICATE", "1 day, 01:01:01"]
        {
            assert!(h.contains(needle), "missing {needle}");
        }
        assert!(h.contains("<tr><td>10000</td><td>tls-server</td><td>2</td><td>0</td><td>1</td><td>0</td></tr>"));
        assert!(!h.contains("TEST MODE"));
        assert!(page(true, &stats).contains("TEST MODE"));
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(format_uptime(Duration::from_secs(59)), "00:00:59");
        assert_eq!(format_uptime(Duration::from_secs(3 * 86400)), "3 days, 00:00:00");
    }
}
