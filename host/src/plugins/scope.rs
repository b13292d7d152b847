//! `scope` (WIT 0.1.1): which accounts a plugin's account hooks run for.
//!
//! A plugin narrows its `outgoing`, `incoming` or `undeliverable` hooks from `init`; from then on
//! [`Scope::admits`] lets a stanza through to the plugin only when its account is marked, or when
//! it has a direct child the plugin named (`unless-child`). The check is one atomic load for a
//! hook that is not narrowed, and a hash lookup under a read lock for one that is (two for
//! `incoming` presence, whose sender's mark also counts): far cheaper
//! than entering a component (DESIGN.md "Instances and limits"), which is the point.
//!
//! Marks are kept per plugin config name in a [`MarkBook`] that outlives reloads. `durable` marks
//! are also rows of `plugin_marks` (owned by the account, deleted with it: the privacy engine's
//! range delete), read back at start-up; `online` marks live in memory and go when the account's
//! last session ends ([`super::Plugins::account_offline`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use jid::BareJid;
use minidom::Element;

use super::bindings::tessera::plugin::manifest::Hook;
use super::bindings::tessera::plugin::scope::{self, Lifetime};
use super::bindings::tessera::plugin::types;
use super::caps::guest_try;
use super::instance::HostState;

type Guest<T> = wasmtime::Result<Result<T, types::Error>>;

/// The bit of a hook that can be narrowed.
fn bit(hook: Hook) -> Option<u8> {
    match hook {
        Hook::Outgoing => Some(1),
        Hook::Incoming => Some(2),
        Hook::Undeliverable => Some(4),
        Hook::Service | Hook::Iq => None,
    }
}

/// One plugin's marked accounts (bare JIDs), shared by its instances and kept over reloads.
#[derive(Debug, Default)]
pub(crate) struct Marks(RwLock<HashMap<String, Lifetime>>);

impl Marks {
    fn get(&self, account: &str) -> Option<Lifetime> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .copied()
    }

    fn contains(&self, account: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(account)
    }

    /// Sets a mark; the lifetime it had, if any.
    fn insert(&self, account: String, lifetime: Lifetime) -> Option<Lifetime> {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account, lifetime)
    }

    fn remove(&self, account: &str) -> Option<Lifetime> {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account)
    }

    /// Drops the account's `online` mark unless `online()` (asked under the lock, so a mark
    /// set by a session that is registered by then is never lost to this).
    fn end_online(&self, account: &str, online: impl FnOnce() -> bool) {
        let mut marks = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if matches!(marks.get(account), Some(Lifetime::Online)) && !online() {
            marks.remove(account);
        }
    }

    /// How many accounts are marked (for tests and logs).
    pub(crate) fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Every plugin's [`Marks`], by config name: the runtime's, so a reload keeps them.
#[derive(Debug, Default)]
pub(crate) struct MarkBook(Mutex<HashMap<String, Arc<Marks>>>);

impl MarkBook {
    /// The named plugin's marks (created empty).
    pub(crate) fn of(&self, plugin: &str) -> Arc<Marks> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(plugin.to_owned())
            .or_default()
            .clone()
    }

    /// Every plugin's marks.
    fn all(&self) -> Vec<Arc<Marks>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Loads the durable marks stored by earlier runs.
    pub(crate) fn restore(&self, rows: Vec<(String, String)>) {
        for (plugin, account) in rows {
            self.of(&plugin).insert(account, Lifetime::Durable);
        }
    }

    /// The account was removed: its marks go in every plugin (the rows went with the account).
    pub(crate) fn forget(&self, account: &BareJid) {
        for marks in self.all() {
            marks.remove(account.as_str());
        }
    }

    /// The account's last session ended: its `online` marks go, in every plugin, unless
    /// `online()` says a session came meanwhile.
    pub(crate) fn end_online(&self, account: &BareJid, online: impl Fn() -> bool) {
        for marks in self.all() {
            marks.end_online(account.as_str(), &online);
        }
    }
}

/// One plugin's narrowing, and its marks.
#[derive(Debug)]
pub(crate) struct Scope {
    /// The narrowed hooks' bits ([`bit`]).
    narrowed: AtomicU8,
    /// `{namespace}name` of the direct children that let a stanza through whatever its account.
    unless_child: RwLock<Vec<(String, String)>>,
    pub(crate) marks: Arc<Marks>,
}

