//! Plugin-data SQL both dialects accept (`$n` placeholders, reused where a value appears twice;
//! `ON CONFLICT` upserts; `RETURNING`; window functions; row values), and the builder for the
//! archive statements whose filters vary.
//!
//! Fixed statements bind `$1` owner (its [`Owner`](super::Owner) text), `$2` plugin, `$3`
//! category, then their own arguments. Every statement that reads or writes plugin rows names the
//! plugin, except the host's own owner deletions and expiry purge, which cross plugins on purpose.

use super::{
    ArchiveQuery, MAX_ARCHIVE_MS, MAX_IDS, Millis, check_scope, check_text, first_id_at, last_id_at,
};
use crate::storage::StorageError;

// ---- kv ----

/// `$4` key: the row with its expiry, which the caller compares with its clock (an expired
/// value reads as absent; the row is cached as stored, see `kv_cache`).
pub(in crate::storage) const KV_ROW: &str = "SELECT value, expires_at FROM plugin_kv \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND key = $4";

/// `$4` key, `$5` value, `$6` now, `$7` expiry. A rewrite restarts the value's age.
pub(in crate::storage) const KV_SET: &str = "INSERT INTO plugin_kv \
     (owner, plugin, category, key, value, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (owner, plugin, category, key) DO UPDATE SET value = excluded.value, \
     created_at = excluded.created_at, expires_at = excluded.expires_at";

/// `$4` key. Returns the deleted row's expiry, so an expired value counts as absent.
pub(in crate::storage) const KV_DELETE: &str = "DELETE FROM plugin_kv \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND key = $4 RETURNING expires_at";

/// `$4` prefix, `$5` the prefix's end (see `prefix_end`), `$6` now, `$7` limit.
pub(in crate::storage) const KV_KEYS_RANGE: &str = "SELECT key FROM plugin_kv \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND key >= $4 AND key < $5 \
     AND (expires_at IS NULL OR expires_at > $6) ORDER BY key LIMIT $7";

/// As [`KV_KEYS_RANGE`] for a prefix with no end (empty): `$4` prefix, `$5` now, `$6` limit.
pub(in crate::storage) const KV_KEYS_FROM: &str = "SELECT key FROM plugin_kv \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND key >= $4 \
     AND (expires_at IS NULL OR expires_at > $5) ORDER BY key LIMIT $6";

// ---- archive ----

/// A stream's last id handed out (`$4` stream); no row means none yet. Read once per stream by
/// the writer (see `writer`), which keeps it in memory from then on.
pub(in crate::storage) const LAST_ID: &str = "SELECT last_id FROM plugin_archive_streams \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND stream = $4";

/// Rows per multi-row statement of a batch (8 parameters a row: far below both limits, 32 766
/// for SQLite and 65 535 for PostgreSQL).
pub(in crate::storage) const INSERT_CHUNK: usize = 500;

/// How a multi-row statement writes its placeholders, all of them in argument order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::storage) enum Placeholders {
    /// `$1, $2, …` (PostgreSQL's only form).
    Numbered,
    /// `?, ?, …` (SQLite). Numbered ones cost SQLite a linear search of the names already seen
    /// for each one, at prepare and again at bind (sqlx asks each parameter's name): quadratic in
    /// a 4000-parameter batch insert, where it was the writer's largest single cost.
    Anonymous,
}

/// A multi-row insert of `rows` entries, 8 parameters each: `owner, plugin, category, stream,
/// id, with_bare, with_jid, data`.
pub(in crate::storage) fn insert_rows(style: Placeholders, rows: usize) -> String {
    values(
        style,
        "INSERT INTO plugin_archive \
         (owner, plugin, category, stream, id, with_bare, with_jid, data) VALUES ",
        rows,
        8,
        "",
    )
}

/// A multi-row upsert of streams after a batch, 6 parameters each: `owner, plugin, category,
/// stream, last_id, entries added`. The stored last id only grows; the entry count grows by
/// the added ones. Returns each stream's key and new entry count. Each stream once per
/// statement (PostgreSQL refuses to update a row twice in one `ON CONFLICT`).
pub(in crate::storage) fn upsert_streams(style: Placeholders, rows: usize) -> String {
    values(
        style,
        "INSERT INTO plugin_archive_streams \
         (owner, plugin, category, stream, last_id, entries) VALUES ",
        rows,
        6,
        " ON CONFLICT (owner, plugin, category, stream) DO UPDATE SET last_id = CASE \
         WHEN excluded.last_id > plugin_archive_streams.last_id THEN excluded.last_id \
         ELSE plugin_archive_streams.last_id END, \
         entries = plugin_archive_streams.entries + excluded.entries \
         RETURNING owner, plugin, category, stream, entries",
    )
}

