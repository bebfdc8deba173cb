//! The simple devices: console on stdout, entropy from `getrandom`, block
//! devices backed by files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;

use platform::block::{Block, BlockError, BlockInfo, check_range};
use platform::console::Console;
use platform::entropy::Entropy;

/// Log lines on standard output (line-buffered; errors are ignored).
pub struct StdoutConsole;

impl Console for StdoutConsole {
    fn write_line(&self, line: &str) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Entropy from the kernel (`getrandom(2)`).
pub struct GetrandomEntropy;

impl Entropy for GetrandomEntropy {
    fn fill(&self, buf: &mut [u8]) {
        fill_random(buf)
    }
    fn source(&self) -> &str {
        "getrandom"
    }
}

/// Fills `buf` from the kernel's CSPRNG.
///
/// # Panics
/// When the kernel gives no random bytes (the contract: halt rather than
/// return weak bytes).
pub(crate) fn fill_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("getrandom failed, refusing to continue without entropy: {e}");
    }
}

/// The default sector size of file-backed block devices.
pub const DEFAULT_SECTOR_SIZE: usize = 512;

/// Opens `path` (a regular file, read-write) as a block device of
/// `sector_size`-byte sectors. Its size must be a non-zero multiple of the
/// sector size; it is never grown or truncated. Writes reach the disk on
/// `flush` (fsync).
pub fn file_block(path: impl AsRef<Path>, sector_size: usize) -> io::Result<Rc<dyn Block>> {
    Ok(Rc::new(FileBlock::open(path.as_ref(), sector_size)?))
}

/// A block device over a regular file.
pub struct FileBlock {
    file: File,
    info: BlockInfo,
}

impl FileBlock {
    /// See [`file_block`].
    pub fn open(path: &Path, sector_size: usize) -> io::Result<FileBlock> {
        let shown = path.display();
        if sector_size < 512 || !sector_size.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("sector size {sector_size} of {shown} is not a power of two of at least 512"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open block file {shown}: {e}")))?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("block file {shown} is not a regular file"),
            ));
        }
        let size = meta.len();
        if size == 0 || !size.is_multiple_of(sector_size as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "block file {shown} has {size} bytes, not a non-zero multiple of the {sector_size}-byte sector \
                     (resize it, e.g. truncate -s 64M {shown})"
                ),
            ));
        }
        Ok(FileBlock { file, info: BlockInfo { sector_size, sectors: size / sector_size as u64 } })
    }

    fn offset(&self, sector: u64) -> u64 {
        sector * self.info.sector_size as u64
    }
}

impl Block for FileBlock {
    fn info(&self) -> BlockInfo {
        self.info
    }

    fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(self.info, sector, buf.len())?;
        self.file.read_exact_at(buf, self.offset(sector))?;
        Ok(())
    }

    fn write(&self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_range(self.info, sector, buf.len())?;
        self.file.write_all_at(buf, self.offset(sector))?;
        Ok(())
    }

    fn flush(&self) -> Result<(), BlockError> {
        // The size never changes, so data (and what is needed to reach it) suffices.
        self.file.sync_data()?;
        Ok(())
    }
}
