//! Blob-metadata SQL both dialects accept (`$n` placeholders, `ON CONFLICT`, `RETURNING`, window
//! functions, row values), as `plugin_data::sql` is for `kv` and `archive`.
//!
//! Keyed statements bind `$1` owner (its [`Owner`](crate::storage::Owner) text), `$2` plugin,
//! `$3` category, `$4` name. Every statement that deletes rows returns their `file`, so the
//! caller can delete the files once the transaction committed.

/// `$5` now: an expired blob reads as absent. Returns `file, size, sha256`.
pub(in crate::storage) const GET: &str = "SELECT file, size, sha256 FROM plugin_blobs \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND name = $4 \
     AND (expires_at IS NULL OR expires_at > $5)";

/// Removes the blob a `put` replaces, first: a write, so SQLite takes the write lock before the
/// quota read (see `sqlite.rs`) and PostgreSQL locks the row.
pub(in crate::storage) const DELETE: &str = "DELETE FROM plugin_blobs \
     WHERE owner = $1 AND plugin = $2 AND category = $3 AND name = $4 \
     RETURNING file, expires_at";

/// The bytes a plugin keeps (`$1` plugin). `SUM` of `BIGINT` is `NUMERIC` on PostgreSQL, hence
/// the cast.
pub(in crate::storage) const PLUGIN_BYTES: &str =
    "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM plugin_blobs WHERE plugin = $1";

/// `$5` file, `$6` size, `$7` sha256, `$8` now, `$9` expiry. The conflict arm only fires when a
/// concurrent `put` of the same name committed between our `DELETE` and this insert (PostgreSQL);
/// the file it replaces then has no row, and the orphan sweep takes it.
pub(in crate::storage) const INSERT: &str = "INSERT INTO plugin_blobs \
     (owner, plugin, category, name, file, size, sha256, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (owner, plugin, category, name) DO UPDATE SET file = excluded.file, \
     size = excluded.size, sha256 = excluded.sha256, created_at = excluded.created_at, \
     expires_at = excluded.expires_at";

/// An owner's blobs in every plugin (`$1` owner).
pub(in crate::storage) const DELETE_OWNER: &str =
    "DELETE FROM plugin_blobs WHERE owner = $1 RETURNING file";

/// The blobs of every owner in `[$1, $2)`: an account's, via `account_owner_range`.
pub(in crate::storage) const DELETE_OWNER_RANGE: &str =
    "DELETE FROM plugin_blobs WHERE owner >= $1 AND owner < $2 RETURNING file";

/// Blobs whose expiry has come (`$1` now), every plugin.
pub(in crate::storage) const PURGE_EXPIRED: &str =
    "DELETE FROM plugin_blobs WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING file";

/// Max age: `$1` plugin, `$2` category, `$3` the oldest write kept (ms).
pub(in crate::storage) const OLDER_THAN: &str = "DELETE FROM plugin_blobs \
     WHERE plugin = $1 AND category = $2 AND created_at < $3 RETURNING file";

/// Max items: all but each owner's `$3` newest blobs (`$1` plugin, `$2` category).
pub(in crate::storage) const BEYOND: &str = "DELETE FROM plugin_blobs \
     WHERE plugin = $1 AND category = $2 AND (owner, name) IN (\
     SELECT owner, name FROM (SELECT owner, name, ROW_NUMBER() OVER \
     (PARTITION BY owner ORDER BY created_at DESC, name DESC) AS n \
     FROM plugin_blobs WHERE plugin = $1 AND category = $2) AS ranked WHERE n > $3) \
     RETURNING file";

/// File names per `known_files` statement (far below both backends' parameter limits).
pub(in crate::storage) const KNOWN_CHUNK: usize = 500;

/// Which of `n` file names (`$1`…`$n`) have a row.
pub(in crate::storage) fn known_files(n: usize) -> String {
    let list: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!(
        "SELECT file FROM plugin_blobs WHERE file IN ({})",
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_files_numbers_its_placeholders() {
        assert_eq!(
            super::known_files(3),
            "SELECT file FROM plugin_blobs WHERE file IN ($1, $2, $3)"
        );
    }
}
