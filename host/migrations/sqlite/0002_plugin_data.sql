-- Plugin data, SQLite dialect. Keep in step with ../postgres/0002_plugin_data.sql.
--
-- Every record carries the plugin that wrote it, the data category it declared, and its owner in
-- the stable text form of `storage::Owner` ("user:<bare JID>", "room:<bare JID>", "service"). Every
-- query is scoped by plugin, so one plugin never reads another's rows. Owner comes first in each
-- primary key: deleting an owner (or, for an account, the key range "user:<name>@…") is a range
-- delete on the key. Text compares bytewise (BINARY), which the key-prefix and id ranges rely on.
-- Timestamps are milliseconds since the Unix epoch.

-- `kv`: one value per (owner, plugin, category, key). `created_at` is the last write, which the
-- category's max age counts from; `expires_at` (if any) hides the value on read and lets GC drop it.
CREATE TABLE plugin_kv (
    owner       TEXT    NOT NULL,
    plugin      TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    value       BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    PRIMARY KEY (owner, plugin, category, key)
) STRICT;

-- Retention per category (max age, then max items per owner, oldest first).
CREATE INDEX plugin_kv_retention ON plugin_kv (plugin, category, created_at);
-- `purge_expired`.
CREATE INDEX plugin_kv_expiry ON plugin_kv (expires_at) WHERE expires_at IS NOT NULL;

-- `archive`: entries of a stream. `id` is the host-assigned, fixed-width decimal of
-- `ms * 1000 + sequence`, so it sorts by time as text and as a number, and a time range is an id
-- range on the key. `with_jid` is the counterpart as given (bare or full, '' for none), `with_bare`
-- its bare form for the `with` filter.
CREATE TABLE plugin_archive (
    owner       TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    category    TEXT NOT NULL,
    stream      TEXT NOT NULL,
    id          TEXT NOT NULL,
    with_bare   TEXT NOT NULL,
    with_jid    TEXT NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (owner, plugin, category, stream, id)
) STRICT;

-- XEP-0313 `with` queries page on this one.
CREATE INDEX plugin_archive_with ON plugin_archive (owner, plugin, category, stream, with_bare, id);
-- Retention by age across a whole category.
CREATE INDEX plugin_archive_retention ON plugin_archive (plugin, category, id);

-- The last id handed out per stream, so ids stay unique and increasing even when the clock steps
-- back or entries are removed. Deleted with the owner.
CREATE TABLE plugin_archive_streams (
    owner       TEXT    NOT NULL,
    plugin      TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    stream      TEXT    NOT NULL,
    last_id     INTEGER NOT NULL CHECK (last_id >= 0),
    PRIMARY KEY (owner, plugin, category, stream)
) STRICT;
