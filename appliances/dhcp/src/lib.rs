//! # dhcp: a DHCPv4 server with durable leases
//!
//! Wiring of [`dhcp_core`] to the platform:
//!
//! * requests arrive as raw Ethernet frames: the stack diverts IPv4 UDP to
//!   port 67 to us (`FrameFilter::Ipv4UdpPort(67)`), so this needs netstack
//!   (on unix: `--net:service=TAP`; on hvt always);
//! * replies leave as raw frames built here ([`frame`]), broadcast or
//!   unicast per RFC 2131 §4.1;
//! * leases live in the lease log on block device `storage` ([`store`]).
//!   Group commit: every request waiting in the queue is handled, their
//!   records are written as one batch and flushed once, and only then are
//!   their ACKs sent. OFFERs and NAKs need no record and go out at once;
//! * a plain-text lease listing is served over HTTP on `--status-port`
//!   (default 80; 0 turns it off), and every granted lease is logged;
//! * with `--probe=arp`, an OFFER the core marks for probing goes out only
//!   after an ARP request for its address found nobody within
//!   [`PROBE_WAIT`] (a second raw socket, `FrameFilter::All`, sees replies;
//!   the core keeps the probe timers and answers meanwhile);
//! * `--conf=FILE` (unix) adds settings from a file (`config::parse_conf`).
//!
//! The loop is the shared sans-IO one (`sansio::Driver`): wait for a frame or
//! the core's `poll_timeout`, call `handle_request` / `handle_arp_claim` /
//! `handle_timeout`, drain `poll_transmit`. Time: lease times are wall-clock
//! seconds (`sansio::UnixTime`), so they keep their meaning across restarts;
//! probe timers and housekeeping use the monotonic clock.

use std::cell::RefCell;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use dhcp_core::config::{self, Config, Probe, Settings};
use dhcp_core::server::{Reply, Server};
use dhcp_core::{Record, Transmit, decode_request};
use dhcproto::v4::MessageType;
use platform::appliance::AppResult;
use platform::args::{ArgError, ArgSpec, Args, NetConfig};
use platform::net::MacAddr;
use platform::stack::{FrameFilter, RawFrames, Stack};
use platform::time::{self, UnixTime};
use platform::{Appliance, Device, Env, rt};
use sansio::Driver;

pub mod frame;
pub mod status;
pub mod store;

use store::Store;

const ARGS: &[ArgSpec] = &[
    ArgSpec::value("range", "START,END[,NETMASK][,LEASE]", "an address pool, e.g. 10.0.0.100,10.0.0.199,12h")
        .repeatable(),
    ArgSpec::value("host", "MAC|id:HEX,IP[,NAME]", "a static reservation").repeatable(),
    ArgSpec::value("option", "NAME,VALUE[,...]", "router, dns-server, ntp-server, domain-name, mtu, ipv6-only")
        .repeatable(),
    ArgSpec::value("domain", "NAME", "the domain name given to clients (option 15)"),
    ArgSpec::value("subnet-mask", "MASK", "netmask of the served link [default: from --ipv4]"),
    ArgSpec::value("lease-time", "DURATION", "lease time of ranges that give none").default("1h"),
    ArgSpec::flag("format", "replace whatever is on the storage device with an empty lease log"),
    ArgSpec::value("status-port", "PORT", "TCP port of the plain-text lease listing (0: off)").default("80"),
    ArgSpec::value("probe", "arp|none", "probe a new address by ARP before offering it [default: none]"),
    ArgSpec::value("conf", "FILE", "read settings from FILE, one NAME=VALUE a line (unix only)"),
];

pub use dhcp_core::driver::{PROBE_ROUNDS, PROBE_WAIT, mac_str};

pub static APPLIANCE: Appliance = Appliance {
    name: "dhcp",
    summary: "DHCPv4 server with durable leases",
    version: env!("CARGO_PKG_VERSION"),
    devices: &[Device::net("service"), Device::block("storage")],
    args: ARGS,
    main: |env| Box::pin(serve(env)),
};

