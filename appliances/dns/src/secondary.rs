//! Secondary mode: drive `dns_core::secondary` over the stack. SOA queries go out
//! on the serving UDP socket (the replies come back to [`crate::wire`]); each
//! transfer is one TCP connection to the primary.

use std::rc::Rc;
use std::sync::Arc;

use dns_core::secondary::Action;
use dns_core::transfer::TransferIn;
use hickory_proto::rr::Name;
use platform::time::{self, Duration};

use crate::{Shared, now, wire};

/// A transfer that takes longer than this has failed.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the secondary timers forever.
pub async fn run(shared: Rc<Shared>) {
    let Some(sec) = &shared.secondary else { return };
    crate::drive::drive(sec, &shared.secondary_wake, |action| {
        let shared = shared.clone();
        async move {
            match action {
                Action::QuerySoa { primary, bytes, .. } => {
                    if let Err(e) = shared.udp.send_to(&bytes, primary).await {
                        log::warn!("secondary: SOA query to {primary} failed: {e}");
                    }
                }
                Action::Transfer { zone, primary, bytes } => {
                    platform::rt::spawn(transfer(shared.clone(), zone, primary, bytes));
                }
                Action::Expire { zone } => {
                    log::warn!("secondary: zone {zone} expired; answering SERVFAIL until a transfer succeeds");
                    let mut server = shared.server.borrow_mut();
                    server.zones.remove(&zone);
                    server.unavailable.insert(zone.to_lowercase());
                }
            }
        }
    })
    .await
}

/// One transfer: connect, send the request, read messages until the transfer is
/// complete (a parser without TSIG only tells where it ends; the core verifies).
async fn transfer(shared: Rc<Shared>, zone: Name, primary: std::net::SocketAddr, request: Vec<u8>) {
    let result = time::timeout(TRANSFER_TIMEOUT, fetch_messages(&shared, &zone, primary, &request)).await;
    let _gate = shared.gate.lock().await;
    let Some(sec) = &shared.secondary else { return };
    let messages = match result {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            log::warn!("secondary: transfer of {zone} from {primary} failed: {e}");
            sec.borrow_mut().handle_transfer_failed(now(), &zone);
            shared.secondary_wake.raise();
            return;
        }
        Err(_) => {
            log::warn!("secondary: transfer of {zone} from {primary} timed out");
            sec.borrow_mut().handle_transfer_failed(now(), &zone);
            shared.secondary_wake.raise();
            return;
        }
    };
    let new = sec.borrow_mut().handle_transfer(now(), &zone, &messages);
    shared.secondary_wake.raise();
    if let Some(new) = new {
        let new = Arc::new(new);
        log::info!("secondary: zone {zone} serial {} transferred from {primary}", new.serial());
        shared.server.borrow_mut().unavailable.remove(&zone.to_lowercase());
        let old = shared.server.borrow_mut().zones.replace(new.clone());
        if let Some(old) = old {
            shared.server.borrow_mut().history.record(&old, &new);
        }
        shared.zone_changed(&new);
    }
}

async fn fetch_messages(
    shared: &Shared,
    zone: &Name,
    primary: std::net::SocketAddr,
    request: &[u8],
) -> std::io::Result<Vec<Vec<u8>>> {
    let stream = shared.stack.tcp_connect(primary).await?;
    wire::write_frames(&stream, &[request.to_vec()]).await?;
    let id = u16::from_be_bytes([request[0], request[1]]);
    let current = shared.server.borrow().zones.get(zone).cloned();
    let mut ends = TransferIn::new(zone.clone(), id, current, None);
    let mut messages = Vec::new();
    while let Some(m) = wire::read_frame(&stream).await? {
        let done = !matches!(ends.push(&m, now().wall), Ok(None));
        messages.push(m);
        if done {
            break;
        }
    }
    Ok(messages)
}
