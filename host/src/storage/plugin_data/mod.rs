//! Plugin data: the host side of the WIT `kv` and `archive` interfaces, with the data lifecycle
//! (DESIGN.md "Privacy engine") enforced here rather than trusted to plugins.
//!
//! Every record carries the plugin that wrote it, the data category the plugin declared, its
//! [`Owner`], and when it was written; `kv` values may also carry an expiry. Every statement is
//! scoped by plugin name, so one plugin cannot name, let alone read, another's rows. What the host
//! alone does with that:
//! - [`Storage::enforce_retention`](super::Storage::enforce_retention): a category's max age and max
//!   items (per owner for `kv`, per owner and stream for `archive`; oldest dropped first);
//! - [`Storage::purge_expired`](super::Storage::purge_expired): `kv` values past their expiry (they
//!   already read as absent before that);
//! - [`Storage::delete_owner`](super::Storage::delete_owner) for a destroyed room or a service, and
//!   [`Storage::delete_account`](super::Storage::delete_account), which deletes every record owned by
//!   the account in the same transaction as the account itself.
//!
//! ## Archive ids
//! An id is the 16-digit, zero-padded decimal of `ms * 1000 + sequence`: "zero-padded ms plus a
//! three-digit sequence" while a stream gets fewer than 1000 entries in one millisecond. A stream's
//! last id is kept in its own row (and in the writer's memory while the stream is in use: see
//! `writer`), and a new id is `max(now_ms * 1000, last + 1)`, so ids are unique and increasing
//! within a stream even when the clock steps back or entries are removed.
//! The entry's timestamp is read back from its id (`id / 1000`): it may run a little ahead of the
//! clock during a burst or after a clock step, but it never disagrees with id order, which lets a
//! time range be an id range on the primary key. Ids sort the same as text and as numbers, so
//! keyset paging (XEP-0059 `after`/`before`) is a key range too; nothing pages with `OFFSET`.
//!
//! ## Layout
//! - this file: the public records and the pure helpers (owner encoding, ids, key ranges);
//! - `sql`: the statement texts, and the builder for archive filters;
//! - `queries`: the macro that instantiates the statements for each backend, as `storage::queries`
//!   does for accounts and rosters;
//! - `writer`: write-behind appends: ids handed out in memory, batches committed by one task;
//! - `kv_cache`: the read-through cache of small `kv` rows, kept true by every write.

pub(super) mod kv_cache;
mod queries;
pub(super) mod sql;
pub(super) mod writer;

pub(super) use queries::plugin_data_queries;

use std::fmt;
use std::str::FromStr;

use jid::{BareJid, Jid};

use super::StorageError;

/// Milliseconds since the Unix epoch, UTC (the WIT `timestamp`).
pub type Millis = u64;

/// The latest time an archive id can encode (in 2286, when milliseconds since 1970 reach 14 digits).
/// Appends and retention refuse a clock beyond it; queries clamp their bounds to it.
pub const MAX_ARCHIVE_MS: Millis = 9_999_999_999_999;

/// Most ids one `ids` filter or [`Storage::archive_remove_ids`](super::Storage::archive_remove_ids)
/// call may name; more is [`StorageError::Invalid`] (XEP-0313 clients ask for a handful).
pub const MAX_IDS: usize = 1000;

/// Who owns a plugin record (the WIT `owner`). The host deletes a record when its owner goes away.
///
/// Not `#[non_exhaustive]`: it mirrors the WIT variant of `tessera:plugin@0.1.0` case for case, and
/// a new kind of owner would come with a new WIT version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A local account, by bare JID (the caller checks it is local: account deletion removes every
    /// `User` owner with that localpart).
    User(BareJid),
    /// A room, or another entity a plugin serves, by bare JID.
    Room(BareJid),
    /// The service itself.
    Service,
}

/// The stable text stored in the `owner` columns: `user:<bare JID>`, `room:<bare JID>` or
/// `service`. Changing it needs a migration.
impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(jid) => write!(f, "user:{jid}"),
            Self::Room(jid) => write!(f, "room:{jid}"),
            Self::Service => f.write_str("service"),
        }
    }
}

/// A stored owner text that is not one of the three forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an owner encoding")]
pub struct InvalidOwner;

impl FromStr for Owner {
    type Err = InvalidOwner;