/// The configuration from the boot arguments. Errors name the argument.
pub fn config_from_args(args: &Args) -> Result<Config, ArgError> {
    Ok(settings_from_args(args)?.0)
}

/// The text of the `--conf` file: its name and contents.
#[cfg(not(solo5_hvt))]
fn read_conf(path: &str) -> Result<String, ArgError> {
    std::fs::read_to_string(path).map_err(|e| ArgError::Invalid {
        name: "conf".into(),
        value: path.into(),
        reason: format!("cannot read it: {e}"),
    })
}

#[cfg(solo5_hvt)]
fn read_conf(path: &str) -> Result<String, ArgError> {
    Err(ArgError::Invalid {
        name: "conf".into(),
        value: path.into(),
        reason: "there is no file system on hvt: give the settings as arguments after the image".into(),
    })
}

/// The configuration and the status port, from the boot arguments and the
/// `--conf` file if one is given (repeatable settings from both, the file's
/// first; for the others the command line wins). Errors name the argument,
/// or the file, line and setting.
pub fn settings_from_args(args: &Args) -> Result<(Config, u16), ArgError> {
    let net = NetConfig::from_args(args)?;
    let Some(ipv4) = net.ipv4 else {
        return Err(args.invalid("dhcp", "a DHCP server needs a static --ipv4 address"));
    };
    let (conf, text) = match args.get("conf") {
        Some(path) => (path, read_conf(path)?),
        None => ("", String::new()),
    };
    let in_file = |line: usize, setting: &str, value: &str, reason: &str| ArgError::Invalid {
        name: "conf".into(),
        value: conf.into(),
        reason: format!("{conf} line {line}: {setting}={value}: {reason}"),
    };
    let file = config::parse_conf(&text).map_err(|e| ArgError::Invalid {
        name: "conf".into(),
        value: conf.into(),
        reason: format!("{conf} line {}: {}: {}", e.line, e.setting, e.reason),
    })?;
    let given = |name: &str| if args.is_given(name) { args.get(name) } else { None };
    let settings = Settings {
        ipv4: (ipv4.addr, ipv4.prefix),
        ranges: args.all("range"),
        hosts: args.all("host"),
        options: args.all("option"),
        domain: args.get("domain"),
        subnet_mask: args.get("subnet-mask"),
        lease_time: given("lease-time"),
        probe: given("probe"),
    }
    .merge_file(&file);
    let cfg = Config::from_settings(&settings).map_err(|e| match config::file_line_of(&file, &e) {
        Some(line) => in_file(line, e.setting, &e.value, &e.reason),
        None => ArgError::Invalid { name: e.setting.into(), value: e.value, reason: e.reason },
    })?;
    let file_port = file.iter().find(|s| s.name == "status-port");
    let status_port = match file_port.filter(|_| !args.is_given("status-port")) {
        Some(s) => s.value.parse().map_err(|_| in_file(s.line, "status-port", &s.value, "not a port number"))?,
        None => args.required("status-port")?,
    };
    Ok((cfg, status_port))
}

/// Wall-clock seconds since the Unix epoch.
pub fn wall_secs() -> u64 {
    time::wall().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Packet-path counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub frames: u64,
    pub malformed: u64,
    pub not_for_us: u64,
    pub bad_dhcp: u64,
    pub sent: u64,
    pub send_errors: u64,
    pub batches: u64,
}

/// Shared state of the running server.
pub struct State {
    pub server: Server,
    pub counters: Counters,
    pub store: Store,
}

