//! What the two backends share: the SQL text (both dialects accept `$n` placeholders, `ON CONFLICT`
//! upserts and `RETURNING`) and the decoding of rows into [`model`](super::model) records.
//!
//! Decoding never panics: a value that does not fit its record (a negative version, an unknown
//! subscription, a contact that is not a bare JID) is [`StorageError::Corrupt`], so a hand-edited or
//! half-migrated database fails one request instead of the server.

use std::collections::HashMap;

use jid::BareJid;
use sqlx::error::ErrorKind;
use tessera_sasl::{Credentials, HashAlg, ScramKeys};

use super::StorageError;
use super::model::{AccountInfo, RosterItem, Subscription};

// ---- accounts ----

pub(super) const INSERT_ACCOUNT: &str = "INSERT INTO accounts (username, created_at, \
     sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, \
     sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub(super) const SELECT_CREDENTIALS: &str = "SELECT \
     sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, \
     sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key \
     FROM accounts WHERE username = $1";

pub(super) const UPDATE_CREDENTIALS: &str = "UPDATE accounts SET \
     sha1_salt = $2, sha1_iterations = $3, sha1_stored_key = $4, sha1_server_key = $5, \
     sha256_salt = $6, sha256_iterations = $7, sha256_stored_key = $8, sha256_server_key = $9 \
     WHERE username = $1";

pub(super) const ACCOUNT_EXISTS: &str = "SELECT username FROM accounts WHERE username = $1";

pub(super) const LIST_ACCOUNTS: &str =
    "SELECT username, created_at, last_login_at FROM accounts ORDER BY username";

pub(super) const RECORD_LOGIN: &str = "UPDATE accounts SET last_login_at = $2 WHERE username = $1";

/// Deleting an account: what it owns first, the account row last, in one transaction. The foreign
/// keys cascade too; the explicit deletes also clear rows orphaned by a hand edit made without
/// foreign keys, so a re-created account never inherits a former owner's roster.
pub(super) const DELETE_ACCOUNT: [&str; 6] = [
    "DELETE FROM fast_tokens WHERE username = $1",
    "DELETE FROM pending_in WHERE username = $1",
    "DELETE FROM roster_groups WHERE username = $1",
    "DELETE FROM roster_items WHERE username = $1",
    "DELETE FROM roster_versions WHERE username = $1",
    "DELETE FROM accounts WHERE username = $1",
];

// ---- XEP-0484 FAST tokens ----

pub(super) const SELECT_FAST_TOKENS: &str = "SELECT slot, mechanism, token, expires_at \
     FROM fast_tokens WHERE username = $1 AND agent = $2 AND expires_at > $3 ORDER BY slot DESC";

/// A new token always goes to the `new` slot, replacing one issued and never used (§6.1).
pub(super) const PUT_FAST_TOKEN: &str = "INSERT INTO fast_tokens \
     (username, agent, slot, mechanism, token, expires_at) VALUES ($1, $2, 1, $3, $4, $5) \
     ON CONFLICT (username, agent, slot) DO UPDATE SET mechanism = excluded.mechanism, \
     token = excluded.token, expires_at = excluded.expires_at";

/// Promoting the `new` token: the one in use goes, the new one takes its slot (§6.1).
pub(super) const PROMOTE_FAST_TOKEN: [&str; 2] = [
    "DELETE FROM fast_tokens WHERE username = $1 AND agent = $2 AND slot = 0",
    "UPDATE fast_tokens SET slot = 0 WHERE username = $1 AND agent = $2 AND slot = 1",
];

pub(super) const DELETE_FAST_TOKEN: &str =
    "DELETE FROM fast_tokens WHERE username = $1 AND agent = $2 AND slot = $3";

pub(super) const DELETE_USER_FAST_TOKENS: &str = "DELETE FROM fast_tokens WHERE username = $1";

pub(super) const DELETE_EXPIRED_FAST_TOKENS: &str =
    "DELETE FROM fast_tokens WHERE expires_at <= $1";

// ---- roster (RFC 6121 §2) ----

pub(super) const SELECT_VERSION: &str = "SELECT version FROM roster_versions WHERE username = $1";

/// RFC 6121 §2.6: every change gets a new, larger version. Runs inside the change's transaction.
pub(super) const BUMP_VERSION: &str = "INSERT INTO roster_versions (username, version) \
     VALUES ($1, 1) ON CONFLICT (username) \
     DO UPDATE SET version = roster_versions.version + 1 RETURNING version";

