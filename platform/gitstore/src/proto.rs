//! The smart protocol, version 0/1 (gitprotocol-pack(5), gitprotocol-http(5)):
//! ref advertisement, upload-pack negotiation and pack, receive-pack
//! commands and status report.

use std::collections::BTreeSet;

use futures_io::AsyncRead;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use crate::object::{Kind, ObjectId, Repo};
use crate::pktline::{self, Pkt};
use crate::remote::{Remote, Scheme};
use crate::transport::{self, Io};
use crate::{AGENT, Client, Error, Fetched, http};

/// At most this many `have` lines: enough to find the common commit of a
/// zone repository that moved by a few hundred commits.
const MAX_HAVES: usize = 256;

/// A pack larger than this is refused instead of exhausting memory (the
/// HTTP client has the same bound on a whole response).
const MAX_PACK: usize = 1 << 30;

/// More shallow-update lines than this is a server flooding us: a `deepen 1`
/// of one want makes at most one commit shallow.
const MAX_SHALLOW_LINES: usize = 1024;

#[derive(Debug, Default)]
pub struct Advert {
    pub refs: Vec<(String, ObjectId)>,
    pub caps: Vec<String>,
}

impl Advert {
    fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    fn get(&self, name: &str) -> Option<ObjectId> {
        self.refs.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    fn branches(&self) -> String {
        let names: Vec<&str> = self.refs.iter().filter_map(|(n, _)| n.strip_prefix("refs/heads/")).collect();
        if names.is_empty() { "none".into() } else { names.join(", ") }
    }
}

/// Reads a ref advertisement up to its flush packet. Over HTTP it starts
/// with "# service=…" and a flush (gitprotocol-http(5) "Smart Clients").
async fn read_advert<R: AsyncRead + Unpin>(r: &mut R) -> Result<Advert, Error> {
    let mut advert = Advert::default();
    let mut first = true;
    loop {
        let data = match pktline::read(r).await? {
            Pkt::Flush if first => return Ok(advert), // empty repository, v0 without refs
            Pkt::Flush => return Ok(advert),
            Pkt::Delim => return Err(Error::Protocol("unexpected delimiter in ref advertisement".into())),
            Pkt::Data(d) => d,
        };
        let (line, caps) = match data.iter().position(|&b| b == 0) {
            Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
            None => (&data[..], None),
        };
        let line = pktline::text(line)?;
        if first && line.starts_with("# service=") {
            // The HTTP preamble; the advertisement follows its flush.
            if pktline::read(r).await? != Pkt::Flush {
                return Err(Error::Protocol("missing flush after service line".into()));
            }
            continue;
        }
        if first && line.starts_with("version 2") {
            return Err(Error::Protocol("server speaks only protocol v2".into()));
        }
        if let Some(caps) = caps {
            advert.caps = pktline::text(caps)?.split(' ').filter(|c| !c.is_empty()).map(String::from).collect();
        }
        first = false;
        let (hex, name) = line.split_once(' ').ok_or_else(|| Error::Protocol(format!("bad ref line {line:?}")))?;
        let id = ObjectId::from_hex(hex).ok_or_else(|| Error::Protocol(format!("bad object id {hex:?}")))?;
        if name != "capabilities^{}" {
            advert.refs.push((name.to_string(), id));
        }
    }
}

/// The upload-pack request (gitprotocol-pack(5) "Packfile Negotiation"):
/// the want with our capabilities, a `shallow` line for each commit whose
/// parents we lack, `deepen 1` for a first fetch that wants only the tip, a
/// flush, the haves and `done`. Everything goes in one write: we never wait
/// for the server mid-negotiation, which also suits stateless HTTP.
fn fetch_request(advert: &Advert, want: ObjectId, haves: &[ObjectId], shallow: &[ObjectId], deepen: bool) -> Vec<u8> {
    let mut caps: Vec<&str> =
        ["ofs-delta", "side-band-64k", "no-progress"].into_iter().filter(|c| advert.has(c)).collect();
    if deepen || !shallow.is_empty() {
        caps.push("shallow");
    }
    let mut req = Vec::new();
    pktline::encode(&mut req, format!("want {want} {} agent={AGENT}\n", caps.join(" ")).as_bytes());
    for s in shallow {
        pktline::encode(&mut req, format!("shallow {s}\n").as_bytes());
    }
    if deepen {
        pktline::encode(&mut req, b"deepen 1\n");
    }
    pktline::flush(&mut req);
    for h in haves {
        pktline::encode(&mut req, format!("have {h}\n").as_bytes());
    }
    pktline::encode(&mut req, b"done\n");
    req
}

/// What upload-pack answered.
#[derive(Debug, Default)]
struct FetchResponse {
    /// Commits the server made shallow for us (`shallow <oid>`).
    shallow: Vec<ObjectId>,
    /// Commits it says are no longer shallow (`unshallow <oid>`).
    unshallow: Vec<ObjectId>,
    pack: Vec<u8>,
}

fn line_id(line: &str, hex: &str) -> Result<ObjectId, Error> {
    ObjectId::from_hex(hex).ok_or_else(|| Error::Protocol(format!("bad object id in {line:?}")))
}

/// Checks one negotiation line: `NAK`, or `ACK <oid>` for one of our
/// `haves`, with `common`, `ready` or `continue` after it in the multi_ack
/// modes.
fn check_ack(line: &str, haves: &[ObjectId]) -> Result<(), Error> {
    if line == "NAK" {
        return Ok(());
    }
    let rest =
        line.strip_prefix("ACK ").ok_or_else(|| Error::Protocol(format!("expected ACK or NAK, got {line:?}")))?;
    let (hex, status) = rest.split_once(' ').unwrap_or((rest, ""));
    let id = line_id(line, hex)?;
    if !matches!(status, "" | "common" | "ready" | "continue") {
        return Err(Error::Protocol(format!("unknown ACK status in {line:?}")));
    }
    if !haves.contains(&id) {
        return Err(Error::Protocol(format!("the server acknowledged {id}, which we did not offer")));
    }
    Ok(())
}

/// Reads upload-pack's answer: after a `deepen`, the shallow-update (lines
/// `shallow`/`unshallow`, then a flush); then the negotiation lines; then
/// the pack, demultiplexed when side-band is on.
///
/// The negotiation lines end where the pack begins, not after a set count:
/// gitprotocol-pack(5) promises one ACK without multi_ack, but git's
/// upload-pack sends an `ACK` for each common `have` we sent. A side-band
/// pkt-line starts with its channel byte (1, 2 or 3, never a letter), and a
/// pack without side-band starts with the bytes "PACK" where a pkt-line
/// length would be.
async fn read_fetch_response<R: AsyncRead + Unpin>(
    r: &mut R,
    sideband: bool,
    deepened: bool,
    haves: &[ObjectId],
) -> Result<FetchResponse, Error> {
    let mut resp = FetchResponse::default();
    if deepened {
        loop {
            let line = match pktline::read(r).await? {
                Pkt::Flush => break,
                Pkt::Delim => return Err(Error::Protocol("unexpected delimiter in the shallow list".into())),
                Pkt::Data(d) => pktline::text(&d)?,
            };
            if resp.shallow.len() + resp.unshallow.len() >= MAX_SHALLOW_LINES {
                return Err(Error::Protocol("too many shallow lines".into()));
            }
            if let Some(hex) = line.strip_prefix("shallow ") {
                resp.shallow.push(line_id(&line, hex)?);
            } else if let Some(hex) = line.strip_prefix("unshallow ") {
                resp.unshallow.push(line_id(&line, hex)?);
            } else {
                return Err(Error::Protocol(format!("expected a shallow line, got {line:?}")));
            }
        }
    }
    // git sends at most an ACK per have and a final one; multi_ack_detailed
    // adds `ready`. More is a server flooding us.
    let max_acks = 2 * haves.len() + 2;
    let mut acks = 0;
    let first = loop {
        let head = pktline::read_head(r).await?;
        if !sideband && &head == b"PACK" {
            break head.to_vec();
        }
        let data = match pktline::read_after(r, head).await? {
            Pkt::Data(d) => d,
            other => return Err(Error::Protocol(format!("unexpected {other:?} before the pack"))),
        };
        if sideband && matches!(data.first(), Some(1..=3)) {
            break data;
        }
        check_ack(&pktline::text(&data)?, haves)?;
        acks += 1;
        if acks > max_acks {
            return Err(Error::Protocol("too many ACK lines".into()));
        }
    };
    if acks == 0 {
        return Err(Error::Protocol("the pack came without an ACK or NAK".into()));
    }
    if !sideband {
        resp.pack = first;
        let mut limited = futures_lite::io::AsyncReadExt::take(r, (MAX_PACK + 1) as u64);
        limited.read_to_end(&mut resp.pack).await.map_err(Error::Io)?;
        if resp.pack.len() > MAX_PACK {
            return Err(Error::Protocol("pack too large".into()));
        }
        return Ok(resp);
    }
    let mut next = Some(first);
    loop {
        let data = match next.take() {
            Some(d) => d,
            None => match pktline::read(r).await? {
                Pkt::Flush => return Ok(resp),
                Pkt::Delim => return Err(Error::Protocol("unexpected delimiter in pack stream".into())),
                Pkt::Data(d) => d,
            },
        };
        match data.first() {
            Some(1) if resp.pack.len() + data.len() > MAX_PACK + 1 => {
                return Err(Error::Protocol("pack too large".into()));
            }
            Some(1) => resp.pack.extend_from_slice(&data[1..]),
            Some(2) => {} // progress messages
            Some(3) => return Err(Error::Remote(String::from_utf8_lossy(&data[1..]).trim().to_string())),
            _ => return Err(Error::Protocol("bad side-band channel".into())),
        }
    }
}

/// Opens a git:// conversation with `service` and reads the advertisement.
async fn git_open(client: &Client, remote: &Remote, service: &str) -> Result<(Box<dyn Io>, Advert), Error> {
    let mut io = transport::connect(client, remote).await?;
    let mut req = Vec::new();
    // git-daemon's request: "<service> <path>\0host=<host>\0" (gitprotocol-pack(5)).
    pktline::encode(&mut req, format!("{service} {}\0host={}\0", remote.path, remote.host_header()).as_bytes());
    io.write_all(&req).await.map_err(Error::Io)?;
    let advert = read_advert(&mut io).await?;
    Ok((io, advert))
}

fn http_base(remote: &Remote) -> String {
    remote.path.trim_end_matches('/').to_string()
}

/// `GET …/info/refs?service=…` and the parsed advertisement.
async fn http_advert(client: &Client, remote: &Remote, service: &str) -> Result<Advert, Error> {
    let mut io = transport::connect(client, remote).await?;
    let target = format!("{}/info/refs?service={service}", http_base(remote));
    let resp = http::request(&mut *io, "GET", &remote.host_header(), &target, None, &[]).await?;
    check_status(&resp, remote)?;
    if resp.content_type != format!("application/x-{service}-advertisement") {
        return Err(Error::Protocol(format!(
            "{remote} is not a smart HTTP git server (content type {:?}); dumb HTTP is not supported",
            resp.content_type
        )));
    }
    read_advert(&mut &resp.body[..]).await
}

async fn http_post(client: &Client, remote: &Remote, service: &str, body: &[u8]) -> Result<Vec<u8>, Error> {
    let mut io = transport::connect(client, remote).await?;
    let target = format!("{}/{service}", http_base(remote));
    let ct = format!("application/x-{service}-request");
    let resp = http::request(&mut *io, "POST", &remote.host_header(), &target, Some(&ct), body).await?;
    check_status(&resp, remote)?;
    Ok(resp.body)
}

fn check_status(resp: &http::Response, remote: &Remote) -> Result<(), Error> {
    if resp.status == 200 {
        return Ok(());
    }
    let detail = String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).trim().to_string();
    Err(Error::HttpStatus { url: remote.to_string(), status: resp.status, detail })
}

