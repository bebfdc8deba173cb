//! The hypercall dispatcher with guest memory as the input: the first bytes choose the
//! hypercall and its argument address, the rest is guest RAM. A block device (a scratch
//! file) and a net device (one end of a datagram socket pair) are attached, so every
//! handler runs. No panic: a bad argument is an error or an EINVAL, never a wild access
//! (the accessor's bounds are checked against the buffer, which is all the guest has).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;
use tender::devices::{Device, Devices, block::Block, net::Net};
use tender::mem::GuestMemory;

/// Guest RAM of the fuzzed guest (the first 4 KiB are "unmapped", as below 0x10000 is).
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

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let nr = u32::from(data[0]) % hvt_abi::HYPERCALL_MAX;
    let Some(hc) = hvt_abi::Hypercall::from_nr(nr) else { return };
    let arg = u64::from(u32::from_le_bytes([data[1], data[2], data[3], data[4]])) % (RAM as u64 + 64);
    let mut ram = vec![0u8; RAM];
    let n = (data.len() - 5).min(RAM);
    ram[..n].copy_from_slice(&data[5..5 + n]);
    if hc == hvt_abi::Hypercall::Poll && arg + 8 <= RAM as u64 {
        // A real guest may sleep as long as it likes; the fuzzer must not.
        ram[arg as usize..arg as usize + 8].fill(0);
    }
    // SAFETY: `ram` outlives `mem` (both live until the end of this closure) and is
    // readable and writable; nothing in it is read-only.
    let mut mem = unsafe { GuestMemory::new(ram.as_mut_ptr().expose_provenance(), RAM as u64, LOW) };
    let mut guard = DEVICES.lock().unwrap();
    let devs = guard.get_or_insert_with(devices);
    let _ = devs.hypercall(hc, arg, &mut mem);
});
