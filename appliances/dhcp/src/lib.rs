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
//!   [`PROBE_WAIT`] (a second raw socket, `FrameFilter::All`, sees replies);
//! * `--conf=FILE` (unix) adds settings from a file (`config::parse_conf`).
//!
//! Time: lease times are wall-clock seconds (`platform::time::wall`), so they
//! keep their meaning across restarts; housekeeping uses the monotonic clock.

use std::cell::RefCell;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use dhcp_core::config::{self, Config, Probe, Settings};
use dhcp_core::server::{LinkDest, Reply, Server};
use dhcp_core::{Record, Request, decode_request};
use dhcproto::v4::MessageType;
use platform::appliance::AppResult;
use platform::args::{ArgError, ArgSpec, Args, NetConfig};
use platform::net::MacAddr;
use platform::stack::{FrameFilter, RawFrames, Stack};
use platform::time::{self, Duration};
use platform::{Appliance, Device, Env, rt};

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

/// How long an ARP probe waits for a host claiming the address.
pub const PROBE_WAIT: Duration = Duration::from_millis(300);
/// At most this many candidates are probed per DISCOVER and batch; a client
/// whose candidates are all claimed gets no offer this time and retries.
pub const PROBE_ROUNDS: usize = 4;

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

/// A reply waiting for its record to be durable.
struct Pending {
    frame: Vec<u8>,
    line: Option<String>,
}

/// An OFFER waiting for the probe of its address (`--probe=arp`).
struct ProbeJob {
    addr: Ipv4Addr,
    req: Request,
    src_mac: [u8; 6],
    frame: Vec<u8>,
}

/// What the frames of one batch produced.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    after_commit: Vec<Pending>,
    probes: Vec<ProbeJob>,
}

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
    let mut last_tick = time::now();
    loop {
        let n = raw.recv(&mut buf).await?;
        let mut batch = Batch::default();
        let mut now = wall_secs();
        handle_frame(&buf[..n], mac, &cfg, bcast, now, &state, &mut raw, &mut batch);
        // Group commit: take every request already queued before flushing.
        while let Some(r) = futures_lite::future::poll_once(raw.recv(&mut buf)).await {
            let n = r?;
            handle_frame(&buf[..n], mac, &cfg, bcast, now, &state, &mut raw, &mut batch);
        }
        if !batch.records.is_empty() {
            now = wall_secs();
            commit(&state, &batch.records, now)?;
        }
        for p in batch.after_commit {
            send(&mut raw, &state, &p.frame);
            if let Some(line) = p.line {
                log::info!("{line}");
            }
        }
        // Probes after the ACKs, so that those never wait for them; the
        // quarantines they find are made durable too (no reply waits on them).
        if let Some(arp) = arp.as_mut()
            && !batch.probes.is_empty()
        {
            let quarantined = run_probes(arp, &mut raw, &cfg, &state, batch.probes).await;
            if !quarantined.is_empty() {
                now = wall_secs();
                commit(&state, &quarantined, now)?;
            }
        }
        let mono = time::now();
        if mono.saturating_duration_since(last_tick) >= Duration::from_secs(5) {
            last_tick = mono;
            state.borrow_mut().server.tick(now);
        }
        rt::yield_now().await;
    }
}

fn commit(state: &Rc<RefCell<State>>, records: &[Record], now: u64) -> AppResult {
    let mut st = state.borrow_mut();
    let st = &mut *st;
    st.store.commit(records, &st.server, now).map_err(|e| -> Box<dyn Error> {
        format!("cannot make leases durable, stopping rather than acknowledging: {e}").into()
    })?;
    st.counters.batches += 1;
    Ok(())
}