    /// Parses the [`Display`](fmt::Display) form back.
    fn from_str(s: &str) -> Result<Self, InvalidOwner> {
        let bare = |jid: &str| BareJid::new(jid).map_err(|_| InvalidOwner);
        match s.split_once(':') {
            Some(("user", jid)) => Ok(Self::User(bare(jid)?)),
            Some(("room", jid)) => Ok(Self::Room(bare(jid)?)),
            _ if s == "service" => Ok(Self::Service),
            _ => Err(InvalidOwner),
        }
    }
}

/// One archive entry to append.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// The other party, bare or full (`None` for entries without one).
    pub with: Option<&'a Jid>,
    /// The payload, typically a serialised stanza.
    pub data: &'a str,
}

/// One stored archive entry (the WIT `archive.entry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// Host-assigned, unique and time-ordered within its stream.
    pub id: String,
    /// When it was appended (ms), as encoded in its id.
    pub timestamp: Millis,
    /// The other party as it was given at append time, bare or full.
    pub with: Option<Jid>,
    /// The payload.
    pub data: String,
}

/// An archive query (the WIT `archive-query`, XEP-0313 filters with XEP-0059 paging). Every filter
/// is optional; `Default` is "everything, zero entries" (just the count).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveQuery {
    /// Only entries with this counterpart: a bare JID matches every resource of it, a full JID
    /// only itself (XEP-0313 §4.1.1).
    pub with: Option<Jid>,
    /// Entries at or after this time (ms).
    pub start: Option<Millis>,
    /// Entries at or before this time (ms).
    pub end: Option<Millis>,
    /// Entries strictly after this id (RSM `after`). Any text works as a bound.
    pub after_id: Option<String>,
    /// Entries strictly before this id (RSM `before`).
    pub before_id: Option<String>,
    /// Only these ids (XEP-0313 `ids`), at most [`MAX_IDS`]; empty means no such filter.
    pub ids: Vec<String>,
    /// Most entries returned.
    pub limit: u32,
    /// Newest first, taking the page from the newest end (RSM `before`, XEP-0313 flip-page).
    pub reverse: bool,
}

/// A page of archive results (the WIT `archive.page`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Oldest first, or newest first for a `reverse` query.
    pub entries: Vec<ArchiveEntry>,
    /// Entries matching the filters, ignoring `after_id`/`before_id`/`limit` (RSM `count`).
    pub count: u64,
    /// No further entry matches in the page's direction (XEP-0313 `complete`).
    pub complete: bool,
}

// ---- ids ----

/// The archive id for `ms` and a sequence number (`seq < 1000` keeps the ms readable).
pub(super) fn archive_id(n: u64) -> String {
    format!("{n:016}")
}

/// The smallest id that time `ms` can have. `ms` must be at most [`MAX_ARCHIVE_MS`].
pub(super) fn first_id_at(ms: Millis) -> String {
    archive_id(ms * 1000)
}

/// The largest id that time `ms` can have. `ms` must be at most [`MAX_ARCHIVE_MS`].
pub(super) fn last_id_at(ms: Millis) -> String {
    archive_id(ms * 1000 + 999)
}

/// The numeric value of a stored id; [`StorageError::Corrupt`] if it is not one of ours.
pub(super) fn id_value(id: &str) -> Result<u64, StorageError> {
    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit()) {
        id.parse()
            .map_err(|_| StorageError::Corrupt(format!("archive id {id:?}")))
    } else {
        Err(StorageError::Corrupt(format!("archive id {id:?}")))
    }
}

/// An id number that still fits 16 digits, as the `i64` the database stores.
pub(super) fn checked_id(n: u64) -> Result<i64, StorageError> {
    if n > MAX_ARCHIVE_MS * 1000 + 999 {
        return Err(StorageError::Invalid(
            "archive stream ran out of ids".into(),
        ));
    }
    Ok(i64::try_from(n).expect("invariant: below 10^16"))
}

// ---- ranges and conversions ----

/// The owner-key range `[lo, hi)` holding every `User` owner whose localpart is `username`:
/// `user:alice@` up to `user:aliceA`. A localpart never contains `@` (RFC 7622 §3.3.1), and `A`
/// is the code point after `@`, so in bytewise order exactly the strings starting `user:alice@`
/// fall inside, and `user:alicea@…` or `room:alice@…` do not.
pub(super) fn account_owner_range(username: &str) -> (String, String) {
    (format!("user:{username}@"), format!("user:{username}A"))
}

