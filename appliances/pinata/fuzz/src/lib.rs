//! Shared driver of the Piñata's fuzz targets: the real rustls configurations
//! of `pinata-core` (fresh CA, whose key is gone once the leaves are signed),
//! a connection fed with arbitrary bytes as the peer's TLS records, and the
//! one property that matters: no handshake completes, so the Piñata would
//! never reach the point where it writes its secret.

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use sansio::UnixTime;

use netio::tls::verify::{ChainOnly, Verifier};
use pinata_core::{CaMode, Pki};
use rustls::pki_types::ServerName;
use rustls::time_provider::DefaultTimeProvider;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

/// What the appliance writes after a completed handshake; the fuzz targets
/// assert it is never sent.
pub const SECRET: &[u8] = b"FUZZ-SECRET-never-to-be-sent";

/// The Piñata's configurations, made once per process.
pub struct Configs {
    /// Port 10000: client certificate chaining to the CA required.
    pub bounty_server: Arc<ServerConfig>,
    /// Ports 10001/10002: the server must chain to the CA.
    pub bounty_client: Arc<ClientConfig>,
}

/// The host's wall clock, as the Piñata's certificates take it (the fuzz build has no
/// platform runtime to ask).
fn unix_now() -> UnixTime {
    UnixTime::from_secs(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

pub fn configs() -> &'static Configs {
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let pki = Pki::generate(CaMode::Fresh, unix_now(), "pinata.local").expect("certificates");
        let time = Arc::new(DefaultTimeProvider);
        Configs {
            bounty_server: pinata_core::tls::bounty_server(&pki, time.clone()).expect("server config"),
            // The appliance's verifier (`pinata::connect_back_verifier`), built from netio
            // directly so that the fuzz build does not pull in a backend.
            bounty_client: pinata_core::tls::bounty_client(
                &pki,
                time,
                Verifier::new(
                    ChainOnly::new(pinata_core::tls::roots(&pki).expect("roots")),
                    pinata_core::tls::provider(),
                ),
            )
            .expect("client config"),
        }
    })
}

/// A fresh port-10000 connection, as the appliance makes per accepted TCP connection.
pub fn server() -> Connection {
    ServerConnection::new(configs().bounty_server.clone()).expect("server connection").into()
}

/// A fresh 10001/10002 client connection; its ClientHello is already taken
/// (and dropped), so the next input is the peer's answer.
pub fn client() -> Connection {
    let name = ServerName::IpAddress(std::net::Ipv4Addr::new(10, 0, 0, 1).into());
    let mut conn: Connection =
        ClientConnection::new(configs().bounty_client.clone(), name).expect("client connection").into();
    drain(&mut conn);
    conn
}

/// Takes whatever the connection wants to send.
fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        match conn.write_tls(&mut out) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

/// Feeds `data` as the peer's bytes: the first byte picks the size of the
/// pieces `read_tls` gets (0: all at once), the rest is the byte stream.
///
/// Like the appliance, the driver writes [`SECRET`] into the session as soon
/// as a handshake completes; it then panics, because completing a handshake
/// on fuzz input means winning without the CA's key. Plaintext delivered
/// before the handshake completes is a failure too.
///
/// Returns true when the connection refused the input with a TLS error, false when the
/// input ran out first (the seed test checks real peers' handshakes are refused).
pub fn feed(mut conn: Connection, data: &[u8]) -> bool {
    let Some((&step, stream)) = data.split_first() else { return false };
    let step = if step == 0 { stream.len().max(1) } else { step as usize };
    for piece in stream.chunks(step) {
        let mut rest = piece;
        while !rest.is_empty() {
            match conn.read_tls(&mut rest) {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
            let processed = conn.process_new_packets();
            drain(&mut conn);
            if processed.is_err() {
                return true;
            }
            if !conn.is_handshaking() {
                // Where the appliance calls `deliver`.
                let peer = conn.peer_certificates().map(|c| c.len()).unwrap_or(0);
                let _ = std::io::Write::write_all(&mut conn.writer(), SECRET);
                let sent = drain(&mut conn);
                panic!(
                    "a handshake completed on fuzz input (peer certificates: {peer}); secret written, {} bytes sent",
                    sent.len()
                );
            }
            let mut plain = [0u8; 256];
            if let Ok(n) = conn.reader().read(&mut plain) {
                assert_eq!(n, 0, "application data accepted before the handshake completed");
            }
        }
    }
    false
}
