//! Git objects (blob, tree, commit, tag) named by SHA-1, and the in-memory
//! repository that holds them.
//!
//! Object format (git's "loose object" hashing): the name is
//! `SHA-1("<type> <decimal size>\0" ++ body)`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use sha1::{Digest, Sha1};

use crate::Error;

/// A SHA-1 object name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub [u8; 20]);

impl ObjectId {
    /// The all-zero name git uses for "no object" in ref updates.
    pub const ZERO: ObjectId = ObjectId([0; 20]);

    /// Parses 40 hex digits.
    pub fn from_hex(hex: &str) -> Option<ObjectId> {
        let bytes = hex.as_bytes();
        if bytes.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(ObjectId(out))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 20]
    }

    /// The name of an object of `kind` with `body`.
    pub fn hash(kind: Kind, body: &[u8]) -> ObjectId {
        let mut h = Sha1::new();
        h.update(format!("{} {}\0", kind.name(), body.len()).as_bytes());
        h.update(body);
        ObjectId(h.finalize().into())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

/// The four object types; the numbers are the pack type codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Commit = 1,
    Tree = 2,
    Blob = 3,
    Tag = 4,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
            Kind::Tag => "tag",
        }
    }

    pub fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::Commit),
            2 => Some(Kind::Tree),
            3 => Some(Kind::Blob),
            4 => Some(Kind::Tag),
            _ => None,
        }
    }
}

/// An object's type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub data: Vec<u8>,
}

/// Author and committer of commits we create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
}

/// One entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    /// Octal mode as git writes it: "100644", "100755", "40000", "120000", "160000".
    pub mode: String,
    pub name: String,
    pub id: ObjectId,
}

impl TreeEntry {
    pub fn is_tree(&self) -> bool {
        self.mode == "40000"
    }
}

/// Parses a tree body: entries `<mode> <name>\0<20-byte id>`.
pub fn parse_tree(data: &[u8]) -> Result<Vec<TreeEntry>, Error> {
    let bad = || Error::Protocol("malformed tree object".into());
    let mut entries = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
        if nul < sp || rest.len() < nul + 21 {
            return Err(bad());
        }
        let mode = std::str::from_utf8(&rest[..sp]).map_err(|_| bad())?.to_string();
        let name = String::from_utf8_lossy(&rest[sp + 1..nul]).into_owned();
        let mut id = [0u8; 20];
        id.copy_from_slice(&rest[nul + 1..nul + 21]);
        entries.push(TreeEntry { mode, name, id: ObjectId(id) });
        rest = &rest[nul + 21..];
    }
    Ok(entries)
}

/// Serializes a tree. Git sorts entries by name, comparing a subtree's name
/// as if it ended in '/' (`git fsck` checks the order).
pub fn write_tree(entries: &[TreeEntry]) -> Vec<u8> {
    let mut sorted: Vec<&TreeEntry> = entries.iter().collect();
    let key = |e: &TreeEntry| {
        let mut k = e.name.as_bytes().to_vec();
        if e.is_tree() {
            k.push(b'/');
        }
        k
    };
    sorted.sort_by_key(|e| key(e));
    let mut out = Vec::new();
    for e in sorted {
        out.extend_from_slice(e.mode.as_bytes());
        out.push(b' ');
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        out.extend_from_slice(&e.id.0);
    }
    out
}

/// The fields of a commit we use: its tree and parents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    /// Committer time, seconds since the epoch (0 if unparsable).
    pub time: i64,
}

