//! The fake host's accounts, rosters and sessions (the `accounts`, `roster` and `sessions`
//! capabilities), with the real host's rules: users are local bare JIDs on the fake's domain
//! (`localhost` unless [`set_domain`] says otherwise), usernames go through nodeprep (RFC 7622
//! §3.3) with the same `jid` crate, and removing an account deletes what it owned.

use std::collections::{BTreeMap, BTreeSet};

use super::{FakeHost, HOST};
use crate::error::HostError;
use crate::owner::Owner;
use crate::roster::{Item, Subscription};
use crate::sessions::Session;

/// Accounts and what hangs off them, by bare JID.
#[derive(Debug)]
pub(super) struct Directory {
    domain: String,
    accounts: BTreeSet<String>,
    admins: BTreeSet<String>,
    rosters: BTreeMap<String, Vec<Item>>,
    sessions: BTreeMap<String, Vec<Session>>,
}

impl Default for Directory {
    fn default() -> Self {
        Self {
            domain: "localhost".to_owned(),
            accounts: BTreeSet::new(),
            admins: BTreeSet::new(),
            rosters: BTreeMap::new(),
            sessions: BTreeMap::new(),
        }
    }
}

impl Directory {
    /// Whether the session (full JID) is bound and available (has a priority).
    pub(super) fn is_available(&self, full_jid: &str) -> bool {
        self.sessions
            .get(super::bare(full_jid))
            .is_some_and(|l| l.iter().any(|s| s.jid == full_jid && s.is_available()))
    }

    /// The full JIDs of the account's bound sessions.
    pub(super) fn session_jids(&self, user: &str) -> Vec<String> {
        self.sessions
            .get(user)
            .map_or_else(Vec::new, |l| l.iter().map(|s| s.jid.clone()).collect())
    }

    /// `user` as the host's `local_user` reads it: a bare JID with a localpart on our domain.
    pub(super) fn local_user(&self, user: &str) -> Result<String, HostError> {
        let jid =
            jid::BareJid::new(user).map_err(|e| HostError::Invalid(format!("not a JID: {e}")))?;
        if jid.domain().as_str() != self.domain || jid.node().is_none() {
            return Err(HostError::Invalid("not a local account JID".to_owned()));
        }
        Ok(jid.to_string())
    }
}

fn with<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// Sets the server's domain (default `localhost`); call it before adding accounts.
pub fn set_domain(domain: &str) {
    with(|h| h.directory.domain = domain.to_owned());
}

/// Adds an account, by bare JID, as `tessera user add` would (no `user-created` event is
/// delivered: drive [`super::Harness::event`] for that).
///
/// # Panics
///
/// If `jid` is not a local bare JID: a mistake in the test.
pub fn add_account(jid: &str) {
    with(|h| {
        let jid = h
            .directory
            .local_user(jid)
            .expect("test account must be a local bare JID");
        h.directory.accounts.insert(jid);
    });
}

/// Makes an account one of the operator's `admins`.
pub fn set_admin(jid: &str) {
    with(|h| h.directory.admins.insert(jid.to_owned()));
}

/// Adds (or replaces, by contact) an item in `user`'s roster.
pub fn add_roster_item(user: &str, item: Item) {
    with(|h| {
        let roster = h.directory.rosters.entry(user.to_owned()).or_default();
        roster.retain(|i| i.jid != item.jid);
        roster.push(item);
    });
}

/// Binds a session (full JID); `priority` `None` until it sends initial presence. Replaces a
/// session with the same full JID.
pub fn add_session(full_jid: &str, priority: Option<i8>) {
    with(|h| {
        let bare = super::bare(full_jid).to_owned();
        let list = h.directory.sessions.entry(bare).or_default();
        list.retain(|s| s.jid != full_jid);
        list.push(Session::new(full_jid, priority));
    });
}

/// Ends a session.
pub fn remove_session(full_jid: &str) {
    with(|h| {
        if let Some(list) = h.directory.sessions.get_mut(super::bare(full_jid)) {
            list.retain(|s| s.jid != full_jid);
        }
        h.caps.forget(full_jid);
    });
}

