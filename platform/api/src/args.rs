//! Boot arguments.
//!
//! One parser for every backend: on unix the process arguments, on hvt the
//! command line the tender passes. Names follow MirageOS where one exists
//! (`--ipv4=10.0.0.2/24`, `--ipv4-gateway=`, `--ipv6=`, `--remote=`,
//! `--tls-authenticator=`, `-l level`, `--name=`).
//!
//! Rules: `--name=value` or `--name value`; `-x value` or `-xvalue` for short
//! names; flags take no value or `=true`/`=false`. An unknown argument, a
//! missing or malformed value, or a missing required argument is an
//! [`ArgError`] that names the argument; the backend prints it and exits
//! with [`USAGE_EXIT`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Exit status for a bad boot argument (as BSD's `EX_USAGE` is 64; we keep
/// 2, the common convention of command-line tools).
pub const USAGE_EXIT: u8 = 2;

/// One accepted argument.
#[derive(Clone, Copy, Debug)]
pub struct ArgSpec {
    /// Long name without the leading `--`.
    pub name: &'static str,
    pub short: Option<char>,
    /// Placeholder for the value in help text; `None` makes it a flag.
    pub metavar: Option<&'static str>,
    pub help: &'static str,
    pub default: Option<&'static str>,
    /// May be given more than once.
    pub repeatable: bool,
    /// Must be given.
    pub required: bool,
}

impl ArgSpec {
    /// An argument that takes a value.
    pub const fn value(name: &'static str, metavar: &'static str, help: &'static str) -> ArgSpec {
        ArgSpec { name, short: None, metavar: Some(metavar), help, default: None, repeatable: false, required: false }
    }
    /// A flag (no value).
    pub const fn flag(name: &'static str, help: &'static str) -> ArgSpec {
        ArgSpec { name, short: None, metavar: None, help, default: None, repeatable: false, required: false }
    }
    pub const fn short(mut self, c: char) -> ArgSpec {
        self.short = Some(c);
        self
    }
    pub const fn default(mut self, v: &'static str) -> ArgSpec {
        self.default = Some(v);
        self
    }
    pub const fn repeatable(mut self) -> ArgSpec {
        self.repeatable = true;
        self
    }
    pub const fn required(mut self) -> ArgSpec {
        self.required = true;
        self
    }
}

/// Arguments every appliance accepts.
pub const STANDARD: &[ArgSpec] = &[
    ArgSpec::value("ipv4", "ADDR/PREFIX", "IPv4 address and prefix of the service interface").default("10.0.0.2/24"),
    ArgSpec::value("ipv4-gateway", "ADDR", "IPv4 default gateway"),
    ArgSpec::value("ipv6", "ADDR/PREFIX", "IPv6 address and prefix of the service interface"),
    ArgSpec::value("ipv6-gateway", "ADDR", "IPv6 default gateway"),
    ArgSpec::flag("dhcp", "configure IPv4 by DHCP instead of --ipv4"),
    ArgSpec::value("logs", "LEVEL", "log level: quiet|error|warning|info|debug, or target:level,...")
        .short('l')
        .default("info"),
    ArgSpec::value("name", "NAME", "name of this appliance instance, for logs"),
    ArgSpec::flag("help", "print this help and exit"),
];

/// `--remote=URL[#branch]`: the git repository an appliance keeps its data in.
pub const REMOTE: ArgSpec = ArgSpec::value("remote", "URL[#BRANCH]", "git repository holding the data");
/// `--dns-server=IP[:PORT]`: the recursive DNS servers that resolve host names
/// (in `--remote` and the like), tried in turn; repeatable or a comma list.
pub const DNS_SERVER: ArgSpec =
    ArgSpec::value("dns-server", "IP[:PORT]", "DNS server for host names, tried in turn (repeatable, or IP,IP)")
        .repeatable();
/// `--tls-authenticator=`: how to authenticate a TLS peer (e.g. a CA certificate).
pub const TLS_AUTHENTICATOR: ArgSpec =
    ArgSpec::value("tls-authenticator", "AUTH", "how to authenticate TLS peers (cert fingerprint or CA)");

/// A bad boot argument. The message always names the argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgError {
    Unknown(String),
    MissingValue(String),
    UnexpectedValue(String),
    Repeated(String),
    Missing(String),
    Invalid { name: String, value: String, reason: String },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Unknown(a) => write!(f, "unknown argument '{a}' (see --help)"),
            ArgError::MissingValue(n) => write!(f, "argument --{n} needs a value"),
            ArgError::UnexpectedValue(n) => write!(f, "argument --{n} takes no value other than true or false"),
            ArgError::Repeated(n) => write!(f, "argument --{n} given more than once"),
            ArgError::Missing(n) => write!(f, "argument --{n} is required"),
            ArgError::Invalid { name, value, reason } => write!(f, "invalid value '{value}' for --{name}: {reason}"),
        }
    }
}

impl std::error::Error for ArgError {}

