//! A git server for tests (feature `serve`): git:// (`git-upload-pack` and
//! `git-receive-pack`, protocol v0) over the platform stack, serving
//! in-memory repositories built with this crate's own pkt-line, pack and
//! object code. It lets a test run a git remote on a simulated host.
//!
//! * [`Hosted`] is one repository: a [`Repo`] (objects) plus its refs;
//!   clones share it, so a test keeps a handle and sees pushes land.
//! * [`GitServer`] maps request paths (`/zones.git`) to [`Hosted`]
//!   repositories; [`GitServer::serve`] accepts connections on a listener
//!   and answers each in its own task.
//!
//! What it speaks (gitprotocol-pack(5)): the ref advertisement with
//! capabilities; upload-pack without multi_ack (one `ACK` for the first
//! common `have`, `NAK` otherwise), the pack through side-band-64k or
//! side-band when the client asks, else raw; receive-pack with
//! `report-status` and `delete-refs`, where a command whose old id is not
//! the ref's current id is refused (`ng`): a compare-and-swap, so two
//! writers never overwrite each other. With [`GitServer::with_shallow`],
//! upload-pack also offers `shallow`: `deepen <n>` (not `deepen-since` or
//! `deepen-not`) and the client's `shallow` lines, whose parents neither the
//! pack nor the have walk goes past. Protocol v2 is not spoken.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::io;
use std::rc::Rc;

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use platform::stack::TcpListener;
use platform::time::{self, Duration};
use sha1::{Digest, Sha1};

use crate::object::{Kind, ObjectId, Repo, Signature};
use crate::pktline::{self, Pkt};
use crate::{AGENT, Error};

/// A conversation that takes longer than this is abandoned (a client that
/// vanished must not hold a task forever).
const CONVERSATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest pack we accept in a push.
const MAX_PUSH_PACK: usize = 64 << 20;

/// Side-band payload sizes: a pkt-line of at most 65520 (side-band-64k) or
/// 1000 (side-band) bytes, less 4 of length and 1 of channel.
const SIDEBAND_64K_CHUNK: usize = 65515;
const SIDEBAND_CHUNK: usize = 995;

#[derive(Debug, Default)]
struct State {
    repo: Repo,
    /// Full ref names (`refs/heads/main`) to their tips.
    refs: BTreeMap<String, ObjectId>,
}

/// One served repository: objects and refs. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct Hosted {
    state: Rc<RefCell<State>>,
}

impl Hosted {
    pub fn new() -> Hosted {
        Hosted::default()
    }

    /// The tip of `refs/heads/<branch>`.
    pub fn branch(&self, branch: &str) -> Option<ObjectId> {
        self.state.borrow().refs.get(&format!("refs/heads/{branch}")).copied()
    }

    /// Points `refs/heads/<branch>` at `id` (None: deletes it).
    pub fn set_branch(&self, branch: &str, id: Option<ObjectId>) {
        let name = format!("refs/heads/{branch}");
        let mut st = self.state.borrow_mut();
        match id {
            Some(id) => st.refs.insert(name, id),
            None => st.refs.remove(&name),
        };
    }

    /// Commits `changes` on top of the branch's tip (or as a root commit)
    /// and moves the branch: what a `git commit && git push` by someone else
    /// looks like to the clients.
    pub fn commit(
        &self,
        branch: &str,
        changes: &[(&str, Option<&[u8]>)],
        author: &Signature,
        message: &str,
        time_unix: i64,
    ) -> Result<ObjectId, Error> {
        let parent = self.branch(branch);
        let id = self.state.borrow_mut().repo.commit(parent, changes, author, message, time_unix)?;
        self.set_branch(branch, Some(id));
        Ok(id)
    }

    /// Runs `f` on the object store (to read commits and files).
    pub fn with_repo<R>(&self, f: impl FnOnce(&Repo) -> R) -> R {
        f(&self.state.borrow().repo)
    }

    fn refs(&self) -> Vec<(String, ObjectId)> {
        self.state.borrow().refs.iter().map(|(n, id)| (n.clone(), *id)).collect()
    }
}

