//! The query log (`[log] queries = true`): one line per query with client,
//! name, type, action, response code and latency. Only called when enabled.

use std::net::SocketAddr;
use std::time::Instant;

use hickory_proto::rr::RecordType;
use tracing::info;

use super::upstream::Slot;
use super::wire::{self, Query, Rcode};

/// A query answered locally (static, blocked, local_only, refused) or by a
/// TCP exchange; `response` is what was sent.
pub fn answered(client: SocketAddr, q: &Query, action: &str, response: &[u8], started: Instant) {
    info!(
        target: "vpndns::query",
        "{} {} {} {} {} {}us",
        client.ip(),
        q.name,
        RecordType::from(q.qtype),
        action,
        Rcode::name_of(wire::rcode(response)),
        started.elapsed().as_micros()
    );
}

/// A forwarded query, finished with `response`: relayed, or SERVFAIL when
/// every target timed out (`gave_up`).
pub fn forwarded(slot: &Slot, response: &[u8], gave_up: bool) {
    let q = &slot.question;
    let via = slot.targets.as_ref().map_or("?", |t| t.name(slot.attempt));
    let action = if gave_up {
        format!("timeout (last tried {via} at {})", slot.target)
    } else {
        format!("forwarded to {via} ({})", slot.target)
    };
    answered(slot.client, q, &action, response, slot.started);
}

/// A message answered FORMERR or NOTIMP.
pub fn malformed(client: SocketAddr, rcode: Rcode) {
    info!(target: "vpndns::query", "{} - - malformed {}", client.ip(), Rcode::name_of(rcode as u8));
}
