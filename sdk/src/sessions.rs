//! The `sessions` capability: who is online, e.g. to decide between delivering now and storing
//! for later, or pushing a notification to a device that is offline.
//!
//! Never an error: without the grant, or for a JID that is not a local account's bare JID, the
//! host answers with no sessions.
//!
//! ```
//! use tessera_sdk::sessions;
//!
//! # tessera_sdk::testing::reset();
//! # tessera_sdk::testing::add_account("juliet@localhost");
//! # tessera_sdk::testing::add_session("juliet@localhost/phone", Some(0));
//! # tessera_sdk::testing::add_session("juliet@localhost/laptop", Some(5));
//! let all = sessions::list("juliet@localhost");
//! let targets = sessions::highest_priority(&all);
//! assert_eq!(targets[0].jid, "juliet@localhost/laptop");
//! ```

/// One bound session (RFC 6120 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// Its full JID.
    pub jid: String,
    /// Its presence priority (RFC 6121 §4.7.2.3) once it sent initial presence; `None` before.
    pub priority: Option<i8>,
}

impl Session {
    /// A session (for tests and [`crate::testing::add_session`]).
    pub fn new(jid: impl Into<String>, priority: Option<i8>) -> Self {
        Self {
            jid: jid.into(),
            priority,
        }
    }

    /// Whether it sent initial presence (an "available resource", RFC 6121 §4.2). A session
    /// that only bound a resource gets stanzas addressed to its full JID but is not "online"
    /// to its contacts.
    pub fn is_available(&self) -> bool {
        self.priority.is_some()
    }

    /// The resource part of its JID (empty if the JID has none).
    pub fn resource(&self) -> &str {
        self.jid.split_once('/').map_or("", |(_, r)| r)
    }
}

/// The bound sessions of `user` (a local account's bare JID), available or not.
pub fn list(user: &str) -> Vec<Session> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::sessions::list(user)
        .into_iter()
        .map(|s| Session {
            jid: s.jid,
            priority: s.priority,
        })
        .collect();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::sessions_list(user);
}

/// Sends the current available presence of `session` (a local full JID) to `to`, as the server
/// sends it to a contact: from the session, its last broadcast presence (XEP-0191 §3.4 has the
/// server do this for a contact the user unblocks). `Ok(false)` when the session is not
/// available (nothing is sent). Since plugin API 0.1.2.
///
/// # Errors
/// [`HostError::NotGranted`](crate::HostError::NotGranted) without `sessions` and `router.impersonate` (it speaks for the
/// account), [`HostError::Invalid`](crate::HostError::Invalid) for a JID that is not a local session or a `to` that is no
/// JID.
pub fn send_presence(session: &str, to: &str) -> Result<bool, crate::HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::sessions::send_presence(session, to)
        .map_err(crate::HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::sessions_send_presence(session, to);
}

/// The available sessions with the highest non-negative priority: the ones a `chat` or `normal`
/// message to the bare JID is delivered to (RFC 6121 §8.5.2.1.1). Sessions with a negative
/// priority never get such messages, so none left means "store it or bounce it". Ties all come
/// back, in the order given.
pub fn highest_priority(sessions: &[Session]) -> Vec<&Session> {
    let Some(top) = sessions
        .iter()
        .filter_map(|s| s.priority)
        .filter(|p| *p >= 0)
        .max()
    else {
        return Vec::new();
    };
    sessions
        .iter()
        .filter(|s| s.priority == Some(top))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_priority_skips_negative_and_unavailable_and_keeps_ties() {
        let s = [
            Session::new("a@b/bound-only", None),
            Session::new("a@b/hidden", Some(-1)),
            Session::new("a@b/one", Some(3)),
            Session::new("a@b/two", Some(3)),
            Session::new("a@b/low", Some(0)),
        ];
        let top: Vec<&str> = highest_priority(&s).iter().map(|s| s.resource()).collect();
        assert_eq!(top, ["one", "two"]);
        assert!(highest_priority(&s[..2]).is_empty(), "negative only: none");
        assert!(highest_priority(&[]).is_empty());
        assert!(!s[0].is_available());
        assert!(s[1].is_available());
    }
}
