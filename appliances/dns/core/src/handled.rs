//! What a request turns into: the vocabulary shared by the dispatcher (`server`)
//! and the modules it dispatches to (`xfr`, `update`, `notify`). A leaf below
//! them all, so none of them needs to import `server`.

use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use sansio::UnixTime;

use crate::tsig::Signed;
use crate::zone::Zone;

/// How a request arrived; it bounds the reply size and decides AXFR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What the wiring does with a request.
#[derive(Debug)]
pub enum Handled {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Send nothing.
    Drop,
    /// AXFR/IXFR: send each message in order on the TCP connection.
    Stream(Vec<Vec<u8>>),
    /// A signed UPDATE prepared a change: commit `master_file` to git, push, then send
    /// the bytes of `Server::finish_update(pending, pushed_ok)` (see `update.rs`).
    Update(Box<Pending>),
    /// A signed NOTIFY for `zone` was accepted (`notify.rs`): send `reply`, then
    /// re-fetch the zone.
    Notified { zone: Name, reply: Vec<u8> },
}

/// A prepared UPDATE (`update.rs`), waiting for the git push.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The zone as it will be after the update.
    pub zone: Zone,
    /// The version it was prepared against (so a concurrent change can be noticed).
    pub old_serial: u32,
    /// `zone.to_master_file()`.
    pub master_file: String,
    /// The zone's file name in the repository (the origin without the final dot).
    pub file_name: String,
    /// Commit author: the TSIG key name.
    pub author: String,
    /// Commit message, naming the source address.
    pub message: String,
    /// What the reply needs: the verified TSIG, the request and its wall time (s).
    pub(crate) signed: Signed,
    pub(crate) request: Message,
    pub(crate) time: UnixTime,
}
