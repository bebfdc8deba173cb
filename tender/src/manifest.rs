//! The Solo5 manifest (MFT1 note): validation (ABI reference §3.5) and the filled-in copy
//! the tender hands to the guest.

use crate::abi;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: u32,
}

/// A validated manifest. `raw` is the `struct mft` bytes, which become the guest's copy
/// after [`Manifest::set_block`] / [`Manifest::set_net`] fill them in.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub entries: Vec<Entry>,
    raw: Vec<u8>,
}

pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        abi::MFT_DEV_BLOCK_BASIC => "BLOCK_BASIC",
        abi::MFT_DEV_NET_BASIC => "NET_BASIC",
        abi::MFT_RESERVED_FIRST => "RESERVED_FIRST",
        _ => "unknown",
    }
}

/// Device names accepted on the command line and in manifests: `[A-Za-z0-9]{1,67}`.
pub fn valid_name(name: &str) -> bool {
    (1..=67).contains(&name.len()) && name.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

impl Manifest {
    /// Validates the MFT1 descriptor (without its 4 bytes of alignment padding).
    pub fn parse(desc: &[u8]) -> Result<Manifest, String> {
        if desc.len() < abi::MFT_HEADER_SIZE {
            return Err("invalid manifest: too short".into());
        }
        let version = u32_at(desc, 0);
        let count = u32_at(desc, 4);
        if version != abi::MFT_VERSION {
            return Err(format!("invalid manifest: unsupported manifest version {version}"));
        }
        if count == 0 || count > abi::MFT_MAX_ENTRIES {
            return Err(format!("invalid manifest: {count} entries (must be 1..=64)"));
        }
        if desc.len() != abi::MFT_HEADER_SIZE + abi::MFT_ENTRY_SIZE * count as usize {
            return Err("invalid manifest: note size does not match the number of entries".into());
        }
        let mut entries = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let e = &desc[abi::MFT_HEADER_SIZE + i * abi::MFT_ENTRY_SIZE..][..abi::MFT_ENTRY_SIZE];
            let name_bytes = &e[..abi::MFT_NAME_SIZE];
            if name_bytes[abi::MFT_NAME_SIZE - 1] != 0 {
                return Err(format!("invalid manifest: entry {i} has an unterminated name"));
            }
            let len = name_bytes.iter().position(|&c| c == 0).unwrap_or(0);
            let name = String::from_utf8_lossy(&name_bytes[..len]).into_owned();
            let kind = u32_at(e, abi::MFT_OFF_TYPE);
            if e[abi::MFT_OFF_ATTACHED] != 0 {
                return Err(format!("invalid manifest: entry {i} is marked attached in the image"));
            }
            if i == 0 {
                if kind != abi::MFT_RESERVED_FIRST || !name.is_empty() {
                    return Err("invalid manifest: entry 0 is not the reserved entry".into());
                }
            } else {
                if kind != abi::MFT_DEV_BLOCK_BASIC && kind != abi::MFT_DEV_NET_BASIC {
                    return Err(format!("invalid manifest: device '{name}' has unknown type {kind:#x}"));
                }
                if !valid_name(&name) {
                    return Err(format!("invalid manifest: invalid device name '{name}'"));
                }
                if entries.iter().any(|x: &Entry| x.name == name) {
                    return Err(format!("invalid manifest: device '{name}' declared twice"));
                }
            }
            entries.push(Entry { name, kind });
        }
        Ok(Manifest { entries, raw: desc.to_vec() })
    }

    /// Index (= guest handle) of the device `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.entries.iter().skip(1).position(|e| e.name == name).map(|i| i + 1)
    }

    fn entry_mut(&mut self, idx: usize) -> &mut [u8] {
        &mut self.raw[abi::MFT_HEADER_SIZE + idx * abi::MFT_ENTRY_SIZE..][..abi::MFT_ENTRY_SIZE]
    }

    pub fn set_block(&mut self, idx: usize, capacity: u64, block_size: u16, fd: i32) {
        let e = self.entry_mut(idx);
        e[abi::MFT_OFF_U..abi::MFT_OFF_U + 8].copy_from_slice(&capacity.to_le_bytes());
        e[abi::MFT_OFF_U + 8..abi::MFT_OFF_U + 16].fill(0);
        e[abi::MFT_OFF_U + 8..abi::MFT_OFF_U + 10].copy_from_slice(&block_size.to_le_bytes());
        e[abi::MFT_OFF_B..abi::MFT_OFF_B + 8].copy_from_slice(&i64::from(fd).to_le_bytes());
        e[abi::MFT_OFF_ATTACHED] = 1;
    }

    pub fn set_net(&mut self, idx: usize, mac: [u8; 6], mtu: u16, fd: i32) {
        let e = self.entry_mut(idx);
        e[abi::MFT_OFF_U..abi::MFT_OFF_U + 16].fill(0);
        e[abi::MFT_OFF_U..abi::MFT_OFF_U + 6].copy_from_slice(&mac);
        e[abi::MFT_OFF_U + 6..abi::MFT_OFF_U + 8].copy_from_slice(&mtu.to_le_bytes());
        e[abi::MFT_OFF_B..abi::MFT_OFF_B + 8].copy_from_slice(&i64::from(fd).to_le_bytes());
        e[abi::MFT_OFF_ATTACHED] = 1;
    }

    pub fn attached(&self, idx: usize) -> bool {
        self.raw[abi::MFT_HEADER_SIZE + idx * abi::MFT_ENTRY_SIZE + abi::MFT_OFF_ATTACHED] != 0
    }

    /// The bytes of the guest's copy (`8 + 104 * entries`).
    pub fn bytes(&self) -> &[u8] {
        &self.raw
    }
}