async fn serve(env: Env) -> AppResult {
    let args = env.args();
    let (cfg, status_port) = settings_from_args(args)?;
    let mut server = Server::new(cfg.clone());
    let block = env.block("storage")?;
    let (store, replayed) = Store::open(block, args.flag("format"), &mut server)?;
    let now = wall_secs();
    log::info!(
        "lease log: {:?}, {} records replayed{}, {} leases held",
        replayed.how,
        replayed.records,
        if replayed.torn_tail { " (torn tail ignored)" } else { "" },
        server.table().bound(now).count()
    );
    let stack = env.stack()?;
    let raw = stack.raw_frames(FrameFilter::Ipv4UdpPort(67)).map_err(|e| -> Box<dyn Error> {
        format!("raw frames for UDP port 67: {e} (attach a tap: --net:service=TAP)").into()
    })?;
    // Probes need to see ARP replies: a copy of every frame.
    let arp = match cfg.probe {
        Probe::None => None,
        Probe::Arp => Some(
            stack
                .raw_frames(FrameFilter::All)
                .map_err(|e| -> Box<dyn Error> { format!("raw frames for --probe=arp: {e}").into() })?,
        ),
    };
    let state = Rc::new(RefCell::new(State { server, counters: Counters::default(), store }));
    if status_port != 0 {
        status::start(&stack, SocketAddr::from((Ipv4Addr::UNSPECIFIED, status_port)), state.clone())?;
    }
    let pools: Vec<String> = cfg.pools.iter().map(|p| format!("{}-{}", p.start, p.end)).collect();
    log::info!(
        "dhcp: serving {} on {}/{} ({} reservations, status port {status_port}, probe {:?}); ready",
        pools.join(" "),
        cfg.server,
        cfg.local.prefix,
        cfg.hosts.len(),
        cfg.probe
    );
    run_loop(raw, arp, stack, cfg, state).await
}

/// What woke the loop.
enum Event {
    Request(usize),
    Arp(usize),
}

/// The appliance loop, the same as every sans-IO core's: wait for a frame or
/// for the core's `poll_timeout`, hand it to `handle_*`, drain
/// `poll_transmit`. Group commit: every request already queued is handled
/// before draining, the records of the batch are written and flushed once,
/// and only then do the ACKs that wait for them go out.
async fn run_loop(
    mut raw: RawFrames,
    mut arp: Option<RawFrames>,
    _stack: Stack,
    cfg: Config,
    state: Rc<RefCell<State>>,
) -> AppResult {
    let mac = raw.mac();
    let bcast = cfg.local.broadcast();
    let mut buf = vec![0u8; 2048];
    let mut arp_buf = vec![0u8; 2048];
    loop {
        let deadline = state.borrow().server.poll_timeout();
        let event = {
            let request = async { raw.recv(&mut buf).await.map(Event::Request) };
            let answer = async {
                match arp.as_mut() {
                    Some(a) => a.recv(&mut arp_buf).await.map(Event::Arp),
                    None => std::future::pending().await,
                }
            };
            let input = futures_lite::future::or(request, answer);
            // No deadline: wait for input only (no timer at the far future,
            // which the simulator would jump its clock to).
            match deadline {
                Some(d) => time::timeout_at(d, input).await,
                None => Ok(input.await),
            }
        };
        match event {
            Ok(Ok(Event::Request(n))) => {
                handle_frame(&buf[..n], mac, &cfg, bcast, &state);
                // Group commit: take every request already queued.
                while let Some(r) = futures_lite::future::poll_once(raw.recv(&mut buf)).await {
                    handle_frame(&buf[..r?], mac, &cfg, bcast, &state);
                }
            }
            Ok(Ok(Event::Arp(n))) => handle_arp(&arp_buf[..n], mac, &state),
            Err(_) => {} // the deadline: handle_timeout below
            Ok(Err(e)) => return Err(e.into()),
        }
        // Probe answers already queued count before any probe's deadline is
        // checked, however busy the request socket is (`or` favours it).
        if let Some(a) = arp.as_mut() {
            while let Some(Ok(n)) = futures_lite::future::poll_once(a.recv(&mut arp_buf)).await {
                handle_arp(&arp_buf[..n], mac, &state);
            }
        }
        state.borrow_mut().server.handle_timeout(time::now());
        drain(&mut raw, &cfg, &state)?;
        rt::yield_now().await;
    }
}

