//! XEP-0115 entity capabilities of local client sessions: what each available session announced
//! it supports, verified by the server, for plugins to filter on (XEP-0163 §4.3 `+notify`,
//! through the plugin API's `caps` interface).
//!
//! (Not to be confused with `crate::plugins::caps`, the host side of the plugins' capability
//! interfaces, one of which this module serves.)
//!
//! ## How it works
//! - A session's broadcast available presence (RFC 6121 §4.2, §4.4) carrying
//!   `<c xmlns='http://jabber.org/protocol/caps' hash node ver/>` records its `ver` ([`presence`]).
//!   Each such presence replaces the one before; one without `<c/>` forgets it, and so does going
//!   unavailable or ending ([`unavailable`]). Legacy caps without `hash` (XEP-0115 §1.2, pre-1.5)
//!   and hash functions other than SHA-1/256/512 are ignored, as if there were no `<c/>`.
//! - A `ver` the server has not verified yet is asked of that session, once, whatever the number
//!   of sessions announcing it meanwhile: `<iq type='get' from='<domain>' to='<full JID>'
//!   id='caps-N'><query xmlns='http://jabber.org/protocol/disco#info' node='<node>#<ver>'/></iq>`
//!   (XEP-0115 §6.2). At most `MAX_PENDING` queries are in flight, two per session, each for
//!   `QUERY_TIMEOUT` (5 s).
//! - The answer ([`answer`]) counts only when its id is one of ours *and* it comes from the full
//!   JID that was asked (the stream stamps `from`, so nobody else can answer for a session).
//!   [`verify`] then applies XEP-0115 §5.4: an ill-formed answer (duplicate identities,
//!   features or form types) teaches nothing; one whose hash matches `ver` enters the cache
//!   for every session announcing it; a well-formed one whose hash does not match is used for
//!   the answering session only — it is what that client says of itself, so it cannot mislead
//!   anyone about another session, and a client with a buggy hash still gets its notifications;
//!   it never enters the cache.
//! - The cache (`ver` + hash function → sorted features) is in memory, least recently used
//!   evicted beyond `MAX_CACHE` entries, each at most [`MAX_FEATURE_BYTES`].
//!
//! ## `session-available`
//! A plugin reacting to a session coming online may want its features at once (XEP-0163 §4.3.2:
//! PEP sends the last published items to a contact that just came online, only if it has
//! `+notify`). So when the initial presence announces a `ver` that is being asked, the event is
//! held until the answer or the timeout, then emitted; a session going unavailable first gets
//! its `session-available` right before its `session-unavailable`, so the two still pair. A
//! presence without caps, or with a cached `ver`, emits at once as before. Holding and releasing
//! happen under the registry's lock, so the two events of one session are always queued in
//! order.
//!
//! ## Cost
//! A presence without `<c/>` from a session that never had caps costs one scan of the presence's
//! children; only sessions with caps take the registry's lock.

mod registry;

use std::sync::Mutex;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jid::{BareJid, FullJid};
use minidom::Element;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use xmpp_parsers::disco::DiscoInfoResult;

use super::ImSession;
use super::stanza::{client_element, send, set_attr};
use crate::ns;
use crate::plugins::ServerEvent;
use crate::server::Shared;
pub(crate) use registry::{Answer, Features, HashAlgo, Key};
use registry::{Recorded, Registry};

/// Most features one answer may list.
pub(crate) const MAX_FEATURES: usize = 512;
/// Most bytes of feature names one answer may list (a typical client: 1–3 KiB).
pub(crate) const MAX_FEATURE_BYTES: usize = 16 * 1024;
/// Longest `ver` and `node` accepted (a SHA-512 `ver` is 88 characters).
const MAX_ATTR: usize = 256;

/// The server-wide XEP-0115 state (`Shared::caps`).
#[derive(Debug, Default)]
pub(crate) struct Caps {
    registry: Mutex<Registry>,
    /// Woken when a query is sent, so the timeout task learns its deadline.
    wake: Notify,
}

