//! A TCP echo peer over the stack API, for tests of a backend's streams.

use platform::stack::TcpStream;

/// Writes back everything `conn` reads until the peer half-closes, then shuts down its
/// own side. Panics on an I/O error: a test whose stream fails must see it fail.
pub async fn until_eof(conn: &TcpStream) {
    let mut buf = vec![0u8; 8192];
    loop {
        let n = conn.read(&mut buf).await.expect("echo: read");
        if n == 0 {
            break;
        }
        conn.write_all(&buf[..n]).await.expect("echo: write");
    }
    conn.shutdown().await.expect("echo: shutdown");
}