/// Repositories by request path, served over git://.
#[derive(Clone, Debug, Default)]
pub struct GitServer {
    repos: Rc<RefCell<BTreeMap<String, Hosted>>>,
    /// Whether upload-pack offers `shallow` (off by default: a server
    /// without it, as clients must also cope with).
    shallow: bool,
}

impl GitServer {
    pub fn new() -> GitServer {
        GitServer::default()
    }

    /// Offers shallow fetches: `deepen <n>` and the client's `shallow` lines.
    pub fn with_shallow(mut self) -> GitServer {
        self.shallow = true;
        self
    }

    /// Serves `repo` at `path` (as in the URL: `/zones.git`).
    pub fn add(&self, path: &str, repo: Hosted) {
        self.repos.borrow_mut().insert(path.to_string(), repo);
    }

    /// Accepts connections forever, each answered in a task of its own (a
    /// slow client does not hold up the others). Errors of one conversation
    /// are logged, not returned.
    pub async fn serve(&self, mut listener: TcpListener) -> io::Result<()> {
        loop {
            let (stream, peer) = listener.accept().await?;
            stream.set_nodelay(true);
            let server = self.clone();
            platform::rt::spawn(async move {
                match time::timeout(CONVERSATION_TIMEOUT, server.handle(stream)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => log::warn!("git server: {peer}: {e}"),
                    Err(_) => log::warn!("git server: {peer}: timed out"),
                }
            });
        }
    }

    /// Answers one git:// conversation on `io`, then closes it.
    pub async fn handle<S: AsyncRead + AsyncWrite + Unpin>(&self, mut io: S) -> Result<(), Error> {
        let result = self.converse(&mut io).await;
        if let Err(Error::Protocol(reason) | Error::Remote(reason)) = &result {
            // Tell the client why (it shows "the server reported: …").
            let mut out = Vec::new();
            pktline::encode(&mut out, format!("ERR {reason}\n").as_bytes());
            let _ = io.write_all(&out).await;
        }
        let _ = io.flush().await;
        let _ = io.close().await;
        result
    }

    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(&self, io: &mut S) -> Result<(), Error> {
        // git-daemon's request: "<service> <path>\0host=<host>\0[\0extra\0…]".
        let request = match pktline::read(io).await? {
            Pkt::Data(d) => d,
            other => return Err(Error::Protocol(format!("expected a git:// request, got {other:?}"))),
        };
        let first = request.split(|&b| b == 0).next().unwrap_or_default();
        let first = String::from_utf8_lossy(first);
        let (service, path) = first
            .trim_end_matches('\n')
            .split_once(' ')
            .ok_or_else(|| Error::Protocol("malformed git:// request".into()))?;
        let hosted =
            self.repos.borrow().get(path).cloned().ok_or_else(|| Error::Remote(format!("no repository at {path}")))?;
        match service {
            "git-upload-pack" => upload_pack(io, &hosted, self.shallow).await,
            "git-receive-pack" => receive_pack(io, &hosted).await,
            other => Err(Error::Remote(format!("service {other:?} is not offered"))),
        }
    }
}

/// The ref advertisement: `HEAD` first when `refs/heads/main` exists (with
/// the symref capability), capabilities after a NUL on the first line; an
/// empty repository advertises `capabilities^{}` with the zero id.
fn advertisement(refs: &[(String, ObjectId)], caps: &str) -> Vec<u8> {
    let mut lines: Vec<(String, ObjectId)> = Vec::new();
    let mut caps = format!("{caps} agent={AGENT}");
    if let Some((_, id)) = refs.iter().find(|(n, _)| n == "refs/heads/main") {
        lines.push(("HEAD".into(), *id));
        caps = format!("{caps} symref=HEAD:refs/heads/main");
    }
    lines.extend(refs.iter().cloned());
    if lines.is_empty() {
        lines.push(("capabilities^{}".into(), ObjectId::ZERO));
    }
    let mut out = Vec::new();
    for (i, (name, id)) in lines.iter().enumerate() {
        let line = if i == 0 { format!("{id} {name}\0{caps}\n") } else { format!("{id} {name}\n") };
        pktline::encode(&mut out, line.as_bytes());
    }
    pktline::flush(&mut out);
    out
}

