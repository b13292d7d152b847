//! Who owns a stored record: the host deletes a record when its owner goes away.

use crate::bindings::tessera::plugin::types as wit;

/// The owner of a `kv`, `archive` or `blobs` record (DESIGN.md, "Privacy engine"). It must match
/// the [`crate::OwnerKind`] the category was declared with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Owner {
    /// A local account, by bare JID: deleted when the account is removed.
    User(String),
    /// A room (or another entity the plugin serves), by bare JID: deleted when it is destroyed.
    Room(String),
    /// The service itself.
    Service,
}

impl Owner {
    /// A local account, by bare JID.
    pub fn user(jid: impl Into<String>) -> Self {
        Owner::User(jid.into())
    }

    /// A room, by bare JID.
    pub fn room(jid: impl Into<String>) -> Self {
        Owner::Room(jid.into())
    }

    /// The owner kind this owner is of.
    pub fn kind(&self) -> crate::OwnerKind {
        match self {
            Owner::User(_) => crate::OwnerKind::User,
            Owner::Room(_) => crate::OwnerKind::Room,
            Owner::Service => crate::OwnerKind::Service,
        }
    }

    // Only the wasm32 capability calls cross the boundary with it.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        allow(dead_code, reason = "used by the wasm32 calls")
    )]
    pub(crate) fn to_wit(&self) -> wit::Owner {
        match self {
            Owner::User(j) => wit::Owner::User(j.clone()),
            Owner::Room(j) => wit::Owner::Room(j.clone()),
            Owner::Service => wit::Owner::Service,
        }
    }
}
