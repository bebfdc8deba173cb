//! Zones from git: loading the repository's files, swapping in new versions,
//! committing updates.
//!
//! Repository layout (as MirageOS's dns-primary-git): one master file per zone at
//! the root, named after the zone (`example.org`), and `_keys` / `<zone>._keys`
//! files with the TSIG keys. Files in sub-directories and names starting with `.`
//! are ignored.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::error::Error;
use std::rc::Rc;
use std::sync::Arc;

use dns_core::keys::KeyStore;
use dns_core::update::Pending;
use dns_core::zone::{Zone, Zones};
use gitstore::{Authenticator, Client, ObjectId, Remote, Repo, Signature};
use platform::entropy::Entropy;
use platform::stack::Stack;
use platform::time::{self, Duration};

use crate::{Config, Shared, now};

/// How long one fetch or push may take before it counts as failed.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The files at the repository root: name → blob id.
pub type Files = BTreeMap<String, ObjectId>;

/// The git side: client, remote and the in-memory repository, plus the blob ids the
/// served zones were parsed from (to re-parse only changed files without keeping a
/// second copy of a large zone's text).
pub struct GitSync {
    client: Client,
    remote: Remote,
    repo: RefCell<Repo>,
    files: RefCell<Files>,
}

impl GitSync {
    pub fn new(stack: &Stack, cfg: &Config, entropy: Rc<dyn Entropy>) -> Result<GitSync, Box<dyn Error>> {
        let url = cfg.remote.as_deref().unwrap_or_default();
        let remote = Remote::parse(url).map_err(|e| format!("--remote: {e}"))?;
        let mut client = Client::new(stack.clone());
        if let Some(auth) = &cfg.tls_authenticator {
            let auth = Authenticator::parse(auth).map_err(|e| format!("--tls-authenticator: {e}"))?;
            client = client.with_authenticator(&auth)?;
        }
        let client = if cfg.dns_servers.is_empty() {
            client.with_system_resolver()
        } else {
            // One behaviour on every target: the servers we were given, never the host's.
            client.with_resolver(Rc::new(dnsstub::Resolver::new(stack.clone(), cfg.dns_servers.clone(), entropy)))
        };
        Ok(GitSync { client, remote, repo: RefCell::default(), files: RefCell::default() })
    }
}

/// Whether a repository path is a zone or keys file we read.
fn served_file(path: &str) -> bool {
    !path.contains('/') && !path.starts_with('.')
}

/// The files at the root of `commit`'s tree (sub-directories are not read).
fn root_files(repo: &Repo, commit: &ObjectId) -> Result<Files, gitstore::Error> {
    let tree = repo.commit_info(commit)?.tree;
    Ok(repo.tree(&tree)?.into_iter().filter(|e| !e.is_tree() && served_file(&e.name)).map(|e| (e.name, e.id)).collect())
}

/// The bytes of a blob (empty if missing: then the file fails to parse, logged).
fn blob<'r>(repo: &'r Repo, id: &ObjectId) -> &'r [u8] {
    repo.get(id).map_or(&[][..], |o| o.data.as_slice())
}

/// Parses the keys files; a broken one is logged and skipped.
fn parse_keys(repo: &Repo, files: &Files) -> KeyStore {
    let mut keys = KeyStore::new();
    for (name, id) in files.iter().filter(|(n, _)| KeyStore::is_keys_file(n)) {
        match KeyStore::parse(name, &String::from_utf8_lossy(blob(repo, id))) {
            Ok(k) => keys.merge(k),
            Err(e) => log::error!("keys file {name}: not loaded: {e}"),
        }
    }
    keys
}

/// Parses one zone file; the error names file:line:reason.
fn parse_zone(name: &str, bytes: &[u8]) -> Option<Zone> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            log::error!("zone file {name}: not loaded: not UTF-8 text ({e})");
            return None;
        }
    };
    match Zone::parse(name, text) {
        Ok(z) => Some(z),
        Err(e) => {
            log::error!("zone file {e}: not loaded");
            None
        }
    }
}

/// Makes the server serve `files`: unchanged files keep their zone, changed ones are
/// re-parsed (a broken new version keeps the old one served), removed ones go. Every
/// replaced zone is recorded for IXFR and announced to secondaries.
pub fn install(shared: &Shared, repo: &Repo, files: &Files, old_files: &Files) {
    let keys = Arc::new(parse_keys(repo, files));
    let mut changed: Vec<Arc<Zone>> = Vec::new();
    let mut zones = Zones::new();
    {
        let mut server = shared.server.borrow_mut();
        for (name, id) in files.iter().filter(|(n, _)| !KeyStore::is_keys_file(n)) {
            let old = server.zones.iter().find(|z| file_name(z) == *name).cloned();
            if let Some(old) = &old
                && old_files.get(name) == Some(id)
            {
                zones.replace(old.clone());
                continue;
            }
            let Some(new) = parse_zone(name, blob(repo, id)) else {
                keep_old(&mut zones, old);
                continue;
            };
            let new = Arc::new(new);
            if let Some(old) = &old {
                if old.serial() == new.serial() && **old != *new {
                    log::warn!("zone {}: content changed but the serial {} did not", new.origin(), new.serial());
                }
                server.history.record(old, &new);
            }
            changed.push(new.clone());
            zones.replace(new);
        }
        server.zones = zones;
        server.keys = keys;
    }
    for z in &changed {
        log::info!("zone {}: serial {} loaded", z.origin(), z.serial());
        shared.zone_changed(z);
    }
}