/// `<word> <40 hex>[ rest]` → the id and the rest.
fn id_after<'a>(line: &'a str, word: &str) -> Option<(ObjectId, &'a str)> {
    let rest = line.strip_prefix(word)?.strip_prefix(' ')?;
    let (hex, tail) = rest.split_at_checked(40)?;
    Some((ObjectId::from_hex(hex)?, tail.trim_start()))
}

async fn write<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) -> Result<(), Error> {
    io.write_all(bytes).await.map_err(Error::Io)?;
    io.flush().await.map_err(Error::Io)
}

async fn upload_pack<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    hosted: &Hosted,
    offer_shallow: bool,
) -> Result<(), Error> {
    let refs = hosted.refs();
    let caps = if offer_shallow {
        "side-band-64k side-band no-progress shallow"
    } else {
        "side-band-64k side-band no-progress"
    };
    write(io, &advertisement(&refs, caps)).await?;

    // Wants, the first with the client's capabilities, then the client's
    // shallow commits and a depth, up to a flush. A flush at once: the
    // client wants nothing (it is up to date).
    let mut wants = Vec::new();
    let mut caps: Vec<String> = Vec::new();
    let mut client_shallow: BTreeSet<ObjectId> = BTreeSet::new();
    let mut depth: Option<usize> = None;
    loop {
        let line = match pktline::read(io).await? {
            Pkt::Flush => break,
            Pkt::Delim => return Err(Error::Protocol("unexpected delimiter in wants".into())),
            Pkt::Data(d) => pktline::text(&d)?,
        };
        if line.starts_with("shallow ") || line.starts_with("deepen") {
            if !offer_shallow {
                return Err(Error::Remote("shallow clones are not supported".into()));
            }
            if let Some((id, _)) = id_after(&line, "shallow") {
                client_shallow.insert(id);
            } else if let Some(n) = line.strip_prefix("deepen ") {
                let n = n.parse().ok().filter(|&n| n > 0);
                depth = Some(n.ok_or_else(|| Error::Protocol(format!("bad depth in {line:?}")))?);
            } else {
                return Err(Error::Remote(format!("{line:?} is not supported (only deepen <n>)")));
            }
            continue;
        }
        let (id, rest) =
            id_after(&line, "want").ok_or_else(|| Error::Protocol(format!("expected a want line, got {line:?}")))?;
        if wants.is_empty() {
            caps = rest.split(' ').filter(|c| !c.is_empty()).map(String::from).collect();
        }
        // Only advertised tips may be asked for (git's default,
        // uploadpack.allowAnySHA1InWant off).
        if !refs.iter().any(|(_, r)| *r == id) {
            return Err(Error::Remote(format!("upload-pack: not our ref {id}")));
        }
        wants.push(id);
    }
    if wants.is_empty() {
        return Ok(());
    }

    // The shallow-update (gitprotocol-pack(5) "Shallow Update"), only after a
    // deepen: the commits at the depth whose parents the client will lack,
    // and which of its shallow commits it will now get the parents of.
    let mut cut = client_shallow.clone();
    if let Some(depth) = depth {
        let (boundary, unshallow) = hosted.with_repo(|r| shallow_boundary(r, &wants, depth, &client_shallow));
        let mut out = Vec::new();
        for id in boundary.difference(&client_shallow) {
            pktline::encode(&mut out, format!("shallow {id}\n").as_bytes());
        }
        for id in &unshallow {
            pktline::encode(&mut out, format!("unshallow {id}\n").as_bytes());
            cut.remove(id);
        }
        pktline::flush(&mut out);
        write(io, &out).await?;
        cut.extend(boundary);
    }

    // Haves until "done". Without multi_ack: ACK the first common object at
    // once, NAK at each flush while none is common, and after "done" a NAK
    // only if none was (upload-pack.c get_common_commits).
    let mut common: Vec<ObjectId> = Vec::new();
    loop {
        match pktline::read(io).await? {
            Pkt::Flush => {
                if common.is_empty() {
                    write(io, &pkt(b"NAK\n")).await?;
                }
            }
            Pkt::Delim => return Err(Error::Protocol("unexpected delimiter in haves".into())),
            Pkt::Data(d) => {
                let line = pktline::text(&d)?;
                if line == "done" {
                    if common.is_empty() {
                        write(io, &pkt(b"NAK\n")).await?;
                    }
                    break;
                }
                let (id, _) = id_after(&line, "have")
                    .ok_or_else(|| Error::Protocol(format!("expected a have line, got {line:?}")))?;
                if hosted.with_repo(|r| r.contains(&id)) {
                    if common.is_empty() {
                        write(io, &pkt(format!("ACK {id}\n").as_bytes())).await?;
                    }
                    common.push(id);
                }
            }
        }
    }

    // Everything the wants reach that the common commits don't, neither
    // walk going past the shallow commits (the client has no parents there).
    let pack = hosted.with_repo(|repo| {
        let mut ids: HashSet<ObjectId> = HashSet::new();
        for w in &wants {
            ids.extend(repo.missing_between_cut(&common, w, &cut));
        }
        let mut ids: Vec<ObjectId> = ids.into_iter().collect();
        ids.sort(); // the same pack every time: runs stay deterministic
        crate::pack::write_pack(repo, &ids)
    })?;
    let chunk = if caps.iter().any(|c| c == "side-band-64k") {
        Some(SIDEBAND_64K_CHUNK)
    } else if caps.iter().any(|c| c == "side-band") {
        Some(SIDEBAND_CHUNK)
    } else {
        None
    };
    match chunk {
        None => write(io, &pack).await,
        Some(size) => {
            let mut out = Vec::with_capacity(pack.len() + pack.len() / size * 5 + 9);
            for part in pack.chunks(size) {
                let mut payload = Vec::with_capacity(part.len() + 1);
                payload.push(1); // channel 1: pack data
                payload.extend_from_slice(part);
                pktline::encode(&mut out, &payload);
            }
            pktline::flush(&mut out);
            write(io, &out).await
        }
    }
}