pub fn parse_commit(data: &[u8]) -> Result<CommitInfo, Error> {
    let bad = || Error::Protocol("malformed commit object".into());
    let mut tree = None;
    let mut parents = Vec::new();
    let mut time = 0;
    for line in data.split(|&b| b == b'\n') {
        if line.is_empty() {
            break; // headers end at the first blank line
        }
        let line = String::from_utf8_lossy(line);
        if let Some(hex) = line.strip_prefix("tree ") {
            tree = Some(ObjectId::from_hex(hex).ok_or_else(bad)?);
        } else if let Some(hex) = line.strip_prefix("parent ") {
            parents.push(ObjectId::from_hex(hex).ok_or_else(bad)?);
        } else if let Some(who) = line.strip_prefix("committer ") {
            // "Name <email> 1700000000 +0000"
            let mut words = who.rsplit(' ');
            words.next();
            time = words.next().and_then(|t| t.parse().ok()).unwrap_or(0);
        }
    }
    Ok(CommitInfo { tree: tree.ok_or_else(bad)?, parents, time })
}

/// An in-memory git repository for one branch: the object store and the
/// branch tip ([`Repo::head`]) as last fetched or pushed.
#[derive(Clone, Debug, Default)]
pub struct Repo {
    objects: HashMap<ObjectId, Object>,
    head: Option<ObjectId>,
    /// Commits whose parents we do not hold, because a shallow fetch cut the
    /// history there (git's `.git/shallow`): their absence is not an error.
    shallow: BTreeSet<ObjectId>,
}

impl Repo {
    pub fn new() -> Repo {
        Repo::default()
    }

    /// Stores an object and returns its name.
    pub fn insert(&mut self, kind: Kind, data: Vec<u8>) -> ObjectId {
        let id = ObjectId::hash(kind, &data);
        self.objects.entry(id).or_insert(Object { kind, data });
        id
    }

    /// The branch tip as of the last fetch or push (None before the first).
    pub fn head(&self) -> Option<ObjectId> {
        self.head
    }

    pub fn set_head(&mut self, head: Option<ObjectId>) {
        self.head = head;
    }

    /// The shallow commits: those whose parents a shallow fetch left out.
    pub fn shallow(&self) -> impl Iterator<Item = &ObjectId> {
        self.shallow.iter()
    }

    pub fn is_shallow(&self, id: &ObjectId) -> bool {
        self.shallow.contains(id)
    }

    pub fn get(&self, id: &ObjectId) -> Option<&Object> {
        self.objects.get(id)
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        self.objects.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Moves every object of `other` (a staging repository) into this one.
    pub(crate) fn absorb(&mut self, other: Repo) {
        if self.objects.is_empty() {
            // A first fetch: take the whole map rather than rehash it.
            self.objects = other.objects;
            return;
        }
        for (id, obj) in other.objects {
            self.objects.entry(id).or_insert(obj);
        }
    }

    pub(crate) fn set_shallow(&mut self, shallow: BTreeSet<ObjectId>) {
        self.shallow = shallow;
    }

    /// Git's connectivity check after a fetch: everything reachable from
    /// `tip` is held, by `self` or by `incoming` (what the fetch received, not
    /// yet stored). Objects `self` already held are complete (they passed
    /// this check, or we made them) and are not walked again; the parents of
    /// `shallow` commits are absent on purpose. Every `shallow` commit must
    /// be held as a commit.
    pub(crate) fn check_connected(
        &self,
        incoming: &Repo,
        tip: &ObjectId,
        shallow: &BTreeSet<ObjectId>,
    ) -> Result<(), Error> {
        let lacks = |id: &ObjectId, kind: Kind| {
            Error::Protocol(format!("the server did not send {} {id}, which {tip} needs", kind.name()))
        };
        let mut seen = HashSet::with_capacity(incoming.len());
        let mut todo: Vec<(ObjectId, Kind)> = vec![(*tip, Kind::Commit)];
        todo.extend(shallow.iter().map(|s| (*s, Kind::Commit)));
        while let Some((id, kind)) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            let (obj, new) = match (incoming.objects.get(&id), self.objects.get(&id)) {
                (Some(o), _) => (o, true),
                (None, Some(o)) => (o, false),
                (None, None) => return Err(lacks(&id, kind)),
            };
            if obj.kind != kind {
                return Err(Error::Protocol(format!("{id} is a {}, expected a {}", obj.kind.name(), kind.name())));
            }
            if !new {
                continue;
            }
            match kind {
                Kind::Commit => {
                    let info = parse_commit(&obj.data)?;
                    todo.push((info.tree, Kind::Tree));
                    if !shallow.contains(&id) {
                        todo.extend(info.parents.into_iter().map(|p| (p, Kind::Commit)));
                    }
                }
                Kind::Tree => {
                    for e in parse_tree(&obj.data)? {
                        match e.mode.as_str() {
                            "40000" => todo.push((e.id, Kind::Tree)),
                            "160000" => {} // a submodule: a commit of another repository
                            // Blobs are leaves: checked here, not queued.
                            _ => match incoming.objects.get(&e.id).or_else(|| self.objects.get(&e.id)) {
                                Some(o) if o.kind == Kind::Blob => {}
                                Some(o) => {
                                    return Err(Error::Protocol(format!(
                                        "{} is a {}, expected a blob",
                                        e.id,
                                        o.kind.name()
                                    )));
                                }
                                None => return Err(lacks(&e.id, Kind::Blob)),
                            },
                        }
                    }
                }
                Kind::Blob | Kind::Tag => {}
            }
        }
        Ok(())
    }

