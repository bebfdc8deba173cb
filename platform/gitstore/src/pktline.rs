//! pkt-line framing (gitprotocol-common(5)): four hex digits of length
//! (including themselves), then the payload; "0000" is a flush packet and
//! "0001" a delimiter (protocol v2).

use futures_io::AsyncRead;
use futures_lite::io::AsyncReadExt;

use crate::Error;

/// Largest pkt-line git allows: 65516 bytes of payload + 4 of length.
const MAX_PKT: usize = 65520;

#[derive(Debug, PartialEq, Eq)]
pub enum Pkt {
    Flush,
    Delim,
    Data(Vec<u8>),
}

/// Appends one data pkt-line.
pub fn encode(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
}

pub fn flush(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0000");
}

/// Reads one pkt-line; end of stream is an error (a conversation never ends
/// without its flush packet or final message).
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<Pkt, Error> {
    let head = read_head(r).await?;
    read_after(r, head).await
}

/// Reads the four length bytes of the next pkt-line. Split from
/// [`read_after`] so that a caller can recognise a raw pack ("PACK"), which
/// follows the negotiation unframed when side-band is off.
pub async fn read_head<R: AsyncRead + Unpin>(r: &mut R) -> Result<[u8; 4], Error> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head).await.map_err(eof)?;
    Ok(head)
}

/// The rest of the pkt-line whose length bytes are `head`.
pub async fn read_after<R: AsyncRead + Unpin>(r: &mut R, head: [u8; 4]) -> Result<Pkt, Error> {
    let len = std::str::from_utf8(&head)
        .ok()
        .and_then(|h| usize::from_str_radix(h, 16).ok())
        .ok_or_else(|| Error::Protocol(format!("bad pkt-line length {:?}", String::from_utf8_lossy(&head))))?;
    match len {
        0 => Ok(Pkt::Flush),
        1 => Ok(Pkt::Delim),
        2..=4 if len < 4 => Err(Error::Protocol("bad pkt-line length".into())),
        _ if len > MAX_PKT => Err(Error::Protocol("pkt-line too long".into())),
        _ => {
            let mut data = vec![0u8; len - 4];
            r.read_exact(&mut data).await.map_err(eof)?;
            Ok(Pkt::Data(data))
        }
    }
}

fn eof(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::Protocol("connection closed in the middle of the conversation".into())
    } else {
        Error::Io(e)
    }
}

/// A data line as text without its trailing newline; "ERR msg" lines
/// (the server refusing us) become [`Error::Remote`].
pub fn text(data: &[u8]) -> Result<String, Error> {
    let s = String::from_utf8_lossy(data);
    let s = s.strip_suffix('\n').unwrap_or(&s).to_string();
    match s.strip_prefix("ERR ") {
        Some(msg) => Err(Error::Remote(msg.to_string())),
        None => Ok(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_lengths() {
        let mut buf = Vec::new();
        encode(&mut buf, b"hello\n");
        flush(&mut buf);
        assert_eq!(&buf, b"000ahello\n0000");
        let mut r = &buf[..];
        futures_lite::future::block_on(async {
            assert_eq!(read(&mut r).await.unwrap(), Pkt::Data(b"hello\n".to_vec()));
            assert_eq!(read(&mut r).await.unwrap(), Pkt::Flush);
            assert!(read(&mut r).await.is_err());
            assert!(read(&mut &b"zzzz"[..]).await.is_err());
            assert!(read(&mut &b"0003"[..]).await.is_err());
            assert!(read(&mut &b"0009abc"[..]).await.is_err());
        });
        assert!(matches!(text(b"ERR no such repo\n"), Err(Error::Remote(m)) if m == "no such repo"));
    }
}
