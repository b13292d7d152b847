//! The session registry and local delivery.
//!
//! Sessions register here once bound. The registry is sharded by bare JID so that logins and
//! presence updates on different accounts do not contend. Delivery never awaits a recipient: it
//! `try_send`s into the session's bounded queue, and a full queue closes that session with
//! `<resource-constraint/>` (RFC 6120 §4.9.3.15) rather than blocking the sender or buffering
//! without bound. A stanza for several resources is serialised once and shared as [`Bytes`].

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use jid::{BareJid, FullJid};
use tokio_util::sync::CancellationToken;

/// Why the router asked a session to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CloseReason {
    /// Its queue overflowed: the client does not read fast enough.
    SlowReader = 1,
    /// Another session bound the same resource (RFC 6120 §7.7.2.2).
    Conflict = 2,
    /// The server is shutting down.
    Shutdown = 3,
    /// The account was removed.
    AccountRemoved = 4,
}

impl CloseReason {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::SlowReader),
            2 => Some(Self::Conflict),
            3 => Some(Self::Shutdown),
            4 => Some(Self::AccountRemoved),
            _ => None,
        }
    }

    /// Why, for the log.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::SlowReader => "outbound queue full",
            Self::Conflict => "resource bound by another session",
            Self::Shutdown => "server shutting down",
            Self::AccountRemoved => "account removed",
        }
    }

    /// The RFC 6120 §4.9.3 stream error condition sent to the client.
    pub(crate) fn condition(self) -> &'static str {
        match self {
            Self::SlowReader => "resource-constraint",
            Self::Conflict => "conflict",
            Self::Shutdown => "system-shutdown",
            Self::AccountRemoved => "not-authorized",
        }
    }
}

/// Out-of-band control of one session: the router (or an admin action) cancels it with a reason.
#[derive(Debug, Default)]
pub(crate) struct SessionControl {
    token: CancellationToken,
    reason: AtomicU8,
    /// Cancelled once the session has unregistered and told its contacts it is gone.
    ended: CancellationToken,
}

impl SessionControl {
    /// Asks the session to close; the first reason given wins.
    pub(crate) fn close(&self, reason: CloseReason) {
        let _ = self
            .reason
            .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    /// Resolves once the session has been asked to close.
    ///
    /// # Cancel safety
    /// Cancel safe: it only waits on a `CancellationToken`.
    pub(crate) async fn closed(&self) -> CloseReason {
        self.token.cancelled().await;
        CloseReason::from_u8(self.reason.load(Ordering::Acquire)).unwrap_or(CloseReason::Shutdown)
    }

    /// Records that the session has unregistered and broadcast its unavailable presence.
    pub(crate) fn mark_ended(&self) {
        self.ended.cancel();
    }

    /// Resolves once [`SessionControl::mark_ended`] has been called.
    ///
    /// # Cancel safety
    /// Cancel safe: it only waits on a `CancellationToken`.
    pub(crate) async fn ended(&self) {
        self.ended.cancelled().await;
    }
}

/// What a session's writer receives.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A serialised stanza, written as is.
    Stanza(Bytes),
}

/// The router's handle on one bound session.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    /// The bound full JID.
    pub(crate) jid: FullJid,
    /// Unique per connection, so a stale unregister cannot remove a newer session on the same JID.
    pub(crate) id: u64,
    pub(crate) tx: flume::Sender<Outbound>,
    pub(crate) control: Arc<SessionControl>,
}

/// What other parts of the server may know about a session.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    /// The bound full JID.
    pub(crate) jid: FullJid,
    /// `Some(priority)` once the session sent available presence (RFC 6121 §4.2); `None` otherwise.
    pub(crate) priority: Option<i8>,
    /// The session requested the roster, so it gets roster pushes (RFC 6121 §2.1.6: "interested").
    pub(crate) interested: bool,
    /// The last available presence it broadcast, serialised with its full JID as `from`, so probes
    /// can be answered on its behalf (RFC 6121 §4.3.2).
    pub(crate) last_presence: Option<Bytes>,
}

struct Entry {
    handle: SessionHandle,
    priority: Option<i8>,
    interested: bool,
    last_presence: Option<Bytes>,
}

impl Entry {
    fn info(&self) -> SessionInfo {
        SessionInfo {
            jid: self.handle.jid.clone(),
            priority: self.priority,
            interested: self.interested,
            last_presence: self.last_presence.clone(),
        }
    }
}