/// A new version that failed to parse: the old one (if any) stays served.
fn keep_old(zones: &mut Zones, old: Option<Arc<Zone>>) {
    if let Some(old) = old {
        log::warn!("zone {}: keeping serial {} served", old.origin(), old.serial());
        zones.replace(old);
    }
}

/// The repository file of a zone: its origin without the final dot.
fn file_name(z: &Zone) -> String {
    let s = z.origin().to_ascii();
    s.strip_suffix('.').unwrap_or(&s).to_string()
}

/// Fetches and installs what changed. The caller holds the gate.
pub async fn fetch_and_install(shared: &Shared) -> Result<(), Box<dyn Error>> {
    let Some(git) = &shared.git else { return Ok(()) };
    // Into the repository we hold, so that the fetch is incremental (the first
    // one is shallow). gitstore stores nothing until the whole answer checks
    // out, so a failed or timed-out fetch leaves the repository we push from
    // as it was.
    let mut repo = git.repo.take();
    let previous = repo.head();
    let result = time::timeout(GIT_TIMEOUT, git.client.fetch(&git.remote, &mut repo)).await;
    *git.repo.borrow_mut() = repo;
    let fetched = match result {
        Ok(r) => r?,
        Err(_) => return Err("git fetch timed out".into()),
    };
    let files = root_files(&git.repo.borrow(), &fetched.tip)?;
    if previous == Some(fetched.tip) {
        return Ok(());
    }
    log::info!("git: fetched {} ({} objects)", fetched.tip, fetched.objects);
    let old = git.files.replace(files.clone());
    install(shared, &git.repo.borrow(), &files, &old);
    Ok(())
}

pub async fn initial_load(shared: &Shared, cfg: &Config) -> Result<(), Box<dyn Error>> {
    let _gate = shared.gate.lock().await;
    let remote = cfg.remote.as_deref().unwrap_or_default();
    fetch_and_install(shared).await.map_err(|e| -> Box<dyn Error> { format!("fetching {remote}: {e}").into() })
}

/// Fetches on NOTIFY (or a failed push) and every `refresh_secs` (0: never by timer).
pub async fn refresh_task(shared: Rc<Shared>, refresh_secs: u64) {
    loop {
        if refresh_secs == 0 {
            shared.refetch.wait().await;
        } else {
            let _ = time::timeout(Duration::from_secs(refresh_secs), shared.refetch.wait()).await;
        }
        let _gate = shared.gate.lock().await;
        if let Err(e) = fetch_and_install(&shared).await {
            log::error!("git: {e}; still serving the zones we have");
        }
    }
}

/// Commits and pushes a prepared UPDATE, then answers it (see the module doc of the
/// crate). Returns the reply bytes.
pub async fn apply_update(shared: &Shared, pending: Pending) -> Vec<u8> {
    let _gate = shared.gate.lock().await;
    let current = shared.server.borrow().zones.get(pending.zone.origin()).map(|z| z.serial());
    let Some(git) = &shared.git else {
        return shared.server.borrow_mut().finish_update(pending, false);
    };
    if current != Some(pending.old_serial) {
        log::warn!("update of {}: the zone changed meanwhile; refused", pending.zone.origin());
        return shared.server.borrow_mut().finish_update(pending, false);
    }
    let pushed = commit_and_push(git, &pending).await;
    if let Err(e) = &pushed {
        log::error!("update of {} by {}: {e}; answered SERVFAIL", pending.zone.origin(), pending.author);
        // The branch may have moved on the server: catch up.
        shared.refetch.raise();
    }
    let origin = pending.zone.origin().clone();
    let reply = shared.server.borrow_mut().finish_update(pending, pushed.is_ok());
    if pushed.is_ok() {
        // The pushed commit's files, so the next fetch re-parses only what others changed.
        let head = git.repo.borrow().head();
        if let Some(files) = head.and_then(|h| root_files(&git.repo.borrow(), &h).ok()) {
            *git.files.borrow_mut() = files;
        }
        let zone = shared.server.borrow().zones.get(&origin).cloned();
        if let Some(z) = zone {
            log::info!("zone {origin}: serial {} committed and pushed", z.serial());
            shared.zone_changed(&z);
        }
    }
    reply
}

async fn commit_and_push(git: &GitSync, p: &Pending) -> Result<(), Box<dyn Error>> {
    let mut repo = git.repo.take();
    let parent = repo.head();
    let me = Signature { name: p.author.clone(), email: format!("{}@dns", p.author.trim_end_matches('.')) };
    let time = i64::try_from(now().wall.as_secs()).unwrap_or(0);
    let change = [(p.file_name.as_str(), Some(p.master_file.as_bytes()))];
    let result = match repo.commit(parent, &change, &me, &p.message, time) {
        Ok(new) => match time::timeout(GIT_TIMEOUT, git.client.push(&git.remote, &mut repo, parent, new)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err("git push timed out".into()),
        },
        Err(e) => Err(e.into()),
    };
    if result.is_err() {
        repo.set_head(parent);
    }
    *git.repo.borrow_mut() = repo;
    result
}
