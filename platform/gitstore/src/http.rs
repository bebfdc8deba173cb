//! A minimal HTTP/1.1 client for git's smart protocol: one request per
//! connection (`Connection: close`), a request body with Content-Length,
//! responses with Content-Length, chunked, or read-to-close bodies
//! (RFC 9112 §6.3).

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::transport::Io;

/// Responses above this are refused instead of exhausting memory.
const MAX_RESPONSE: usize = 1 << 30;

pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Sends one request and reads the whole response.
pub async fn request(
    io: &mut dyn Io,
    method: &str,
    host: &str,
    target: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Response, Error> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: git/2.0 ({})\r\nConnection: close\r\nAccept: */*\r\n",
        crate::AGENT
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    io.write_all(&req).await.map_err(Error::Io)?;
    io.flush().await.map_err(Error::Io)?;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = io.read(&mut buf).await.map_err(Error::Io)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE {
            return Err(Error::Http("response too large".into()));
        }
        if response_complete(&raw) {
            break;
        }
    }
    parse_response(&raw)
}

/// Whether `raw` already holds a whole response (so we need not wait for
/// the close).
fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else { return false };
    let Ok((_, headers)) = parse_head(&raw[..end]) else { return true };
    let body = &raw[end + 4..];
    if let Some(len) = header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        return body.len() >= len;
    }
    if header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return dechunk(body).is_ok();
    }
    false
}

fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), Error> {
    let text = std::str::from_utf8(head).map_err(|_| Error::Http("response head is not text".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let status = match (version.starts_with("HTTP/1."), status) {
        (true, Some(s)) => s,
        _ => return Err(Error::Http(format!("bad status line {status_line:?}"))),
    };
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn parse_response(raw: &[u8]) -> Result<Response, Error> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| Error::Http("connection closed before the response head".into()))?;
    let (status, headers) = parse_head(&raw[..end])?;
    let body = &raw[end + 4..];
    let body = if header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(body)?
    } else if let Some(len) = header(&headers, "content-length") {
        let len: usize = len.parse().map_err(|_| Error::Http("bad Content-Length".into()))?;
        body.get(..len).ok_or_else(|| Error::Http("connection closed inside the body".into()))?.to_vec()
    } else {
        body.to_vec()
    };
    let content_type = header(&headers, "content-type").unwrap_or_default().to_string();
    Ok(Response { status, content_type, body })
}

/// Decodes a chunked body (RFC 9112 §7.1); trailers are ignored.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = || Error::Http("malformed chunked body".into());
    let mut out = Vec::new();
    loop {
        let line_end = find(body, b"\r\n").ok_or_else(bad)?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| bad())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad())?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or_else(bad)?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or_else(bad)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bodies() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!((r.status, r.content_type.as_str(), &r.body[..]), (200, "a/b", &b"abc"[..]));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert!(response_complete(raw));
        assert_eq!(parse_response(raw).unwrap().body, b"abcde");
        assert!(!response_complete(&raw[..raw.len() - 6]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_err());
    }
}