/// The fake's side of the `accounts`, `roster` and `sessions` calls.
pub(super) mod fake {
    use super::*;

    pub(crate) fn account_exists(user: &str) -> Result<bool, HostError> {
        with(|h| {
            h.granted("accounts")?;
            Ok(h.directory
                .local_user(user)
                .is_ok_and(|jid| h.directory.accounts.contains(&jid)))
        })
    }

    pub(crate) fn account_create(username: &str, password: &str) -> Result<String, HostError> {
        with(|h| {
            h.granted("accounts")?;
            let node = jid::NodePart::new(username.trim())
                .map_err(|e| HostError::Invalid(format!("invalid username: {e}")))?;
            if password.is_empty() {
                return Err(HostError::Invalid("invalid password".to_owned()));
            }
            let jid = format!("{node}@{}", h.directory.domain);
            if !h.directory.accounts.insert(jid.clone()) {
                return Err(HostError::Invalid("the username is taken".to_owned()));
            }
            Ok(jid)
        })
    }

    pub(crate) fn account_remove(user: &str) -> Result<bool, HostError> {
        with(|h| {
            h.granted("accounts")?;
            let jid = h.directory.local_user(user)?;
            if !h.directory.accounts.remove(&jid) {
                return Ok(false);
            }
            // As the host: everything the account owned, in every capability, goes with it.
            let owner = Owner::user(jid.clone());
            h.kv.retain(|(_, o, _), _| *o != owner);
            h.archive.retain(|(_, o, _), _| *o != owner);
            h.blobs.retain(|(_, o, _), _| *o != owner);
            h.directory.rosters.remove(&jid);
            h.directory.sessions.remove(&jid);
            h.directory.admins.remove(&jid);
            h.scope.marks.remove(&jid);
            Ok(true)
        })
    }

    pub(crate) fn account_is_admin(user: &str) -> bool {
        with(|h| {
            h.granted("accounts").is_ok()
                && h.directory
                    .local_user(user)
                    .is_ok_and(|jid| h.directory.admins.contains(&jid))
        })
    }

    pub(crate) fn roster_items(user: &str) -> Result<Vec<Item>, HostError> {
        with(|h| {
            h.granted("roster")?;
            let jid = h.directory.local_user(user)?;
            Ok(h.directory.rosters.get(&jid).cloned().unwrap_or_default())
        })
    }

    pub(crate) fn roster_subscription_of(
        user: &str,
        contact: &str,
    ) -> Result<Subscription, HostError> {
        with(|h| {
            h.granted("roster")?;
            let jid = h.directory.local_user(user)?;
            let contact = jid::BareJid::new(contact)
                .map_err(|e| HostError::Invalid(format!("contact is not a JID: {e}")))?
                .to_string();
            Ok(h.directory
                .rosters
                .get(&jid)
                .and_then(|r| r.iter().find(|i| i.jid == contact))
                .map_or(Subscription::None, |i| i.subscription))
        })
    }

    pub(crate) fn sessions_list(user: &str) -> Vec<Session> {
        with(|h| {
            if h.granted("sessions").is_err() {
                return Vec::new();
            }
            h.directory
                .local_user(user)
                .ok()
                .and_then(|jid| h.directory.sessions.get(&jid).cloned())
                .unwrap_or_default()
        })
    }

