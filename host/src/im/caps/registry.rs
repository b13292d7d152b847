//! The sans-IO state of XEP-0115 tracking: which sessions announced which `ver`, the server-wide
//! cache of verified feature sets, and the disco#info queries in flight.
//!
//! Everything here is plain data behind one lock (`super::Caps`): no socket, no clock of its own
//! (callers pass `now`), so the rules — one query per unknown `ver` however many sessions announce
//! it, bounds on queries and cache, which answer may fill what — are tested without a server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jid::{BareJid, FullJid};

/// A verified or session-only feature set: sorted and deduplicated (binary search), shared by
/// every session that announced the same `ver`.
pub(crate) type Features = Arc<[Box<str>]>;

/// How long an answer to a disco#info query may take; also how long a session's
/// `session-available` event waits for its features.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most disco#info queries in flight server-wide; beyond this, an unknown `ver` is not queried
/// (the session has no known features until its next presence with caps).
pub(crate) const MAX_PENDING: usize = 256;
/// Most queries in flight asked of one session: a client changing caps twice in a row is normal,
/// one cycling through invented `ver`s only queries itself a little.
pub(crate) const MAX_PENDING_PER_SESSION: usize = 2;
/// Most `ver`s in the cache; the least recently used goes first. With [`super::MAX_FEATURE_BYTES`]
/// per entry this bounds the cache at 32 MiB even if every entry were made up to fill it.
pub(crate) const MAX_CACHE: usize = 2048;

/// The hash functions accepted in `<c hash='…'/>` (XEP-0115 §5.1 names those of the IANA registry;
/// SHA-1 is what clients use, SHA-256 what a newer one might).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HashAlgo {
    /// `sha-1`.
    Sha1,
    /// `sha-256`.
    Sha256,
    /// `sha-512`.
    Sha512,
}

impl HashAlgo {
    /// The IANA hash function textual name (XEP-0115 §4 `hash`), if supported.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "sha-1" => Some(Self::Sha1),
            "sha-256" => Some(Self::Sha256),
            "sha-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The `xmpp-parsers` algorithm.
    pub(crate) fn algo(self) -> xmpp_parsers::hashes::Algo {
        use xmpp_parsers::hashes::Algo;
        match self {
            Self::Sha1 => Algo::Sha_1,
            Self::Sha256 => Algo::Sha_256,
            Self::Sha512 => Algo::Sha_512,
        }
    }
}

/// What the cache is keyed by: a `ver` means nothing without its hash function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// The hash function.
    pub(crate) algo: HashAlgo,
    /// The `ver` attribute (base64 of the hash).
    pub(crate) ver: Box<str>,
}

/// A disco#info query to send: `<iq type='get' id='{id}' to='{to}'>` with
/// `<query node='{node}#{ver}'/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// The IQ id, unique for the server's life.
    pub(crate) id: String,
    /// The `node#ver` to ask for (XEP-0115 §6.2).
    pub(crate) node: String,
}

/// What an answer to one of our queries turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The features hash to the announced `ver` (XEP-0115 §5.4): cached for every session.
    Verified(Features),
    /// Well-formed, but the hash does not match: used for the answering session only.
    Unverified(Features),
    /// An error, or an ill-formed or oversized answer: nothing is learnt.
    Nothing,
}

/// One session's announced caps.
#[derive(Debug)]
struct SessionCaps {
    jid: FullJid,
    key: Key,
    /// Known features (from the cache or an answer); `None` while unknown.
    features: Option<Features>,
}

/// One query in flight.
#[derive(Debug)]
struct Pending {
    key: Key,
    /// The session asked: only its answer counts.
    asked: FullJid,
    deadline: Instant,
    /// Sessions that announced `key` while the query was out: the answer fills them.
    waiting: Vec<FullJid>,
    /// Sessions whose `session-available` event waits for the answer.
    held: Vec<FullJid>,
}

/// The verified feature sets, least recently used evicted first.
#[derive(Debug, Default)]
struct Cache {
    entries: HashMap<Key, (Features, u64)>,
    clock: u64,
}

impl Cache {
    fn get(&mut self, key: &Key) -> Option<Features> {
        self.clock += 1;
        let (features, used) = self.entries.get_mut(key)?;
        *used = self.clock;
        Some(features.clone())
    }

    fn insert(&mut self, key: Key, features: Features) {
        self.clock += 1;
        if self.entries.len() >= MAX_CACHE && !self.entries.contains_key(&key) {
            // A linear scan, on the rare insert of a new verified `ver` into a full cache only.
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (features, self.clock));
    }
}

