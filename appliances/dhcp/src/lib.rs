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
//!   (default 80; 0 turns it off), and every granted lease is logged.
//!
//! Time: lease times are wall-clock seconds (`platform::time::wall`), so they
//! keep their meaning across restarts; housekeeping uses the monotonic clock.

use std::cell::RefCell;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use dhcp_core::config::{Config, Settings};
use dhcp_core::server::{LinkDest, Server};
use dhcp_core::{Record, decode_request};
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
];

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
    let net = NetConfig::from_args(args)?;
    let Some(ipv4) = net.ipv4 else {
        return Err(args.invalid("dhcp", "a DHCP server needs a static --ipv4 address"));
    };
    let settings = Settings {
        ipv4: (ipv4.addr, ipv4.prefix),
        ranges: args.all("range"),
        hosts: args.all("host"),
        options: args.all("option"),
        domain: args.get("domain"),
        subnet_mask: args.get("subnet-mask"),
        lease_time: args.get("lease-time"),
    };
    Config::from_settings(&settings).map_err(|e| ArgError::Invalid {
        name: e.setting.into(),
        value: e.value,
        reason: e.reason,
    })
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
    let cfg = config_from_args(args)?;
    let status_port: u16 = args.required("status-port")?;
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
    let state = Rc::new(RefCell::new(State { server, counters: Counters::default(), store }));
    if status_port != 0 {
        status::start(&stack, SocketAddr::from((Ipv4Addr::UNSPECIFIED, status_port)), state.clone())?;
    }
    let pools: Vec<String> = cfg.pools.iter().map(|p| format!("{}-{}", p.start, p.end)).collect();
    log::info!(
        "dhcp: serving {} on {}/{} ({} reservations, status port {status_port}); ready",
        pools.join(" "),
        cfg.server,
        cfg.local.prefix,
        cfg.hosts.len()
    );
    run_loop(raw, stack, cfg, state).await
}

/// A reply waiting for its record to be durable.
struct Pending {
    frame: Vec<u8>,
    line: Option<String>,
}

async fn run_loop(mut raw: RawFrames, _stack: Stack, cfg: Config, state: Rc<RefCell<State>>) -> AppResult {
    let mac = raw.mac();
    let bcast = cfg.local.broadcast();
    let mut buf = vec![0u8; 2048];
    let mut last_tick = time::now();
    loop {
        let n = raw.recv(&mut buf).await?;
        let mut records: Vec<Record> = Vec::new();
        let mut after_commit: Vec<Pending> = Vec::new();
        let mut now = wall_secs();
        handle_frame(&buf[..n], mac, &cfg, bcast, now, &state, &mut raw, &mut records, &mut after_commit);
        // Group commit: take every request already queued before flushing.
        while let Some(r) = futures_lite::future::poll_once(raw.recv(&mut buf)).await {
            let n = r?;
            handle_frame(&buf[..n], mac, &cfg, bcast, now, &state, &mut raw, &mut records, &mut after_commit);
        }
        if !records.is_empty() {
            now = wall_secs();
            let mut st = state.borrow_mut();
            let st = &mut *st;
            st.store.commit(&records, &st.server, now).map_err(|e| -> Box<dyn Error> {
                format!("cannot make leases durable, stopping rather than acknowledging: {e}").into()
            })?;
            st.counters.batches += 1;
        }
        for p in after_commit {
            send(&mut raw, &state, &p.frame);
            if let Some(line) = p.line {
                log::info!("{line}");
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
    records: &mut Vec<Record>,
    after_commit: &mut Vec<Pending>,
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
            records.push(r);
        }
        return;
    };
    let dst_mac = match reply.to.link {
        LinkDest::Broadcast => [0xff; 6],
        LinkDest::Sender => inc.src_mac,
        LinkDest::Chaddr => {
            let c = req.chaddr();
            let mut m = [0u8; 6];
            m.copy_from_slice(&c[..6]);
            m
        }
    };
    let f = frame::build(mac, dst_mac, cfg.server, reply.to.ip, reply.to.port, &reply.payload);
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
            records.push(r);
            after_commit.push(Pending { frame: f, line });
        }
        None => {
            drop(st);
            send(raw, state, &f);
        }
    }
}