    fn get_kind(&self, id: &ObjectId, kind: Kind) -> Result<&Object, Error> {
        match self.objects.get(id) {
            Some(o) if o.kind == kind => Ok(o),
            Some(o) => Err(Error::Protocol(format!("{id} is a {}, expected a {}", o.kind.name(), kind.name()))),
            None => Err(Error::MissingObject(*id)),
        }
    }

    pub fn commit_info(&self, id: &ObjectId) -> Result<CommitInfo, Error> {
        parse_commit(&self.get_kind(id, Kind::Commit)?.data)
    }

    pub fn tree(&self, id: &ObjectId) -> Result<Vec<TreeEntry>, Error> {
        parse_tree(&self.get_kind(id, Kind::Tree)?.data)
    }

    /// Every file of `commit`'s tree, recursively, by slash-separated path.
    /// Submodule entries (mode 160000) are skipped: they name commits of
    /// other repositories.
    pub fn files(&self, commit: &ObjectId) -> Result<BTreeMap<String, Vec<u8>>, Error> {
        let mut out = BTreeMap::new();
        let root = self.commit_info(commit)?.tree;
        let mut todo = vec![(String::new(), root)];
        while let Some((prefix, tree)) = todo.pop() {
            for e in self.tree(&tree)? {
                let path = format!("{prefix}{}", e.name);
                if e.is_tree() {
                    todo.push((format!("{path}/"), e.id));
                } else if e.mode != "160000" {
                    out.insert(path, self.get_kind(&e.id, Kind::Blob)?.data.clone());
                }
            }
        }
        Ok(out)
    }