/// What recording a presence decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// A query to send to the session.
    pub(crate) query: Option<Query>,
    /// The session's `session-available` event is held until the answer or the timeout.
    pub(crate) held: bool,
}

/// The whole state (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Sessions with caps, by account: a handful per account, scanned linearly.
    sessions: HashMap<BareJid, Vec<SessionCaps>>,
    cache: Cache,
    /// Queries in flight by IQ id.
    pending: HashMap<String, Pending>,
    /// The id of the query in flight for a key (one per key).
    in_flight: HashMap<Key, String>,
    next_id: u64,
}

impl Registry {
    /// Records the caps an available presence of `jid` announced (`None`: it announced none, and
    /// whatever it announced before is forgotten). `initial`: this presence makes the session
    /// available, so its `session-available` event may be held for the features.
    pub(crate) fn presence(
        &mut self,
        jid: &FullJid,
        announced: Option<(Key, &str)>,
        initial: bool,
        now: Instant,
    ) -> Recorded {
        let Some((key, node)) = announced else {
            self.forget(jid);
            return Recorded::default();
        };
        if let Some(features) = self.cache.get(&key) {
            self.set(jid, key, Some(features));
            return Recorded::default();
        }
        let mut recorded = Recorded::default();
        if let Some(id) = self.in_flight.get(&key) {
            let pending = self
                .pending
                .get_mut(id)
                .expect("invariant: in_flight names a pending query");
            if !pending.waiting.contains(jid) {
                pending.waiting.push(jid.clone());
            }
            if initial && !pending.held.contains(jid) {
                pending.held.push(jid.clone());
                recorded.held = true;
            }
        } else if self.pending.len() < MAX_PENDING
            && self.pending.values().filter(|p| p.asked == *jid).count() < MAX_PENDING_PER_SESSION
        {
            self.next_id += 1;
            let id = format!("caps-{}", self.next_id);
            let query = Query {
                id: id.clone(),
                node: format!("{node}#{}", key.ver),
            };
            self.pending.insert(
                id.clone(),
                Pending {
                    key: key.clone(),
                    asked: jid.clone(),
                    deadline: now + QUERY_TIMEOUT,
                    waiting: vec![jid.clone()],
                    held: if initial {
                        vec![jid.clone()]
                    } else {
                        Vec::new()
                    },
                },
            );
            self.in_flight.insert(key.clone(), id);
            recorded = Recorded {
                query: Some(query),
                held: initial,
            };
        } else {
            tracing::debug!("too many caps queries in flight; this one is not sent");
        }
        self.set(jid, key, None);
        recorded
    }

    /// The key of the query `id` if `from` is the session it was asked of (anything else is
    /// not an answer to it: a forgery, or a stale id).
    pub(crate) fn asked(&self, id: &str, from: &FullJid) -> Option<&Key> {
        self.pending
            .get(id)
            .filter(|p| p.asked == *from)
            .map(|p| &p.key)
    }

    /// Applies the answer to query `id` (checked with [`Registry::asked`]) and ends the query.
    /// Returns the sessions whose held `session-available` event is due now.
    pub(crate) fn answered(&mut self, id: &str, answer: Answer) -> Vec<FullJid> {
        let Some(pending) = self.pending.remove(id) else {
            return Vec::new();
        };
        self.in_flight.remove(&pending.key);
        match answer {
            Answer::Verified(features) => {
                self.cache.insert(pending.key.clone(), features.clone());
                for jid in &pending.waiting {
                    self.fill(jid, &pending.key, &features);
                }
            }
            Answer::Unverified(features) => self.fill(&pending.asked, &pending.key, &features),
            Answer::Nothing => {}
        }
        pending.held
    }

    /// Ends the queries past their deadline; returns the sessions whose held event is due, and
    /// the next deadline.
    pub(crate) fn expire(&mut self, now: Instant) -> (Vec<FullJid>, Option<Instant>) {
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut due = Vec::new();
        for id in expired {
            due.extend(self.answered(&id, Answer::Nothing));
        }
        let next = self.pending.values().map(|p| p.deadline).min();
        (due, next)
    }

    /// The session went unavailable or ended: its caps are forgotten. `true` if its
    /// `session-available` event was still held (the caller sends it now, before
    /// `session-unavailable`).
    pub(crate) fn gone(&mut self, jid: &FullJid) -> bool {
        self.forget(jid);
        let mut held = false;
        for p in self.pending.values_mut() {
            p.waiting.retain(|j| j != jid);
            if let Some(at) = p.held.iter().position(|j| j == jid) {
                p.held.swap_remove(at);
                held = true;
            }
        }
        held
    }

