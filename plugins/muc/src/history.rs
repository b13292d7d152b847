//! Discussion history on entering a room (XEP-0045 §7.2.14), with XEP-0203 delay stamps.
//!
//! Only a logged room has history to send, and it comes from the room's archive (`mam`): an
//! unlogged room keeps no messages at all, not even a few in memory for newcomers, so that
//! "a room is logged only where its owner enables it" holds without exception. A newcomer gets
//! the last messages with a body (subject changes are archived too, but the current subject
//! follows the history anyway, §7.2.15), at most the operator's `history`, narrowed by the
//! client's `<history maxstanzas maxchars seconds since/>`.

use tessera_sdk::archive::Query;
use tessera_sdk::minidom::Element;
use tessera_sdk::xmpp_parsers::date::DateTime;
use tessera_sdk::{clock, log};

use crate::config::Settings;
use crate::mam;
use crate::ns;
use crate::room::Room;
use crate::xml;

/// What the client asked for in `<history/>` (§7.2.14); absent or unreadable values are no limit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Characters of complete stanzas, at most.
    pub(crate) max_chars: Option<usize>,
    /// Messages, at most.
    pub(crate) max_stanzas: Option<u32>,
    /// Only messages archived at or after this time (ms), from `seconds` or `since`.
    pub(crate) since_ms: Option<u64>,
}

impl Limits {
    /// The limits of the `<history/>` in a joining presence's MUC `<x/>`.
    pub(crate) fn parse(x: Option<&Element>) -> Self {
        let Some(h) = x.and_then(|x| x.get_child("history", ns::MUC)) else {
            return Self::default();
        };
        let num = |name: &str| h.attr(name).and_then(|v| v.trim().parse::<u64>().ok());
        let seconds =
            num("seconds").map(|s| clock::now_ms().saturating_sub(s.saturating_mul(1000)));
        let since = h
            .attr("since")
            .and_then(|v| v.trim().parse::<DateTime>().ok())
            .and_then(|d| u64::try_from(d.0.timestamp_millis()).ok());
        Self {
            max_chars: num("maxchars").map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            max_stanzas: num("maxstanzas").map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            // Both given: the stricter (later) bound.
            since_ms: seconds.max(since),
        }
    }
}

/// Sends `to` (a full JID entering `room`) the room's recent messages, oldest first, each as
/// the occupants received it (from `room@service/nick`, with its stanza-id) plus a `<delay/>`.
pub(crate) fn send(s: &Settings, room: &Room, to: &str, limits: Limits) {
    if !room.config.logging {
        return;
    }
    let limit = limits.max_stanzas.unwrap_or(s.history).min(s.history);
    if limit == 0 || limits.max_chars == Some(0) {
        return;
    }
    let query = Query::new(limit).last_page().between(limits.since_ms, None);
    let page = match mam::archive_of(&room.jid).query(&query) {
        Ok(page) => page,
        Err(e) => {
            log::warn(&format!("no history for room {}: {e}", room.jid));
            return;
        }
    };
    let mut out: Vec<Element> = page
        .entries
        .iter()
        .filter_map(|entry| {
            let mut m = mam::stored(&room.jid, entry)?;
            if !m.has_child("body", ns::CLIENT) {
                return None;
            }
            xml::set(&mut m, "to", to);
            m.append_child(mam::delay(&room.jid, entry.timestamp));
            m.append_child(mam::stanza_id(&entry.id, &room.jid));
            Some(m)
        })
        .collect();
    if let Some(max) = limits.max_chars {
        // §7.2.14: characters of the complete stanzas; the newest are kept.
        let mut total = 0usize;
        let keep = out
            .iter()
            .rev()
            .take_while(|m| {
                total = total.saturating_add(String::from(*m).chars().count());
                total <= max
            })
            .count();
        out.drain(..out.len() - keep);
    }
    for m in &out {
        xml::send(m);
    }
}
