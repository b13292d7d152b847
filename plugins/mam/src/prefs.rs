//! Archiving preferences (XEP-0441, split out of XEP-0313 0.7 with the same `urn:xmpp:mam:2`
//! `<prefs/>`): per user, a default (`always`, `never` or `roster`) and
//! two JID lists that override it. A user who never set any gets the operator's default, itself
//! `never` unless configured: archiving is opt-in.
//!
//! The preferences are kept in the `prefs` kv category as the `<prefs/>` element itself, so what
//! a user reads back is exactly what was stored.

use tessera_sdk::jid::Jid;
use tessera_sdk::kv::Kv;
use tessera_sdk::minidom::Element;
use tessera_sdk::scope::{self, Lifetime};
use tessera_sdk::xmpp_parsers::mam_prefs::{DefaultPrefs, Prefs};
use tessera_sdk::{HostError, Owner, Stanza, StanzaError, roster};

use crate::bare;

/// The kv category of the preferences (declared in the manifest).
pub(crate) const CATEGORY: &str = "prefs";
/// The one key per user.
const KEY: &str = "prefs";

fn store(user: &str) -> Kv {
    Kv::new(CATEGORY, Owner::user(user))
}

/// The preferences `user` set, or the operator's `default` with empty lists.
///
/// # Errors
///
/// Storage failed. A stored value that no longer parses is treated as absent (and logged), so a
/// broken record never turns archiving on.
pub(crate) fn load(user: &str, default: &DefaultPrefs) -> Result<Prefs, HostError> {
    let fallback = || Prefs {
        default_: default.clone(),
        always: Vec::new(),
        never: Vec::new(),
    };
    let Some(xml) = store(user).get_string(KEY)? else {
        return Ok(fallback());
    };
    match xml
        .parse::<Element>()
        .ok()
        .and_then(|e| Prefs::try_from(e).ok())
    {
        Some(prefs) => Ok(prefs),
        None => {
            tessera_sdk::log::warn("stored archiving preferences do not parse; using the default");
            Ok(fallback())
        }
    }
}

/// Stores `prefs` for `user`.
///
/// # Errors
///
/// Storage failed.
pub(crate) fn save(user: &str, prefs: &Prefs) -> Result<(), HostError> {
    store(user).set_str(KEY, &String::from(&Element::from(prefs.clone())))
}

/// Whether a JID list entry covers `with`: a bare entry covers every resource of it, a full one
/// only itself (the matching rule of the XEP-0313 `with` filter, applied to the lists).
fn listed(list: &[Jid], with: &str) -> bool {
    let with_bare = bare(with);
    list.iter().any(|j| match j.resource() {
        Some(_) => j.as_str() == with,
        None => j.as_str() == with_bare,
    })
}

/// XEP-0441: whether a message between `user` and `with` goes into `user`'s archive. `never`
/// wins over `always` when a JID is in both (the user asked for privacy somewhere); `roster`
/// asks `in_roster` only when the lists do not decide.
///
/// # Errors
///
/// `in_roster` failed.
pub(crate) fn allows(
    prefs: &Prefs,
    with: &str,
    in_roster: impl FnOnce(&str) -> Result<bool, HostError>,
) -> Result<bool, HostError> {
    if listed(&prefs.never, with) {
        return Ok(false);
    }
    if listed(&prefs.always, with) {
        return Ok(true);
    }
    match prefs.default_ {
        DefaultPrefs::Always => Ok(true),
        DefaultPrefs::Never => Ok(false),
        DefaultPrefs::Roster => in_roster(bare(with)),
    }
}

/// Whether `contact` (bare) is in `user`'s roster, whatever the subscription.
///
/// # Errors
///
/// The roster could not be read.
pub(crate) fn in_roster(user: &str, contact: &str) -> Result<bool, HostError> {
    Ok(roster::items(user)?.iter().any(|i| i.jid == contact))
}

/// `<iq type='get'><prefs/></iq>` (XEP-0441): the user's preferences.
///
/// # Errors
///
/// `internal-server-error` when storage fails.
pub(crate) fn get(user: &str, default: &DefaultPrefs) -> Result<Element, StanzaError> {
    load(user, default)
        .map(Element::from)
        .map_err(|e| crate::internal("read the preferences", &e))
}

/// Whether preferences can put anything in the archive: the user's `scope` mark, so that the
/// host enters the archiving hooks for this user (see `Mam::init`).
fn may_archive(prefs: &Prefs) -> bool {
    prefs.default_ != DefaultPrefs::Never || !prefs.always.is_empty()
}

/// Marks `user` if the stored preferences can archive something. Failures are logged: the next
/// query tries again.
pub(crate) fn ensure_mark(user: &str, default: &DefaultPrefs) {
    let result = load(user, default).and_then(|prefs| {
        if may_archive(&prefs) {
            scope::mark(user, Lifetime::Durable)
        } else {
            Ok(())
        }
    });
    if let Err(e) = result {
        tessera_sdk::log::warn(&format!("could not mark {user} as archiving: {e}"));
    }
}

