//! RFC 6121 instant messaging on bound sessions, and the server's own IQs.
//!
//! The stream layer hands every stanza a bound client sends to [`handle_stanza`], after stamping
//! `from` with the session's full JID (RFC 6120 §8.1.2.1) and checking that the element is a
//! `message`, `presence` or `iq` in `jabber:client`. Everything else — `to` validation, roster,
//! subscriptions, presence broadcast, message and IQ routing, error replies — happens here. Output,
//! including replies to the sending session itself, goes through the router.

use std::collections::HashSet;

use jid::{FullJid, Jid};
use minidom::Element;

use crate::server::Shared;

/// Per-session IM state, owned by the session's task.
#[derive(Debug)]
pub(crate) struct ImSession {
    /// The bound full JID.
    pub(crate) jid: FullJid,
    /// The connection id the router knows the session by.
    pub(crate) id: u64,
    /// The session sent initial presence and has not gone unavailable.
    pub(crate) available: bool,
    /// Entities the session sent directed presence to (RFC 6121 §4.6), told when it goes offline.
    pub(crate) directed: HashSet<Jid>,
}

impl ImSession {
    pub(crate) fn new(jid: FullJid, id: u64) -> Self {
        Self {
            jid,
            id,
            available: false,
            directed: HashSet::new(),
        }
    }
}

/// Handles one stanza from a bound session.
///
/// # Errors
/// Only for our own faults (storage failure); the caller logs it and the client already got an
/// `internal-server-error` reply where one applies.
pub(crate) async fn handle_stanza(
    shared: &Shared,
    session: &mut ImSession,
    stanza: Element,
) -> Result<(), crate::storage::StorageError> {
    let _ = (shared, session, stanza);
    Ok(())
}

/// Called once when a bound session ends for any reason: broadcasts unavailable presence if the
/// session was available (RFC 6121 §4.5.2), and tells the entities it sent directed presence to.
pub(crate) async fn session_ended(shared: &Shared, session: &mut ImSession) {
    let _ = (shared, session);
}