    /// The fake has no presence content: an available session "sends" `<presence/>` from itself
    /// to `to`, which shows in [`super::super::take_sent`].
    pub(crate) fn sessions_send_presence(session: &str, to: &str) -> Result<bool, HostError> {
        with(|h| {
            h.granted("sessions")?;
            if !h.directory.is_available(session) {
                return Ok(false);
            }
            h.sent.push(format!(
                "<presence xmlns='jabber:client' from='{session}' to='{to}'/>"
            ));
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{deny, install_manifest, reset};
    use super::*;
    use crate::kv::Kv;
    use crate::{DataDeclaration, Manifest, OwnerKind, Visibility, accounts, roster, sessions};

    #[test]
    fn accounts_follow_the_hosts_rules() {
        reset();
        assert_eq!(
            accounts::create("Romeo", "pw"),
            Ok("romeo@localhost".into())
        );
        assert_eq!(
            accounts::create("romeo", "pw"),
            Err(HostError::Invalid("the username is taken".into()))
        );
        assert!(matches!(
            accounts::create("a@b", "pw"),
            Err(HostError::Invalid(e)) if e.starts_with("invalid username")
        ));
        assert_eq!(
            accounts::create("juliet", ""),
            Err(HostError::Invalid("invalid password".into()))
        );
        assert_eq!(accounts::exists("romeo@localhost"), Ok(true));
        assert_eq!(accounts::exists("romeo@elsewhere"), Ok(false));
        assert_eq!(accounts::exists("not a jid@@"), Ok(false));
        assert!(matches!(
            accounts::remove("romeo@elsewhere"),
            Err(HostError::Invalid(_))
        ));
        assert!(!accounts::is_admin("romeo@localhost"));
        set_admin("romeo@localhost");
        assert!(accounts::is_admin("romeo@localhost"));
        deny("accounts");
        assert!(!accounts::is_admin("romeo@localhost"), "fails closed");
        assert_eq!(
            accounts::exists("romeo@localhost"),
            Err(HostError::NotGranted)
        );
    }

    #[test]
    fn removing_an_account_deletes_what_it_owned() {
        reset();
        set_domain("example.com");
        install_manifest(Manifest::new("t", "0").data(DataDeclaration::new(
            "prefs",
            "p",
            OwnerKind::User,
            Visibility::Owner,
        )));
        add_account("juliet@example.com");
        add_account("nurse@example.com");
        add_session("juliet@example.com/balcony", Some(1));
        add_roster_item(
            "juliet@example.com",
            Item::new("romeo@example.net", Subscription::Both),
        );
        let juliet = Kv::new("prefs", Owner::user("juliet@example.com"));
        let nurse = Kv::new("prefs", Owner::user("nurse@example.com"));
        juliet.set_str("k", "v").unwrap();
        nurse.set_str("k", "v").unwrap();
        assert_eq!(accounts::remove("juliet@example.com"), Ok(true));
        assert_eq!(accounts::remove("juliet@example.com"), Ok(false));
        assert_eq!(juliet.get("k"), Ok(None));
        assert_eq!(nurse.get_string("k").unwrap().as_deref(), Some("v"));
        assert!(sessions::list("juliet@example.com").is_empty());
        assert_eq!(roster::items("juliet@example.com"), Ok(Vec::new()));
    }

    #[test]
    fn rosters_and_sessions_read_as_on_the_host() {
        reset();
        add_account("juliet@localhost");
        add_roster_item(
            "juliet@localhost",
            Item::new("romeo@example.net", Subscription::To)
                .named("Romeo")
                .in_group("Montague"),
        );
        add_roster_item(
            "juliet@localhost",
            Item::new("romeo@example.net", Subscription::Both),
        );
        let items = roster::items("juliet@localhost").unwrap();
        assert_eq!(items.len(), 1, "one item per contact");
        assert_eq!(items[0].subscription, Subscription::Both);
        assert_eq!(
            roster::subscription_of("juliet@localhost", "romeo@example.net"),
            Ok(Subscription::Both)
        );
        assert_eq!(
            roster::subscription_of("juliet@localhost", "tybalt@example.net"),
            Ok(Subscription::None)
        );
        assert!(matches!(
            roster::subscription_of("juliet@localhost", "@bad"),
            Err(HostError::Invalid(_))
        ));
        assert!(matches!(
            roster::items("juliet@localhost/balcony"),
            Err(HostError::Invalid(_))
        ));

        add_session("juliet@localhost/a", None);
        add_session("juliet@localhost/b", Some(2));
        add_session("juliet@localhost/b", Some(3));
        let list = sessions::list("juliet@localhost");
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].priority, Some(3));
        remove_session("juliet@localhost/a");
        assert_eq!(sessions::list("juliet@localhost").len(), 1);
        deny("sessions");
        assert!(sessions::list("juliet@localhost").is_empty());
        deny("roster");
        assert_eq!(
            roster::items("juliet@localhost"),
            Err(HostError::NotGranted)
        );
    }
}