/// For `deepen <depth>` from `wants` (at depth 1): the commits at `depth`
/// that have parents (the client's new shallow commits), and the client's
/// shallow commits found above `depth` (their parents now come too).
fn shallow_boundary(
    repo: &Repo,
    wants: &[ObjectId],
    depth: usize,
    client_shallow: &BTreeSet<ObjectId>,
) -> (BTreeSet<ObjectId>, BTreeSet<ObjectId>) {
    let (mut boundary, mut unshallow) = (BTreeSet::new(), BTreeSet::new());
    let mut seen = HashSet::new();
    // Breadth first, so each commit is met at its least depth.
    let mut todo: VecDeque<(ObjectId, usize)> = wants.iter().map(|w| (*w, 1)).collect();
    while let Some((id, d)) = todo.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        let Ok(info) = repo.commit_info(&id) else { continue };
        if d >= depth {
            if !info.parents.is_empty() {
                boundary.insert(id);
            }
        } else {
            if client_shallow.contains(&id) {
                unshallow.insert(id);
            }
            todo.extend(info.parents.into_iter().map(|p| (p, d + 1)));
        }
    }
    (boundary, unshallow)
}

fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    pktline::encode(&mut out, payload);
    out
}

/// One ref update a client asked for.
struct Command {
    old: ObjectId,
    new: ObjectId,
    name: String,
}