/// A multi-row upsert of counterparts' entry counts after a batch, 6 parameters each: `owner,
/// plugin, category, stream, with_bare, entries added`. Each counterpart once per statement.
pub(in crate::storage) fn upsert_counterparts(style: Placeholders, rows: usize) -> String {
    values(
        style,
        "INSERT INTO plugin_archive_counterparts \
         (owner, plugin, category, stream, with_bare, entries) VALUES ",
        rows,
        6,
        " ON CONFLICT (owner, plugin, category, stream, with_bare) DO UPDATE SET \
         entries = plugin_archive_counterparts.entries + excluded.entries",
    )
}

/// `head`, then `rows` tuples of `width` consecutive placeholders, then `tail` (which binds
/// nothing).
fn values(style: Placeholders, head: &str, rows: usize, width: usize, tail: &str) -> String {
    let mut text = String::from(head);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for col in 0..width {
            if col > 0 {
                text.push_str(", ");
            }
            match style {
                Placeholders::Numbered => {
                    text.push_str(&format!("${}", row * width + col + 1));
                }
                Placeholders::Anonymous => text.push('?'),
            }
        }
        text.push(')');
    }
    text.push_str(tail);
    text
}

/// The entry count of one stream (`$4` stream; no row means none), kept by every write: the
/// `count` of an unfiltered query.
pub(in crate::storage) const STREAM_ENTRIES: &str = "SELECT entries FROM plugin_archive_streams \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND stream = $4";

/// The entry count of one counterpart in a stream (`$4` stream, `$5` bare JID; no row means
/// none): the `count` of a query whose only filter is a bare `with`.
pub(in crate::storage) const COUNTERPART_ENTRIES: &str = "SELECT entries \
     FROM plugin_archive_counterparts \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND stream = $4 AND with_bare = $5";

/// After deleting `$6` entries with counterpart `$5` of a stream (`$4` stream): its count.
pub(in crate::storage) const COUNTERPART_DELETED: &str = "UPDATE plugin_archive_counterparts \
     SET entries = entries - $6 \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND stream = $4 AND with_bare = $5";

/// After deleting `$5` entries of a stream (`$4` stream): its entry count.
pub(in crate::storage) const ENTRIES_DELETED: &str = "UPDATE plugin_archive_streams \
     SET entries = entries - $5 \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND stream = $4";

/// Deletes a stream's `$5 + 1` oldest entries (`$4` stream): a key range up to the id at offset
/// `$5`, found on the primary key. Used for `max_items` when the writer knows the stream's count,
/// so it costs the entries it drops, not the stream's size.
pub(in crate::storage) const TRIM_OLDEST: &str = "DELETE FROM plugin_archive \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND stream = $4 AND id <= (\
     SELECT id FROM plugin_archive \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND stream = $4 \
     ORDER BY id LIMIT 1 OFFSET $5) RETURNING with_bare";

// ---- lifecycle ----

/// The records an owner has, in every plugin (`$1` owner).
pub(in crate::storage) const DELETE_OWNER: [&str; 2] = [
    "DELETE FROM plugin_kv WHERE owner = $1",
    "DELETE FROM plugin_archive WHERE owner = $1",
];

/// The owner's stream id counters and entry counts (not records: run after [`DELETE_OWNER`]).
pub(in crate::storage) const DELETE_OWNER_STREAMS: [&str; 2] = [
    "DELETE FROM plugin_archive_streams WHERE owner = $1",
    "DELETE FROM plugin_archive_counterparts WHERE owner = $1",
];

