//! The bodies of the tender's fuzz targets, plain functions that `fuzz_targets/` call and
//! `tests/seeds.rs` runs over `seeds/<target>/` on stable.

use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;

use hvt_abi::elf;
use tender::devices::{Action, Device, Devices, block::Block, net::Net};
use tender::mem::GuestMemory;
use tender::process::insn;

/// Guest memory the ELF target's images are checked against.
const MEM_SIZE: u64 = 64 << 20;

/// The shared ELF/note reader (`hvt_abi::elf`, used by the tender and `xtask image`):
/// `data` as an image file. No panic; an accepted image keeps the loader's promises
/// (segments inside the file and guest memory, ascending, never W+X). Returns whether
/// the image was accepted.
pub fn elf(data: &[u8]) -> bool {
    match elf::parse(data, MEM_SIZE) {
        Err(e) => {
            // Every error has a message.
            assert!(!e.to_string().is_empty());
            false
        }
        Ok(img) => {
            let mut prev_end = hvt_abi::x86_64::GUEST_MIN_BASE;
            let mut count = 0;
            for s in img.segments() {
                assert!(s.start >= prev_end && s.end <= MEM_SIZE && s.start <= s.vaddr);
                assert!(!(s.writable() && s.executable()));
                assert_eq!(img.segment_data(&s).len() as u64, s.filesz);
                prev_end = s.end;
                count += 1;
            }
            assert!(count > 0);
            assert_eq!(img.kernel_end, prev_end);
            assert!(img.entry >= hvt_abi::x86_64::GUEST_MIN_BASE && img.entry < MEM_SIZE);
            // The manifest is validated: entries can be read without panicking.
            for (_, e) in img.manifest.iter() {
                let _ = e.name_str();
            }
            true
        }
    }
}

/// The process engine's instruction decoder: `data` at a trapping RIP. No panic, and a
/// decoded instruction never claims more bytes than it was given (at most 15). Returns
/// the decoded instruction.
pub fn insn(data: &[u8]) -> Option<insn::Decoded> {
    let b = &data[..data.len().min(15)];
    let d = insn::decode(b)?;
    assert!(d.len >= 1 && d.len <= b.len(), "len {} of {} bytes", d.len, b.len());
    Some(d)
}

/// Guest RAM of the hypercall target's guest (the first 4 KiB are "unmapped", as below
/// 0x10000 is).
const RAM: usize = 1 << 16;
const LOW: u64 = 0x1000;

fn devices() -> Devices {
    let path = std::env::temp_dir().join(format!("tender-fuzz-block-{}", std::process::id()));
    std::fs::write(&path, vec![0u8; 8192]).expect("scratch block file");
    let block = Block::open(path.to_str().unwrap(), 512).expect("block device");
    let (ours, theirs) = UnixDatagram::pair().expect("socketpair");
    // Keep our end open for the whole run, so that writes are accepted (then EAGAIN).
    std::mem::forget(ours);
    let net = Net::attach(&format!("@{}", theirs.into_raw_fd()), Some([2, 0, 0, 0, 0, 1])).expect("net device");
    let mut d = Devices::new(3);
    d.devs[1] = Device::Block(block);
    d.devs[2] = Device::Net(net);
    d.poll.add(d.net_fds()[0], 2);
    d
}

static DEVICES: Mutex<Option<Devices>> = Mutex::new(None);

/// The hypercall dispatcher with guest memory as the input: the first byte chooses the
/// hypercall, the next four (little-endian) its argument address, the rest is guest RAM.
/// A block device (a scratch file) and a net device (one end of a datagram socket pair)
/// are attached, so every handler runs. No panic: a bad argument is an error or an
/// EINVAL, never a wild access (the accessor's bounds are checked against the buffer,
/// which is all the guest has). Returns what the dispatcher returned, `None` for an input
/// that names no hypercall.
pub fn hypercall(data: &[u8]) -> Option<Result<Action, String>> {
    if data.len() < 5 {
        return None;
    }
    let nr = u32::from(data[0]) % hvt_abi::HYPERCALL_MAX;
    let hc = hvt_abi::Hypercall::from_nr(nr)?;
    let arg = u64::from(u32::from_le_bytes([data[1], data[2], data[3], data[4]])) % (RAM as u64 + 64);
    let mut ram = vec![0u8; RAM];
    let n = (data.len() - 5).min(RAM);
    ram[..n].copy_from_slice(&data[5..5 + n]);
    if hc == hvt_abi::Hypercall::Poll && arg + 8 <= RAM as u64 {
        // A real guest may sleep as long as it likes; the fuzzer must not.
        ram[arg as usize..arg as usize + 8].fill(0);
    }
    // SAFETY: `ram` outlives `mem` (both live until the end of this function) and is
    // readable and writable; nothing in it is read-only.
    let mut mem = unsafe { GuestMemory::new(ram.as_mut_ptr().expose_provenance(), RAM as u64, LOW) };
    let mut guard = DEVICES.lock().unwrap();
    let devs = guard.get_or_insert_with(devices);
    Some(devs.hypercall(hc, arg, &mut mem))
}