/// `<iq type='set'><prefs/></iq>` (XEP-0441): stores and echoes the new preferences.
///
/// The user's `scope` mark follows them, in the order that never loses a message: set before
/// preferences that archive are stored, removed after ones that do not (a failure in between
/// only costs calls that find nothing to do).
///
/// # Errors
///
/// `bad-request` for a malformed `<prefs/>`, `internal-server-error` when storage fails.
pub(crate) fn set(user: &str, iq: &Stanza) -> Result<Element, StanzaError> {
    let prefs: Prefs = iq
        .parse_payload()
        .map_err(|e| StanzaError::bad_request().with_text(e.to_string()))?;
    let archives = may_archive(&prefs);
    if archives {
        scope::mark(user, Lifetime::Durable)
            .map_err(|e| crate::internal("mark the user as archiving", &e))?;
    }
    save(user, &prefs).map_err(|e| crate::internal("store the preferences", &e))?;
    if !archives {
        scope::unmark(user).map_err(|e| crate::internal("unmark the user", &e))?;
    }
    Ok(Element::from(prefs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_sdk::roster::{Item, Subscription};
    use tessera_sdk::testing::{self, Harness};

    fn prefs(default: DefaultPrefs, always: &[&str], never: &[&str]) -> Prefs {
        let jids = |l: &[&str]| l.iter().map(|j| Jid::new(j).unwrap()).collect();
        Prefs {
            default_: default,
            always: jids(always),
            never: jids(never),
        }
    }

    fn no_roster(_: &str) -> Result<bool, HostError> {
        panic!("the lists decide; the roster must not be read")
    }

    #[test]
    fn lists_override_the_default_and_never_wins() {
        let p = prefs(
            DefaultPrefs::Never,
            &[
                "romeo@example.net",
                "nurse@example.net/kitchen",
                "tybalt@example.net",
            ],
            &["tybalt@example.net"],
        );
        assert_eq!(allows(&p, "romeo@example.net/orchard", no_roster), Ok(true));
        assert_eq!(allows(&p, "nurse@example.net/kitchen", no_roster), Ok(true));
        assert_eq!(
            allows(&p, "nurse@example.net/garden", |_| Ok(true)),
            Ok(false)
        );
        assert_eq!(allows(&p, "tybalt@example.net", no_roster), Ok(false));
        let always = prefs(DefaultPrefs::Always, &[], &["benvolio@example.net"]);
        assert_eq!(
            allows(&always, "mercutio@example.net/a", no_roster),
            Ok(true)
        );
        assert_eq!(
            allows(&always, "benvolio@example.net/b", no_roster),
            Ok(false)
        );
    }

    #[test]
    fn roster_default_asks_the_roster_with_the_bare_jid() {
        let p = prefs(DefaultPrefs::Roster, &[], &[]);
        assert_eq!(
            allows(&p, "romeo@example.net/orchard", |c| Ok(
                c == "romeo@example.net"
            )),
            Ok(true)
        );
        assert_eq!(allows(&p, "paris@example.net", |_| Ok(false)), Ok(false));
        assert!(allows(&p, "x@y", |_| Err(HostError::NotGranted)).is_err());
    }

    #[test]
    fn in_roster_counts_any_subscription() {
        let _h = Harness::new(crate::Mam::default());
        testing::add_account("juliet@localhost");
        testing::add_roster_item(
            "juliet@localhost",
            Item::new("romeo@example.net", Subscription::None),
        );
        assert_eq!(in_roster("juliet@localhost", "romeo@example.net"), Ok(true));
        assert_eq!(
            in_roster("juliet@localhost", "paris@example.net"),
            Ok(false)
        );
    }

    #[test]
    fn stored_prefs_round_trip_and_default_applies_until_set() {
        let _h = Harness::new(crate::Mam::default());
        let user = "juliet@localhost";
        assert_eq!(
            load(user, &DefaultPrefs::Roster).unwrap().default_,
            DefaultPrefs::Roster
        );
        let p = prefs(DefaultPrefs::Always, &["romeo@example.net"], &["x@y/z"]);
        save(user, &p).unwrap();
        assert_eq!(load(user, &DefaultPrefs::Never).unwrap(), p);
        // A record that does not parse never switches archiving on.
        store(user).set_str(KEY, "<garbage").unwrap();
        assert_eq!(
            load(user, &DefaultPrefs::Never).unwrap().default_,
            DefaultPrefs::Never
        );
    }

    #[test]
    fn set_refuses_a_malformed_prefs_element() {
        let _h = Harness::new(crate::Mam::default());
        let iq = Stanza::parse(
            "<iq xmlns='jabber:client' type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></iq>",
        )
        .unwrap();
        assert_eq!(
            set("juliet@localhost", &iq).unwrap_err().condition,
            "bad-request"
        );
    }
}
