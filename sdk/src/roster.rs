//! The `roster` capability: read access to local users' rosters (RFC 6121 §2), e.g. to let only
//! a user's contacts see something, or to fan a notification out to them.
//!
//! Read only: a plugin never edits a roster; the user's own client does (RFC 6121 §2.3–2.5).
//!
//! ```
//! use tessera_sdk::roster::{self, Item, Subscription};
//!
//! # tessera_sdk::testing::reset();
//! # tessera_sdk::testing::add_account("juliet@localhost");
//! # tessera_sdk::testing::add_roster_item("juliet@localhost", Item::new("romeo@example.net", Subscription::Both));
//! // May romeo see juliet's presence-based data? Only if he is subscribed to her presence.
//! let sub = roster::subscription_of("juliet@localhost", "romeo@example.net")?;
//! assert!(sub.has_from());
//! # Ok::<(), tessera_sdk::HostError>(())
//! ```

use crate::error::HostError;

/// The presence subscription between a user and a contact (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Subscription {
    /// Neither receives the other's presence (also: the contact is not in the roster).
    #[default]
    None,
    /// The user receives the contact's presence.
    To,
    /// The contact receives the user's presence.
    From,
    /// Both receive each other's presence.
    Both,
}

impl Subscription {
    /// The user is subscribed to the contact's presence (`to` or `both`).
    pub fn has_to(self) -> bool {
        matches!(self, Subscription::To | Subscription::Both)
    }

    /// The contact is subscribed to the user's presence (`from` or `both`): the usual test for
    /// "may this contact see what the user shares with contacts" (the `presence` access model
    /// of XEP-0060 §4.5).
    pub fn has_from(self) -> bool {
        matches!(self, Subscription::From | Subscription::Both)
    }

    /// The attribute value, as in `<item subscription='both'/>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }
}

/// One roster item (RFC 6121 §2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Item {
    /// The contact's bare JID.
    pub jid: String,
    /// The user's name for the contact.
    pub name: Option<String>,
    /// The groups the user put the contact in.
    pub groups: Vec<String>,
    /// The subscription state.
    pub subscription: Subscription,
}

impl Item {
    /// An item without name or groups (for tests and [`crate::testing::add_roster_item`]).
    pub fn new(jid: impl Into<String>, subscription: Subscription) -> Self {
        Self {
            jid: jid.into(),
            name: None,
            groups: Vec::new(),
            subscription,
        }
    }

    /// Sets the name.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a group.
    #[must_use]
    pub fn in_group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }
}

/// The roster of `user` (a local account's bare JID).
///
/// # Errors
///
/// [`HostError::Invalid`] for a JID that is not a local account's, [`HostError::NotGranted`],
/// [`HostError::Unavailable`] when storage is down.
pub fn items(user: &str) -> Result<Vec<Item>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::roster::items(user)
        .map(|items| items.into_iter().map(Item::from).collect())
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::roster_items(user);
}

/// The subscription between `user` (a local account's bare JID) and `contact` (a bare JID);
/// [`Subscription::None`] when the contact is not in the roster.
///
/// # Errors
///
/// As [`items`], and [`HostError::Invalid`] when `contact` is not a JID.
pub fn subscription_of(user: &str, contact: &str) -> Result<Subscription, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::roster::subscription_of(user, contact)
        .map(Subscription::from)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::roster_subscription_of(user, contact);
}

#[cfg(target_arch = "wasm32")]
mod wit_conv {
    use super::{Item, Subscription};
    use crate::bindings::tessera::plugin::roster as wit;

    impl From<wit::Subscription> for Subscription {
        fn from(s: wit::Subscription) -> Self {
            match s {
                wit::Subscription::None => Subscription::None,
                wit::Subscription::To => Subscription::To,
                wit::Subscription::From => Subscription::From,
                wit::Subscription::Both => Subscription::Both,
            }
        }
    }

    impl From<wit::Item> for Item {
        fn from(i: wit::Item) -> Self {
            Item {
                jid: i.jid,
                name: i.name,
                groups: i.groups,
                subscription: i.subscription.into(),
            }
        }
    }
}
