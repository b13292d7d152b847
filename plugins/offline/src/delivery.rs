//! Delivering a user's queue when one of their sessions becomes available (XEP-0160 §3: "when
//! the recipient next sends available presence"), each message with a XEP-0203 delay stamp.
//!
//! The queue is read oldest first, a page at a time. Each message goes to the session's full
//! JID from its original sender (the `router.impersonate` grant), and is deleted only once the
//! host accepted it: a send to a session that has gone meanwhile fails with `unavailable`, which
//! stops the run and leaves that message and the rest queued for the next login. Nothing is
//! delivered twice unless a deletion itself fails after a successful send (then the message
//! would come again at the next login: a duplicate beats a loss).
//!
//! ## One run per account at a time
//! A message can be queued just after a session became available and its run read the queue
//! (the host found no available session, then the login completed while the hook waited for an
//! instance). So the hook, after queueing, asks for a run too when a session is available now
//! ([`request`]). Runs for one account never overlap, or both would send the same messages: a
//! run holds the account's lock in `ephemeral` (shared by the plugin's instances), and a request
//! that finds it held leaves an "again" mark the holder consumes before it lets go. A lock older
//! than [`LOCK_STALE_MS`] is taken over (its run trapped and never released it).

use tessera_sdk::archive::{Entry, Query};
use tessera_sdk::minidom::Element;
use tessera_sdk::minidom::rxml::{Namespace, NcName};
use tessera_sdk::{HostError, clock, ephemeral, log, router, sessions};

use crate::ns;
use crate::store::queue;

/// Messages read (and sent) per query; the sent ones of a page are deleted together.
pub(crate) const PAGE: u32 = 50;

/// What a delivery run did, for the log and the tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Report {
    /// Messages the host accepted (and that were deleted).
    pub(crate) delivered: u64,
    /// Stored messages that can never be delivered (unparseable, or refused by the host as
    /// invalid): deleted, with a warning.
    pub(crate) discarded: u64,
    /// Why the run stopped early, if it did; the rest stays queued.
    pub(crate) stopped: Option<String>,
}

/// How long a run may hold its account's lock before another takes it over. A run of 1000
/// messages takes well under a second; only a run whose instance trapped holds it this long.
pub(crate) const LOCK_STALE_MS: u64 = 60_000;

fn lock_key(bare: &str) -> String {
    format!("run/{bare}")
}

fn again_key(bare: &str) -> String {
    format!("again/{bare}")
}

/// Delivers `bare`'s queue to `preferred` (the session that just became available), or when that
/// one cannot take it, to the account's available session of highest priority; unless a run for
/// the account is under way, which then goes round once more (see the module docs).
pub(crate) fn request(bare: &str, preferred: Option<&str>) -> Report {
    let mut report = Report::default();
    // Marked before the lock is tried, so a holder releasing meanwhile sees the mark.
    if let Err(e) = ephemeral::set(&again_key(bare), b"1") {
        // No room to coordinate: deliver unlocked. A duplicate beats a message left queued.
        log::warn(&format!("offline delivery to {bare} runs unlocked: {e}"));
        return target(bare, preferred)
            .map(|s| deliver(&s))
            .unwrap_or_default();
    }
    loop {
        if !acquire(bare) {
            return report;
        }
        while ephemeral::delete(&again_key(bare)) {
            let Some(session) = target(bare, preferred) else {
                break;
            };
            report.add(deliver(&session));
        }
        ephemeral::delete(&lock_key(bare));
        // A request that found the lock held after our last look at the mark: go round for it.
        if ephemeral::get(&again_key(bare)).is_none() {
            return report;
        }
    }
}

