//! Sends one TSIG-signed NOTIFY (RFC 1996 §3.7, RFC 8945) and prints the reply's rcode.
//!
//! ```text
//! notify SERVER:PORT ZONE KEYS_FILE [KEY_NAME]
//! ```
//!
//! KEYS_FILE is a `_keys` file in the format of [`dns_core::keys`]; the key is KEY_NAME,
//! else the first key of the file allowed to notify ZONE. Used by `cargo xtask bench dns`
//! to time a `git push` + NOTIFY until the new answer is served. Exits 0 when the reply is
//! NOERROR and carries a valid signature, 1 otherwise.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dns_core::keys::{KeyStore, Op};
use dns_core::tsig;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use sansio::UnixTime;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("notify: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, zone, keys_file, rest @ ..] = args.as_slice() else {
        return Err("usage: notify SERVER:PORT ZONE KEYS_FILE [KEY_NAME]".into());
    };
    let server: SocketAddr = server.parse().map_err(|e| format!("server `{server}`: {e}"))?;
    let zone = Name::from_ascii(zone).map_err(|e| format!("zone `{zone}`: {e}"))?;
    let text = std::fs::read_to_string(keys_file).map_err(|e| format!("{keys_file}: {e}"))?;
    let keys = KeyStore::parse("_keys", &text).map_err(|e| format!("{keys_file}: {e}"))?;
    let key = match rest.first() {
        Some(n) => {
            let n = Name::from_ascii(n).map_err(|e| format!("key name `{n}`: {e}"))?;
            keys.get(&n).ok_or(format!("no key `{n}` in {keys_file}"))?
        }
        None => keys
            .keys()
            .iter()
            .find(|k| keys.allowed(&k.name, &zone, Op::Notify))
            .ok_or(format!("no key in {keys_file} may notify {zone}"))?,
    };

    // RFC 1996 §3.7: opcode NOTIFY, AA set, the zone's SOA in the question section.
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.queries = vec![Query::query(zone, RecordType::SOA)];
    let bytes = m.to_vec().map_err(|e| e.to_string())?;
    let (signed, state) = tsig::sign_request(key, &bytes, UnixTime::from_secs(unix_now()));

    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
    let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    sock.send_to(&signed, server).map_err(|e| format!("send to {server}: {e}"))?;
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).map_err(|e| format!("no reply from {server}: {e}"))?;
    let reply = &buf[..n];
    if reply.len() < 12 || reply[..2] != signed[..2] {
        return Err("reply too short or with another id".into());
    }
    tsig::verify_response(&state, reply, UnixTime::from_secs(unix_now()))
        .map_err(|e| format!("reply signature: {e:?}"))?;
    let rcode = reply[3] & 0x0f;
    println!("rcode {rcode}");
    if rcode == 0 { Ok(()) } else { Err(format!("NOTIFY answered with rcode {rcode}")) }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A message id that differs between runs; no need for unpredictability here.
fn rand_id() -> u16 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (nanos ^ std::process::id()) as u16
}