/// The records of every owner in `[$1, $2)`: an account's, via `account_owner_range`. Owner
/// leads each key, so these are key-range deletes.
pub(in crate::storage) const DELETE_OWNER_RANGE: [&str; 5] = [
    "DELETE FROM plugin_kv WHERE owner >= $1 AND owner < $2",
    "DELETE FROM plugin_archive WHERE owner >= $1 AND owner < $2",
    "DELETE FROM plugin_archive_streams WHERE owner >= $1 AND owner < $2",
    "DELETE FROM plugin_archive_counterparts WHERE owner >= $1 AND owner < $2",
    "DELETE FROM plugin_marks WHERE owner >= $1 AND owner < $2",
];

// ---- `scope` marks (migration 0005) ----

/// `$1` owner, `$2` plugin.
pub(in crate::storage) const MARK_SET: &str =
    "INSERT INTO plugin_marks (owner, plugin) VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// `$1` owner, `$2` plugin.
pub(in crate::storage) const MARK_DELETE: &str =
    "DELETE FROM plugin_marks WHERE owner = $1 AND plugin = $2";

/// Every mark, for start-up.
pub(in crate::storage) const MARKS: &str = "SELECT plugin, owner FROM plugin_marks";

/// `kv` values whose expiry has come (`$1` now), every plugin.
pub(in crate::storage) const PURGE_EXPIRED: &str =
    "DELETE FROM plugin_kv WHERE expires_at IS NOT NULL AND expires_at <= $1";

/// Max age: `$1` plugin, `$2` category, `$3` the oldest write kept (ms).
pub(in crate::storage) const KV_OLDER_THAN: &str =
    "DELETE FROM plugin_kv WHERE plugin = $1 AND category = $2 AND created_at < $3";

/// Max age: `$1` plugin, `$2` category, `$3` the first id of the oldest time kept. Returns each
/// deleted entry's owner, stream and counterpart, for the entry counts ([`count_updates`]).
pub(in crate::storage) const ARCHIVE_OLDER_THAN: &str = "DELETE FROM plugin_archive \
     WHERE plugin = $1 AND category = $2 AND id < $3 RETURNING owner, stream, with_bare";

/// Max items: all but each owner's `$3` newest values (`$1` plugin, `$2` category).
pub(in crate::storage) const KV_BEYOND: &str = "DELETE FROM plugin_kv \
     WHERE plugin = $1 AND category = $2 AND (owner, key) IN (\
     SELECT owner, key FROM (SELECT owner, key, ROW_NUMBER() OVER \
     (PARTITION BY owner ORDER BY created_at DESC, key DESC) AS n \
     FROM plugin_kv WHERE plugin = $1 AND category = $2) AS ranked WHERE n > $3)";

/// Max items: all but each stream's `$3` newest entries (`$1` plugin, `$2` category). The archive
/// writer keeps streams within their `max_items` as it writes; this catches a lowered limit.
/// Returns each deleted entry's owner, stream and counterpart, as [`ARCHIVE_OLDER_THAN`].
pub(in crate::storage) const ARCHIVE_BEYOND: &str = "DELETE FROM plugin_archive \
     WHERE plugin = $1 AND category = $2 AND (owner, stream, id) IN (\
     SELECT owner, stream, id FROM (SELECT owner, stream, id, ROW_NUMBER() OVER \
     (PARTITION BY owner, stream ORDER BY id DESC) AS n \
     FROM plugin_archive WHERE plugin = $1 AND category = $2) AS ranked WHERE n > $3) \
     RETURNING owner, stream, with_bare";

/// The entry-count updates after deleting archive entries of one plugin and category: `gone`
/// holds each deleted entry's owner, stream and counterpart (as the deletes return them). One
/// statement per stream and per counterpart that lost entries.
pub(in crate::storage) fn count_updates(
    plugin: &str,
    category: &str,
    gone: Vec<(String, String, String)>,
) -> Vec<Built> {
    use std::collections::BTreeMap;
    let mut streams: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut counterparts: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for (owner, stream, with) in gone {
        *streams.entry((owner.clone(), stream.clone())).or_default() += 1;
        *counterparts.entry((owner, stream, with)).or_default() += 1;
    }
    let scope = |owner: String, stream: String| {
        vec![
            Arg::Text(owner),
            Arg::Text(plugin.to_owned()),
            Arg::Text(category.to_owned()),
            Arg::Text(stream),
        ]
    };
    let mut out = Vec::with_capacity(streams.len() + counterparts.len());
    for ((owner, stream), n) in streams {
        let mut args = scope(owner, stream);
        args.push(Arg::Int(n));
        out.push(Built {
            text: ENTRIES_DELETED.to_owned(),
            args,
        });
    }
    for ((owner, stream, with), n) in counterparts {
        let mut args = scope(owner, stream);
        args.extend([Arg::Text(with), Arg::Int(n)]);
        out.push(Built {
            text: COUNTERPART_DELETED.to_owned(),
            args,
        });
    }
    out
}