    /// Commits reachable from `tips` that we hold, newest first by committer
    /// time, at most `limit` of them.
    pub fn commits_from(&self, tips: &[ObjectId], limit: usize) -> Vec<ObjectId> {
        let mut seen = HashSet::new();
        let mut todo: Vec<ObjectId> = tips.to_vec();
        let mut found = Vec::new();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Ok(info) = self.commit_info(&id) else { continue };
            found.push((info.time, id));
            todo.extend(info.parents);
        }
        found.sort_by(|a, b| b.cmp(a));
        found.into_iter().take(limit).map(|(_, id)| id).collect()
    }

    /// Every object reachable from `tips` that we hold (commits, trees,
    /// blobs, tags).
    pub fn reachable(&self, tips: &[ObjectId]) -> HashSet<ObjectId> {
        self.reachable_cut(tips, &BTreeSet::new())
    }

    /// [`Repo::reachable`], not following the parents of commits in `cut`
    /// (a shallow client's boundary, as git's `--shallow-file` does).
    pub(crate) fn reachable_cut(&self, tips: &[ObjectId], cut: &BTreeSet<ObjectId>) -> HashSet<ObjectId> {
        let mut seen = HashSet::new();
        let mut todo: Vec<ObjectId> = tips.iter().copied().filter(|t| !t.is_zero()).collect();
        while let Some(id) = todo.pop() {
            let Some(obj) = self.objects.get(&id) else { continue };
            if !seen.insert(id) {
                continue;
            }
            match obj.kind {
                Kind::Commit => {
                    if let Ok(info) = parse_commit(&obj.data) {
                        todo.push(info.tree);
                        if !cut.contains(&id) {
                            todo.extend(info.parents);
                        }
                    }
                }
                Kind::Tree => {
                    if let Ok(entries) = parse_tree(&obj.data) {
                        todo.extend(entries.into_iter().filter(|e| e.mode != "160000").map(|e| e.id));
                    }
                }
                Kind::Tag => {
                    if let Some(target) = obj.data.strip_prefix(b"object ").and_then(|r| r.get(..40)) {
                        todo.extend(std::str::from_utf8(target).ok().and_then(ObjectId::from_hex));
                    }
                }
                Kind::Blob => {}
            }
        }
        seen
    }

    /// Objects reachable from `new` but not from `old`: what a push sends.
    /// Commits whose parents we lack (a shallow repository) are fine: the
    /// walk stops there, and what we lack the server had before us.
    pub fn missing_between(&self, old: &[ObjectId], new: &ObjectId) -> Vec<ObjectId> {
        self.missing_between_cut(old, new, &BTreeSet::new())
    }

    /// [`Repo::missing_between`] with both walks stopping at `cut`.
    pub(crate) fn missing_between_cut(
        &self,
        old: &[ObjectId],
        new: &ObjectId,
        cut: &BTreeSet<ObjectId>,
    ) -> Vec<ObjectId> {
        let have = self.reachable_cut(old, cut);
        let mut ids: Vec<ObjectId> =
            self.reachable_cut(&[*new], cut).into_iter().filter(|id| !have.contains(id)).collect();
        ids.sort();
        ids
    }

    /// Makes a commit on top of `parent` (none: a root commit) that applies
    /// `changes` to its tree: `(path, Some(bytes))` writes a file (creating
    /// directories), `(path, None)` deletes it (and directories left empty).
    /// Author and committer are `author`, both at `time_unix` UTC.
    pub fn commit(
        &mut self,
        parent: Option<ObjectId>,
        changes: &[(&str, Option<&[u8]>)],
        author: &Signature,
        message: &str,
        time_unix: i64,
    ) -> Result<ObjectId, Error> {
        let base = match parent {
            Some(p) => Some(self.commit_info(&p)?.tree),
            None => None,
        };
        let mut tree = base;
        for (path, content) in changes {
            let parts: Vec<&str> = path.split('/').collect();
            if parts.iter().any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\0')) {
                return Err(Error::BadPath((*path).to_string()));
            }
            tree = self.update_tree(tree, &parts, *content)?;
        }
        let empty = self.insert(Kind::Tree, Vec::new());
        let tree = tree.unwrap_or(empty);
        let who = format!("{} <{}> {time_unix} +0000", clean(&author.name), clean(&author.email));
        let mut body = format!("tree {tree}\n");
        if let Some(p) = parent {
            body.push_str(&format!("parent {p}\n"));
        }
        body.push_str(&format!("author {who}\ncommitter {who}\n\n{message}"));
        if !message.ends_with('\n') {
            body.push('\n');
        }
        Ok(self.insert(Kind::Commit, body.into_bytes()))
    }

    /// Returns the new tree (None when it became empty).
    fn update_tree(
        &mut self,
        tree: Option<ObjectId>,
        path: &[&str],
        content: Option<&[u8]>,
    ) -> Result<Option<ObjectId>, Error> {
        let mut entries = match tree {
            Some(t) => self.tree(&t)?,
            None => Vec::new(),
        };
        let (name, rest) = (path[0], &path[1..]);
        let existing = entries.iter().position(|e| e.name == name);
        let new_entry = if rest.is_empty() {
            content.map(|bytes| {
                let mode = match existing.map(|i| entries[i].mode.as_str()) {
                    Some("100755") => "100755",
                    _ => "100644",
                };
                TreeEntry { mode: mode.into(), name: name.into(), id: self.insert(Kind::Blob, bytes.to_vec()) }
            })
        } else {
            let sub = existing.filter(|&i| entries[i].is_tree()).map(|i| entries[i].id);
            self.update_tree(sub, rest, content)?.map(|id| TreeEntry { mode: "40000".into(), name: name.into(), id })
        };
        if let Some(i) = existing {
            entries.remove(i);
        }
        entries.extend(new_entry);
        if entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.insert(Kind::Tree, write_tree(&entries))))
    }
}