/// Parsed boot arguments.
#[derive(Clone, Debug)]
pub struct Args {
    specs: Vec<ArgSpec>,
    given: Vec<(&'static str, String)>,
}

/// What the parser decided.
#[derive(Debug)]
pub enum Parsed {
    Run(Args),
    /// `--help` was given: print this and exit 0.
    Help(String),
}

impl Args {
    /// Parses `argv` (without the program name) against `specs`.
    pub fn parse(specs: &[ArgSpec], argv: &[String]) -> Result<Parsed, ArgError> {
        let mut given: Vec<(&'static str, String)> = Vec::new();
        let mut i = 0;
        while i < argv.len() {
            let arg = &argv[i];
            i += 1;
            let (spec, inline) = if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let spec = specs.iter().find(|s| s.name == name).ok_or_else(|| ArgError::Unknown(arg.clone()))?;
                (spec, inline)
            } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                let c = short.chars().next().expect("non-empty");
                let rest = &short[c.len_utf8()..];
                let spec = specs.iter().find(|s| s.short == Some(c)).ok_or_else(|| ArgError::Unknown(arg.clone()))?;
                (spec, (!rest.is_empty()).then(|| rest.trim_start_matches('=').to_string()))
            } else {
                return Err(ArgError::Unknown(arg.clone()));
            };
            let value = match (spec.metavar, inline) {
                (Some(_), Some(v)) => v,
                (Some(_), None) => {
                    let v = argv.get(i).ok_or_else(|| ArgError::MissingValue(spec.name.into()))?;
                    i += 1;
                    v.clone()
                }
                (None, None) => "true".to_string(),
                (None, Some(v)) if v == "true" || v == "false" => v,
                (None, Some(_)) => return Err(ArgError::UnexpectedValue(spec.name.into())),
            };
            if !spec.repeatable && given.iter().any(|(n, _)| *n == spec.name) {
                return Err(ArgError::Repeated(spec.name.into()));
            }
            given.push((spec.name, value));
        }
        let args = Args { specs: specs.to_vec(), given };
        if args.flag("help") {
            return Ok(Parsed::Help(args.help_text()));
        }
        if let Some(missing) = specs.iter().find(|s| s.required && args.get(s.name).is_none()) {
            return Err(ArgError::Missing(missing.name.into()));
        }
        Ok(Parsed::Run(args))
    }

    /// The value given (the last one for repeatable arguments), else the default.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.given
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| self.spec(name).and_then(|s| s.default))
    }

    /// Whether the value was given explicitly (not a default).
    pub fn is_given(&self, name: &str) -> bool {
        self.given.iter().any(|(n, _)| *n == name)
    }

    /// Every value given for a repeatable argument, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.given.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    /// The value converted with `FromStr`; conversion errors name the argument.
    pub fn value<T>(&self, name: &str) -> Result<Option<T>, ArgError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e: T::Err| ArgError::Invalid {
                name: name.into(),
                value: v.into(),
                reason: e.to_string(),
            }),
        }
    }

    /// Like [`Args::value`] but the argument must be present.
    pub fn required<T>(&self, name: &str) -> Result<T, ArgError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.value(name)?.ok_or_else(|| ArgError::Missing(name.into()))
    }

    /// An error about this argument's value, for checks beyond `FromStr`.
    pub fn invalid(&self, name: &str, reason: impl Into<String>) -> ArgError {
        ArgError::Invalid { name: name.into(), value: self.get(name).unwrap_or("").into(), reason: reason.into() }
    }

    fn spec(&self, name: &str) -> Option<&ArgSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    pub fn specs(&self) -> &[ArgSpec] {
        &self.specs
    }

    /// Usage text listing every argument.
    pub fn help_text(&self) -> String {
        help_text(&self.specs)
    }
}

/// Usage text for a list of specs.
pub fn help_text(specs: &[ArgSpec]) -> String {
    let mut out = String::from("arguments:\n");
    for s in specs {
        let mut left = match s.short {
            Some(c) => format!("  -{c}, --{}", s.name),
            None => format!("      --{}", s.name),
        };
        if let Some(m) = s.metavar {
            left.push('=');
            left.push_str(m);
        }
        let mut help = s.help.to_string();
        if let Some(d) = s.default {
            help.push_str(&format!(" [default: {d}]"));
        }
        if s.required {
            help.push_str(" (required)");
        }
        out.push_str(&format!("{left:<40} {help}\n"));
    }
    out
}

/// An IPv4 address with prefix, as in `--ipv4=10.0.0.2/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// An IPv6 address with prefix, as in `--ipv6=fd00::2/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Cidr {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

fn parse_cidr<A: FromStr>(s: &str, max: u8) -> Result<(A, u8), String> {
    let (a, p) = s.split_once('/').ok_or_else(|| "expected ADDR/PREFIX".to_string())?;
    let addr = a.parse().map_err(|_| format!("'{a}' is not an address"))?;
    let prefix: u8 = p.parse().map_err(|_| format!("'{p}' is not a prefix length"))?;
    if prefix > max {
        return Err(format!("prefix length {prefix} is larger than {max}"));
    }
    Ok((addr, prefix))
}