pub(super) const SELECT_ITEMS: &str = "SELECT contact, name, subscription, ask_out, approved \
     FROM roster_items WHERE username = $1 ORDER BY contact";

/// The contacts and their subscription states only: what presence routing needs.
pub(super) const SELECT_SUBSCRIPTIONS: &str =
    "SELECT contact, subscription FROM roster_items WHERE username = $1";

pub(super) const SELECT_GROUPS: &str = "SELECT contact, name FROM roster_groups \
     WHERE username = $1 ORDER BY contact, position";

pub(super) const SELECT_ITEM: &str = "SELECT contact, name, subscription, ask_out, approved \
     FROM roster_items WHERE username = $1 AND contact = $2";

pub(super) const SELECT_ITEM_GROUPS: &str = "SELECT contact, name FROM roster_groups \
     WHERE username = $1 AND contact = $2 ORDER BY position";

pub(super) const UPSERT_ITEM: &str = "INSERT INTO roster_items \
     (username, contact, name, subscription, ask_out, approved) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (username, contact) DO UPDATE SET name = excluded.name, \
     subscription = excluded.subscription, ask_out = excluded.ask_out, approved = excluded.approved";

pub(super) const DELETE_ITEM_GROUPS: &str =
    "DELETE FROM roster_groups WHERE username = $1 AND contact = $2";

pub(super) const INSERT_GROUP: &str =
    "INSERT INTO roster_groups (username, contact, position, name) VALUES ($1, $2, $3, $4)";

/// Groups cascade with the item.
pub(super) const DELETE_ITEM: &str =
    "DELETE FROM roster_items WHERE username = $1 AND contact = $2";

// ---- pending inbound subscription requests (RFC 6121 §3.1.3) ----

pub(super) const SELECT_PENDING_IN: &str =
    "SELECT contact FROM pending_in WHERE username = $1 ORDER BY contact";

pub(super) const INSERT_PENDING_IN: &str = "INSERT INTO pending_in (username, contact) \
     VALUES ($1, $2) ON CONFLICT (username, contact) DO NOTHING";

pub(super) const DELETE_PENDING_IN: &str =
    "DELETE FROM pending_in WHERE username = $1 AND contact = $2";

// ---- rows ----

/// The credential columns, in [`SELECT_CREDENTIALS`] order.
#[derive(sqlx::FromRow)]
pub(super) struct CredentialsRow {
    sha1_salt: Vec<u8>,
    sha1_iterations: i64,
    sha1_stored_key: Vec<u8>,
    sha1_server_key: Vec<u8>,
    sha256_salt: Vec<u8>,
    sha256_iterations: i64,
    sha256_stored_key: Vec<u8>,
    sha256_server_key: Vec<u8>,
}

impl TryFrom<CredentialsRow> for Credentials {
    type Error = StorageError;

    fn try_from(row: CredentialsRow) -> Result<Self, StorageError> {
        Ok(Self {
            sha1: ScramKeys {
                alg: HashAlg::Sha1,
                salt: row.sha1_salt,
                iterations: iterations(row.sha1_iterations)?,
                stored_key: row.sha1_stored_key,
                server_key: row.sha1_server_key,
            },
            sha256: ScramKeys {
                alg: HashAlg::Sha256,
                salt: row.sha256_salt,
                iterations: iterations(row.sha256_iterations)?,
                stored_key: row.sha256_stored_key,
                server_key: row.sha256_server_key,
            },
        })
    }
}

fn iterations(stored: i64) -> Result<u32, StorageError> {
    u32::try_from(stored)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| StorageError::Corrupt(format!("SCRAM iteration count {stored}")))
}

/// A roster item's columns, in [`SELECT_ITEMS`] order; groups come from [`GroupRow`]s.
#[derive(sqlx::FromRow)]
pub(super) struct ItemRow {
    contact: String,
    name: Option<String>,
    subscription: String,
    ask_out: bool,
    approved: bool,
}

impl ItemRow {
    fn decode(self, groups: Vec<String>) -> Result<RosterItem, StorageError> {
        let subscription = Subscription::from_wire(&self.subscription).ok_or_else(|| {
            StorageError::Corrupt(format!("roster subscription {:?}", self.subscription))
        })?;
        Ok(RosterItem {
            jid: contact(&self.contact)?,
            name: self.name,
            groups,
            subscription,
            ask_out: self.ask_out,
            approved: self.approved,
        })
    }
}