/// Sends what the core asks for: replies that need no record and probes at
/// once; then makes the batch's records durable and sends the ACKs that
/// waited for them (an ACK never leaves before its lease is flushed).
fn drain(raw: &mut RawFrames, cfg: &Config, state: &Rc<RefCell<State>>) -> AppResult {
    let mac = raw.mac();
    let mut records = Vec::new();
    let mut after_commit: Vec<(Vec<u8>, Option<String>)> = Vec::new();
    let now = time::sansio_now();
    loop {
        let Some(t) = state.borrow_mut().server.poll_transmit() else { break };
        match t {
            Transmit::Reply { reply, mac: dst, durable: None } => send(raw, state, &reply_frame(mac, cfg, dst, &reply)),
            Transmit::Reply { reply, mac: dst, durable: Some(r) } => {
                let line = grant_line(&r, reply.kind, now.wall);
                records.push(r);
                after_commit.push((reply_frame(mac, cfg, dst, &reply), line));
            }
            Transmit::Record(r) => records.push(r),
            Transmit::Probe(addr) => send(raw, state, &frame::arp_probe(mac, cfg.server, addr)),
        }
    }
    if !records.is_empty() {
        commit(state, &records, time::sansio_now().wall)?;
    }
    for (f, line) in after_commit {
        send(raw, state, &f);
        if let Some(line) = line {
            log::info!("{line}");
        }
    }
    Ok(())
}

/// The log line of a granted lease.
fn grant_line(r: &Record, kind: MessageType, now: UnixTime) -> Option<String> {
    match (r, kind) {
        (Record::Bind { addr, chaddr, hostname, expires, .. }, MessageType::Ack) => Some(format!(
            "lease {addr} granted to {}{} for {}s",
            mac_str(chaddr),
            hostname.as_deref().map(|h| format!(" ({h})")).unwrap_or_default(),
            expires.saturating_sub(now.as_secs())
        )),
        _ => None,
    }
}

fn commit(state: &Rc<RefCell<State>>, records: &[Record], now: UnixTime) -> AppResult {
    let mut st = state.borrow_mut();
    let st = &mut *st;
    st.store.commit(records, &st.server, now).map_err(|e| -> Box<dyn Error> {
        format!("cannot make leases durable, stopping rather than acknowledging: {e}").into()
    })?;
    st.counters.batches += 1;
    Ok(())
}

/// The frame of `reply`, to link-layer address `dst_mac`.
fn reply_frame(mac: MacAddr, cfg: &Config, dst_mac: [u8; 6], reply: &Reply) -> Vec<u8> {
    frame::build(mac, dst_mac, cfg.server, reply.to.ip, reply.to.port, &reply.payload)
}

fn send(raw: &mut RawFrames, state: &Rc<RefCell<State>>, frame: &[u8]) {
    let ok = raw.send(frame).is_ok();
    let mut st = state.borrow_mut();
    if ok {
        st.counters.sent += 1;
    } else {
        st.counters.send_errors += 1;
    }
}

/// A frame seen by the probe socket: an ARP answer may claim a probed address.
fn handle_arp(bytes: &[u8], mac: MacAddr, state: &Rc<RefCell<State>>) {
    let Some((addr, sender)) = frame::arp_claim(bytes, mac) else { return };
    if let Some(line) = state.borrow_mut().server.handle_arp_claim(time::sansio_now(), addr, sender) {
        log::info!("{line}");
    }
}

fn handle_frame(bytes: &[u8], mac: MacAddr, cfg: &Config, bcast: Ipv4Addr, state: &Rc<RefCell<State>>) {
    let mut st = state.borrow_mut();
    st.counters.frames += 1;
    let inc = match frame::parse(bytes, mac, cfg.server, bcast) {
        Ok(i) => i,
        Err(frame::FrameError::Malformed) => {
            st.counters.malformed += 1;
            return;
        }
        Err(frame::FrameError::NotForUs) => {
            st.counters.not_for_us += 1;
            return;
        }
    };
    let req = match decode_request(inc.payload) {
        Ok(r) => r,
        Err(e) => {
            st.counters.bad_dhcp += 1;
            log::debug!("dropped a DHCP message from {}: {e}", mac_str(&inc.src_mac));
            return;
        }
    };
    if let Some(note) = st.server.handle_request(time::sansio_now(), &req, inc.src_mac) {
        log::debug!("{} {}: {note}", mac_str(req.chaddr()), req.msg.xid());
    }
}