impl Caps {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the available session `jid` announced `feature` in caps the server knows (verified,
    /// or its own unverified answer).
    pub(crate) fn has_feature(&self, jid: &FullJid, feature: &str) -> bool {
        self.lock().has_feature(jid, feature)
    }

    /// The available sessions of `user` that announced `feature`.
    pub(crate) fn interested(&self, user: &BareJid, feature: &str) -> Vec<FullJid> {
        self.lock().interested(user, feature)
    }
}

/// The caps a presence announces, if any, as a cache key and its `node`. `None` for no `<c/>`,
/// legacy caps without `hash`, an unsupported hash function or an absurdly long attribute.
pub(crate) fn announced(presence: &Element) -> Option<(Key, &str)> {
    let c = presence.get_child("c", ns::CAPS)?;
    let algo = HashAlgo::parse(c.attr("hash")?)?;
    let ver = c
        .attr("ver")
        .filter(|v| !v.is_empty() && v.len() <= MAX_ATTR)?;
    let node = c.attr("node").filter(|n| n.len() <= MAX_ATTR)?;
    Some((
        Key {
            algo,
            ver: ver.into(),
        },
        node,
    ))
}

fn emit_available(shared: &Shared, jid: &FullJid) {
    shared
        .plugins
        .emit(&ServerEvent::SessionAvailable(jid.clone()));
}

/// Records the caps of the session's broadcast available presence (the caller checked that it is
/// one), sends a disco#info query for an unknown `ver`, and emits `session-available` for an
/// `initial` presence unless it is held for the answer.
pub(crate) fn presence(
    shared: &Shared,
    session: &mut ImSession,
    presence: &Element,
    initial: bool,
) {
    let announced = announced(presence);
    if announced.is_none() && !session.caps {
        // The hot path: no caps now, none before.
        if initial {
            emit_available(shared, &session.jid);
        }
        return;
    }
    session.caps = true;
    let Recorded { query, .. } = {
        let mut registry = shared.caps.lock();
        let recorded = registry.presence(&session.jid, announced, initial, Instant::now());
        if initial && !recorded.held {
            emit_available(shared, &session.jid);
        }
        recorded
    };
    if let Some(query) = query {
        let mut iq = client_element(
            "iq",
            &[
                ("type", "get"),
                ("id", &query.id),
                ("from", shared.domain.as_str()),
                ("to", session.jid.as_str()),
            ],
        );
        let mut q = Element::bare("query", ns::DISCO_INFO);
        set_attr(&mut q, "node", query.node);
        iq.append_child(q);
        send(shared, &session.jid, &iq);
        shared.caps.wake.notify_one();
    }
}

/// The session goes unavailable (or ends): its caps are forgotten, and a held
/// `session-available` is emitted now, so that the caller's `session-unavailable` follows it.
pub(crate) fn unavailable(shared: &Shared, session: &mut ImSession) {
    if !std::mem::take(&mut session.caps) {
        return;
    }
    let mut registry = shared.caps.lock();
    if registry.gone(&session.jid) {
        emit_available(shared, &session.jid);
    }
}

/// An IQ result or error the session `from` addressed to the server: if it answers one of our
/// queries, asked of `from`, it is applied. Anything else is left alone (the caller drops it).
pub(crate) fn answer(shared: &Shared, from: &FullJid, iq: &Element) {
    let Some(id) = iq.attr("id") else {
        return;
    };
    let Some(key) = shared.caps.lock().asked(id, from).cloned() else {
        return;
    };
    // Verified outside the lock: hashing a large answer should not stall other presences.
    let answer = match iq.attr("type") {
        Some("result") => iq
            .get_child("query", ns::DISCO_INFO)
            .map_or(Answer::Nothing, |q| verify(q, &key)),
        _ => Answer::Nothing,
    };
    if matches!(answer, Answer::Unverified(_)) {
        tracing::debug!("caps answer does not hash to its ver; used for that session only");
    }
    let mut registry = shared.caps.lock();
    for jid in registry.answered(id, answer) {
        emit_available(shared, &jid);
    }
}

/// Checks a disco#info answer against the `ver` it was asked for (XEP-0115 §5.4).
pub(crate) fn verify(query: &Element, key: &Key) -> Answer {
    if !well_formed(query) {
        return Answer::Nothing;
    }
    let Ok(info) = DiscoInfoResult::try_from(query.clone()) else {
        return Answer::Nothing;
    };
    let bytes: usize = info.features.iter().map(String::len).sum();
    if info.features.len() > MAX_FEATURES || bytes > MAX_FEATURE_BYTES {
        return Answer::Nothing;
    }
    let verified =
        xmpp_parsers::caps::hash_caps(&xmpp_parsers::caps::compute_disco(&info), key.algo.algo())
            .is_ok_and(|hash| BASE64.encode(hash.hash) == *key.ver);
    // A BTreeSet: sorted and unique, as the lookups need.
    let features: Features = info
        .features
        .into_iter()
        .map(String::into_boxed_str)
        .collect();
    if verified {
        Answer::Verified(features)
    } else {
        Answer::Unverified(features)
    }
}

/// XEP-0115 §5.4 step 3: an answer with two identical identities, two identical features, or
/// two extended-info forms with the same FORM_TYPE is ill-formed. (`xmpp-parsers` keeps features
/// in a set, which would hide a duplicate; an answer hiding one could hash to a `ver` computed
/// without it.)
fn well_formed(query: &Element) -> bool {
    let mut identities = Vec::new();
    let mut features = Vec::new();
    let mut forms = Vec::new();
    for child in query.children() {
        if child.is("identity", ns::DISCO_INFO) {
            identities.push((
                child.attr("category"),
                child.attr("type"),
                child.attr("xml:lang"),
                child.attr("name"),
            ));
        } else if child.is("feature", ns::DISCO_INFO) {
            features.push(child.attr("var"));
        } else if child.is("x", ns::DATA_FORMS) {
            let form_type = child
                .children()
                .find(|f| f.attr("var") == Some("FORM_TYPE"))
                .and_then(|f| f.children().find(|v| v.name() == "value"))
                .map(Element::text);
            forms.push(form_type);
        }
    }
    unique(&mut identities) && unique(&mut features) && unique(&mut forms)
}

fn unique<T: Ord>(items: &mut [T]) -> bool {
    items.sort_unstable();
    items.windows(2).all(|w| w[0] != w[1])
}

/// Ends the queries that were not answered in time, emitting the `session-available` events they
/// held, until `shutdown`.
///
/// # Cancel safety
/// Cancel safe: the state lives in `Shared::caps`; a later run would pick up where this stopped.
pub(crate) async fn run_timeouts(shared: std::sync::Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let next = {
            let mut registry = shared.caps.lock();
            let (due, next) = registry.expire(Instant::now());
            for jid in &due {
                emit_available(&shared, jid);
            }
            next
        };
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = shared.caps.wake.notified() => {}
            () = sleep => {}
        }
    }
}

#[cfg(test)]
mod tests;
