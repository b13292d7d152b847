//! The data lifecycle of `kv` and `archive` (DESIGN.md "Privacy engine"): which categories a
//! plugin may write, with which owner, under which retention; and the garbage collector that
//! applies that retention.
//!
//! Every record is stored under the calling plugin's config name, which the guest never passes:
//! a plugin cannot even name another plugin's data. The category must be one the manifest
//! declares, the owner of the kind declared for it, and a user owner a local account, so the
//! account's removal takes the record with it (`Storage::delete_account`).

use std::time::Duration;

use jid::BareJid;

use super::bindings::tessera::plugin::{manifest, types};
use crate::config::PluginConfig;
use crate::im::stanza::parse_bare;
use crate::storage::{Millis, Owner, StorageError};

/// One declared category with its effective retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Category {
    pub(crate) name: String,
    pub(crate) owner: manifest::OwnerKind,
    pub(crate) max_age: Option<Duration>,
    pub(crate) max_items: Option<u64>,
}

/// The categories of a manifest, the operator's retention taking precedence over the plugin's
/// declared defaults. A retention table for a category the plugin does not declare is logged
/// (a typo in the config would otherwise silently retain nothing less).
pub(crate) fn categories(config: &PluginConfig, m: &manifest::Manifest) -> Vec<Category> {
    for name in config.retention.keys() {
        if !m.data.iter().any(|d| &d.category == name) {
            tracing::warn!(
                plugin = %config.name,
                category = %name,
                "retention configured for a category the plugin does not declare"
            );
        }
    }
    m.data
        .iter()
        .map(|d| {
            let op = config
                .retention
                .get(&d.category)
                .copied()
                .unwrap_or_default();
            Category {
                name: d.category.clone(),
                owner: d.owner,
                max_age: op
                    .max_age
                    .or(d.default_max_age_seconds.map(Duration::from_secs)),
                max_items: op.max_items.or(d.default_max_items),
            }
        })
        .collect()
}

/// Checks a guest's `(category, owner)` against the declarations; returns the category and the
/// storage owner.
pub(crate) fn scope<'a>(
    categories: &'a [Category],
    domain: &str,
    category: &str,
    owner: &types::Owner,
) -> Result<(&'a Category, Owner), types::Error> {
    let c = categories
        .iter()
        .find(|c| c.name == category)
        .ok_or_else(|| types::Error::UndeclaredCategory(category.to_owned()))?;
    let owner = match (c.owner, owner) {
        (manifest::OwnerKind::User, types::Owner::User(jid)) => {
            Owner::User(local_account(domain, jid)?)
        }
        (manifest::OwnerKind::Room, types::Owner::Room(jid)) => Owner::Room(
            parse_bare(jid)
                .ok_or_else(|| types::Error::Invalid("room is not a bare JID".to_owned()))?,
        ),
        (manifest::OwnerKind::Service, types::Owner::Service) => Owner::Service,
        (
            manifest::OwnerKind::User | manifest::OwnerKind::Room | manifest::OwnerKind::Service,
            types::Owner::User(_) | types::Owner::Room(_) | types::Owner::Service,
        ) => return Err(types::Error::WrongOwner),
    };
    Ok((c, owner))
}

/// A local account's bare JID: a node at our own domain, nothing else (a resource is refused,
/// not stripped, so a guest bug shows instead of splitting one user's data).
fn local_account(domain: &str, jid: &str) -> Result<BareJid, types::Error> {
    // The stream's guards (a trailing dot, two-pass normalisation): one owner, one key.
    let bare = parse_bare(jid)
        .ok_or_else(|| types::Error::Invalid("user is not a bare JID".to_owned()))?;
    if bare.node().is_none() || bare.domain().as_str() != domain {
        return Err(types::Error::Invalid(
            "user is not a local account".to_owned(),
        ));
    }
    Ok(bare)
}

/// `expires-at` capped by the category's maximum age (the WIT promise: earlier shortens, later
/// is capped).
pub(crate) fn cap_expiry(c: &Category, now: Millis, asked: Option<Millis>) -> Option<Millis> {
    let limit = c
        .max_age
        .map(|age| now.saturating_add(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)));
    match (asked, limit) {
        (Some(a), Some(l)) => Some(a.min(l)),
        (a, None) => a,
        (None, l) => l,
    }
}