/// Takes `bare`'s run lock: free, or held for longer than [`LOCK_STALE_MS`].
fn acquire(bare: &str) -> bool {
    let key = lock_key(bare);
    let now = clock::now_ms();
    let stamp = now.to_be_bytes();
    let held = ephemeral::get(&key);
    if let Some(held) = &held {
        let since = <[u8; 8]>::try_from(held.as_slice()).map_or(0, u64::from_be_bytes);
        if now.saturating_sub(since) <= LOCK_STALE_MS {
            return false;
        }
        log::warn(&format!(
            "taking over a stale offline delivery lock of {bare}"
        ));
    }
    ephemeral::compare_and_swap(&key, held.as_deref(), &stamp).unwrap_or(false)
}

/// The session to deliver `bare`'s queue to: `preferred` if it is available (non-negative
/// priority), else the available one of highest priority.
fn target(bare: &str, preferred: Option<&str>) -> Option<String> {
    let available: Vec<_> = sessions::list(bare)
        .into_iter()
        .filter(|s| s.priority.is_some_and(|p| p >= 0))
        .collect();
    if let Some(p) = preferred
        && available.iter().any(|s| s.jid == p)
    {
        return Some(p.to_owned());
    }
    available
        .into_iter()
        .max_by_key(|s| s.priority)
        .map(|s| s.jid)
}

impl Report {
    fn add(&mut self, other: Report) {
        self.delivered += other.delivered;
        self.discarded += other.discarded;
        if other.stopped.is_some() {
            self.stopped = other.stopped;
        }
    }
}

/// Delivers `session`'s account queue to `session` (a full JID). Callers hold the account's
/// run lock ([`request`]).
pub(crate) fn deliver(session: &str) -> Report {
    let mut report = Report::default();
    let Some((bare, domain)) = split(session) else {
        return report;
    };
    // RFC 6121 §8.5.2.2 / XEP-0160 §3: only a resource with non-negative priority is "available"
    // for messages to the account; one that is gone already gets nothing.
    match sessions::list(bare).into_iter().find(|s| s.jid == session) {
        Some(s) if s.priority.is_some_and(|p| p >= 0) => {}
        Some(_) | None => return report,
    }
    let queue = queue(bare);
    let mut after: Option<String> = None;
    loop {
        let mut q = Query::new(PAGE);
        if let Some(id) = &after {
            q = q.after(id.clone());
        }
        let page = match queue.query(&q) {
            Ok(page) => page,
            Err(e) => {
                report.stopped = Some(format!("reading the queue: {e}"));
                break;
            }
        };
        let mut done = Vec::new();
        let mut stop = None;
        for entry in &page.entries {
            after = Some(entry.id.clone());
            match send(entry, session, domain) {
                Ok(()) => {
                    report.delivered += 1;
                    done.push(entry.id.clone());
                }
                Err(Failure::Permanent(reason)) => {
                    log::warn(&format!(
                        "discarding an offline message from {} to {session}: {reason}",
                        entry.with
                    ));
                    report.discarded += 1;
                    done.push(entry.id.clone());
                }
                Err(Failure::Stop(reason)) => {
                    log::warn(&format!(
                        "offline delivery from {} to {session} stopped: {reason}",
                        entry.with
                    ));
                    stop = Some(reason);
                    break;
                }
            }
        }
        if !done.is_empty()
            && let Err(e) = queue.remove_ids(&done)
        {
            // Sent but still stored: they would come again next time. Stop before sending more.
            log::error(&format!(
                "could not delete {} delivered offline messages of {bare}: {e}",
                done.len()
            ));
            report.stopped = Some(format!("deleting delivered messages: {e}"));
            break;
        }
        if stop.is_some() {
            report.stopped = stop;
            break;
        }
        if page.complete || page.entries.is_empty() {
            break;
        }
    }
    if report.delivered > 0 {
        log::debug(&format!(
            "delivered {} offline messages to {session}",
            report.delivered
        ));
    }
    report
}

/// `(bare JID, domain)` of a full JID.
fn split(full: &str) -> Option<(&str, &str)> {
    let (bare, _) = full.split_once('/')?;
    let (_, domain) = bare.split_once('@')?;
    Some((bare, domain))
}

