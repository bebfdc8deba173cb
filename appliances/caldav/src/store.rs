//! The store in git: [`Snapshot`] reads one commit of the in-memory repository
//! for the core, and [`Git`] commits a request's changes and pushes them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;
use std::rc::Rc;

use caldav_core::{Change, Entry, Store};
use gitstore::{Authenticator, Client, Kind, ObjectId, Remote, Repo, Signature, TreeEntry};
use platform::stack::Stack;
use platform::time::{self, Duration};

/// How long one fetch or push may take before it counts as failed.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// One commit's tree, read through the [`Store`] trait. ETags are blob ids and
/// CTags tree ids, so both change exactly when the content does.
///
/// Trees are parsed once per snapshot and indexed by name: a REPORT over a
/// calendar of N objects reads N files of one tree, which must not parse that
/// tree N times.
pub struct Snapshot<'r> {
    repo: &'r Repo,
    root: Option<ObjectId>,
    trees: RefCell<HashMap<ObjectId, Rc<Tree>>>,
}

/// A parsed tree: entries in git's order, and an index by name.
struct Tree {
    entries: Vec<TreeEntry>,
    by_name: HashMap<String, usize>,
}

impl<'r> Snapshot<'r> {
    /// The head commit's tree (an empty store before the first commit).
    pub fn of_head(repo: &'r Repo) -> Snapshot<'r> {
        let root = repo.head().and_then(|h| repo.commit_info(&h).ok()).map(|c| c.tree);
        Snapshot { repo, root, trees: RefCell::default() }
    }

    fn tree(&self, id: &ObjectId) -> Option<Rc<Tree>> {
        if let Some(t) = self.trees.borrow().get(id) {
            return Some(t.clone());
        }
        let entries = self.repo.tree(id).ok()?;
        let by_name = entries.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        let tree = Rc::new(Tree { entries, by_name });
        self.trees.borrow_mut().insert(*id, tree.clone());
        Some(tree)
    }

    /// The id and kind (tree or not) of a path below the tree `root`; `""` is `root`.
    fn lookup_in(&self, root: ObjectId, path: &str) -> Option<(ObjectId, bool)> {
        let mut id = root;
        if path.is_empty() {
            return Some((id, true));
        }
        let mut is_tree = true;
        for part in path.split('/') {
            if !is_tree {
                return None;
            }
            let tree = self.tree(&id)?;
            let entry = &tree.entries[*tree.by_name.get(part)?];
            is_tree = entry.is_tree();
            id = entry.id;
        }
        Some((id, is_tree))
    }

    fn lookup(&self, path: &str) -> Option<(ObjectId, bool)> {
        self.lookup_in(self.root?, path)
    }

    fn entries(&self, tree: &ObjectId) -> Option<Vec<Entry>> {
        let tree = self.tree(tree)?;
        Some(
            tree.entries
                .iter()
                .map(|e| Entry { etag: (!e.is_tree()).then(|| e.id.to_hex()), name: e.name.clone() })
                .collect(),
        )
    }
}

impl Store for Snapshot<'_> {
    fn read(&self, path: &str) -> Option<(&[u8], String)> {
        match self.lookup(path)? {
            (id, false) => Some((self.repo.get(&id)?.data.as_slice(), id.to_hex())),
            (_, true) => None,
        }
    }

    fn list(&self, dir: &str) -> Option<Vec<Entry>> {
        let (id, true) = self.lookup(dir)? else { return None };
        self.entries(&id)
    }

    fn dir_tag(&self, dir: &str) -> Option<String> {
        match self.lookup(dir)? {
            (id, true) => Some(id.to_hex()),
            (_, false) => None,
        }
    }

    fn etag_for(&self, data: &[u8]) -> String {
        ObjectId::hash(Kind::Blob, data).to_hex()
    }

    /// The head commit: tokens name commits, so they survive restarts as long
    /// as the commit is in the repository we fetched (a shallow first fetch
    /// holds only the tip; older tokens are then answered `valid-sync-token`
    /// and the client syncs afresh).
    fn version(&self) -> Option<String> {
        self.repo.head().map(|h| h.to_hex())
    }

    fn list_at(&self, version: &str, dir: &str) -> Option<Option<Vec<Entry>>> {
        let commit = ObjectId::from_hex(version)?;
        let root = self.repo.commit_info(&commit).ok()?.tree;
        self.repo.get(&root)?;
        Some(match self.lookup_in(root, dir) {
            Some((id, true)) => self.entries(&id),
            _ => None,
        })
    }
}

/// Why a change did not reach the remote.
#[derive(Debug)]
pub enum PushError {
    /// Someone else pushed first: fetch and replay.
    Rejected(String),
    Failed(String),
}

/// The git side: client, remote and the in-memory repository.
pub struct Git {
    client: Client,
    remote: Remote,
    pub repo: RefCell<Repo>,
}

impl Git {
    pub fn new(stack: &Stack, url: &str, tls_authenticator: Option<&str>) -> Result<Git, Box<dyn Error>> {
        let remote = Remote::parse(url).map_err(|e| format!("--remote: {e}"))?;
        let mut client = Client::new(stack.clone());
        if let Some(auth) = tls_authenticator {
            let auth = Authenticator::parse(auth).map_err(|e| format!("--tls-authenticator: {e}"))?;
            client = client.with_authenticator(&auth)?;
        }
        Ok(Git { client: client.with_system_resolver(), remote, repo: RefCell::default() })
    }

    /// Fetches the branch (an absent branch is an empty store: the first push
    /// creates it). Returns whether the head moved. On error the repository is
    /// as it was.
    pub async fn fetch(&self) -> Result<bool, Box<dyn Error>> {
        let mut repo = self.repo.take();
        let result = time::timeout(GIT_TIMEOUT, self.client.fetch(&self.remote, &mut repo)).await;
        *self.repo.borrow_mut() = repo;
        match result {
            Ok(Ok(f)) => Ok(f.changed),
            Ok(Err(gitstore::Error::RefNotFound { .. })) => Ok(false),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err("git fetch timed out".into()),
        }
    }

    /// Commits `changes` on the head and pushes; on failure the head is left
    /// where it was.
    pub async fn commit_and_push(
        &self,
        changes: &[Change],
        author: &str,
        message: &str,
        time_unix: i64,
    ) -> Result<ObjectId, PushError> {
        let mut repo = self.repo.take();
        let parent = repo.head();
        let me = Signature { name: author.to_string(), email: format!("{author}@caldav") };
        let list: Vec<(&str, Option<&[u8]>)> =
            changes.iter().map(|c| (c.path.as_str(), c.content.as_deref())).collect();
        let result = match repo.commit(parent, &list, &me, message, time_unix) {
            Ok(new) => match time::timeout(GIT_TIMEOUT, self.client.push(&self.remote, &mut repo, parent, new)).await {
                Ok(Ok(())) => Ok(new),
                Ok(Err(gitstore::Error::PushRejected { reason })) => Err(PushError::Rejected(reason)),
                Ok(Err(e)) => Err(PushError::Failed(e.to_string())),
                Err(_) => Err(PushError::Failed("git push timed out".into())),
            },
            Err(e) => Err(PushError::Failed(e.to_string())),
        };
        if result.is_err() {
            repo.set_head(parent);
        }
        *self.repo.borrow_mut() = repo;
        result
    }
}