impl Scope {
    pub(crate) fn new(marks: Arc<Marks>) -> Self {
        Self {
            narrowed: AtomicU8::new(0),
            unless_child: RwLock::new(Vec::new()),
            marks,
        }
    }

    /// Whether the plugin's `hook` runs for this stanza of `account`.
    pub(crate) fn admits(&self, hook: Hook, account: Option<&BareJid>, stanza: &Element) -> bool {
        let Some(b) = bit(hook) else {
            return true;
        };
        if self.narrowed.load(Ordering::Relaxed) & b == 0 {
            return true;
        }
        if account.is_some_and(|a| self.marks.contains(a.as_str())) {
            return true;
        }
        // Presence concerns both ends: what a user broadcasts, and what the server answers for
        // the user (probes), reaches each contact without passing the user's `outgoing` hook
        // per recipient. So a narrowed `incoming` hook also runs for presence from a marked
        // account (a blocklist stops the user's presence at the contact's side).
        if hook == Hook::Incoming
            && stanza.name() == "presence"
            && let Some(from) = stanza.attr("from")
            && self
                .marks
                .contains(from.split_once('/').map_or(from, |(bare, _)| bare))
        {
            return true;
        }
        let children = self
            .unless_child
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        children
            .iter()
            .any(|(ns, name)| stanza.has_child(name, ns.as_str()))
    }
}

impl Scope {
    /// Whether [`admits`](Self::admits) could hold for some presence from `sender` on `account`'s
    /// `incoming` hook, for callers holding only serialised bytes: they parse the stanza back
    /// only if so. Conservative: a plugin that named children may be admitted by any stanza.
    pub(crate) fn may_admit_presence(&self, account: &BareJid, sender: &BareJid) -> bool {
        if self.narrowed.load(Ordering::Relaxed) & 2 == 0 {
            return true;
        }
        self.marks.contains(account.as_str())
            || self.marks.contains(sender.as_str())
            || !self
                .unless_child
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
    }
}

impl scope::Host for HostState {
    async fn narrow(&mut self, hooks: Vec<Hook>, unless_child: Vec<types::Qname>) -> Guest<()> {
        let mut bits = 0;
        for hook in hooks {
            bits |= guest_try!(bit(hook).ok_or_else(|| {
                types::Error::Invalid(
                    "only the outgoing, incoming and undeliverable hooks can be narrowed"
                        .to_owned(),
                )
            }));
        }
        let scope = &self.plugin.scope;
        *scope
            .unless_child
            .write()
            .unwrap_or_else(PoisonError::into_inner) = unless_child
            .into_iter()
            .map(|q| (q.namespace, q.name))
            .collect();
        scope.narrowed.store(bits, Ordering::Relaxed);
        Ok(Ok(()))
    }

    async fn mark(&mut self, account: String, lifetime: Lifetime) -> Guest<()> {
        let _wait = self.host_wait();
        let jid = guest_try!(self.local_user(&account));
        let marks = self.plugin.scope.marks.clone();
        let plugin = self.plugin.name.clone();
        match lifetime {
            // Already stored (MAM re-marks at every archive query): nothing to write.
            Lifetime::Durable if marks.get(jid.as_str()) == Some(Lifetime::Durable) => {}
            Lifetime::Durable => {
                // Stored before it counts, so a restart never forgets a mark that was in force.
                let shared = guest_try!(self.server());
                guest_try!(store(&shared, &plugin, &jid, true).await);
                marks.insert(jid.to_string(), Lifetime::Durable);
            }
            Lifetime::Online => {
                if marks.insert(jid.to_string(), Lifetime::Online) == Some(Lifetime::Durable) {
                    let shared = guest_try!(self.server());
                    guest_try!(store(&shared, &plugin, &jid, false).await);
                }
            }
        }
        Ok(Ok(()))
    }

    async fn unmark(&mut self, account: String) -> Guest<bool> {
        let _wait = self.host_wait();
        let jid = guest_try!(self.local_user(&account));
        let plugin = self.plugin.name.clone();
        let previous = self.plugin.scope.marks.remove(jid.as_str());
        if previous == Some(Lifetime::Durable) {
            let shared = guest_try!(self.server());
            guest_try!(store(&shared, &plugin, &jid, false).await);
        }
        Ok(Ok(previous.is_some()))
    }
}