/// The exclusive upper bound of the strings starting with `prefix`, in code point (= UTF-8 byte)
/// order: the prefix with its last code point incremented, dropping trailing `char::MAX`es.
/// `None` when there is no bound (an empty prefix, or only `char::MAX`es).
pub(super) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            // Skip the surrogate gap, which no `char` holds.
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A time or count as the `BIGINT` the databases store, saturating (a value past `i64::MAX` ms
/// is as good as never).
pub(super) fn db_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// PostgreSQL text cannot hold NUL, and SQLite would store it: refuse it on both, so the backends
/// agree.
pub(super) fn check_text(what: &str, value: &str) -> Result<(), StorageError> {
    if value.contains('\0') {
        Err(StorageError::Invalid(format!("{what} contains NUL")))
    } else {
        Ok(())
    }
}

/// [`check_text`] for a statement's scope: plugin, category, and its key or stream name.
pub(super) fn check_scope(
    plugin: &str,
    category: &str,
    (what, name): (&str, &str),
) -> Result<(), StorageError> {
    check_text("plugin", plugin)?;
    check_text("category", category)?;
    check_text(what, name)
}

/// Decodes an archive row (`id`, `with_jid`, `data`).
pub(super) fn entry(
    (id, with, data): (String, String, String),
) -> Result<ArchiveEntry, StorageError> {
    let timestamp = id_value(&id)? / 1000;
    let with = if with.is_empty() {
        None
    } else {
        Some(Jid::new(&with).map_err(|e| StorageError::Corrupt(format!("archive with: {e}")))?)
    };
    Ok(ArchiveEntry {
        id,
        timestamp,
        with,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_text_round_trips() {
        let alice = BareJid::new("alice@example.com").unwrap();
        let room = BareJid::new("room@muc.example.com").unwrap();
        for (owner, text) in [
            (Owner::User(alice), "user:alice@example.com"),
            (Owner::Room(room), "room:room@muc.example.com"),
            (Owner::Service, "service"),
        ] {
            assert_eq!(owner.to_string(), text);
            assert_eq!(text.parse::<Owner>(), Ok(owner));
        }
        for bad in ["", "user:", "user:a@b/c", "service:x", "guest:a@b", "room"] {
            assert_eq!(bad.parse::<Owner>(), Err(InvalidOwner), "{bad}");
        }
    }

    #[test]
    fn ids_sort_by_time_and_round_trip() {
        let a = first_id_at(1_700_000_000_000);
        let b = last_id_at(1_700_000_000_000);
        let c = first_id_at(1_700_000_000_001);
        assert_eq!(a, "1700000000000000");
        assert!(a < b && b < c);
        assert_eq!(first_id_at(5), "0000000000005000");
        assert_eq!(id_value(&b).unwrap() / 1000, 1_700_000_000_000);
        assert_eq!(last_id_at(MAX_ARCHIVE_MS), "9999999999999999");
        for bad in [
            "",
            "123",
            "17000000000000000",
            "170000000000000x",
            "-700000000000000",
        ] {
            assert!(
                matches!(id_value(bad), Err(StorageError::Corrupt(_))),
                "{bad}"
            );
        }
        assert!(checked_id(MAX_ARCHIVE_MS * 1000 + 1000).is_err());
    }

    #[test]
    fn account_range_holds_only_that_account() {
        let (lo, hi) = account_owner_range("alice");
        let inside = |s: &str| lo.as_str() <= s && s < hi.as_str();
        assert!(inside("user:alice@example.com"));
        assert!(inside("user:alice@other.example"));
        for outside in [
            "user:alice",
            "user:alicea@example.com",
            "user:alic@example.com",
            "user:alice.b@example.com",
            "room:alice@example.com",
            "service",
        ] {
            assert!(!inside(outside), "{outside}");
        }
    }

    #[test]
    fn prefix_end_bounds_exactly_the_prefix() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        let end = prefix_end("é").unwrap();
        assert!("é" < end.as_str() && "éz\u{10FFFF}" < end.as_str() && "f" < end.as_str());
    }

    #[test]
    fn nul_is_refused() {
        assert!(check_text("key", "a\0b").is_err());
        assert!(check_text("key", "ab").is_ok());
    }
}