    /// Whether the session's known features include `feature`.
    pub(crate) fn has_feature(&self, jid: &FullJid, feature: &str) -> bool {
        self.sessions.get(&jid.to_bare()).is_some_and(|list| {
            list.iter()
                .find(|s| s.jid == *jid)
                .is_some_and(|s| contains(s.features.as_deref(), feature))
        })
    }

    /// The sessions of `user` whose known features include `feature`.
    pub(crate) fn interested(&self, user: &BareJid, feature: &str) -> Vec<FullJid> {
        self.sessions.get(user).map_or_else(Vec::new, |list| {
            list.iter()
                .filter(|s| contains(s.features.as_deref(), feature))
                .map(|s| s.jid.clone())
                .collect()
        })
    }

    /// How many queries are in flight (tests, bounds).
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// How many `ver`s are cached (tests, bounds).
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.cache.entries.len()
    }

    fn set(&mut self, jid: &FullJid, key: Key, features: Option<Features>) {
        let list = self.sessions.entry(jid.to_bare()).or_default();
        let entry = SessionCaps {
            jid: jid.clone(),
            key,
            features,
        };
        match list.iter_mut().find(|s| s.jid == *jid) {
            Some(s) => *s = entry,
            None => list.push(entry),
        }
    }

    /// Fills the session's features if it still announces `key`.
    fn fill(&mut self, jid: &FullJid, key: &Key, features: &Features) {
        if let Some(s) = self
            .sessions
            .get_mut(&jid.to_bare())
            .and_then(|list| list.iter_mut().find(|s| s.jid == *jid))
            .filter(|s| s.key == *key)
        {
            s.features = Some(features.clone());
        }
    }

    fn forget(&mut self, jid: &FullJid) {
        let bare = jid.to_bare();
        if let Some(list) = self.sessions.get_mut(&bare) {
            list.retain(|s| s.jid != *jid);
            if list.is_empty() {
                self.sessions.remove(&bare);
            }
        }
    }
}

