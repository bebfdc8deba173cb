//! The smart protocol, version 0/1 (gitprotocol-pack(5), gitprotocol-http(5)):
//! ref advertisement, upload-pack negotiation and pack, receive-pack
//! commands and status report.

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

/// The upload-pack request: wants with capabilities, haves, done.
fn fetch_request(advert: &Advert, want: ObjectId, haves: &[ObjectId]) -> Vec<u8> {
    let caps: Vec<&str> = ["ofs-delta", "side-band-64k", "no-progress"].into_iter().filter(|c| advert.has(c)).collect();
    let mut req = Vec::new();
    pktline::encode(&mut req, format!("want {want} {} agent={AGENT}\n", caps.join(" ")).as_bytes());
    pktline::flush(&mut req);
    for h in haves {
        pktline::encode(&mut req, format!("have {h}\n").as_bytes());
    }
    pktline::encode(&mut req, b"done\n");
    req
}

/// Reads the negotiation result (one ACK or NAK: we ask for no multi_ack)
/// and then the pack, demultiplexed when side-band is on.
async fn read_pack_response<R: AsyncRead + Unpin>(r: &mut R, sideband: bool) -> Result<Vec<u8>, Error> {
    loop {
        match pktline::read(r).await? {
            Pkt::Data(d) => {
                let line = pktline::text(&d)?;
                if line == "NAK" || line.starts_with("ACK ") {
                    break;
                }
                if !line.starts_with("shallow ") {
                    return Err(Error::Protocol(format!("unexpected {line:?} before the pack")));
                }
            }
            other => return Err(Error::Protocol(format!("unexpected {other:?} before the pack"))),
        }
    }
    let mut pack = Vec::new();
    if !sideband {
        r.read_to_end(&mut pack).await.map_err(Error::Io)?;
        return Ok(pack);
    }
    loop {
        match pktline::read(r).await? {
            Pkt::Flush => return Ok(pack),
            Pkt::Delim => return Err(Error::Protocol("unexpected delimiter in pack stream".into())),
            Pkt::Data(d) => match d.first() {
                Some(1) => pack.extend_from_slice(&d[1..]),
                Some(2) => {} // progress messages
                Some(3) => return Err(Error::Remote(String::from_utf8_lossy(&d[1..]).trim().to_string())),
                _ => return Err(Error::Protocol("bad side-band channel".into())),
            },
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
    let req = fetch_request(&advert, tip, &haves);
    let sideband = advert.has("side-band-64k");
    let pack = match conn.as_mut() {
        Some(io) => {
            io.write_all(&req).await.map_err(Error::Io)?;
            io.flush().await.map_err(Error::Io)?;
            read_pack_response(io, sideband).await?
        }
        None => {
            let body = http_post(client, remote, service, &req).await?;
            read_pack_response(&mut &body[..], sideband).await?
        }
    };
    let objects = crate::pack::read_pack(&pack, repo)?;
    repo.files(&tip)?; // the whole tree must have arrived
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