impl FromStr for Ipv4Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_cidr(s, 32).map(|(addr, prefix)| Ipv4Cidr { addr, prefix })
    }
}

impl FromStr for Ipv6Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_cidr(s, 128).map(|(addr, prefix)| Ipv6Cidr { addr, prefix })
    }
}

/// IP configuration of the service interface, from the standard arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// `None` with `dhcp`.
    pub ipv4: Option<Ipv4Cidr>,
    pub ipv4_gateway: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Cidr>,
    pub ipv6_gateway: Option<Ipv6Addr>,
    pub dhcp: bool,
}

impl NetConfig {
    pub fn from_args(args: &Args) -> Result<NetConfig, ArgError> {
        let dhcp = args.flag("dhcp");
        let ipv4: Option<Ipv4Cidr> = if dhcp && !args.is_given("ipv4") { None } else { args.value("ipv4")? };
        if dhcp && args.is_given("ipv4") {
            return Err(args.invalid("ipv4", "--ipv4 and --dhcp exclude each other"));
        }
        let ipv4_gateway: Option<Ipv4Addr> = args.value("ipv4-gateway")?;
        if let (Some(gw), Some(net)) = (ipv4_gateway, ipv4) {
            let mask = u32::MAX.checked_shl(32 - net.prefix as u32).unwrap_or(0);
            if u32::from(gw) & mask != u32::from(net.addr) & mask {
                return Err(args.invalid("ipv4-gateway", format!("not inside {}/{}", net.addr, net.prefix)));
            }
        }
        Ok(NetConfig { ipv4, ipv4_gateway, ipv6: args.value("ipv6")?, ipv6_gateway: args.value("ipv6-gateway")?, dhcp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn specs() -> Vec<ArgSpec> {
        let mut v = STANDARD.to_vec();
        v.push(ArgSpec::value("secret", "TEXT", "the secret"));
        v.push(ArgSpec::value("host", "SPEC", "a reservation").repeatable());
        v
    }

    fn run(s: &[&str]) -> Result<Args, ArgError> {
        match Args::parse(&specs(), &argv(s))? {
            Parsed::Run(a) => Ok(a),
            Parsed::Help(_) => panic!("help"),
        }
    }

    #[test]
    fn long_short_and_defaults() {
        let a = run(&["--ipv4=10.1.0.5/16", "-l", "debug", "--secret", "x y", "--host=a", "--host=b"]).unwrap();
        let net = NetConfig::from_args(&a).unwrap();
        assert_eq!(net.ipv4, Some(Ipv4Cidr { addr: Ipv4Addr::new(10, 1, 0, 5), prefix: 16 }));
        assert_eq!(a.get("logs"), Some("debug"));
        assert_eq!(a.get("secret"), Some("x y"));
        assert_eq!(a.all("host"), vec!["a", "b"]);
        let d = run(&["-ldebug"]).unwrap();
        assert_eq!(d.get("logs"), Some("debug"));
        assert_eq!(NetConfig::from_args(&d).unwrap().ipv4.unwrap().prefix, 24);
    }

    #[test]
    fn errors_name_the_argument() {
        assert_eq!(run(&["--frobnicate=1"]).unwrap_err().to_string(), "unknown argument '--frobnicate=1' (see --help)");
        assert_eq!(run(&["stray"]).unwrap_err(), ArgError::Unknown("stray".into()));
        assert_eq!(run(&["--secret"]).unwrap_err(), ArgError::MissingValue("secret".into()));
        assert_eq!(run(&["--dhcp=maybe"]).unwrap_err(), ArgError::UnexpectedValue("dhcp".into()));
        assert_eq!(run(&["--secret=a", "--secret=b"]).unwrap_err(), ArgError::Repeated("secret".into()));
        let bad = run(&["--ipv4=10.0.0.300/24"]).unwrap();
        let e = NetConfig::from_args(&bad).unwrap_err().to_string();
        assert!(e.contains("--ipv4") && e.contains("10.0.0.300"), "{e}");
        let gw = run(&["--ipv4=10.0.0.2/24", "--ipv4-gateway=10.9.0.1"]).unwrap();
        assert!(NetConfig::from_args(&gw).unwrap_err().to_string().contains("--ipv4-gateway"));
        let bad_prefix = run(&["--ipv4=10.0.0.2/33"]).unwrap();
        assert!(NetConfig::from_args(&bad_prefix).unwrap_err().to_string().contains("33"));
    }

    #[test]
    fn help_lists_everything() {
        match Args::parse(&specs(), &argv(&["--help"])).unwrap() {
            Parsed::Help(h) => assert!(h.contains("--ipv4=ADDR/PREFIX") && h.contains("-l, --logs")),
            Parsed::Run(_) => panic!("expected help"),
        }
    }
}