/// A storage failure as the guest sees it: its own bad input is `invalid`; anything else is
/// ours, logged at error (no content: the error names fields, never values).
pub(crate) fn storage_error(plugin: &str, e: &StorageError) -> types::Error {
    match e {
        StorageError::Invalid(what) => types::Error::Invalid(what.clone()),
        StorageError::QuotaExceeded => types::Error::QuotaExceeded,
        // The server is shutting down: not a failure to report.
        StorageError::Closed => types::Error::Unavailable("the server is stopping".to_owned()),
        other => {
            tracing::error!(plugin, error = %other, "storage failure in a plugin call");
            types::Error::Unavailable("storage failure".to_owned())
        }
    }
}

/// The current time in ms.
pub(crate) fn now_ms() -> Millis {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// How the policy and `tessera plugin inspect` name an owner kind.
pub(crate) fn owner_name(o: manifest::OwnerKind) -> &'static str {
    match o {
        manifest::OwnerKind::User => "user",
        manifest::OwnerKind::Room => "room",
        manifest::OwnerKind::Service => "service",
    }
}

/// How the policy and `tessera plugin inspect` name a visibility.
pub(crate) fn visibility_name(v: manifest::Visibility) -> &'static str {
    match v {
        manifest::Visibility::Owner => "owner",
        manifest::Visibility::Occupants => "occupants",
        manifest::Visibility::Admins => "admins",
        manifest::Visibility::Public => "public",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(owner: manifest::OwnerKind, max_age: Option<Duration>) -> Vec<Category> {
        vec![Category {
            name: "notes".into(),
            owner,
            max_age,
            max_items: None,
        }]
    }

    /// Issue 5, `jid` fuzz target: owners a plugin names get the stream's JID guards, so one
    /// account is one owner key.
    #[test]
    fn r5_fuzz_owner_jids_are_normalised_like_addresses() {
        let alice = BareJid::new("alice@localhost").expect("jid");
        assert_eq!(
            local_account("localhost", "alice@localhost.").ok(),
            Some(alice)
        );
        let hg = local_account("localhost", "\u{32CC}@localhost").expect("valid");
        assert_eq!(hg.as_str(), "hg@localhost");
        assert!(local_account("localhost", "alice@localhost/r").is_err());
        assert!(local_account("localhost", "u@\u{1806}").is_err());
    }

    #[test]
    fn undeclared_category_is_refused() {
        let c = cat(manifest::OwnerKind::User, None);
        assert!(matches!(
            scope(&c, "localhost", "other", &types::Owner::Service),
            Err(types::Error::UndeclaredCategory(name)) if name == "other"
        ));
    }

    #[test]
    fn owner_kind_must_match() {
        let c = cat(manifest::OwnerKind::User, None);
        assert!(matches!(
            scope(&c, "localhost", "notes", &types::Owner::Service),
            Err(types::Error::WrongOwner)
        ));
        let room = types::Owner::Room("r@muc.localhost".into());
        assert!(matches!(
            scope(&c, "localhost", "notes", &room),
            Err(types::Error::WrongOwner)
        ));
        let (_, owner) = scope(
            &c,
            "localhost",
            "notes",
            &types::Owner::User("alice@localhost".into()),
        )
        .expect("valid");
        assert_eq!(owner.to_string(), "user:alice@localhost");
    }

    #[test]
    fn user_must_be_a_local_bare_jid() {
        let c = cat(manifest::OwnerKind::User, None);
        for bad in [
            "alice@example.org",
            "localhost",
            "alice@localhost/phone",
            "@@",
        ] {
            assert!(
                matches!(
                    scope(&c, "localhost", "notes", &types::Owner::User(bad.into())),
                    Err(types::Error::Invalid(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn expiry_is_capped_by_max_age() {
        let c = &cat(manifest::OwnerKind::User, Some(Duration::from_secs(10)))[0];
        assert_eq!(cap_expiry(c, 1_000, None), Some(11_000));
        assert_eq!(cap_expiry(c, 1_000, Some(5_000)), Some(5_000));
        assert_eq!(cap_expiry(c, 1_000, Some(99_000)), Some(11_000));
        let c = &cat(manifest::OwnerKind::User, None)[0];
        assert_eq!(cap_expiry(c, 1_000, None), None);
        assert_eq!(cap_expiry(c, 1_000, Some(5_000)), Some(5_000));
    }
}
