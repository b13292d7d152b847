//! RFC 6121 instant messaging on bound sessions, and the server's own IQs.
//!
//! The stream layer hands every stanza a bound client sends to [`handle_stanza`], after stamping
//! `from` with the session's full JID (RFC 6120 §8.1.2.1) and checking that the element is a
//! `message`, `presence` or `iq` in `jabber:client`. Everything else — `to` validation, roster,
//! subscriptions, presence broadcast, message and IQ routing, error replies — happens here. Output,
//! including replies to the sending session itself, goes through the router.
//!
//! ## Layout
//! - `stanza`: attribute helpers, where a stanza is addressed ([`stanza::Dest`]), delivery.
//! - `error`: stanza error conditions and replies (RFC 6120 §8.3).
//! - `message`: message routing (RFC 6121 §8.5), with the offline hook `undeliverable_message`.
//! - `presence`: broadcast, probes, directed presence (RFC 6121 §4); `inbound`: presence for
//!   another local account passes that account's `incoming` hook.
//! - `subscription`: the pure subscription state machine (RFC 6121 §3, Appendix A);
//!   `subscription_io` drives it against storage and the router for both sides.
//! - `roster`: roster get/set/remove, versioning and pushes (RFC 6121 §2).
//! - `undelivered`: what an ended session did not deliver (XEP-0198 unacknowledged stanzas, its
//!   queue): other resources, offline storage or a bounce.
//! - `caps`: XEP-0115 entity capabilities of the sessions (what each announced and the server
//!   verified), for plugins (`caps` interface) and the held `session-available` event.
//! - `iq`: IQ routing and the server's own IQs: `disco` (XEP-0030), `ping` (XEP-0199),
//!   `time` (XEP-0202), `version` (XEP-0092), `commands` (XEP-0050) with `admin` (the server's
//!   own admin commands).

// server, plugins: the caps registry lives in `Shared`; plugins read it through `caps`.
pub(crate) mod caps;
// cmds: `admin` holds the server's admin commands, `commands` XEP-0050 discovery and execution
// (shared with `crate::plugins::commands` for the node check).
mod admin;
pub(crate) mod commands;
// stream: `disco::ServerInfo` also gives the server's caps to stream features (XEP-0115).
pub(crate) mod disco;
// `presence` and `subscription_io`: presence for a local account through its `incoming` hook.
mod inbound;
// plugins: `error`, `message` and `stanza` are shared with `crate::plugins` (error replies,
// delivery rules for stanzas plugins send).
pub(crate) mod error;
mod iq;
pub(crate) mod message;
mod ping;
mod presence;
mod roster;
pub(crate) mod stanza;
mod subscription;
mod subscription_io;
mod time;
mod undelivered;
mod version;

use std::collections::HashSet;

use jid::{FullJid, Jid};
use minidom::Element;

use crate::plugins::{self, Flow, Hook};
use crate::server::Shared;
use error::{Condition, Header, bounce};
use stanza::{Dest, parse_to, send};
pub(crate) use undelivered::undelivered;

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
    /// The caps registry may hold something for this session (XEP-0115, `caps`): set by a
    /// presence with caps, cleared when the session goes unavailable. Sessions that never
    /// announce caps never take the registry's lock.
    pub(crate) caps: bool,
}

impl ImSession {
    pub(crate) fn new(jid: FullJid, id: u64) -> Self {
        Self {
            jid,
            id,
            available: false,
            directed: HashSet::new(),
            caps: false,
        }
    }
}

/// Handles one stanza from a bound session.
///
/// # Errors
/// Only for our own faults (storage failure); the caller logs it and the client already got an
/// `internal-server-error` reply where one applies.
///
/// # Cancel safety
/// Not cancel safe: a cancelled call may leave a subscription half applied (one side stored, the
/// other not). Run it to completion; it never waits on a peer, only on storage.
pub(crate) async fn handle_stanza(
    shared: &Shared,
    session: &mut ImSession,
    stanza: Element,
) -> Result<(), crate::storage::StorageError> {
    // RFC 6120 §8.3.3.8: an unparsable `to` is jid-malformed.
    let to = match parse_to(&stanza) {
        Ok(to) => to,
        Err(()) => {
            bounce(shared, &session.jid, stanza, Condition::JidMalformed);
            return Ok(());
        }
    };
    // plugins: the `outgoing` hook (a replacement keeps the addresses), then the `service`
    // hook for stanzas to a plugin's domain.
    let stanza = if plugins::subscribed(shared, Hook::Outgoing, &stanza) {
        let account = session.jid.to_bare();
        let session_jid = session.jid.clone();
        match plugins::run_hook(
            shared,
            Hook::Outgoing,
            Some(&account),
            Some(&session_jid),
            stanza,
        )
        .await
        {
            Flow::Continue(s) => s,
            Flow::Stop => return Ok(()),
        }
    } else {
        stanza
    };
    let stanza = match &to {
        Some(to) => {
            // RFC 6121 §4.6.3: presence to a plugin's service (a MUC room) is directed presence,
            // retracted when the session ends, although no account receives it.
            if stanza.name() == "presence" && plugins::is_service(shared, to) {
                presence::remember_directed(session, to, stanza.attr("type"));
            }
            match plugins::service(shared, to, stanza).await {
                Flow::Continue(s) => s,
                Flow::Stop => return Ok(()),
            }
        }
        None => stanza,
    };
    // plugins: end.
    let dest = Dest::classify(to.as_ref(), &shared.domain);
    let header = Header::of(&stanza);
    let result = match stanza.name() {
        "message" => message::handle(shared, session, stanza, dest).await,
        "presence" => presence::handle(shared, session, stanza, dest).await,
        "iq" => iq::handle(shared, session, stanza, dest).await,
        // The stream layer only passes these three (RFC 6120 §8); anything else is its bug.
        other => {
            tracing::debug!(element = other, "not a stanza; ignored");
            Ok(())
        }
    };
    if result.is_err() {
        // RFC 6120 §8.3.3.6: our fault. Presence gets no error (RFC 6121 §4: presence is
        // broadcast; a client cannot act on it), messages and IQs do.
        if header.name() != "presence"
            && let Some(reply) = header.reply(Condition::InternalServerError)
        {
            send(shared, &session.jid, &reply);
        }
    }
    result
}

/// Called once when a bound session ends for any reason: broadcasts unavailable presence if the
/// session was available (RFC 6121 §4.5.2), and tells the entities it sent directed presence to.
///
/// # Cancel safety
/// Not cancel safe; run it to completion. It only waits on storage.
pub(crate) async fn session_ended(shared: &Shared, session: &mut ImSession) {
    // The account's last session: the marks plugins set for its sessions' sake (`scope`,
    // `online`) go.
    let bare = session.jid.to_bare();
    if !shared.router.has_sessions(&bare) {
        shared
            .plugins
            .account_offline(&bare, || shared.router.has_sessions(&bare));
    }
    if !session.available && session.directed.is_empty() {
        return;
    }
    if let Err(error) = presence::unavailable(shared, session, None).await {
        tracing::error!(%error, "could not broadcast unavailable presence");
    }
}
