//! Pack files (gitformat-pack(5)): reading a received pack into a [`Repo`]
//! with OFS_DELTA/REF_DELTA resolved, and writing an undeltified pack.

use std::collections::HashMap;
use std::io::Write;

use flate2::{Decompress, FlushDecompress, Status};
use sha1::{Digest, Sha1};

use crate::Error;
use crate::object::{Kind, ObjectId, Repo};

const OFS_DELTA: u8 = 6;
const REF_DELTA: u8 = 7;

fn bad(what: &str) -> Error {
    Error::Protocol(format!("malformed pack: {what}"))
}

/// One entry as stored: a whole object or a delta against a base.
enum Entry {
    Whole(Kind, Vec<u8>),
    OfsDelta(usize, Vec<u8>),
    RefDelta(ObjectId, Vec<u8>),
}

/// Parses `pack`, resolves its deltas (bases in the pack or already in
/// `repo`) and stores every object in `repo`. Returns how many objects.
/// All or nothing: a malformed pack leaves `repo` as it was.
pub fn read_pack(pack: &[u8], repo: &mut Repo) -> Result<usize, Error> {
    let mut incoming = Repo::new();
    let count = read_pack_into(pack, repo, &mut incoming)?;
    repo.absorb(incoming);
    Ok(count)
}

/// Parses `pack` into `incoming` (a staging repository), resolving deltas
/// against objects of the pack or of `base`; `base` is not touched, so the
/// caller can check the result before keeping it. Returns how many objects
/// the pack held.
pub fn read_pack_into(pack: &[u8], base: &Repo, incoming: &mut Repo) -> Result<usize, Error> {
    if pack.len() < 32 || &pack[..4] != b"PACK" {
        return Err(bad("no PACK header"));
    }
    let version = u32::from_be_bytes(pack[4..8].try_into().unwrap_or_default());
    if version != 2 && version != 3 {
        return Err(bad("unsupported version"));
    }
    let count = u32::from_be_bytes(pack[8..12].try_into().unwrap_or_default()) as usize;
    let body_end = pack.len() - 20;
    let digest: [u8; 20] = Sha1::digest(&pack[..body_end]).into();
    if digest[..] != pack[body_end..] {
        return Err(bad("checksum mismatch"));
    }
    let mut entries: Vec<(usize, Entry)> = Vec::with_capacity(count.min(1 << 20));
    let mut pos = 12;
    for _ in 0..count {
        let start = pos;
        let (entry, next) = read_entry(pack, pos, body_end)?;
        entries.push((start, entry));
        pos = next;
    }
    if pos != body_end {
        return Err(bad("trailing bytes"));
    }
    resolve(entries, base, incoming)
}

/// Reads the entry at `pos`; returns it and the offset after it.
fn read_entry(pack: &[u8], mut pos: usize, end: usize) -> Result<(Entry, usize), Error> {
    let entry_start = pos;
    let byte = |p: usize| if p < end { Ok(pack[p]) } else { Err(bad("truncated entry")) };
    // Header: type in bits 4-6 of the first byte, size in 4 + 7n bits.
    let mut c = byte(pos)?;
    pos += 1;
    let code = (c >> 4) & 7;
    let mut size = (c & 15) as u64;
    let mut shift = 4;
    while c & 0x80 != 0 {
        c = byte(pos)?;
        pos += 1;
        if shift > 56 {
            return Err(bad("size too large"));
        }
        size |= ((c & 0x7f) as u64) << shift;
        shift += 7;
    }
    let size = usize::try_from(size).map_err(|_| bad("size too large"))?;
    match code {
        OFS_DELTA => {
            // Big-endian base-128 with an added one per continuation byte.
            let mut c = byte(pos)?;
            pos += 1;
            let mut off = (c & 0x7f) as u64;
            while c & 0x80 != 0 {
                c = byte(pos)?;
                pos += 1;
                off = off.checked_add(1).and_then(|o| o.checked_mul(128)).ok_or_else(|| bad("offset"))?
                    | (c & 0x7f) as u64;
            }
            let base = entry_start.checked_sub(off as usize).filter(|_| off > 0).ok_or_else(|| bad("delta offset"))?;
            let (data, next) = inflate(pack, pos, end, size)?;
            Ok((Entry::OfsDelta(base, data), next))
        }
        REF_DELTA => {
            let id = pack.get(pos..pos + 20).filter(|_| pos + 20 <= end).ok_or_else(|| bad("truncated base"))?;
            let id = ObjectId(id.try_into().map_err(|_| bad("base"))?);
            let (data, next) = inflate(pack, pos + 20, end, size)?;
            Ok((Entry::RefDelta(id, data), next))
        }
        _ => {
            let kind = Kind::from_code(code).ok_or_else(|| bad("unknown object type"))?;
            let (data, next) = inflate(pack, pos, end, size)?;
            Ok((Entry::Whole(kind, data), next))
        }
    }
}

