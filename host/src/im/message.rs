//! Message routing (RFC 6121 §8.5, §5).
//!
//! Messages pass through untouched (the stream layer already stamped `from`); this module only
//! decides which sessions get them, and what happens when none does: that is
//! [`undeliverable_message`], the hook the offline-storage plugin takes over.

use jid::{BareJid, FullJid};
use minidom::Element;

use super::ImSession;
use super::error::{Condition, bounce};
use super::stanza::{Dest, account, send_bytes};
use crate::plugins::{self, Flow, Hook};
use crate::router::SessionInfo;
use crate::server::Shared;
use crate::storage::StorageError;

/// The message `type` (RFC 6121 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageType {
    Chat,
    Error,
    Groupchat,
    Headline,
    Normal,
}

impl MessageType {
    /// RFC 6121 §5.2.2: a missing or unrecognised `type` MUST be treated as "normal".
    pub(crate) fn of(message: &Element) -> Self {
        match message.attr("type") {
            Some("chat") => Self::Chat,
            Some("error") => Self::Error,
            Some("groupchat") => Self::Groupchat,
            Some("headline") => Self::Headline,
            _ => Self::Normal,
        }
    }
}

/// Which of an account's sessions get a message sent to its bare JID (RFC 6121 §8.5.2.1.1).
///
/// Only available resources with non-negative priority count (§4.7.2.3, §8.5.2.1). "normal" and
/// "chat" go to the highest priority, to all of them on a tie (the server may pick either); a
/// "headline" goes to every one. Groupchat and error messages to a bare JID are never delivered
/// (§8.5.2.1.1), so they select nobody.
pub(crate) fn bare_targets(sessions: &[SessionInfo], ty: MessageType) -> Vec<FullJid> {
    let eligible = sessions
        .iter()
        .filter_map(|s| s.priority.filter(|p| *p >= 0).map(|p| (p, &s.jid)));
    match ty {
        MessageType::Groupchat | MessageType::Error => Vec::new(),
        MessageType::Headline => eligible.map(|(_, j)| j.clone()).collect(),
        MessageType::Chat | MessageType::Normal => {
            let eligible: Vec<_> = eligible.collect();
            let Some(top) = eligible.iter().map(|(p, _)| *p).max() else {
                return Vec::new();
            };
            eligible
                .into_iter()
                .filter(|(p, _)| *p == top)
                .map(|(_, j)| j.clone())
                .collect()
        }
    }
}

/// Routes a message from the session.
pub(crate) async fn handle(
    shared: &Shared,
    session: &ImSession,
    message: Element,
    dest: Dest,
) -> Result<(), StorageError> {
    // plugins: the `incoming` hook, for messages to a local account that exists. A name nobody
    // holds gets its bounce below (§8.5.1), and the hook must not run for it: a plugin would
    // keep the message (an archive, an offline queue) for whoever registers the name later.
    let recipient = match &dest {
        Dest::Absent => Some(session.jid.to_bare()),
        Dest::LocalBare(bare) => Some(bare.clone()),
        Dest::LocalFull(full) => Some(full.to_bare()),
        Dest::Remote | Dest::Server | Dest::ServerResource => None,
    };
    // Whether the recipient exists, when the hook needed to know: `to_bare` reuses the answer.
    let checked = match &recipient {
        Some(r) if plugins::subscribed(shared, Hook::Incoming, &message) => {
            Some(exists(shared, r).await?)
        }
        Some(_) | None => None,
    };
    let message = match (recipient, checked) {
        (Some(r), Some(true)) => {
            match plugins::run_hook(shared, Hook::Incoming, Some(&r), None, message).await {
                Flow::Continue(m) => m,
                Flow::Stop => return Ok(()),
            }
        }
        _ => message,
    };
    // plugins: end.
    let ty = MessageType::of(&message);
    match dest {
        // RFC 6120 §8.1.1.1 / §10.3.3: no `to` means the sender's own bare JID.
        Dest::Absent => {
            to_bare(
                shared,
                session,
                message,
                ty,
                &session.jid.to_bare(),
                checked,
            )
            .await
        }
        Dest::LocalBare(bare) => to_bare(shared, session, message, ty, &bare, checked).await,
        Dest::LocalFull(full) => {
            // §8.5.3.1: a bound resource gets it, whatever its presence.
            if shared.router.session(&full).is_some() {
                send_bytes(shared, &full, tessera_xml::serialize(&message));
                return Ok(());
            }
            match ty {
                // §8.5.3.2.1: no such resource: chat, normal and headline fall back to the bare JID.
                MessageType::Chat | MessageType::Normal | MessageType::Headline => {
                    to_bare(shared, session, message, ty, &full.to_bare(), checked).await
                }
                // §8.5.3.2.1: groupchat to a gone occupant is an error…
                MessageType::Groupchat => {
                    bounce(shared, &session.jid, message, Condition::ServiceUnavailable);
                    Ok(())
                }
                // …and an error is dropped (RFC 6120 §8.3.1 rule 1).
                MessageType::Error => Ok(()),
            }
        }
        // RFC 6120 §10.4.3: no s2s yet.
        Dest::Remote => {
            bounce(
                shared,
                &session.jid,
                message,
                Condition::RemoteServerNotFound,
            );
            Ok(())
        }
        // RFC 6120 §10.3.1: the server itself handles no messages: service-unavailable, except
        // for headlines (informational, nothing to answer) and errors (never answered).
        Dest::Server | Dest::ServerResource => {
            if !matches!(ty, MessageType::Headline | MessageType::Error) {
                bounce(shared, &session.jid, message, Condition::ServiceUnavailable);
            }
            Ok(())
        }
    }
}

