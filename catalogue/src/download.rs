//! Reading from a catalogue: `file://` from disk, `http(s)://` with ureq
//! (rustls). Image downloads go to a `.part` file, resume with `Range` where
//! the server allows it, and show a progress bar on a terminal.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use crate::{Failure, Result};

/// `base` joined with a relative `path` (`base` may lack its trailing slash).
fn join(base: &str, path: &str) -> String {
    if base.ends_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") }
}

fn network_error(url: &str, e: impl std::fmt::Display) -> Failure {
    Failure { message: format!("cannot download {url}: {e}"), status: 1 }
}

/// A small file of the catalogue, whole.
pub fn get(base: &str, path: &str) -> Result<Vec<u8>> {
    let url = join(base, path);
    if let Some(file) = url.strip_prefix("file://") {
        return std::fs::read(file).map_err(|e| network_error(&url, e));
    }
    check_scheme(&url)?;
    let response = ureq::get(&url).call().map_err(|e| network_error(&url, e))?;
    response.into_body().with_config().limit(64 << 20).read_to_vec().map_err(|e| network_error(&url, e))
}

fn check_scheme(url: &str) -> Result {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(Failure { message: format!("catalogue URL {url}: use http://, https:// or file://"), status: 2 })
    }
}

/// Downloads `path` of the catalogue into `part`, continuing a partial file.
/// The caller checks the hash; on any error the partial file stays for the
/// next attempt to resume (it is never booted: only a verified file is renamed
/// to the image's name).
pub fn to_file(base: &str, path: &str, part: &Path, size: u64) -> Result {
    let url = join(base, path);
    let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > size {
        std::fs::remove_file(part)?;
        have = 0;
    }
    if let Some(file) = url.strip_prefix("file://") {
        std::fs::copy(file, part).map_err(|e| network_error(&url, e))?;
        return Ok(());
    }
    check_scheme(&url)?;
    if have == size {
        return Ok(());
    }
    let mut request = ureq::get(&url);
    if have > 0 {
        request = request.header("Range", &format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| network_error(&url, e))?;
    let mut out = if have > 0 && response.status().as_u16() == 206 {
        eprintln!("resuming {url} at byte {have}");
        OpenOptions::new().append(true).open(part)?
    } else {
        // The server sent the whole file (no Range support): start over.
        have = 0;
        File::create(part)?
    };
    let progress = Progress::new(&url, size, have);
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = body.read(&mut buf).map_err(|e| Failure {
            message: format!(
                "download of {url} broke after {have} of {size} bytes ({e}); run the command again to resume"
            ),
            status: 1,
        })?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        have += n as u64;
        progress.set(have);
    }
    out.sync_all()?;
    progress.finish();
    if have != size {
        return Err(Failure {
            message: format!("download of {url} ended after {have} of {size} bytes; run the command again to resume"),
            status: 1,
        });
    }
    Ok(())
}

/// A bar on a terminal; one line at the start and end otherwise (logs, CI).
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(url: &str, size: u64, have: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            eprintln!("downloading {url} ({size} bytes)");
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(size);
        let style =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
        bar.set_position(have);
        Progress(Some(bar))
    }

    fn set(&self, position: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(position);
        }
    }

    fn finish(&self) {
        match &self.0 {
            Some(bar) => bar.finish(),
            None => eprintln!("download complete"),
        }
    }
}