// ---- archive filters ----

/// Where an archive query's `count` comes from.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::storage) enum CountFrom {
    /// No filter: the stream's kept count ([`STREAM_ENTRIES`]).
    Stream,
    /// Only a bare `with`: the counterpart's kept count ([`COUNTERPART_ENTRIES`]).
    Counterpart(String),
    /// Anything else (a full `with`, a time range, ids): counted, over a range the filter bounds.
    Scan,
}

impl CountFrom {
    pub(in crate::storage) fn of(q: &ArchiveQuery) -> Self {
        if q.start.is_some() || q.end.is_some() || !q.ids.is_empty() {
            return Self::Scan;
        }
        match &q.with {
            None => Self::Stream,
            Some(with) if with.is_bare() => Self::Counterpart(with.to_bare().to_string()),
            Some(_) => Self::Scan,
        }
    }
}

/// A bound value for a built statement.
#[derive(Clone)]
pub(in crate::storage) enum Arg {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
}

/// A statement with its arguments in placeholder order.
pub(in crate::storage) struct Built {
    pub(in crate::storage) text: String,
    pub(in crate::storage) args: Vec<Arg>,
}

/// The `WHERE` clause of one stream's entries, built up filter by filter. Each value is a bound
/// argument, never spliced into the text.
pub(in crate::storage) struct StreamFilter {
    conditions: String,
    args: Vec<Arg>,
    /// A filter that no entry can match (a start beyond every id).
    empty: bool,
}

impl StreamFilter {
    /// The stream's entries: `owner`, `plugin`, `category`, `stream`.
    pub(in crate::storage) fn new(
        owner: String,
        plugin: &str,
        category: &str,
        stream: &str,
    ) -> Result<Self, StorageError> {
        check_scope(plugin, category, ("stream", stream))?;
        Ok(Self {
            conditions: "owner = $1 AND plugin = $2 AND category = $3 AND stream = $4".into(),
            args: vec![
                Arg::Text(owner),
                Arg::Text(plugin.to_owned()),
                Arg::Text(category.to_owned()),
                Arg::Text(stream.to_owned()),
            ],
            empty: false,
        })
    }

    /// Appends ` AND <column> <op> $n` for one more argument.
    fn and(&mut self, column: &str, op: &str, arg: Arg) {
        self.args.push(arg);
        let n = self.args.len();
        self.conditions
            .push_str(&format!(" AND {column} {op} ${n}"));
    }

    /// A time range, as the id range it is (see the module docs).
    pub(in crate::storage) fn time(&mut self, start: Option<Millis>, end: Option<Millis>) {
        if let Some(start) = start {
            if start > MAX_ARCHIVE_MS {
                self.empty = true;
            } else {
                self.and("id", ">=", Arg::Text(first_id_at(start)));
            }
        }
        if let Some(end) = end {
            self.and("id", "<=", Arg::Text(last_id_at(end.min(MAX_ARCHIVE_MS))));
        }
    }

    /// Only these ids; at most [`MAX_IDS`].
    pub(in crate::storage) fn ids(&mut self, ids: &[String]) -> Result<(), StorageError> {
        if ids.is_empty() {
            return Ok(());
        }
        if ids.len() > MAX_IDS {
            return Err(StorageError::Invalid(format!(
                "{} ids, at most {MAX_IDS}",
                ids.len()
            )));
        }
        let mut list = String::new();
        for id in ids {
            check_text("archive id", id)?;
            self.args.push(Arg::Text(id.clone()));
            if !list.is_empty() {
                list.push_str(", ");
            }
            list.push_str(&format!("${}", self.args.len()));
        }
        self.conditions.push_str(&format!(" AND id IN ({list})"));
        Ok(())
    }