pub async fn fetch(client: &Client, remote: &Remote, repo: &mut Repo) -> Result<Fetched, Error> {
    let service = "git-upload-pack";
    let (mut conn, advert) = match remote.scheme {
        Scheme::Git => {
            let (io, advert) = git_open(client, remote, service).await?;
            (Some(io), advert)
        }
        _ => (None, http_advert(client, remote, service).await?),
    };
    let refname = remote.refname();
    let tip = advert
        .get(&refname)
        .ok_or_else(|| Error::RefNotFound { branch: remote.branch.clone(), available: advert.branches() })?;
    let previous = repo.head();
    if repo.get(&tip).is_some_and(|o| o.kind == Kind::Commit) {
        if let Some(io) = conn.as_mut() {
            // Nothing wanted: a flush ends the conversation politely.
            let _ = io.write_all(b"0000").await;
        }
        repo.set_head(Some(tip));
        return Ok(Fetched { tip, changed: previous != Some(tip), objects: 0 });
    }
    let tips: Vec<ObjectId> = previous.into_iter().collect();
    let haves = repo.commits_from(&tips, MAX_HAVES);
    // The first fetch asks for the tip alone (`deepen 1`), so it costs one
    // commit's objects however long the history; later fetches tell the
    // server where our history stops (`shallow`) and what we hold (`have`),
    // and receive what is new. A server without `shallow` sends it all.
    let can_shallow = advert.has("shallow");
    let deepen = can_shallow && repo.is_empty();
    let shallow: Vec<ObjectId> = if can_shallow { repo.shallow().copied().collect() } else { Vec::new() };
    let req = fetch_request(&advert, tip, &haves, &shallow, deepen);
    let sideband = advert.has("side-band-64k");
    let resp = match conn.as_mut() {
        Some(io) => {
            io.write_all(&req).await.map_err(Error::Io)?;
            io.flush().await.map_err(Error::Io)?;
            read_fetch_response(io, sideband, deepen, &haves).await?
        }
        None => {
            let body = http_post(client, remote, service, &req).await?;
            read_fetch_response(&mut &body[..], sideband, deepen, &haves).await?
        }
    };
    // Nothing is stored until the answer has been checked whole: a failed
    // (or cancelled) fetch leaves the repository as it was.
    let mut incoming = Repo::new();
    let objects = crate::pack::read_pack_into(&resp.pack, repo, &mut incoming)?;
    let mut new_shallow: BTreeSet<ObjectId> = repo.shallow().copied().collect();
    for id in &resp.unshallow {
        // We deepen only an empty repository, so nothing can be unshallowed.
        if !new_shallow.remove(id) {
            return Err(Error::Protocol(format!("the server unshallowed {id}, which was not shallow")));
        }
    }
    new_shallow.extend(resp.shallow.iter().copied());
    repo.check_connected(&incoming, &tip, &new_shallow)?;
    repo.absorb(incoming);
    repo.set_shallow(new_shallow);
    repo.set_head(Some(tip));
    Ok(Fetched { tip, changed: previous != Some(tip), objects })
}