/// Probes the addresses of `jobs` by ARP, all at once: sends a request for
/// each, then for [`PROBE_WAIT`] watches for hosts claiming them. Unclaimed
/// offers go out; a claimed address is quarantined by the core and the
/// request handled again, which probes the next candidate (at most
/// [`PROBE_ROUNDS`] rounds). Returns the quarantine records.
async fn run_probes(
    arp: &mut RawFrames,
    raw: &mut RawFrames,
    cfg: &Config,
    state: &Rc<RefCell<State>>,
    mut jobs: Vec<ProbeJob>,
) -> Vec<Record> {
    let mac = raw.mac();
    let mut records = Vec::new();
    let mut buf = vec![0u8; 2048];
    for round in 1..=PROBE_ROUNDS {
        if jobs.is_empty() {
            break;
        }
        // Frames from before the probes say nothing about them.
        while let Some(Ok(_)) = futures_lite::future::poll_once(arp.recv(&mut buf)).await {}
        for j in &jobs {
            send(raw, state, &frame::arp_probe(mac, cfg.server, j.addr));
        }
        let mut claimed = vec![false; jobs.len()];
        let deadline = time::now() + PROBE_WAIT;
        while let Ok(Ok(n)) = time::timeout_at(deadline, arp.recv(&mut buf)).await {
            let Some((addr, sender)) = frame::arp_claim(&buf[..n], mac) else { continue };
            let Some(i) = jobs.iter().position(|j| j.addr == addr) else { continue };
            if claimed[i] {
                continue;
            }
            if let Some(r) = state.borrow_mut().server.claimed(addr, &sender, wall_secs()) {
                log::info!(
                    "address {addr} is in use by {} (it answered an ARP probe): quarantined for {}s",
                    mac_str(&sender),
                    cfg.quarantine_secs
                );
                records.push(r);
                claimed[i] = true;
            }
        }
        let mut next = Vec::new();
        for (j, c) in jobs.into_iter().zip(claimed) {
            if !c {
                send(raw, state, &j.frame);
                continue;
            }
            if round == PROBE_ROUNDS {
                log::info!("no offer to {} this time: {PROBE_ROUNDS} candidates in use", mac_str(j.req.chaddr()));
                continue;
            }
            let out = state.borrow_mut().server.handle(&j.req, wall_secs());
            let Some(reply) = out.reply else { continue };
            let f = reply_frame(mac, cfg, &j.req, j.src_mac, &reply);
            match out.probe {
                Some(addr) => next.push(ProbeJob { addr, req: j.req, src_mac: j.src_mac, frame: f }),
                None => send(raw, state, &f),
            }
        }
        jobs = next;
    }
    records
}

/// The frame of a reply to `req`, which came from `src_mac`.
fn reply_frame(mac: MacAddr, cfg: &Config, req: &Request, src_mac: [u8; 6], reply: &Reply) -> Vec<u8> {
    let dst_mac = match reply.to.link {
        LinkDest::Broadcast => [0xff; 6],
        LinkDest::Sender => src_mac,
        LinkDest::Chaddr => {
            let c = req.chaddr();
            let mut m = [0u8; 6];
            m.copy_from_slice(&c[..6]);
            m
        }
    };
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

fn mac_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

#[allow(clippy::too_many_arguments)]
fn handle_frame(
    bytes: &[u8],
    mac: MacAddr,
    cfg: &Config,
    bcast: Ipv4Addr,
    now: u64,
    state: &Rc<RefCell<State>>,
    raw: &mut RawFrames,
    batch: &mut Batch,
) {
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
    let out = st.server.handle(&req, now);
    if let Some(note) = &out.note {
        log::debug!("{} {}: {note}", mac_str(req.chaddr()), req.msg.xid());
    }
    let Some(reply) = out.reply else {
        if let Some(r) = out.record {
            batch.records.push(r);
        }
        return;
    };
    let f = reply_frame(mac, cfg, &req, inc.src_mac, &reply);
    if let Some(addr) = out.probe {
        batch.probes.push(ProbeJob { addr, req, src_mac: inc.src_mac, frame: f });
        return;
    }
    match out.record {
        Some(r) => {
            let line = match (&r, reply.kind) {
                (Record::Bind { addr, chaddr, hostname, expires, .. }, MessageType::Ack) => Some(format!(
                    "lease {addr} granted to {}{} for {}s",
                    mac_str(chaddr),
                    hostname.as_deref().map(|h| format!(" ({h})")).unwrap_or_default(),
                    expires.saturating_sub(now)
                )),
                _ => None,
            };
            batch.records.push(r);
            batch.after_commit.push(Pending { frame: f, line });
        }
        None => {
            drop(st);
            send(raw, state, &f);
        }
    }
}