fn contains(features: Option<&[Box<str>]>, feature: &str) -> bool {
    features.is_some_and(|f| f.binary_search_by(|x| (**x).cmp(feature)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> FullJid {
        FullJid::new(s).expect("test JID")
    }

    fn key(ver: &str) -> Key {
        Key {
            algo: HashAlgo::Sha1,
            ver: ver.into(),
        }
    }

    fn features(list: &[&str]) -> Features {
        let mut v: Vec<Box<str>> = list.iter().map(|&f| f.into()).collect();
        v.sort();
        v.into()
    }

    const NODE: &str = "https://example.org/client";

    #[test]
    fn one_query_per_ver_and_the_answer_fills_every_session() {
        let mut r = Registry::default();
        let now = Instant::now();
        let (a, b) = (full("a@x/1"), full("b@x/1"));
        let first = r.presence(&a, Some((key("V"), NODE)), true, now);
        let query = first.query.clone().expect("unknown ver: a query");
        assert_eq!(query.node, format!("{NODE}#V"));
        assert!(first.held);
        // A second session with the same ver while the query is out: no second query.
        let second = r.presence(&b, Some((key("V"), NODE)), true, now);
        assert_eq!(
            second,
            Recorded {
                query: None,
                held: true
            }
        );
        assert_eq!(r.pending(), 1);
        assert!(!r.has_feature(&a, "f"));

        // Only the asked session's answer counts.
        assert!(r.asked(&query.id, &b).is_none());
        assert_eq!(r.asked(&query.id, &a), Some(&key("V")));
        let due = r.answered(&query.id, Answer::Verified(features(&["f", "g+notify"])));
        assert_eq!(due, [a.clone(), b.clone()]);
        assert!(r.has_feature(&a, "g+notify") && r.has_feature(&b, "f"));
        assert!(!r.has_feature(&a, "h"));
        assert_eq!(r.interested(&a.to_bare(), "f"), std::slice::from_ref(&a));

        // Cached: a third session gets the features at once, with no query and no hold.
        let c = full("a@x/2");
        assert_eq!(
            r.presence(&c, Some((key("V"), NODE)), true, now),
            Recorded::default()
        );
        assert!(r.has_feature(&c, "f"));
        let mut both = r.interested(&a.to_bare(), "f");
        both.sort();
        assert_eq!(both, [a.clone(), c.clone()]);
        // The same ver under another hash function is another key.
        let other = Key {
            algo: HashAlgo::Sha256,
            ver: "V".into(),
        };
        assert!(
            r.presence(&c, Some((other, NODE)), false, now)
                .query
                .is_some()
        );
        assert!(!r.has_feature(&c, "f"));
    }

    #[test]
    fn an_unverified_answer_is_for_the_asked_session_only() {
        let mut r = Registry::default();
        let now = Instant::now();
        let (a, b) = (full("a@x/1"), full("b@x/1"));
        let q = r
            .presence(&a, Some((key("V"), NODE)), false, now)
            .query
            .expect("query");
        r.presence(&b, Some((key("V"), NODE)), false, now);
        assert!(
            r.answered(&q.id, Answer::Unverified(features(&["f"])))
                .is_empty()
        );
        assert!(r.has_feature(&a, "f"));
        assert!(!r.has_feature(&b, "f"));
        assert_eq!(r.cached(), 0);
        // So the next session with that ver is asked again.
        assert!(
            r.presence(&full("c@x/1"), Some((key("V"), NODE)), false, now)
                .query
                .is_some()
        );
    }

    #[test]
    fn a_presence_without_caps_or_going_away_forgets() {
        let mut r = Registry::default();
        let now = Instant::now();
        let a = full("a@x/1");
        let q = r
            .presence(&a, Some((key("V"), NODE)), true, now)
            .query
            .expect("query");
        r.answered(&q.id, Answer::Verified(features(&["f"])));
        assert!(r.has_feature(&a, "f"));
        r.presence(&a, None, false, now);
        assert!(!r.has_feature(&a, "f"));
        assert!(r.interested(&a.to_bare(), "f").is_empty());
        r.presence(&a, Some((key("V"), NODE)), false, now);
        assert!(r.has_feature(&a, "f"));
        assert!(!r.gone(&a));
        assert!(!r.has_feature(&a, "f"));
    }

    #[test]
    fn a_held_event_is_released_by_going_away_once() {
        let mut r = Registry::default();
        let now = Instant::now();
        let a = full("a@x/1");
        let q = r
            .presence(&a, Some((key("V"), NODE)), true, now)
            .query
            .expect("query");
        assert!(r.gone(&a));
        // The late answer releases nobody, fills nobody, and still caches a verified set.
        assert!(
            r.answered(&q.id, Answer::Verified(features(&["f"])))
                .is_empty()
        );
        assert!(!r.has_feature(&a, "f"));
        assert_eq!(r.cached(), 1);
    }

    #[test]
    fn queries_time_out_and_release_held_events() {
        let mut r = Registry::default();
        let now = Instant::now();
        let a = full("a@x/1");
        let q = r
            .presence(&a, Some((key("V"), NODE)), true, now)
            .query
            .expect("query");
        let (due, next) = r.expire(now);
        assert!(due.is_empty());
        assert_eq!(next, Some(now + QUERY_TIMEOUT));
        let (due, next) = r.expire(now + QUERY_TIMEOUT);
        assert_eq!(due, std::slice::from_ref(&a));
        assert_eq!(next, None);
        // A late answer is not one any more.
        assert!(r.asked(&q.id, &a).is_none());
        assert!(
            r.answered(&q.id, Answer::Verified(features(&["f"])))
                .is_empty()
        );
        assert!(!r.has_feature(&a, "f"));
        // The ver is asked again at the next presence.
        assert!(
            r.presence(&a, Some((key("V"), NODE)), false, now)
                .query
                .is_some()
        );
    }

    #[test]
    fn queries_are_bounded_per_session_and_overall() {
        let mut r = Registry::default();
        let now = Instant::now();
        let a = full("a@x/1");
        for i in 0..MAX_PENDING_PER_SESSION {
            assert!(
                r.presence(&a, Some((key(&format!("v{i}")), NODE)), false, now)
                    .query
                    .is_some()
            );
        }
        let over = r.presence(&a, Some((key("one-too-many"), NODE)), true, now);
        assert_eq!(over, Recorded::default(), "not queried, not held");
        for i in 0..MAX_PENDING {
            r.presence(
                &full(&format!("u{i}@x/1")),
                Some((key(&format!("w{i}")), NODE)),
                false,
                now,
            );
        }
        assert_eq!(r.pending(), MAX_PENDING);
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let mut c = Cache::default();
        for i in 0..MAX_CACHE {
            c.insert(key(&format!("v{i}")), features(&["f"]));
        }
        // v0 is used again, so v1 is now the oldest.
        assert!(c.get(&key("v0")).is_some());
        c.insert(key("new"), features(&["f"]));
        assert_eq!(c.entries.len(), MAX_CACHE);
        assert!(c.get(&key("v0")).is_some());
        assert!(c.get(&key("v1")).is_none());
        assert!(c.get(&key("new")).is_some());
    }
}
