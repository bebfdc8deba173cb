//! Server configuration from dnsmasq-style settings.
//!
//! Every setting is a name and a string value, exactly as given on the
//! command line (`--range=10.0.0.100,10.0.0.199,12h`). Errors name the
//! setting and the value; the wiring turns them into argument errors.

use std::fmt;
use std::net::Ipv4Addr;

/// A bad setting: which one, its value, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: &'static str,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value '{}' for --{}: {}", self.value, self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn err(setting: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError { setting, value: value.to_string(), reason: reason.into() }
}

/// An IPv4 subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Subnet {
        Subnet { network: Ipv4Addr::from(u32::from(addr) & mask_bits(prefix)), prefix }
    }
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask_bits(self.prefix))
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & mask_bits(self.prefix) == u32::from(self.network)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask_bits(self.prefix))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask_bits(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) }
}

fn prefix_of_mask(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let prefix = m.leading_ones() as u8;
    (mask_bits(prefix) == m).then_some(prefix)
}

/// One address range and the subnet it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
    pub subnet: Subnet,
    pub lease_secs: u32,
}

impl Pool {
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        (u32::from(self.start)..=u32::from(self.end)).contains(&u32::from(a))
    }
    pub fn size(&self) -> u64 {
        u64::from(u32::from(self.end) - u32::from(self.start)) + 1
    }
}

/// How a static reservation names its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostMatch {
    /// The hardware (MAC) address in `chaddr`.
    Mac([u8; 6]),
    /// The client identifier (option 61) bytes, given as `id:hex:hex...`.
    ClientId(Vec<u8>),
}

/// `--host=MAC,IP[,NAME]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub matcher: HostMatch,
    pub addr: Ipv4Addr,
    pub name: Option<String>,
}

/// How an address is checked before it is offered (`--probe`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Probe {
    /// Offer without checking (the default).
    #[default]
    None,
    /// Ask by ARP whether some host already uses the address (local link only).
    Arp,
}

/// The whole server configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The server's own address (from `--ipv4`); also the server identifier (option 54).
    pub server: Ipv4Addr,
    /// The subnet of the server's interface.
    pub local: Subnet,
    pub pools: Vec<Pool>,
    pub hosts: Vec<Host>,
    /// Lease time for static reservations and the default for ranges.
    pub default_lease_secs: u32,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub ntp: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub mtu: Option<u16>,
    /// RFC 8925 V6ONLY_WAIT, sent as option 108 when a client asks for it.
    pub ipv6_only_wait: Option<u32>,
    /// How long an offered address stays reserved for the client (RFC 2131 §4.3.1).
    pub offer_secs: u32,
    /// How long a DECLINEd address is kept out of the pool (RFC 2131 §4.3.3).
    pub quarantine_secs: u32,
    /// Whether addresses are probed before they are offered.
    pub probe: Probe,
}

/// The settings as given, one string per occurrence.
#[derive(Clone, Debug)]
pub struct Settings<'a> {
    /// `--ipv4=ADDR/PREFIX`: the server's own address.
    pub ipv4: (Ipv4Addr, u8),
    pub ranges: Vec<&'a str>,
    pub hosts: Vec<&'a str>,
    pub options: Vec<&'a str>,
    pub domain: Option<&'a str>,
    /// `--subnet-mask=MASK`: overrides the mask derived from `--ipv4`.
    pub subnet_mask: Option<&'a str>,
    /// `--lease-time=DURATION`: default lease time.
    pub lease_time: Option<&'a str>,
    /// `--probe=arp|none`.
    pub probe: Option<&'a str>,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            ipv4: (Ipv4Addr::new(10, 0, 0, 2), 24),
            ranges: Vec::new(),
            hosts: Vec::new(),
            options: Vec::new(),
            domain: None,
            subnet_mask: None,
            lease_time: None,
            probe: None,
        }
    }
}

/// Default lease time when neither the range nor `--lease-time` gives one (dnsmasq's: 1h).
pub const DEFAULT_LEASE_SECS: u32 = 3600;
/// Shortest lease accepted (keeps renewals from flooding the log).
pub const MIN_LEASE_SECS: u32 = 10;

