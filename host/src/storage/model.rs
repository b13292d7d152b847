//! Records the storage facade reads and writes.

use jid::BareJid;

/// One account as listed by `tessera user list`. Credentials are fetched separately, on login only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The account's localpart (already normalised).
    pub username: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last successful login, if any.
    pub last_login_at: Option<i64>,
}

/// An XEP-0484 FAST token of one client installation. `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq)]
pub struct FastToken {
    /// Issued and not used yet (the `new` slot), rather than the one in use.
    pub newer: bool,
    /// The mechanism it was issued for (it is valid for no other).
    pub mechanism: String,
    /// The secret itself.
    pub token: String,
    /// Unix seconds after which it is no longer valid.
    pub expires_at: i64,
}

impl std::fmt::Debug for FastToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastToken")
            .field("newer", &self.newer)
            .field("mechanism", &self.mechanism)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// RFC 6121 §2.1.2.5: the subscription attribute of a roster item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subscription {
    /// Neither side is subscribed.
    #[default]
    None,
    /// The user receives the contact's presence.
    To,
    /// The contact receives the user's presence.
    From,
    /// Both.
    Both,
}

impl Subscription {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::To => "to",
            Self::From => "from",
            Self::Both => "both",
        }
    }

    /// Parses the wire value; `None` for anything else (including `remove`, which is an action,
    /// not a state: RFC 6121 §2.5).
    pub fn from_wire(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "to" => Some(Self::To),
            "from" => Some(Self::From),
            "both" => Some(Self::Both),
            _ => None,
        }
    }
}

/// One roster item (RFC 6121 §2.1.2). Pending inbound subscription requests are kept apart
/// (`Storage::pending_in`), because a request alone does not make a roster item (§3.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterItem {
    /// The contact.
    pub jid: BareJid,
    /// The user's name for the contact.
    pub name: Option<String>,
    /// Groups, in the order the client gave them.
    pub groups: Vec<String>,
    /// Subscription state.
    pub subscription: Subscription,
    /// "Pending Out": the user asked to subscribe and the contact has not answered (`ask="subscribe"`).
    pub ask_out: bool,
    /// RFC 6121 §3.4: the user pre-approved the contact's subscription request.
    pub approved: bool,
}
