//! The `caps` capability (plugin API 0.1.2; the operator grants it as `caps`): the XEP-0115
//! entity capabilities of local accounts' sessions, as the host verified them.
//!
//! A client announces what it supports with a `<c/>` hash in its presence; the host asks it
//! once per distinct hash (disco#info), checks the answer against the hash (XEP-0115 §5.4), and
//! keeps the features of every available session. A plugin uses them to send only what a
//! session asked for: XEP-0163 §4.3 has PEP notify a session of a node only if it announced
//! `<node>+notify` ([`notify`]).
//!
//! Never an error: without the grant, for a JID that is not a local session (or account), or for
//! a session that announced no caps, is not available, or whose answer has not arrived yet, the
//! host answers "no". The host holds a session's `session-available` event (a few seconds at
//! most) until its features are known, so a plugin reacting to that event can already ask.
//!
//! ```
//! use tessera_sdk::caps;
//!
//! # tessera_sdk::testing::reset();
//! # tessera_sdk::testing::add_account("juliet@localhost");
//! # tessera_sdk::testing::add_session("juliet@localhost/phone", Some(0));
//! # tessera_sdk::testing::add_session("juliet@localhost/laptop", Some(0));
//! # tessera_sdk::testing::set_caps("juliet@localhost/phone", &["urn:xmpp:avatar:metadata+notify"]);
//! let feature = caps::notify("urn:xmpp:avatar:metadata");
//! assert!(caps::has_feature("juliet@localhost/phone", &feature));
//! assert!(!caps::has_feature("juliet@localhost/laptop", &feature));
//! assert_eq!(caps::interested("juliet@localhost", &feature), ["juliet@localhost/phone"]);
//! ```

/// Whether the available session `session` (a full JID) announced `feature` in caps the host
/// verified (or, for a client whose hash does not verify, in its own answer about itself).
pub fn has_feature(session: &str, feature: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::caps::has_feature(session, feature);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::caps_has_feature(session, feature);
}

/// The available sessions (full JIDs) of the local account `user` (a bare JID) that announced
/// `feature`.
pub fn interested(user: &str, feature: &str) -> Vec<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::caps::interested(user, feature);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::caps_interested(user, feature);
}

/// The feature a client announces to get notifications of the PEP node `node` (XEP-0163 §4.3,
/// "Filtered Notifications"): `node` + `+notify`.
pub fn notify(node: &str) -> String {
    format!("{node}+notify")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn only_available_sessions_with_the_feature_and_the_grant() {
        testing::reset();
        testing::add_account("juliet@localhost");
        testing::add_session("juliet@localhost/a", Some(0));
        testing::add_session("juliet@localhost/bound", None);
        testing::set_caps("juliet@localhost/a", &["x+notify", "y"]);
        testing::set_caps("juliet@localhost/bound", &["x+notify"]);
        assert!(has_feature("juliet@localhost/a", "x+notify"));
        assert!(!has_feature("juliet@localhost/a", "z"));
        // Bound but not available: nothing, as on the host.
        assert!(!has_feature("juliet@localhost/bound", "x+notify"));
        assert_eq!(
            interested("juliet@localhost", "x+notify"),
            ["juliet@localhost/a"]
        );
        // Not a local account's bare JID.
        assert!(interested("juliet@localhost/a", "y").is_empty());
        assert!(interested("romeo@example.org", "y").is_empty());
        testing::clear_caps("juliet@localhost/a");
        assert!(!has_feature("juliet@localhost/a", "y"));
        testing::set_caps("juliet@localhost/a", &["y"]);
        testing::remove_session("juliet@localhost/a");
        assert!(!has_feature("juliet@localhost/a", "y"));
        testing::add_session("juliet@localhost/a", Some(0));
        testing::set_caps("juliet@localhost/a", &["y"]);
        testing::deny("caps");
        assert!(!has_feature("juliet@localhost/a", "y"));
        assert!(interested("juliet@localhost", "y").is_empty());
    }

    #[test]
    fn notify_appends_the_suffix() {
        assert_eq!(
            notify("urn:xmpp:microblog:0"),
            "urn:xmpp:microblog:0+notify"
        );
    }
}