/// Result of a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued for the session.
    Queued,
    /// No session is bound to that JID (or it is going away).
    NoSession,
    /// The session's queue was full: it has been asked to close as a slow reader.
    Overflow,
}

/// Why a bind was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegisterError {
    /// The resource is bound and the policy is to refuse.
    Conflict,
    /// The account already has the configured maximum number of sessions.
    TooManySessions,
}

const SHARDS: usize = 64;

type Shard = RwLock<HashMap<BareJid, Vec<Entry>>>;

/// The sharded session registry.
pub(crate) struct Router {
    shards: Box<[Shard]>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").finish_non_exhaustive()
    }
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

// Locks are std RwLocks held only for map operations, never across an `.await`; a poisoned
// lock means a panic inside one of these short sections, which is a bug we keep serving through.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Router {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }

    fn shard(&self, bare: &BareJid) -> &Shard {
        &self.shards[(self.hasher.hash_one(bare) as usize) % SHARDS]
    }

    /// Registers a bound session. With `replace_existing`, a session already bound to the same
    /// full JID is asked to close with `conflict` and replaced, and its control is returned so
    /// the caller can wait for it to end; otherwise the bind is refused.
    pub(crate) fn register(
        &self,
        handle: SessionHandle,
        replace_existing: bool,
        max_per_account: usize,
    ) -> Result<Option<Arc<SessionControl>>, RegisterError> {
        let bare = handle.jid.to_bare();
        let mut shard = write(self.shard(&bare));
        let entries = shard.entry(bare).or_default();
        let mut replaced = None;
        if let Some(pos) = entries.iter().position(|e| e.handle.jid == handle.jid) {
            if !replace_existing {
                return Err(RegisterError::Conflict);
            }
            let old = entries.swap_remove(pos);
            old.handle.control.close(CloseReason::Conflict);
            replaced = Some(old.handle.control);
        }
        if entries.len() >= max_per_account {
            return Err(RegisterError::TooManySessions);
        }
        entries.push(Entry {
            handle,
            priority: None,
            interested: false,
            last_presence: None,
        });
        Ok(replaced)
    }

    /// Whether a full JID is bound (used to pick a free resource).
    pub(crate) fn is_bound(&self, jid: &FullJid) -> bool {
        let bare = jid.to_bare();
        read(self.shard(&bare))
            .get(&bare)
            .is_some_and(|v| v.iter().any(|e| e.handle.jid == *jid))
    }

    /// Removes a session, if `id` still owns the JID. Returns whether it was registered.
    pub(crate) fn unregister(&self, jid: &FullJid, id: u64) -> bool {
        let bare = jid.to_bare();
        let mut shard = write(self.shard(&bare));
        let Some(entries) = shard.get_mut(&bare) else {
            return false;
        };
        let before = entries.len();
        entries.retain(|e| !(e.handle.id == id && e.handle.jid == *jid));
        let removed = entries.len() != before;
        if entries.is_empty() {
            shard.remove(&bare);
        }
        removed
    }

    fn with_entry<R>(&self, jid: &FullJid, id: u64, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let bare = jid.to_bare();
        let mut shard = write(self.shard(&bare));
        shard
            .get_mut(&bare)?
            .iter_mut()
            .find(|e| e.handle.id == id && e.handle.jid == *jid)
            .map(f)
    }

    /// Records the session's availability: `Some((priority, presence))` after available presence,
    /// `None` after unavailable.
    pub(crate) fn set_presence(&self, jid: &FullJid, id: u64, presence: Option<(i8, Bytes)>) {
        self.with_entry(jid, id, |e| match presence {
            Some((prio, bytes)) => {
                e.priority = Some(prio);
                e.last_presence = Some(bytes);
            }
            None => {
                e.priority = None;
                e.last_presence = None;
            }
        });
    }

    /// Marks the session as interested in roster pushes.
    pub(crate) fn set_interested(&self, jid: &FullJid, id: u64) {
        self.with_entry(jid, id, |e| e.interested = true);
    }

    /// Whether the account has a session bound.
    pub(crate) fn has_sessions(&self, bare: &BareJid) -> bool {
        read(self.shard(bare)).contains_key(bare)
    }

    /// The sessions bound for an account.
    pub(crate) fn sessions(&self, bare: &BareJid) -> Vec<SessionInfo> {
        read(self.shard(bare))
            .get(bare)
            .map(|v| v.iter().map(Entry::info).collect())
            .unwrap_or_default()
    }

    /// One session, by full JID.
    pub(crate) fn session(&self, jid: &FullJid) -> Option<SessionInfo> {
        let bare = jid.to_bare();
        read(self.shard(&bare))
            .get(&bare)?
            .iter()
            .find(|e| e.handle.jid == *jid)
            .map(Entry::info)
    }

    /// Queues a serialised stanza for one session without waiting.
    pub(crate) fn send(&self, to: &FullJid, stanza: Bytes) -> Delivery {
        let bare = to.to_bare();
        let tx = {
            let shard = read(self.shard(&bare));
            match shard
                .get(&bare)
                .and_then(|v| v.iter().find(|e| e.handle.jid == *to))
            {
                Some(e) => (e.handle.tx.clone(), e.handle.control.clone()),
                None => return Delivery::NoSession,
            }
        };
        Self::try_queue(&tx.0, &tx.1, stanza)
    }

    fn try_queue(
        tx: &flume::Sender<Outbound>,
        control: &SessionControl,
        stanza: Bytes,
    ) -> Delivery {
        match tx.try_send(Outbound::Stanza(stanza)) {
            Ok(()) => Delivery::Queued,
            Err(flume::TrySendError::Full(_)) => {
                control.close(CloseReason::SlowReader);
                Delivery::Overflow
            }
            Err(flume::TrySendError::Disconnected(_)) => Delivery::NoSession,
        }
    }

    /// Asks every session of `bare` to close (its account was removed); returns how many.
    pub(crate) fn close_account(&self, bare: &BareJid, reason: CloseReason) -> usize {
        let shard = read(self.shard(bare));
        let Some(entries) = shard.get(bare) else {
            return 0;
        };
        for e in entries {
            e.handle.control.close(reason);
        }
        entries.len()
    }

    /// Asks every session to close (shutdown).
    pub(crate) fn close_all(&self, reason: CloseReason) {
        for shard in self.shards.iter() {
            for v in read(shard).values() {
                for e in v {
                    e.handle.control.close(reason);
                }
            }
        }
    }

    /// Number of bound sessions.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| read(s).values().map(Vec::len).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(jid: &str, id: u64, cap: usize) -> (SessionHandle, flume::Receiver<Outbound>) {
        let (tx, rx) = flume::bounded(cap);
        let h = SessionHandle {
            jid: jid.parse().expect("invariant: test JID is valid"),
            id,
            tx,
            control: Arc::default(),
        };
        (h, rx)
    }

    #[test]
    fn conflict_policy_kicks_or_refuses() {
        let r = Router::new();
        let (a, _ra) = handle("u@localhost/r", 1, 4);
        let (b, _rb) = handle("u@localhost/r", 2, 4);
        let a_ctl = a.control.clone();
        r.register(a, true, 10).expect("first bind");
        assert!(matches!(
            r.register(b.clone(), false, 10),
            Err(RegisterError::Conflict)
        ));
        let replaced = r.register(b, true, 10).expect("replace");
        assert!(replaced.is_some_and(|c| Arc::ptr_eq(&c, &a_ctl)));
        assert!(a_ctl.token.is_cancelled());
        assert_eq!(r.sessions(&"u@localhost".parse().expect("jid")).len(), 1);
        // A stale unregister from the kicked session must not remove the new one.
        assert!(!r.unregister(&"u@localhost/r".parse().expect("jid"), 1));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn full_queue_closes_slow_session() {
        let r = Router::new();
        let (a, _rx) = handle("u@localhost/r", 1, 1);
        let ctl = a.control.clone();
        let jid = a.jid.clone();
        r.register(a, true, 10).expect("bind");
        assert_eq!(r.send(&jid, Bytes::from_static(b"<m/>")), Delivery::Queued);
        assert_eq!(
            r.send(&jid, Bytes::from_static(b"<m/>")),
            Delivery::Overflow
        );
        assert!(ctl.token.is_cancelled());
        assert_eq!(
            CloseReason::from_u8(ctl.reason.load(Ordering::Acquire)),
            Some(CloseReason::SlowReader)
        );
    }

    #[test]
    fn per_account_session_cap() {
        let r = Router::new();
        let (a, _ra) = handle("u@localhost/a", 1, 1);
        let (b, _rb) = handle("u@localhost/b", 2, 1);
        r.register(a, true, 1).expect("bind");
        assert!(matches!(
            r.register(b, true, 1),
            Err(RegisterError::TooManySessions)
        ));
    }
}