/// Inflates one zlib stream starting at `pos` that must give `size` bytes.
fn inflate(pack: &[u8], pos: usize, end: usize, size: usize) -> Result<(Vec<u8>, usize), Error> {
    let input = &pack[pos.min(end)..end];
    let mut z = Decompress::new(true);
    // Capacity bounded by the input: zlib expands at most ~1032:1.
    let mut out = Vec::with_capacity(size.min(input.len().saturating_mul(1032) + 64));
    loop {
        if out.len() == out.capacity() {
            out.reserve(64.max(size - out.len().min(size)));
        }
        let consumed = z.total_in() as usize;
        let status = z
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Finish)
            .map_err(|_| bad("bad zlib data"))?;
        if out.len() > size {
            return Err(bad("object larger than declared"));
        }
        match status {
            Status::StreamEnd => break,
            _ if z.total_in() as usize == input.len() && out.len() < out.capacity() => {
                return Err(bad("truncated zlib data"));
            }
            _ => {}
        }
    }
    if out.len() != size {
        return Err(bad("object size mismatch"));
    }
    Ok((out, pos + z.total_in() as usize))
}

/// Resolves deltas and stores every object in `out`; a REF_DELTA base may
/// also be in `base` (an object we already held).
fn resolve(mut entries: Vec<(usize, Entry)>, base: &Repo, out: &mut Repo) -> Result<usize, Error> {
    let count = entries.len();
    let index: HashMap<usize, usize> = entries.iter().enumerate().map(|(i, (off, _))| (*off, i)).collect();
    let mut done: Vec<Option<(Kind, ObjectId)>> = vec![None; count];
    // Whole objects first, then deltas in rounds until nothing changes:
    // a delta's base is either resolved by then or missing.
    for (i, (_, e)) in entries.iter_mut().enumerate() {
        if let Entry::Whole(kind, data) = e {
            done[i] = Some((*kind, out.insert(*kind, std::mem::take(data))));
        }
    }
    loop {
        let mut progress = false;
        for (i, (_, e)) in entries.iter().enumerate() {
            if done[i].is_some() {
                continue;
            }
            let (base_id, delta) = match e {
                Entry::OfsDelta(off, d) => {
                    let j = *index.get(off).ok_or_else(|| bad("delta base not at an entry"))?;
                    (done[j].map(|(_, id)| id), d)
                }
                Entry::RefDelta(id, d) => (Some(*id).filter(|id| out.contains(id) || base.contains(id)), d),
                Entry::Whole(..) => unreachable!("whole objects were stored above"),
            };
            let Some(base_id) = base_id else { continue };
            let obj = out.get(&base_id).or_else(|| base.get(&base_id)).ok_or(Error::MissingObject(base_id))?;
            let (kind, data) = (obj.kind, apply_delta(&obj.data, delta)?);
            done[i] = Some((kind, out.insert(kind, data)));
            progress = true;
        }
        if !progress {
            break;
        }
    }
    if done.iter().any(Option::is_none) {
        return Err(bad("delta whose base is missing"));
    }
    Ok(count)
}

