//! File-backed block devices.

use std::fs;
use std::path::PathBuf;

use platform::block::BlockError;
use platform_unix::file_block;

fn temp_file(name: &str, len: u64) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("block-{name}-{}", std::process::id()));
    let f = fs::File::create(&path).unwrap();
    f.set_len(len).unwrap();
    path
}

#[test]
fn read_write_flush_round_trip() {
    let path = temp_file("rw", 8 * 512);
    let dev = file_block(&path, 512).unwrap();
    assert_eq!(dev.info().sectors, 8);
    assert_eq!(dev.info().sector_size, 512);
    let data: Vec<u8> = (0..1024).map(|i| (i % 251) as u8).collect();
    dev.write(3, &data).unwrap();
    dev.flush().unwrap();
    let mut back = vec![0u8; 1024];
    dev.read(3, &mut back).unwrap();
    assert_eq!(back, data);
    // Reopened, the data is there (it is in the file).
    drop(dev);
    let again = file_block(&path, 512).unwrap();
    let mut back = vec![0u8; 512];
    again.read(4, &mut back).unwrap();
    assert_eq!(back, data[512..]);
    let raw = fs::read(&path).unwrap();
    assert_eq!(&raw[3 * 512..5 * 512], &data[..]);
    fs::remove_file(path).unwrap();
}

#[test]
fn out_of_range_and_misaligned_are_refused() {
    let path = temp_file("range", 4 * 512);
    let dev = file_block(&path, 512).unwrap();
    let mut buf = vec![0u8; 1024];
    assert!(matches!(dev.read(3, &mut buf), Err(BlockError::OutOfRange { sector: 3, count: 2, sectors: 4 })));
    assert!(matches!(dev.write(u64::MAX, &buf), Err(BlockError::OutOfRange { .. })));
    assert!(matches!(dev.write(0, &buf[..100]), Err(BlockError::Misaligned { len: 100, sector_size: 512 })));
    assert!(matches!(dev.read(0, &mut []), Err(BlockError::Misaligned { len: 0, .. })));
    // Nothing was written by the refused requests.
    assert!(fs::read(&path).unwrap().iter().all(|b| *b == 0));
    dev.write(3, &buf[..512]).unwrap();
    fs::remove_file(path).unwrap();
}

#[test]
fn larger_sector_size() {
    let path = temp_file("4k", 4 * 4096);
    let dev = file_block(&path, 4096).unwrap();
    assert_eq!(dev.info().sectors, 4);
    assert!(matches!(dev.write(0, &[1u8; 512]), Err(BlockError::Misaligned { .. })));
    dev.write(3, &[7u8; 4096]).unwrap();
    dev.flush().unwrap();
    fs::remove_file(path).unwrap();
}

#[test]
fn bad_files_are_clear_errors() {
    let empty = temp_file("empty", 0);
    let e = file_block(&empty, 512).err().unwrap().to_string();
    assert!(e.contains("not a non-zero multiple"), "{e}");
    let odd = temp_file("odd", 1000);
    let e = file_block(&odd, 512).err().unwrap().to_string();
    assert!(e.contains("1000 bytes"), "{e}");
    let e = file_block(&odd, 1000).err().unwrap().to_string();
    assert!(e.contains("power of two"), "{e}");
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-block-file");
    let e = file_block(&missing, 512).err().unwrap().to_string();
    assert!(e.contains("no-such-block-file"), "{e}");
    let e = file_block(env!("CARGO_TARGET_TMPDIR"), 512).err().unwrap().to_string();
    assert!(e.contains("not a regular file") || e.contains("directory"), "{e}");
    fs::remove_file(empty).unwrap();
    fs::remove_file(odd).unwrap();
}