/// Stores (`on`) or deletes `plugin`'s mark of `jid`.
async fn store(
    shared: &crate::server::Shared,
    plugin: &str,
    jid: &BareJid,
    on: bool,
) -> Result<(), types::Error> {
    shared
        .storage
        .set_mark(plugin, jid, on)
        .await
        .map(|_| ())
        .map_err(|e| super::caps::storage_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> BareJid {
        BareJid::new(s).expect("jid")
    }

    fn msg(xml: &str) -> Element {
        xml.parse().expect("xml")
    }

    #[test]
    fn a_narrowed_hook_runs_for_marked_accounts_and_named_children() {
        let scope = Scope::new(Arc::default());
        let plain = msg("<message xmlns='jabber:client'><body>hi</body></message>");
        let forged = msg(
            "<message xmlns='jabber:client'><stanza-id xmlns='urn:xmpp:sid:0' by='a@x' id='1'/></message>",
        );
        let alice = jid("alice@x");
        // Not narrowed: everything runs.
        assert!(scope.admits(Hook::Incoming, Some(&alice), &plain));

        scope.narrowed.store(2, Ordering::Relaxed);
        *scope.unless_child.write().expect("lock") =
            vec![("urn:xmpp:sid:0".to_owned(), "stanza-id".to_owned())];
        assert!(!scope.admits(Hook::Incoming, Some(&alice), &plain));
        assert!(scope.admits(Hook::Incoming, Some(&alice), &forged));
        assert!(!scope.admits(Hook::Incoming, None, &plain));
        // Other hooks are not narrowed; the service hook never is.
        assert!(scope.admits(Hook::Outgoing, Some(&alice), &plain));
        assert!(scope.admits(Hook::Service, None, &plain));

        scope.marks.insert(alice.to_string(), Lifetime::Durable);
        assert!(scope.admits(Hook::Incoming, Some(&alice), &plain));
        assert!(!scope.admits(Hook::Incoming, Some(&jid("bob@x")), &plain));

        // Presence from a marked sender runs the recipient's narrowed `incoming` hook; a
        // message from one does not (it passed the sender's `outgoing` hook).
        let bob = jid("bob@x");
        let from_alice = msg("<presence xmlns='jabber:client' from='alice@x/phone' to='bob@x'/>");
        assert!(scope.admits(Hook::Incoming, Some(&bob), &from_alice));
        let message = msg("<message xmlns='jabber:client' from='alice@x/phone' to='bob@x'/>");
        assert!(!scope.admits(Hook::Incoming, Some(&bob), &message));
        let from_carol = msg("<presence xmlns='jabber:client' from='carol@x/phone' to='bob@x'/>");
        assert!(!scope.admits(Hook::Incoming, Some(&bob), &from_carol));
        // The same without the stanza (bytes a caller would otherwise parse back).
        assert!(scope.may_admit_presence(&bob, &alice));
        assert!(scope.may_admit_presence(&alice, &bob));
        let carol = jid("carol@x");
        assert!(
            scope.may_admit_presence(&bob, &carol),
            "named children: any stanza may do"
        );
        scope.unless_child.write().expect("lock").clear();
        assert!(!scope.may_admit_presence(&bob, &carol));
    }

    #[test]
    fn online_marks_end_with_the_last_session_unless_one_came_back() {
        let book = MarkBook::default();
        let carbons = book.of("carbons");
        let mam = book.of("mam");
        let alice = jid("alice@x");
        carbons.insert(alice.to_string(), Lifetime::Online);
        mam.insert(alice.to_string(), Lifetime::Durable);

        book.end_online(&alice, || true);
        assert!(carbons.contains("alice@x"), "a session is online again");
        book.end_online(&alice, || false);
        assert!(!carbons.contains("alice@x"));
        assert!(mam.contains("alice@x"), "durable marks outlive sessions");

        book.forget(&alice);
        assert_eq!(mam.len(), 0);
        // The same plugin name gets the same marks (a reload keeps them).
        assert!(Arc::ptr_eq(&book.of("mam"), &mam));
    }
}