fn varint(data: &[u8], pos: &mut usize) -> Result<usize, Error> {
    let mut value = 0usize;
    let mut shift = 0;
    loop {
        let c = *data.get(*pos).ok_or_else(|| bad("truncated delta"))?;
        *pos += 1;
        if shift > 56 {
            return Err(bad("delta size too large"));
        }
        value |= ((c & 0x7f) as usize) << shift;
        shift += 7;
        if c & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Applies a git delta: source size, target size, then copy/insert ops.
pub fn apply_delta(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, Error> {
    let mut pos = 0;
    if varint(delta, &mut pos)? != base.len() {
        return Err(bad("delta base size mismatch"));
    }
    let target = varint(delta, &mut pos)?;
    let mut out = Vec::with_capacity(target.min(delta.len().saturating_mul(128) + base.len()));
    while pos < delta.len() {
        let op = delta[pos];
        pos += 1;
        if op & 0x80 != 0 {
            // Copy: offset and size bytes present per bit (size 0 means 0x10000).
            let mut field = |bits: std::ops::Range<u8>| -> Result<usize, Error> {
                let mut v = 0usize;
                for (n, bit) in bits.enumerate() {
                    if op & (1 << bit) != 0 {
                        v |= (*delta.get(pos).ok_or_else(|| bad("truncated copy"))? as usize) << (8 * n);
                        pos += 1;
                    }
                }
                Ok(v)
            };
            let off = field(0..4)?;
            let size = match field(4..7)? {
                0 => 0x10000,
                s => s,
            };
            let src = off.checked_add(size).and_then(|e| base.get(off..e)).ok_or_else(|| bad("copy out of range"))?;
            out.extend_from_slice(src);
        } else if op != 0 {
            let n = op as usize;
            out.extend_from_slice(delta.get(pos..pos + n).ok_or_else(|| bad("truncated insert"))?);
            pos += n;
        } else {
            return Err(bad("delta opcode 0"));
        }
        if out.len() > target {
            return Err(bad("delta result too long"));
        }
    }
    if out.len() != target {
        return Err(bad("delta result size mismatch"));
    }
    Ok(out)
}

/// Writes a version-2 pack of `ids` (all in `repo`), each object whole.
pub fn write_pack(repo: &Repo, ids: &[ObjectId]) -> Result<Vec<u8>, Error> {
    let mut out = b"PACK".to_vec();
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(ids.len() as u32).to_be_bytes());
    for id in ids {
        let obj = repo.get(id).ok_or(Error::MissingObject(*id))?;
        let mut size = obj.data.len();
        let mut first = ((obj.kind as u8) << 4) | (size & 15) as u8;
        size >>= 4;
        while size > 0 {
            out.push(first | 0x80);
            first = (size & 0x7f) as u8;
            size >>= 7;
        }
        out.push(first);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&obj.data).and_then(|_| z.finish()).map(|d| out.extend_from_slice(&d)).map_err(Error::Io)?;
    }
    let digest: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&digest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Signature;

    #[test]
    fn written_pack_reads_back() {
        let mut repo = Repo::new();
        let me = Signature { name: "A".into(), email: "a@b".into() };
        let c = repo.commit(None, &[("x", Some(&[7u8; 100_000][..]))], &me, "m", 5).unwrap();
        let ids = repo.missing_between(&[], &c);
        let pack = write_pack(&repo, &ids).unwrap();
        let mut other = Repo::new();
        assert_eq!(read_pack(&pack, &mut other).unwrap(), 3);
        assert_eq!(other.files(&c).unwrap()["x"].len(), 100_000);
        // Any corruption is an error, never a panic.
        for cut in [0, 12, 20, pack.len() - 1] {
            assert!(read_pack(&pack[..cut], &mut Repo::new()).is_err());
        }
        let mut flipped = pack.clone();
        flipped[15] ^= 0xff;
        assert!(read_pack(&flipped, &mut Repo::new()).is_err());
    }

    /// A pack of a whole blob and then a REF_DELTA against `base_id`.
    fn blob_and_ref_delta(blob: &[u8], base_id: ObjectId, delta: &[u8]) -> Vec<u8> {
        let mut repo = Repo::new();
        let id = repo.insert(Kind::Blob, blob.to_vec());
        let whole = write_pack(&repo, &[id]).unwrap();
        let mut out = whole[..whole.len() - 20].to_vec();
        out[11] = 2; // two entries
        out.push((REF_DELTA << 4) | delta.len() as u8); // delta.len() < 16
        out.extend_from_slice(&base_id.0);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(delta).unwrap();
        out.extend_from_slice(&z.finish().unwrap());
        let digest: [u8; 20] = Sha1::digest(&out).into();
        out.extend_from_slice(&digest);
        out
    }

    #[test]
    fn a_bad_pack_stores_nothing() {
        // sizes 11 -> 8: copy "hello", insert "!!!" (as in delta_copy_and_insert)
        let delta = [11, 8, 0x80 | 0x01 | 0x10, 0, 5, 3, b'!', b'!', b'!'];
        let mut repo = Repo::new();
        let base = repo.insert(Kind::Blob, b"hello world".to_vec());
        // The base is in the repository: both objects arrive.
        assert_eq!(read_pack(&blob_and_ref_delta(b"other", base, &delta), &mut repo).unwrap(), 2);
        assert!(repo.contains(&ObjectId::hash(Kind::Blob, b"hello!!!")));
        assert!(repo.contains(&ObjectId::hash(Kind::Blob, b"other")));
        // A base nobody has: an error, and the whole blob before it is not kept.
        let mut repo = Repo::new();
        let pack = blob_and_ref_delta(b"other", ObjectId([3; 20]), &delta);
        assert!(read_pack(&pack, &mut repo).is_err());
        assert!(repo.is_empty());
        // A delta that does not apply to its base: the same.
        let mut repo = Repo::new();
        let base = repo.insert(Kind::Blob, b"short".to_vec());
        assert!(read_pack(&blob_and_ref_delta(b"other", base, &delta), &mut repo).is_err());
        assert_eq!(repo.len(), 1);
    }

    #[test]
    fn delta_copy_and_insert() {
        let base = b"hello world";
        // sizes 11 -> 8; copy off 0 len 5; insert "!!!"
        let delta = [11, 8, 0x80 | 0x01 | 0x10, 0, 5, 3, b'!', b'!', b'!'];
        assert_eq!(apply_delta(base, &delta).unwrap(), b"hello!!!");
        assert!(apply_delta(b"short", &delta).is_err());
        assert!(apply_delta(base, &[11, 8, 0x91, 200, 5]).is_err());
    }
}