async fn receive_pack<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, hosted: &Hosted) -> Result<(), Error> {
    write(io, &advertisement(&hosted.refs(), "report-status delete-refs ofs-delta")).await?;

    let mut commands = Vec::new();
    let mut report_status = false;
    loop {
        let data = match pktline::read(io).await? {
            Pkt::Flush => break,
            Pkt::Delim => return Err(Error::Protocol("unexpected delimiter in commands".into())),
            Pkt::Data(d) => d,
        };
        let (line, caps) = match data.iter().position(|&b| b == 0) {
            Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
            None => (&data[..], None),
        };
        if let Some(caps) = caps {
            report_status = pktline::text(caps)?.split(' ').any(|c| c == "report-status");
        }
        let line = pktline::text(line)?;
        let bad = || Error::Protocol(format!("bad command {line:?}"));
        let mut words = line.split(' ');
        let (Some(old), Some(new), Some(name), None) = (words.next(), words.next(), words.next(), words.next()) else {
            return Err(bad());
        };
        let old = ObjectId::from_hex(old).ok_or_else(bad)?;
        let new = ObjectId::from_hex(new).ok_or_else(bad)?;
        if !name.starts_with("refs/") || name.contains("..") {
            return Err(bad());
        }
        commands.push(Command { old, new, name: name.to_string() });
    }
    if commands.is_empty() {
        return Ok(()); // nothing to update: the client ended politely
    }

    // A pack follows unless every command deletes.
    let unpack = if commands.iter().all(|c| c.new.is_zero()) {
        Ok(())
    } else {
        let pack = read_pack_stream(io).await?;
        crate::pack::read_pack(&pack, &mut hosted.state.borrow_mut().repo).map(|_| ())
    };
    let mut report = Vec::new();
    match &unpack {
        Ok(()) => pktline::encode(&mut report, b"unpack ok\n"),
        Err(e) => pktline::encode(&mut report, format!("unpack {}\n", one_line(&e.to_string())).as_bytes()),
    }
    for c in &commands {
        let status = match &unpack {
            Ok(()) => update_ref(hosted, c).map_err(|why| one_line(&why)),
            Err(_) => Err("unpacker error".into()),
        };
        match status {
            Ok(()) => pktline::encode(&mut report, format!("ok {}\n", c.name).as_bytes()),
            Err(why) => pktline::encode(&mut report, format!("ng {} {why}\n", c.name).as_bytes()),
        }
    }
    pktline::flush(&mut report);
    if report_status {
        write(io, &report).await?;
    }
    Ok(())
}

/// Applies one command: the ref must still be at the client's old id, and
/// a new tip must be a commit whose whole tree we hold.
fn update_ref(hosted: &Hosted, c: &Command) -> Result<(), String> {
    let mut st = hosted.state.borrow_mut();
    let current = st.refs.get(&c.name).copied().unwrap_or(ObjectId::ZERO);
    if current != c.old {
        return Err(format!("stale old id: the ref is at {current}, not {} (fetch first)", c.old));
    }
    if c.new.is_zero() {
        st.refs.remove(&c.name);
        return Ok(());
    }
    if c.name.starts_with("refs/heads/") {
        if st.repo.get(&c.new).map(|o| o.kind) != Some(Kind::Commit) {
            return Err(format!("missing necessary objects: {} is not a commit we hold", c.new));
        }
        st.repo.files(&c.new).map_err(|e| format!("missing necessary objects: {e}"))?;
    } else if !st.repo.contains(&c.new) {
        return Err(format!("missing necessary objects: {}", c.new));
    }
    st.refs.insert(c.name.clone(), c.new);
    Ok(())
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Reads a pack that arrives after the commands. Its end is where the
/// trailing SHA-1 matches everything before it (the client keeps the
/// connection open for the report, so end of stream cannot mark it); a
/// running hash keeps the check linear in the pack's size.
async fn read_pack_stream<S: AsyncRead + Unpin>(io: &mut S) -> Result<Vec<u8>, Error> {
    let mut pack = Vec::new();
    let mut hasher = Sha1::new();
    let mut hashed = 0; // bytes of `pack` fed to `hasher`
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = io.read(&mut buf).await.map_err(Error::Io)?;
        if n == 0 {
            return Err(Error::Protocol("connection closed in the middle of the pack".into()));
        }
        pack.extend_from_slice(&buf[..n]);
        if pack.len() > MAX_PUSH_PACK {
            return Err(Error::Remote(format!("pack larger than {MAX_PUSH_PACK} bytes")));
        }
        // Header (12) plus trailer (20) at least; the trailer is the last
        // 20 bytes, everything before it goes into the hash.
        if pack.len() < 32 {
            continue;
        }
        let body_end = pack.len() - 20;
        hasher.update(&pack[hashed..body_end]);
        hashed = body_end;
        let digest: [u8; 20] = hasher.clone().finalize().into();
        if digest[..] == pack[body_end..] {
            return Ok(pack);
        }
    }
}