fn push_request(advert: &Advert, refname: &str, old: ObjectId, new: ObjectId, pack: &[u8]) -> Vec<u8> {
    let caps: Vec<&str> = ["report-status"].into_iter().filter(|c| advert.has(c)).collect();
    let mut req = Vec::new();
    pktline::encode(&mut req, format!("{old} {new} {refname}\0{} agent={AGENT}\n", caps.join(" ")).as_bytes());
    pktline::flush(&mut req);
    req.extend_from_slice(pack);
    req
}

/// Reads "unpack ok", then "ok <ref>" or "ng <ref> <reason>", then a flush.
async fn read_report<R: AsyncRead + Unpin>(r: &mut R, refname: &str) -> Result<(), Error> {
    let unpack = match pktline::read(r).await? {
        Pkt::Data(d) => pktline::text(&d)?,
        other => return Err(Error::Protocol(format!("expected the unpack status, got {other:?}"))),
    };
    if unpack != "unpack ok" {
        let reason = unpack.strip_prefix("unpack ").unwrap_or(&unpack);
        return Err(Error::PushRejected { reason: format!("the server could not unpack our objects: {reason}") });
    }
    let mut result = Err(Error::Protocol(format!("no status for {refname} in the push report")));
    loop {
        let line = match pktline::read(r).await? {
            Pkt::Flush => return result,
            Pkt::Delim => return Err(Error::Protocol("unexpected delimiter in push report".into())),
            Pkt::Data(d) => pktline::text(&d)?,
        };
        if line == format!("ok {refname}") {
            result = Ok(());
        } else if let Some(reason) = line.strip_prefix(&format!("ng {refname} ")) {
            result = Err(Error::PushRejected { reason: reason.to_string() });
        }
    }
}

