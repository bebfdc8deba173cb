//! # Platform contract tests
//!
//! One server ([`APPLIANCE`], an ordinary appliance) and one set of client
//! checks ([`checks`]), run against every backend: the simulator, unix with
//! host sockets, unix with a tap device and `netstack`, and hvt. A backend
//! passes when every check passes against the server running on it.
//!
//! The server's services (ports are boot arguments):
//! * TCP echo (`--echo-port`, 7): echoes until the client's FIN, then closes.
//! * UDP echo (`--echo-port`): returns each datagram to its sender.
//! * TCP discard (`--discard-port`, 9): reads to EOF, then answers the byte
//!   count in decimal and a newline, and closes.
//! * TCP source (`--source-port`, 19): reads an 8-byte big-endian length L,
//!   sends L bytes of [`pattern_byte`], closes.
//! * TCP reset (`--reset-port`, 13): reads one byte, then resets the
//!   connection.
//!
//! When a `storage` block device is attached, the server first runs
//! [`checks::block`] on it and logs `block: SUCCESS`.

use std::future::pending;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::LazyLock;

use platform::appliance::AppResult;
use platform::args::ArgSpec;
use platform::rt;
use platform::stack::{Stack, TcpListener, TcpStream};
use platform::{Appliance, Device, Env};

pub mod checks;

/// The smallest appliance: logs one line and exits. Used to measure what the
/// platform itself costs (boot-to-first-line, boot-to-exit) on each backend.
pub static HELLO: Appliance = Appliance {
    name: "hello",
    summary: "logs a greeting and exits: the platform's start-up cost, measured",
    version: env!("CARGO_PKG_VERSION"),
    devices: &[],
    args: &[],
    main: |_env| {
        Box::pin(async {
            log::info!("Hello, World");
            Ok(())
        })
    },
};

/// Length of the period of [`pattern_byte`].
const PATTERN_PERIOD: u64 = 251;

/// Byte `i` of the source service's stream.
pub fn pattern_byte(i: u64) -> u8 {
    (i % PATTERN_PERIOD) as u8
}

/// Bytes the source service writes at a time.
const SOURCE_CHUNK: usize = 64 * 1024;

/// `PATTERN_PERIOD + SOURCE_CHUNK` bytes of the pattern from offset 0, so
/// that `PATTERN[o..o + n]` is the pattern from any offset `k` with
/// `k % PATTERN_PERIOD == o`, for every `n <= SOURCE_CHUNK`.
static PATTERN: LazyLock<Vec<u8>> =
    LazyLock::new(|| (0..PATTERN_PERIOD + SOURCE_CHUNK as u64).map(pattern_byte).collect());

/// Ports of the contract services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub echo: u16,
    pub discard: u16,
    pub source: u16,
    pub reset: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports { echo: 7, discard: 9, source: 19, reset: 13 }
    }
}

const ARGS: &[ArgSpec] = &[
    ArgSpec::value("echo-port", "PORT", "TCP and UDP echo").default("7"),
    ArgSpec::value("discard-port", "PORT", "TCP discard, answers the byte count").default("9"),
    ArgSpec::value("source-port", "PORT", "TCP source of a requested length").default("19"),
    ArgSpec::value("reset-port", "PORT", "TCP: reads a byte, then resets").default("13"),
];

pub static APPLIANCE: Appliance = Appliance {
    name: "contract",
    summary: "platform contract server: TCP/UDP echo, discard, source and reset services",
    version: env!("CARGO_PKG_VERSION"),
    devices: &[Device::net("service"), Device::block("storage")],
    args: ARGS,
    main: |env| Box::pin(serve(env)),
};

fn ports_from(env: &Env) -> Result<Ports, Box<dyn std::error::Error>> {
    let a = env.args();
    Ok(Ports {
        echo: a.required("echo-port")?,
        discard: a.required("discard-port")?,
        source: a.required("source-port")?,
        reset: a.required("reset-port")?,
    })
}

fn any(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
}

/// The server appliance's main.
pub async fn serve(env: Env) -> AppResult {
    let ports = ports_from(&env)?;
    if let Ok(block) = env.block("storage") {
        checks::block(&*block)?;
        log::info!("block: SUCCESS");
    }
    let stack = env.stack()?;
    start_services(&stack, ports)?;
    log::info!(
        "ready: echo {} (tcp+udp), discard {}, source {}, reset {} on {}",
        ports.echo,
        ports.discard,
        ports.source,
        ports.reset,
        stack.describe()
    );
    pending::<()>().await;
    Ok(())
}

/// Binds every service on `stack` and spawns their tasks.
pub fn start_services(stack: &Stack, ports: Ports) -> std::io::Result<()> {
    let listeners = [
        (stack.tcp_listen(any(ports.echo))?, Service::Echo),
        (stack.tcp_listen(any(ports.discard))?, Service::Discard),
        (stack.tcp_listen(any(ports.source))?, Service::Source),
        (stack.tcp_listen(any(ports.reset))?, Service::Reset),
    ];
    for (listener, service) in listeners {
        rt::spawn(accept_loop(listener, service));
    }
    let udp = stack.udp_bind(any(ports.echo))?;
    rt::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            match udp.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    if let Err(e) = udp.send_to(&buf[..n], from).await {
                        log::warn!("udp echo to {from}: {e}");
                    }
                }
                Err(e) => log::warn!("udp echo: {e}"),
            }
        }
    });
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Service {
    Echo,
    Discard,
    Source,
    Reset,
}

async fn accept_loop(mut listener: TcpListener, service: Service) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                rt::spawn(async move {
                    if let Err(e) = handle(stream, service).await {
                        log::debug!("{service:?} connection from {peer}: {e}");
                    }
                });
            }
            Err(e) => log::warn!("{service:?} accept: {e}"),
        }
    }
}

async fn handle(stream: TcpStream, service: Service) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    match service {
        Service::Echo => {
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                stream.write_all(&buf[..n]).await?;
            }
            stream.shutdown().await
        }
        Service::Discard => {
            let mut total: u64 = 0;
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            stream.write_all(format!("{total}\n").as_bytes()).await?;
            stream.shutdown().await
        }
        Service::Source => {
            let mut len = [0u8; 8];
            let mut got = 0;
            while got < 8 {
                let n = stream.read(&mut len[got..]).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                got += n;
            }
            let len = u64::from_be_bytes(len);
            // The pattern repeats every PATTERN_PERIOD bytes: write slices of
            // one precomputed table instead of computing each byte.
            let mut sent = 0u64;
            while sent < len {
                let chunk = (len - sent).min(SOURCE_CHUNK as u64) as usize;
                let start = (sent % PATTERN_PERIOD) as usize;
                stream.write_all(&PATTERN[start..start + chunk]).await?;
                sent += chunk as u64;
            }
            stream.shutdown().await
        }
        Service::Reset => {
            let _ = stream.read(&mut buf[..1]).await?;
            stream.abort();
            Ok(())
        }
    }
}