    /// The query's filters (not its paging).
    pub(in crate::storage) fn query(
        owner: String,
        plugin: &str,
        category: &str,
        stream: &str,
        q: &ArchiveQuery,
    ) -> Result<Self, StorageError> {
        let mut filter = Self::new(owner, plugin, category, stream)?;
        if let Some(with) = &q.with {
            // A bare JID matches all its resources; a full one only itself (XEP-0313 §4.1.1).
            filter.and("with_bare", "=", Arg::Text(with.to_bare().to_string()));
            if !with.is_bare() {
                filter.and("with_jid", "=", Arg::Text(with.to_string()));
            }
        }
        filter.time(q.start, q.end);
        filter.ids(&q.ids)?;
        Ok(filter)
    }

    /// Whether no entry can match.
    pub(in crate::storage) fn is_empty(&self) -> bool {
        self.empty
    }

    /// `SELECT COUNT(*)` of the matching entries.
    pub(in crate::storage) fn count(&self) -> Built {
        Built {
            text: format!(
                "SELECT COUNT(*) FROM plugin_archive WHERE {}",
                self.conditions
            ),
            args: self.args.clone(),
        }
    }

    /// `DELETE` of the matching entries, returning each one's counterpart (for the counts).
    pub(in crate::storage) fn delete(self) -> Built {
        Built {
            text: format!(
                "DELETE FROM plugin_archive WHERE {} RETURNING with_bare",
                self.conditions
            ),
            args: self.args,
        }
    }

    /// One page: the filter plus the query's keyset bounds, ordered by id in the query's
    /// direction, fetching one row more than `limit` to learn whether the page is complete.
    pub(in crate::storage) fn page(mut self, q: &ArchiveQuery) -> Result<Built, StorageError> {
        if let Some(after) = &q.after_id {
            check_text("after id", after)?;
            self.and("id", ">", Arg::Text(after.clone()));
        }
        if let Some(before) = &q.before_id {
            check_text("before id", before)?;
            self.and("id", "<", Arg::Text(before.clone()));
        }
        let direction = if q.reverse { "DESC" } else { "ASC" };
        self.args.push(Arg::Int(i64::from(q.limit) + 1));
        Ok(Built {
            text: format!(
                "SELECT id, with_jid, data FROM plugin_archive WHERE {} ORDER BY id {direction} \
                 LIMIT ${}",
                self.conditions,
                self.args.len()
            ),
            args: self.args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_statements_number_their_placeholders() {
        assert_eq!(
            insert_rows(Placeholders::Numbered, 2),
            "INSERT INTO plugin_archive (owner, plugin, category, stream, id, with_bare, \
             with_jid, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8), \
             ($9, $10, $11, $12, $13, $14, $15, $16)"
        );
        assert!(
            upsert_streams(Placeholders::Numbered, 2)
                .contains("VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12) ON")
        );
        assert!(
            upsert_counterparts(Placeholders::Anonymous, 2)
                .contains("VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?) ON")
        );
    }

    #[test]
    fn query_binds_every_value() {
        let q = ArchiveQuery {
            with: Some(jid::Jid::new("juliet@example.com/balcony").unwrap()),
            start: Some(1),
            end: Some(2),
            after_id: Some("x".into()),
            ids: vec!["a".into(), "b".into()],
            limit: 10,
            ..ArchiveQuery::default()
        };
        let filter = StreamFilter::query("user:a@b".into(), "p", "c", "s", &q).unwrap();
        let count = filter.count();
        assert_eq!(
            count.text,
            "SELECT COUNT(*) FROM plugin_archive WHERE owner = $1 AND plugin = $2 AND \
             category = $3 AND stream = $4 AND with_bare = $5 AND with_jid = $6 AND id >= $7 \
             AND id <= $8 AND id IN ($9, $10)"
        );
        assert_eq!(count.args.len(), 10);
        let page = filter.page(&q).unwrap();
        assert!(
            page.text
                .ends_with("AND id > $11 ORDER BY id ASC LIMIT $12"),
            "{}",
            page.text
        );
        assert!(matches!(page.args.last(), Some(Arg::Int(11))));
    }

    #[test]
    fn too_many_ids_or_a_late_start() {
        let mut filter = StreamFilter::new("service".into(), "p", "c", "s").unwrap();
        let ids = vec![String::new(); MAX_IDS + 1];
        assert!(matches!(filter.ids(&ids), Err(StorageError::Invalid(_))));
        filter.time(Some(MAX_ARCHIVE_MS + 1), Some(u64::MAX));
        assert!(filter.is_empty());
    }
}
