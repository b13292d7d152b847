//! Resumable sessions (XEP-0198 §5): which resumption id belongs to which session, and the hand-off
//! of a new, authenticated connection to the session task that owns the stream's state.
//!
//! A session that enabled resumption registers here and keeps the receiving end. A client that
//! authenticates on a new connection and sends `<resume previd='…'/>` has its whole connection
//! (transport and parser, with anything it pipelined) sent to that task, which answers
//! `<resumed/>`, resends what was not acknowledged and goes on serving on it, whether it was
//! hibernating after losing its connection or still holding one the client gave up on.

use std::collections::HashMap;
use std::sync::Mutex;

use jid::FullJid;

use super::conn::Conn;

/// A new connection that asked to resume a session.
pub(crate) struct Resumption {
    /// The connection, authenticated as the session's account.
    pub(crate) conn: Conn,
    /// The client's `h`: the stanzas it received from the old stream.
    pub(crate) h: u32,
    /// For a resumption inline in XEP-0388 SASL2: what the `<success/>` it is answered in
    /// carries (none for a `<resume/>` nonza).
    pub(crate) sasl2: Option<super::sasl2::ResumeSuccess>,
}

struct Entry {
    jid: FullJid,
    tx: flume::Sender<Resumption>,
}

/// The registry of resumable sessions, by resumption id.
#[derive(Default)]
pub(crate) struct Resumptions {
    // A std Mutex held for map operations only, never across an await.
    map: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Resumptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumptions").finish_non_exhaustive()
    }
}

/// Why a resumption was refused; the client gets `<failed/>` with `item-not-found` either way
/// (XEP-0198 §5), so a guessed id says nothing about whether it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No session has that id (never had, ended or expired).
    Unknown,
    /// It belongs to another account.
    NotYours,
}

impl Resumptions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned lock means a panic inside one of these short sections: keep serving.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers the session `jid` under `id`; the session keeps the receiver.
    pub(crate) fn register(&self, id: String, jid: FullJid) -> flume::Receiver<Resumption> {
        // One at a time: a second resumer while the first is being served waits in the channel
        // and is answered in turn.
        let (tx, rx) = flume::bounded(1);
        self.map().insert(id, Entry { jid, tx });
        rx
    }

    /// Forgets `id`: the session ended. Resumptions already queued stay in the receiver, which
    /// the session answers before it goes.
    pub(crate) fn remove(&self, id: &str) {
        self.map().remove(id);
    }

    /// Hands `resumption` to the session `id` if it belongs to `user` (a localpart on our
    /// domain). On refusal the connection comes back with the reason.
    pub(crate) fn resume(
        &self,
        id: &str,
        user: &str,
        resumption: Resumption,
    ) -> Result<FullJid, (Refused, Box<Resumption>)> {
        let tx = match self.map().get(id) {
            None => return Err((Refused::Unknown, Box::new(resumption))),
            Some(e) if e.jid.node().is_none_or(|n| n.as_str() != user) => {
                return Err((Refused::NotYours, Box::new(resumption)));
            }
            Some(e) => (e.tx.clone(), e.jid.clone()),
        };
        match tx.0.try_send(resumption) {
            Ok(()) => Ok(tx.1),
            // Another resumption is waiting for this session (the client raced itself), or the
            // session just ended: refused like an unknown id.
            Err(flume::TrySendError::Full(r) | flume::TrySendError::Disconnected(r)) => {
                Err((Refused::Unknown, Box::new(r)))
            }
        }
    }

    /// Registered sessions (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tessera_xml::{Limits, StreamParser};

    use super::super::transport::Transport;
    use super::*;

    fn resumption(h: u32) -> Resumption {
        Resumption {
            conn: Conn::new(
                Transport::Upgrading,
                StreamParser::new(Limits::default()),
                Duration::from_secs(1),
            ),
            h,
            sasl2: None,
        }
    }

    #[test]
    fn only_the_owner_resumes_and_only_while_registered() {
        let registry = Resumptions::default();
        let jid: FullJid = "alice@localhost/phone".parse().expect("jid");
        let rx = registry.register("id1".into(), jid.clone());
        assert_eq!(registry.len(), 1);

        let refused = registry.resume("nope", "alice", resumption(1));
        assert!(matches!(refused, Err((Refused::Unknown, _))));
        let refused = registry.resume("id1", "mallory", resumption(1));
        assert!(matches!(refused, Err((Refused::NotYours, _))));
        assert!(
            rx.is_empty(),
            "a refused resumption never reaches the session"
        );

        assert_eq!(
            registry.resume("id1", "alice", resumption(7)).ok(),
            Some(jid)
        );
        assert_eq!(rx.try_recv().map(|r| r.h).ok(), Some(7));

        registry.remove("id1");
        assert_eq!(registry.len(), 0);
        assert!(matches!(
            registry.resume("id1", "alice", resumption(1)),
            Err((Refused::Unknown, _))
        ));
    }

    #[test]
    fn a_second_resumer_waiting_is_refused_not_lost() {
        let registry = Resumptions::default();
        let _rx = registry.register("id".into(), "bob@localhost/r".parse().expect("jid"));
        assert!(registry.resume("id", "bob", resumption(1)).is_ok());
        match registry.resume("id", "bob", resumption(2)) {
            Err((Refused::Unknown, back)) => assert_eq!(back.h, 2, "the connection comes back"),
            Err((Refused::NotYours, _)) | Ok(_) => panic!("expected a refusal as unknown"),
        }
    }
}
