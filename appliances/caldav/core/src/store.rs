//! What the core reads the data from, and the changes it asks for.
//!
//! A store is a tree of files, as in a git commit: directories exist while they
//! hold a file. A collection is a directory; its properties (kind, display name,
//! components) are in its `.collection` file ([`crate::collection`]). The core never
//! writes: a request's result lists [`Change`]s, which the wiring applies (one git
//! commit) before it sends the response.

use std::collections::BTreeMap;

/// One name in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// The file's ETag (None for a directory).
    pub etag: Option<String>,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.etag.is_none()
    }
}

/// Read access to one version of the data.
pub trait Store {
    /// A file's bytes and strong ETag (without quotes).
    fn read(&self, path: &str) -> Option<(&[u8], String)>;
    /// The names in a directory (`""` is the root); None if there is no such directory.
    fn list(&self, dir: &str) -> Option<Vec<Entry>>;
    /// A tag that changes whenever anything under `dir` changes (the collection's CTag).
    fn dir_tag(&self, dir: &str) -> Option<String>;
    /// The ETag `data` will have once written (so PUT can answer with it).
    fn etag_for(&self, data: &[u8]) -> String;
    /// This version's id (a sync-token names it, RFC 6578); None before the first change.
    fn version(&self) -> Option<String>;
    /// A directory's names at an earlier version: None if that version is not
    /// known (any more); `Some(None)` if the directory did not exist then.
    fn list_at(&self, version: &str, dir: &str) -> Option<Option<Vec<Entry>>>;
}

/// Writes (`Some`) or deletes (`None`) one file; deleting the last file of a
/// directory removes the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub content: Option<Vec<u8>>,
}

/// A store in memory, for tests and tools: files by path. ETags are FNV-1a
/// hashes of the content (a stand-in for git's blob ids).
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    pub files: BTreeMap<String, Vec<u8>>,
    /// Every earlier version's files; the version id is the index.
    pub history: Vec<BTreeMap<String, Vec<u8>>>,
}

fn fnv(data: &[u8], mut h: u64) -> u64 {
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

impl MemStore {
    pub fn apply(&mut self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        self.history.push(self.files.clone());
        for c in changes {
            match &c.content {
                Some(d) => self.files.insert(c.path.clone(), d.clone()),
                None => self.files.remove(&c.path),
            };
        }
    }

    fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a String, &'a Vec<u8>)> + 'a {
        under(&self.files, dir)
    }
}

fn under<'a>(
    files: &'a BTreeMap<String, Vec<u8>>,
    dir: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Vec<u8>)> + 'a {
    files.iter().filter(move |(p, _)| dir.is_empty() || p.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
}

fn list_files(files: &BTreeMap<String, Vec<u8>>, dir: &str) -> Option<Vec<Entry>> {
    let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (path, data) in under(files, dir) {
        let rest = if dir.is_empty() { path.as_str() } else { &path[dir.len() + 1..] };
        match rest.split_once('/') {
            Some((d, _)) => out.insert(d.to_string(), None),
            None => out.insert(rest.to_string(), Some(mem_etag(data))),
        };
    }
    if out.is_empty() && !dir.is_empty() {
        return None;
    }
    Some(out.into_iter().map(|(name, etag)| Entry { name, etag }).collect())
}

fn mem_etag(data: &[u8]) -> String {
    format!("{:016x}-{}", fnv(data, FNV_BASIS), data.len())
}

impl Store for MemStore {
    fn read(&self, path: &str) -> Option<(&[u8], String)> {
        self.files.get(path).map(|d| (d.as_slice(), self.etag_for(d)))
    }

    fn list(&self, dir: &str) -> Option<Vec<Entry>> {
        list_files(&self.files, dir)
    }

    fn dir_tag(&self, dir: &str) -> Option<String> {
        let mut h = FNV_BASIS;
        let mut any = false;
        for (path, data) in self.under(dir) {
            any = true;
            h = fnv(path.as_bytes(), h);
            h = fnv(&[0], h);
            h = fnv(data, h);
        }
        any.then(|| format!("{h:016x}"))
    }

    fn etag_for(&self, data: &[u8]) -> String {
        mem_etag(data)
    }

    fn version(&self) -> Option<String> {
        (!self.history.is_empty()).then(|| self.history.len().to_string())
    }

    fn list_at(&self, version: &str, dir: &str) -> Option<Option<Vec<Entry>>> {
        let v: usize = version.parse().ok()?;
        let files = match v.checked_sub(self.history.len()) {
            Some(0) => &self.files,
            Some(_) => return None,
            None => self.history.get(v)?,
        };
        Some(list_files(files, dir))
    }
}