pub async fn push(
    client: &Client,
    remote: &Remote,
    repo: &mut Repo,
    old: Option<ObjectId>,
    new: ObjectId,
) -> Result<(), Error> {
    let service = "git-receive-pack";
    let (mut conn, advert) = match remote.scheme {
        Scheme::Git => {
            let (io, advert) = git_open(client, remote, service).await?;
            (Some(io), advert)
        }
        _ => (None, http_advert(client, remote, service).await?),
    };
    let refname = remote.refname();
    let old = old.unwrap_or(ObjectId::ZERO);
    let current = advert.get(&refname).unwrap_or(ObjectId::ZERO);
    if current != old {
        if let Some(io) = conn.as_mut() {
            let _ = io.write_all(b"0000").await;
        }
        return Err(Error::PushRejected {
            reason: format!("stale: {refname} is at {current} on the server, not at {old} (fetch first)"),
        });
    }
    // Send what the server cannot have: objects not reachable from any ref
    // it advertised that we also hold.
    let mut known: Vec<ObjectId> = advert.refs.iter().map(|(_, id)| *id).filter(|id| repo.contains(id)).collect();
    known.push(old);
    let ids = repo.missing_between(&known, &new);
    let pack = crate::pack::write_pack(repo, &ids)?;
    let req = push_request(&advert, &refname, old, new, &pack);
    let report_status = advert.has("report-status");
    match conn.as_mut() {
        Some(io) => {
            io.write_all(&req).await.map_err(Error::Io)?;
            io.flush().await.map_err(Error::Io)?;
            if report_status {
                read_report(io, &refname).await?;
            }
        }
        None => {
            let body = http_post(client, remote, service, &req).await?;
            if report_status {
                read_report(&mut &body[..], &refname).await?;
            }
        }
    }
    repo.set_head(Some(new));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_and_report_parse() {
        let mut wire = Vec::new();
        pktline::encode(&mut wire, b"# service=git-upload-pack\n");
        pktline::flush(&mut wire);
        let id = "ce013625030ba8dba906f756967f9e9ca394464a";
        pktline::encode(&mut wire, format!("{id} HEAD\0side-band-64k ofs-delta\n").as_bytes());
        pktline::encode(&mut wire, format!("{id} refs/heads/main\n").as_bytes());
        pktline::flush(&mut wire);
        let advert = futures_lite::future::block_on(read_advert(&mut &wire[..])).unwrap();
        assert!(advert.has("ofs-delta") && !advert.has("report-status"));
        assert_eq!(advert.get("refs/heads/main").unwrap().to_hex(), id);

        let mut rep = Vec::new();
        pktline::encode(&mut rep, b"unpack ok\n");
        pktline::encode(&mut rep, b"ng refs/heads/main non-fast-forward\n");
        pktline::flush(&mut rep);
        let r = futures_lite::future::block_on(read_report(&mut &rep[..], "refs/heads/main"));
        assert!(matches!(r, Err(Error::PushRejected { reason }) if reason == "non-fast-forward"));
        assert!(futures_lite::future::block_on(read_report(&mut &b"0000"[..], "refs/heads/main")).is_err());
    }
}