enum Failure {
    /// This message can never go out: drop it and go on.
    Permanent(String),
    /// The session cannot take messages now: stop, keep the rest.
    Stop(String),
}

fn send(entry: &Entry, session: &str, domain: &str) -> Result<(), Failure> {
    let message = redelivery(&entry.data, session, domain, entry.timestamp)
        .map_err(|e| Failure::Permanent(format!("stored stanza unreadable: {e}")))?;
    router::send(&message).map_err(|e| match e {
        // The host refuses this stanza itself: it will refuse it every time.
        HostError::Invalid(_) => Failure::Permanent(e.to_string()),
        // `unavailable`: the session went away. `not-granted`: the operator did not grant
        // `router.impersonate` (only local senders are stored, and those it allows): a
        // configuration to fix, not a reason to lose the queue.
        other => Failure::Stop(other.to_string()),
    })
}

/// The stored message, readdressed to `session` with `<delay from='domain' stamp='…'/>`
/// (XEP-0203 §3: `from` is the entity that delayed it, the server; `stamp` when it was stored).
pub(crate) fn redelivery(
    stored: &str,
    session: &str,
    domain: &str,
    stored_at_ms: u64,
) -> Result<Element, String> {
    let mut message: Element = stored.parse().map_err(|e| format!("{e}"))?;
    if message.name() != "message" {
        return Err("not a message".to_owned());
    }
    message.set_attr(Namespace::NONE, attr("to"), session);
    message.append_child(
        Element::builder("delay", ns::DELAY)
            .attr(attr("from"), domain)
            .attr(attr("stamp"), stamp(stored_at_ms))
            .build(),
    );
    Ok(message)
}

fn attr(name: &'static str) -> NcName {
    NcName::try_from(name).expect("invariant: a literal attribute name is a valid NCName")
}

/// A XEP-0082 §3.3 DateTime in UTC with milliseconds, e.g. `2002-09-10T23:08:25.000Z`.
pub(crate) fn stamp(ms: u64) -> String {
    tessera_sdk::clock::xep0082(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_xep_0082_utc() {
        assert_eq!(stamp(0), "1970-01-01T00:00:00.000Z");
        // XEP-0203's example, 2002-09-10T23:08:25Z.
        assert_eq!(stamp(1_031_699_305_000), "2002-09-10T23:08:25.000Z");
        // A leap day, and milliseconds.
        assert_eq!(stamp(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(stamp(1_709_251_200_000), "2024-03-01T00:00:00.000Z");
    }

    #[test]
    fn redelivery_readdresses_and_stamps() {
        let stored = "<message xmlns='jabber:client' from='romeo@localhost/orchard' \
            to='juliet@localhost' type='chat' id='m1'><body>hi</body></message>";
        let m = redelivery(
            stored,
            "juliet@localhost/balcony",
            "localhost",
            1_031_699_305_000,
        )
        .expect("redelivery");
        assert_eq!(m.attr("to"), Some("juliet@localhost/balcony"));
        assert_eq!(m.attr("from"), Some("romeo@localhost/orchard"));
        assert_eq!(m.attr("id"), Some("m1"));
        let delay = m.get_child("delay", ns::DELAY).expect("delay");
        assert_eq!(delay.attr("from"), Some("localhost"));
        assert_eq!(delay.attr("stamp"), Some("2002-09-10T23:08:25.000Z"));
        assert!(redelivery("<iq xmlns='jabber:client'/>", "a@b/c", "b", 0).is_err());
        assert!(redelivery("<message", "a@b/c", "b", 0).is_err());
    }

    #[test]
    fn split_needs_a_full_account_jid() {
        assert_eq!(split("a@b/c"), Some(("a@b", "b")));
        assert_eq!(split("a@b"), None);
        assert_eq!(split("b/c"), None);
    }
}