/// A [`SELECT_SUBSCRIPTIONS`] row.
pub(super) fn subscription_row(
    (contact_text, state): (String, String),
) -> Result<(BareJid, Subscription), StorageError> {
    let subscription = Subscription::from_wire(&state)
        .ok_or_else(|| StorageError::Corrupt(format!("roster subscription {state:?}")))?;
    Ok((contact(&contact_text)?, subscription))
}

/// One group membership, in [`SELECT_GROUPS`] order.
#[derive(sqlx::FromRow)]
pub(super) struct GroupRow {
    contact: String,
    name: String,
}

/// Joins items with their groups, keeping the items' order and each item's group order.
pub(super) fn assemble(
    items: Vec<ItemRow>,
    groups: Vec<GroupRow>,
) -> Result<Vec<RosterItem>, StorageError> {
    let mut by_contact: HashMap<String, Vec<String>> = HashMap::new();
    for group in groups {
        by_contact
            .entry(group.contact)
            .or_default()
            .push(group.name);
    }
    items
        .into_iter()
        .map(|item| {
            let groups = by_contact.remove(&item.contact).unwrap_or_default();
            item.decode(groups)
        })
        .collect()
}

/// A [`LIST_ACCOUNTS`] row.
pub(super) fn account_info(
    (username, created_at, last_login_at): (String, i64, Option<i64>),
) -> AccountInfo {
    AccountInfo {
        username,
        created_at,
        last_login_at,
    }
}

/// A stored contact back into a JID. It was written from a valid [`BareJid`], so failure means the
/// row was edited by hand.
pub(super) fn contact(stored: &str) -> Result<BareJid, StorageError> {
    BareJid::new(stored).map_err(|e| StorageError::Corrupt(format!("contact JID: {e}")))
}

/// A stored roster version back into the facade's type.
pub(super) fn version(stored: Option<i64>) -> Result<u64, StorageError> {
    let stored = stored.unwrap_or(0);
    u64::try_from(stored).map_err(|_| StorageError::Corrupt(format!("roster version {stored}")))
}

/// The count stored for SCRAM iterations; `u32` always fits the `BIGINT`/`INTEGER` column.
pub(super) fn stored_iterations(keys: &ScramKeys) -> i64 {
    i64::from(keys.iterations)
}

/// A group's position, stored as a 64-bit integer.
pub(super) fn position(index: usize) -> i64 {
    i64::try_from(index).expect("invariant: a Vec index is below isize::MAX")
}

/// Whether `err` is the database rejecting a write for this constraint kind.
pub(super) fn violates(err: &sqlx::Error, kind: ErrorKind) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == kind)
}

/// A roster or pending-request write for an account that does not exist trips the foreign key.
pub(super) fn no_such_account(err: sqlx::Error) -> StorageError {
    if violates(&err, ErrorKind::ForeignKeyViolation) {
        StorageError::NoSuchAccount
    } else {
        StorageError::Database(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_version_is_corrupt() {
        assert!(matches!(version(Some(-1)), Err(StorageError::Corrupt(_))));
        assert_eq!(version(None).ok(), Some(0));
        assert_eq!(version(Some(7)).ok(), Some(7));
    }

    #[test]
    fn iterations_out_of_range_are_corrupt() {
        assert!(matches!(iterations(0), Err(StorageError::Corrupt(_))));
        assert!(matches!(iterations(1 << 32), Err(StorageError::Corrupt(_))));
        assert_eq!(iterations(4096).ok(), Some(4096));
    }

    #[test]
    fn unknown_subscription_is_corrupt() {
        let row = ItemRow {
            contact: "juliet@example.com".into(),
            name: None,
            subscription: "sometimes".into(),
            ask_out: false,
            approved: false,
        };
        assert!(matches!(row.decode(vec![]), Err(StorageError::Corrupt(_))));
    }

    #[test]
    fn groups_join_their_items_in_order() {
        let item = |contact: &str| ItemRow {
            contact: contact.into(),
            name: None,
            subscription: "both".into(),
            ask_out: false,
            approved: false,
        };
        let group = |contact: &str, name: &str| GroupRow {
            contact: contact.into(),
            name: name.into(),
        };
        let roster = assemble(
            vec![item("a@x"), item("b@x")],
            vec![group("b@x", "2"), group("b@x", "1")],
        )
        .expect("valid rows");
        assert!(roster[0].groups.is_empty());
        assert_eq!(roster[1].groups, ["2", "1"]);
    }
}