/// Names and emails must not break the "Name <email>" header line.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '<' | '>' | '\n' | '\0')).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_name_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let id = ObjectId::hash(Kind::Blob, b"hello\n");
        assert_eq!(id.to_hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn empty_tree_name_matches_git() {
        assert_eq!(ObjectId::hash(Kind::Tree, b"").to_hex(), "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
    }

    #[test]
    fn a_shallow_repository_commits_and_computes_what_to_push() {
        let me = Signature { name: "A".into(), email: "a@example.org".into() };
        let mut full = Repo::new();
        let c1 = full.commit(None, &[("a", Some(b"1")), ("d/b", Some(b"2"))], &me, "one", 1).unwrap();
        let c2 = full.commit(Some(c1), &[("a", Some(b"3"))], &me, "two", 2).unwrap();
        // What a `deepen 1` fetch of c2 holds: c2 and its tree, not c1.
        let mut shallow = Repo::new();
        for id in full.reachable(&[full.commit_info(&c2).unwrap().tree]).into_iter().chain([c2]) {
            let o = full.get(&id).unwrap();
            shallow.insert(o.kind, o.data.clone());
        }
        shallow.set_shallow([c2].into());
        assert!(!shallow.contains(&c1));
        assert_eq!(shallow.commits_from(&[c2], 10), [c2]);
        let c3 = shallow.commit(Some(c2), &[("d/b", Some(b"4"))], &me, "three", 3).unwrap();
        // The push sends c3, its root tree, d and the new blob: nothing
        // below c2, and no error for the absent c1.
        let ids = shallow.missing_between(&[c2], &c3);
        assert_eq!(ids.len(), 4, "{ids:?}");
        assert!(shallow.files(&c3).is_ok());
        let mut server = full.clone();
        crate::pack::read_pack(&crate::pack::write_pack(&shallow, &ids).unwrap(), &mut server).unwrap();
        assert_eq!(server.files(&c3).unwrap()["d/b"], b"4");
        // The whole history from c3 is on the server now.
        assert!(Repo::new().check_connected(&server, &c3, &BTreeSet::new()).is_ok());
    }

    #[test]
    fn commit_and_files_round_trip() {
        let mut repo = Repo::new();
        let me = Signature { name: "A".into(), email: "a@example.org".into() };
        let c1 = repo.commit(None, &[("a", Some(b"1")), ("d/b", Some(b"2"))], &me, "one", 1).unwrap();
        let c2 = repo.commit(Some(c1), &[("d/b", None), ("c", Some(b"3"))], &me, "two", 2).unwrap();
        let files = repo.files(&c2).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["a", "c"]);
        assert_eq!(repo.commits_from(&[c2], 10), vec![c2, c1]);
        assert!(repo.commit(Some(c2), &[("../x", Some(b""))], &me, "bad", 3).is_err());
    }

    #[test]
    fn malformed_objects_are_errors() {
        assert!(parse_tree(b"100644 a").is_err());
        assert!(parse_commit(b"parent zz\n").is_err());
    }
}