/// Parses `12h`, `30m`, `45s`, `2d`, `1w`, a bare number of seconds, or `infinite`.
pub fn parse_duration(s: &str) -> Result<u32, String> {
    if s == "infinite" {
        return Ok(u32::MAX);
    }
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits.parse().map_err(|_| format!("'{s}' is not a duration (like 45s, 30m, 12h, 2d, infinite)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(format!("unknown unit '{unit}' in '{s}' (s, m, h, d, w)")),
    };
    let secs = n.checked_mul(mult).filter(|v| *v < u64::from(u32::MAX)).ok_or_else(|| format!("'{s}' is too long"))?;
    let secs = secs as u32;
    if secs < MIN_LEASE_SECS {
        return Err(format!("'{s}' is shorter than the minimum of {MIN_LEASE_SECS}s"));
    }
    Ok(secs)
}

/// Parses `aa:bb:cc:dd:ee:ff` (also with `-`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

fn parse_hex_bytes(s: &str) -> Option<Vec<u8>> {
    let out: Option<Vec<u8>> =
        s.split(':').map(|p| if p.len() == 2 { u8::from_str_radix(p, 16).ok() } else { None }).collect();
    out.filter(|v| !v.is_empty() && v.len() <= 255)
}

fn parse_ips(setting: &'static str, whole: &str, list: &[&str]) -> Result<Vec<Ipv4Addr>, ConfigError> {
    if list.is_empty() {
        return Err(err(setting, whole, "expected at least one address"));
    }
    list.iter()
        .map(|a| a.trim().parse().map_err(|_| err(setting, whole, format!("'{a}' is not an IPv4 address"))))
        .collect()
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl Config {
    /// Builds and checks the configuration.
    pub fn from_settings(s: &Settings<'_>) -> Result<Config, ConfigError> {
        let (server, mut prefix) = s.ipv4;
        if let Some(m) = s.subnet_mask {
            let mask: Ipv4Addr = m.parse().map_err(|_| err("subnet-mask", m, "not an IPv4 netmask"))?;
            prefix = prefix_of_mask(mask).ok_or_else(|| err("subnet-mask", m, "not a contiguous netmask"))?;
        }
        if prefix > 30 {
            return Err(err("ipv4", &format!("{server}/{prefix}"), "the served subnet must be /30 or larger"));
        }
        let local = Subnet::new(server, prefix);
        let default_lease_secs = match s.lease_time {
            Some(v) => parse_duration(v).map_err(|r| err("lease-time", v, r))?,
            None => DEFAULT_LEASE_SECS,
        };

        let mut pools = Vec::new();
        for r in &s.ranges {
            let pool = parse_range(r, local, default_lease_secs)?;
            for other in &pools {
                let o: &Pool = other;
                if o.contains(pool.start) || o.contains(pool.end) || pool.contains(o.start) {
                    return Err(err("range", r, format!("overlaps the range {}-{}", o.start, o.end)));
                }
                if o.subnet != pool.subnet && (o.subnet.contains(pool.start) || pool.subnet.contains(o.start)) {
                    return Err(err("range", r, format!("its subnet {} conflicts with {}", pool.subnet, o.subnet)));
                }
            }
            if pool.contains(server) {
                return Err(err("range", r, format!("contains the server's own address {server}")));
            }
            pools.push(pool);
        }
        if pools.is_empty() {
            return Err(err("range", "", "at least one --range=START,END[,LEASE] is required"));
        }

        let mut hosts: Vec<Host> = Vec::new();
        for h in &s.hosts {
            let parts: Vec<&str> = h.split(',').map(str::trim).collect();
            if parts.len() < 2 || parts.len() > 3 {
                return Err(err("host", h, "expected MAC,IP[,NAME] or id:HEX,IP[,NAME]"));
            }
            let matcher = if let Some(id) = parts[0].strip_prefix("id:") {
                HostMatch::ClientId(
                    parse_hex_bytes(id).ok_or_else(|| err("host", h, "client id must be hex bytes aa:bb:..."))?,
                )
            } else {
                HostMatch::Mac(
                    parse_mac(parts[0])
                        .ok_or_else(|| err("host", h, format!("'{}' is not a MAC address", parts[0])))?,
                )
            };
            let addr: Ipv4Addr =
                parts[1].parse().map_err(|_| err("host", h, format!("'{}' is not an IPv4 address", parts[1])))?;
            if addr == server {
                return Err(err("host", h, "reserves the server's own address"));
            }
            if !local.contains(addr) && !pools.iter().any(|p| p.subnet.contains(addr)) {
                return Err(err("host", h, format!("{addr} is in no served subnet")));
            }
            let name = parts.get(2).map(|n| n.to_string());
            if let Some(n) = &name
                && !valid_domain(n)
            {
                return Err(err("host", h, format!("'{n}' is not a valid host name")));
            }
            if let Some(o) = hosts.iter().find(|o| o.addr == addr) {
                return Err(err("host", h, format!("{addr} is already reserved for {:?}", o.matcher)));
            }
            if hosts.iter().any(|o| o.matcher == matcher) {
                return Err(err("host", h, "this client already has a reservation"));
            }
            hosts.push(Host { matcher, addr, name });
        }

        let mut cfg = Config {
            server,
            local,
            pools,
            hosts,
            default_lease_secs,
            routers: Vec::new(),
            dns: Vec::new(),
            ntp: Vec::new(),
            domain: None,
            mtu: None,
            ipv6_only_wait: None,
            offer_secs: 60,
            quarantine_secs: 3600,
            probe: match s.probe {
                None | Some("none") => Probe::None,
                Some("arp") => Probe::Arp,
                Some(v) => return Err(err("probe", v, "expected arp or none")),
            },
        };
        for o in &s.options {
            cfg.apply_option(o)?;
        }
        if let Some(d) = s.domain {
            if !valid_domain(d) {
                return Err(err("domain", d, "not a valid domain name"));
            }
            if cfg.domain.is_some() {
                return Err(err("domain", d, "the domain is also given with --option=domain-name"));
            }
            cfg.domain = Some(d.trim_end_matches('.').to_string());
        }
        Ok(cfg)
    }

    fn apply_option(&mut self, o: &str) -> Result<(), ConfigError> {
        let (name, rest) = o.split_once(',').ok_or_else(|| err("option", o, "expected NAME,VALUE[,VALUE...]"))?;
        let values: Vec<&str> = rest.split(',').map(str::trim).collect();
        let once = |set: bool| if set { Err(err("option", o, format!("'{name}' given twice"))) } else { Ok(()) };
        match name.trim() {
            "router" | "3" => {
                once(!self.routers.is_empty())?;
                self.routers = parse_ips("option", o, &values)?;
            }
            "dns-server" | "6" => {
                once(!self.dns.is_empty())?;
                self.dns = parse_ips("option", o, &values)?;
            }
            "ntp-server" | "42" => {
                once(!self.ntp.is_empty())?;
                self.ntp = parse_ips("option", o, &values)?;
            }
            "domain-name" | "15" => {
                once(self.domain.is_some())?;
                if values.len() != 1 || !valid_domain(values[0]) {
                    return Err(err("option", o, "expected one valid domain name"));
                }
                self.domain = Some(values[0].trim_end_matches('.').to_string());
            }
            "mtu" | "26" => {
                once(self.mtu.is_some())?;
                let mtu: u16 = values[0]
                    .parse()
                    .ok()
                    .filter(|m| *m >= 68 && values.len() == 1)
                    .ok_or_else(|| err("option", o, "expected one MTU of at least 68 (RFC 2132 §5.1)"))?;
                self.mtu = Some(mtu);
            }
            "ipv6-only" | "ipv6-only-preferred" | "108" => {
                once(self.ipv6_only_wait.is_some())?;
                // RFC 8925 §3.4: V6ONLY_WAIT has a minimum of 300 seconds.
                let secs = values[0].parse::<u32>().ok().filter(|s| *s >= 300 && values.len() == 1);
                self.ipv6_only_wait = Some(
                    secs.ok_or_else(|| err("option", o, "expected V6ONLY_WAIT seconds, at least 300 (RFC 8925)"))?,
                );
            }
            other => {
                return Err(err(
                    "option",
                    o,
                    format!(
                        "unknown option '{other}' (known: router, dns-server, ntp-server, domain-name, mtu, ipv6-only)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The reservation for a client, by client identifier first, then MAC.
    pub fn host_for(&self, client_id: Option<&[u8]>, chaddr: &[u8]) -> Option<&Host> {
        if let Some(id) = client_id
            && let Some(h) = self.hosts.iter().find(|h| matches!(&h.matcher, HostMatch::ClientId(x) if x == id))
        {
            return Some(h);
        }
        self.hosts.iter().find(|h| matches!(&h.matcher, HostMatch::Mac(m) if m[..] == *chaddr))
    }

    /// Whether `addr` is reserved for some client.
    pub fn reserved(&self, addr: Ipv4Addr) -> Option<&Host> {
        self.hosts.iter().find(|h| h.addr == addr)
    }

    /// The subnet an address belongs to (local or a pool's).
    pub fn subnet_of(&self, addr: Ipv4Addr) -> Option<Subnet> {
        if self.local.contains(addr) {
            return Some(self.local);
        }
        self.pools.iter().map(|p| p.subnet).find(|s| s.contains(addr))
    }
}

fn parse_range(r: &str, local: Subnet, default_lease: u32) -> Result<Pool, ConfigError> {
    let parts: Vec<&str> = r.split(',').map(str::trim).collect();
    if parts.len() < 2 || parts.len() > 4 {
        return Err(err("range", r, "expected START,END[,NETMASK][,LEASE]"));
    }
    let ip = |s: &str| s.parse::<Ipv4Addr>().map_err(|_| err("range", r, format!("'{s}' is not an IPv4 address")));
    let start = ip(parts[0])?;
    let end = ip(parts[1])?;
    if u32::from(start) > u32::from(end) {
        return Err(err("range", r, "START is after END"));
    }
    let mut subnet = None;
    let mut lease = None;
    for p in &parts[2..] {
        if p.contains('.') {
            if subnet.is_some() {
                return Err(err("range", r, "netmask given twice"));
            }
            let mask = ip(p)?;
            let prefix = prefix_of_mask(mask).ok_or_else(|| err("range", r, format!("'{p}' is not a netmask")))?;
            subnet = Some(Subnet::new(start, prefix));
        } else {
            if lease.is_some() {
                return Err(err("range", r, "lease time given twice"));
            }
            lease = Some(parse_duration(p).map_err(|e| err("range", r, e))?);
        }
    }
    let subnet = match subnet {
        Some(s) => s,
        None if local.contains(start) => local,
        None => {
            return Err(err(
                "range",
                r,
                format!("not inside the interface subnet {local}; give a NETMASK for a relayed subnet"),
            ));
        }
    };
    if !subnet.contains(start) || !subnet.contains(end) {
        return Err(err("range", r, format!("START and END must both lie in {subnet}")));
    }
    if start == subnet.network || end == subnet.broadcast() {
        return Err(err("range", r, format!("includes the network or broadcast address of {subnet}")));
    }
    Ok(Pool { start, end, subnet, lease_secs: lease.unwrap_or(default_lease) })
}

/// Settings a configuration file (`--conf=FILE`) may hold. The repeatable
/// ones add to those of the command line; for the others the command line wins.
pub const FILE_SETTINGS: &[(&str, bool)] = &[
    ("range", true),
    ("host", true),
    ("option", true),
    ("domain", false),
    ("subnet-mask", false),
    ("lease-time", false),
    ("probe", false),
    ("status-port", false),
];

/// One `NAME=VALUE` line of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSetting {
    /// 1-based line number.
    pub line: usize,
    pub name: String,
    pub value: String,
}

/// A malformed line of a configuration file: its number, the setting (or the
/// line's text when it names none) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub line: usize,
    pub setting: String,
    pub reason: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.setting, self.reason)
    }
}

/// Parses a configuration file: one setting a line in the syntax of the
/// arguments without the leading dashes (`range=10.0.0.100,10.0.0.199,12h`);
/// blank lines and lines starting with `#` are skipped. Values are checked
/// later, by [`Config::from_settings`]; [`FileSetting`]s keep their line.
pub fn parse_conf(text: &str) -> Result<Vec<FileSetting>, FileError> {
    let mut out: Vec<FileSetting> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let bad = |setting: &str, reason: String| FileError { line, setting: setting.to_string(), reason };
        let (name, value) = match l.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => (l, ""),
        };
        if let Some(bare) = name.strip_prefix("--") {
            return Err(bad(name, format!("write '{bare}=...' without the leading dashes")));
        }
        let Some(&(_, repeatable)) = FILE_SETTINGS.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = FILE_SETTINGS.iter().map(|(n, _)| *n).collect();
            let reason = if ["ipv4", "format", "conf"].contains(&name) || name.contains(':') {
                "only on the command line".to_string()
            } else {
                format!("unknown setting (known here: {})", known.join(", "))
            };
            return Err(bad(name, reason));
        };
        if !l.contains('=') || value.is_empty() {
            return Err(bad(name, format!("expected {name}=VALUE")));
        }
        if !repeatable && let Some(prev) = out.iter().find(|s| s.name == name) {
            return Err(bad(name, format!("already given on line {}", prev.line)));
        }
        out.push(FileSetting { line, name: name.to_string(), value: value.to_string() });
    }
    Ok(out)
}

impl<'a> Settings<'a> {
    /// Adds the settings of a configuration file: repeatable ones (range,
    /// host, option) from the file come first, then the command line's; a
    /// single-valued one from the file applies only when the command line does
    /// not give it. Settings the server does not take (status-port) are left
    /// to the caller.
    pub fn merge_file(mut self, file: &'a [FileSetting]) -> Settings<'a> {
        let all = |name: &str| file.iter().filter(|s| s.name == name).map(|s| s.value.as_str()).collect::<Vec<_>>();
        let one = |name: &str| file.iter().find(|s| s.name == name).map(|s| s.value.as_str());
        for (list, name) in [(&mut self.ranges, "range"), (&mut self.hosts, "host"), (&mut self.options, "option")] {
            let mut merged = all(name);
            merged.append(list);
            *list = merged;
        }
        self.domain = self.domain.or(one("domain"));
        self.subnet_mask = self.subnet_mask.or(one("subnet-mask"));
        self.lease_time = self.lease_time.or(one("lease-time"));
        self.probe = self.probe.or(one("probe"));
        self
    }
}

/// The line of `file` an error of [`Config::from_settings`] is about, if it
/// came from the file.
pub fn file_line_of(file: &[FileSetting], e: &ConfigError) -> Option<usize> {
    file.iter().find(|s| s.name == e.setting && s.value == e.value).map(|s| s.line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings<'a>(ranges: &[&'a str], hosts: &[&'a str], options: &[&'a str]) -> Settings<'a> {
        Settings {
            ipv4: (Ipv4Addr::new(10, 0, 0, 1), 24),
            ranges: ranges.to_vec(),
            hosts: hosts.to_vec(),
            options: options.to_vec(),
            ..Settings::default()
        }
    }

    #[test]
    fn parses_a_typical_configuration() {
        let s = Settings {
            domain: Some("example.lan"),
            ..settings(
                &["10.0.0.100,10.0.0.199,12h", "10.1.0.10,10.1.0.20,255.255.255.0"],
                &["aa:bb:cc:dd:ee:ff,10.0.0.5,printer", "id:01:02:03,10.0.0.6"],
                &["router,10.0.0.1", "dns-server,10.0.0.1,10.0.0.2", "ipv6-only,1800"],
            )
        };
        let c = Config::from_settings(&s).unwrap();
        assert_eq!(c.pools.len(), 2);
        assert_eq!(c.pools[0].lease_secs, 12 * 3600);
        assert_eq!(c.pools[1].subnet, Subnet::new(Ipv4Addr::new(10, 1, 0, 0), 24));
        assert_eq!(c.pools[1].lease_secs, DEFAULT_LEASE_SECS);
        assert_eq!(c.dns.len(), 2);
        assert_eq!(c.domain.as_deref(), Some("example.lan"));
        assert_eq!(c.ipv6_only_wait, Some(1800));
        assert_eq!(c.host_for(None, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]).unwrap().addr, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(c.host_for(Some(&[1, 2, 3]), &[0; 6]).unwrap().addr, Ipv4Addr::new(10, 0, 0, 6));
    }

    #[test]
    fn errors_name_the_setting() {
        let cases: &[(Settings<'_>, &str)] = &[
            (settings(&["10.0.0.200,10.0.0.100"], &[], &[]), "--range"),
            (settings(&["10.0.0.100,10.0.0.150", "10.0.0.140,10.0.0.160"], &[], &[]), "overlaps"),
            (settings(&["10.9.0.100,10.9.0.150"], &[], &[]), "NETMASK"),
            (settings(&["10.0.0.100,10.0.0.150,5x"], &[], &[]), "unit"),
            (settings(&["10.0.0.1,10.0.0.150"], &[], &[]), "own address"),
            (settings(&[], &[], &[]), "at least one"),
            (settings(&["10.0.0.100,10.0.0.150"], &["zz:bb:cc:dd:ee:ff,10.0.0.5"], &[]), "--host"),
            (settings(&["10.0.0.100,10.0.0.150"], &["aa:bb:cc:dd:ee:ff,10.7.0.5"], &[]), "no served subnet"),
            (
                settings(
                    &["10.0.0.100,10.0.0.150"],
                    &["aa:bb:cc:dd:ee:ff,10.0.0.5", "aa:bb:cc:dd:ee:01,10.0.0.5"],
                    &[],
                ),
                "already reserved",
            ),
            (settings(&["10.0.0.100,10.0.0.150"], &[], &["router,10.0.0"]), "--option"),
            (settings(&["10.0.0.100,10.0.0.150"], &[], &["frobnicate,1"]), "unknown option"),
            (settings(&["10.0.0.100,10.0.0.150"], &[], &["ipv6-only,10"]), "RFC 8925"),
        ];
        for (s, needle) in cases {
            let e = Config::from_settings(s).unwrap_err().to_string();
            assert!(e.contains(needle), "{e} lacks {needle}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("45"), Ok(45));
        assert_eq!(parse_duration("2d"), Ok(172800));
        assert_eq!(parse_duration("infinite"), Ok(u32::MAX));
        assert!(parse_duration("1s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999w").is_err());
    }

    #[test]
    fn config_files_parse_and_merge() {
        let text = "# a comment\n\nrange=10.0.0.100,10.0.0.150,12h\n  host = aa:bb:cc:dd:ee:ff,10.0.0.5,printer\n\
                    option=router,10.0.0.1\nlease-time=2h\nprobe=arp\ndomain=file.lan\nstatus-port=8080\n";
        let file = parse_conf(text).unwrap();
        assert_eq!(file.len(), 7);
        assert_eq!(file[0], FileSetting { line: 3, name: "range".into(), value: "10.0.0.100,10.0.0.150,12h".into() });
        assert_eq!(file[1].value, "aa:bb:cc:dd:ee:ff,10.0.0.5,printer");
        let cmdline =
            Settings { ranges: vec!["10.0.0.200,10.0.0.210"], domain: Some("cmdline.lan"), ..settings(&[], &[], &[]) };
        let s = cmdline.merge_file(&file);
        assert_eq!(s.ranges, ["10.0.0.100,10.0.0.150,12h", "10.0.0.200,10.0.0.210"]);
        assert_eq!(s.domain, Some("cmdline.lan"), "the command line wins");
        assert_eq!((s.lease_time, s.probe), (Some("2h"), Some("arp")));
        let c = Config::from_settings(&s).unwrap();
        assert_eq!(c.pools.len(), 2);
        assert_eq!(c.pools[1].lease_secs, 7200);
        assert_eq!(c.probe, Probe::Arp);
        assert_eq!(c.routers, [Ipv4Addr::new(10, 0, 0, 1)]);
    }

    #[test]
    fn malformed_config_lines_name_line_and_setting() {
        let cases: &[(&str, usize, &str, &str)] = &[
            ("range=10.0.0.1,10.0.0.9\nfrobnicate=1", 2, "frobnicate", "unknown setting"),
            ("\n--range=10.0.0.1,10.0.0.9", 2, "--range", "without the leading dashes"),
            ("range", 1, "range", "range=VALUE"),
            ("domain=a.lan\n#\ndomain=b.lan", 3, "domain", "already given on line 1"),
            ("ipv4=10.0.0.1/24", 1, "ipv4", "command line"),
            ("net:service=tap0", 1, "net:service", "command line"),
        ];
        for (text, line, setting, reason) in cases {
            let e = parse_conf(text).unwrap_err();
            assert_eq!((e.line, e.setting.as_str()), (*line, *setting), "{text}: {e}");
            assert!(e.reason.contains(reason), "{text}: {e}");
        }
        // A value error found later is traced back to its line.
        let file = parse_conf("# pools\nrange=10.0.0.100,10.0.0.150\nrange=10.0.0.200,10.0.0.300\n").unwrap();
        let e = Config::from_settings(&settings(&[], &[], &[]).merge_file(&file)).unwrap_err();
        assert_eq!((e.setting, file_line_of(&file, &e)), ("range", Some(3)));
        let e =
            Config::from_settings(&Settings { probe: Some("ping"), ..settings(&["10.0.0.100,10.0.0.150"], &[], &[]) })
                .unwrap_err();
        assert_eq!(e.setting, "probe");
    }
}
