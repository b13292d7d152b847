//! The fake host's `caps` (plugin API 0.1.2), with the real host's rules: a session's features
//! count only while it is bound and available ([`super::add_session`] with a priority), only the
//! local domain's sessions and accounts are answered, and a denied grant answers "no".

use std::collections::BTreeMap;

use super::{FakeHost, HOST};

/// The features each session (full JID) announced.
#[derive(Debug, Default)]
pub(super) struct Caps {
    features: BTreeMap<String, Vec<String>>,
}

impl Caps {
    /// The session ended: its features go, as on the host.
    pub(super) fn forget(&mut self, full_jid: &str) {
        self.features.remove(full_jid);
    }
}

/// Sets the verified XEP-0115 features of a session (full JID), as if it had announced caps the
/// host verified. They count while the session is available ([`super::add_session`] with a
/// priority); a later call replaces them, and [`super::remove_session`] forgets them.
pub fn set_caps(full_jid: &str, features: &[&str]) {
    HOST.with(|h| {
        h.borrow_mut().caps.features.insert(
            full_jid.to_owned(),
            features.iter().map(|&f| f.to_owned()).collect(),
        );
    });
}

/// Forgets a session's features, as a presence without caps does.
pub fn clear_caps(full_jid: &str) {
    HOST.with(|h| h.borrow_mut().caps.features.remove(full_jid));
}

impl FakeHost {
    fn caps_of(&self, full_jid: &str) -> Option<&[String]> {
        if self.granted("caps").is_err() || !self.directory.is_available(full_jid) {
            return None;
        }
        self.caps.features.get(full_jid).map(Vec::as_slice)
    }
}

/// The fake's side of the `caps` calls.
pub(crate) mod fake {
    use super::*;

    pub(crate) fn caps_has_feature(session: &str, feature: &str) -> bool {
        HOST.with(|h| {
            h.borrow()
                .caps_of(session)
                .is_some_and(|f| f.iter().any(|x| x == feature))
        })
    }

    pub(crate) fn caps_interested(user: &str, feature: &str) -> Vec<String> {
        HOST.with(|h| {
            let h = h.borrow();
            let Ok(user) = h.directory.local_user(user) else {
                return Vec::new();
            };
            h.directory
                .session_jids(&user)
                .into_iter()
                .filter(|s| h.caps_of(s).is_some_and(|f| f.iter().any(|x| x == feature)))
                .collect()
        })
    }
}