/// Whether `bare` is an account: a bound session proves it, otherwise storage says.
async fn exists(shared: &Shared, bare: &BareJid) -> Result<bool, StorageError> {
    if !shared.router.sessions(bare).is_empty() {
        return Ok(true);
    }
    match account(bare) {
        Some(name) => shared.storage.account_exists(name).await,
        None => Ok(false),
    }
}

/// RFC 6121 §8.5.2: a message to a local bare JID. `checked`: whether the account exists, if
/// the caller already asked.
async fn to_bare(
    shared: &Shared,
    session: &ImSession,
    message: Element,
    ty: MessageType,
    bare: &BareJid,
    checked: Option<bool>,
) -> Result<(), StorageError> {
    let sessions = shared.router.sessions(bare);
    let targets = bare_targets(&sessions, ty);
    if !targets.is_empty() {
        // §8.5.2.1.1: serialised once, shared by every chosen resource.
        let bytes = tessera_xml::serialize(&message);
        for jid in &targets {
            send_bytes(shared, jid, bytes.clone());
        }
        return Ok(());
    }
    let exists = match checked {
        Some(known) => known,
        None => exists(shared, bare).await?,
    };
    if !exists {
        // §8.5.1: no such user: service-unavailable (we choose to answer rather than stay
        // silent, as a missing account and an offline one then look alike); errors are dropped.
        if ty != MessageType::Error {
            bounce(shared, &session.jid, message, Condition::ServiceUnavailable);
        }
        return Ok(());
    }
    undeliverable_message(shared, &session.jid, bare, message, ty).await
}

/// A message for an existing local account that no session may receive now: no available
/// resource with non-negative priority (RFC 6121 §8.5.2.2), or a groupchat/error message to a
/// bare JID (§8.5.2.1.1).
///
/// **This is the offline hook point.** Plugins subscribed to the `undeliverable` hook (the
/// offline-storage plugin of issue 4) are offered the message first, with the recipient as the
/// account (§8.5.2.2.1 lets the server store it); if none takes it, the fallback runs:
/// - "normal", "chat": `service-unavailable` (§8.5.2.2.1, "return an error");
/// - "headline": silently dropped (§8.5.2.2.1);
/// - "groupchat": `service-unavailable` (§8.5.2.1.1, §8.5.2.2.1);
/// - "error": silently dropped (§8.5.2.2.1; RFC 6120 §8.3.1 rule 1).
///
/// # Errors
/// None yet: plugin failures are answered per the plugin's fail mode inside the hook.
pub(crate) async fn undeliverable_message(
    shared: &Shared,
    sender: &FullJid,
    recipient: &BareJid,
    message: Element,
    ty: MessageType,
) -> Result<(), StorageError> {
    // plugins: the `undeliverable` hook.
    let message = if plugins::subscribed(shared, Hook::Undeliverable, &message) {
        match plugins::run_hook(shared, Hook::Undeliverable, Some(recipient), None, message).await {
            Flow::Continue(m) => m,
            Flow::Stop => return Ok(()),
        }
    } else {
        message
    };
    // plugins: end.
    match ty {
        MessageType::Normal | MessageType::Chat | MessageType::Groupchat => {
            bounce(shared, sender, message, Condition::ServiceUnavailable);
        }
        MessageType::Headline | MessageType::Error => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(jid: &str, priority: Option<i8>) -> SessionInfo {
        SessionInfo {
            jid: jid.parse().expect("jid"),
            priority,
            interested: false,
            last_presence: None,
        }
    }

    fn names(v: Vec<FullJid>) -> Vec<String> {
        v.into_iter().map(|j| j.resource().to_string()).collect()
    }

    #[test]
    fn highest_priority_wins_and_ties_share() {
        let s = [
            session("u@l/a", Some(1)),
            session("u@l/b", Some(5)),
            session("u@l/c", Some(5)),
            session("u@l/d", None),
        ];
        assert_eq!(names(bare_targets(&s, MessageType::Chat)), ["b", "c"]);
        assert_eq!(names(bare_targets(&s, MessageType::Normal)), ["b", "c"]);
        assert_eq!(
            names(bare_targets(&s, MessageType::Headline)),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn negative_priority_and_unavailable_never_get_bare_messages() {
        let s = [session("u@l/a", Some(-1)), session("u@l/b", None)];
        assert!(bare_targets(&s, MessageType::Chat).is_empty());
        assert!(bare_targets(&s, MessageType::Headline).is_empty());
        let s = [session("u@l/a", Some(-1)), session("u@l/z", Some(0))];
        assert_eq!(names(bare_targets(&s, MessageType::Chat)), ["z"]);
    }

    #[test]
    fn groupchat_and_error_to_bare_select_nobody() {
        let s = [session("u@l/a", Some(3))];
        assert!(bare_targets(&s, MessageType::Groupchat).is_empty());
        assert!(bare_targets(&s, MessageType::Error).is_empty());
    }

    #[test]
    fn unknown_type_is_normal() {
        let m: Element = "<message xmlns='jabber:client' type='bogus'/>"
            .parse()
            .expect("xml");
        assert_eq!(MessageType::of(&m), MessageType::Normal);
        let m: Element = "<message xmlns='jabber:client'/>".parse().expect("xml");
        assert_eq!(MessageType::of(&m), MessageType::Normal);
    }
}
