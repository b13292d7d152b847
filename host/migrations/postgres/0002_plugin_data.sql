-- Plugin data, PostgreSQL dialect. Keep in step with ../sqlite/0002_plugin_data.sql.
--
-- Every record carries the plugin that wrote it, the data category it declared, and its owner in
-- the stable text form of `storage::Owner` ("user:<bare JID>", "room:<bare JID>", "service"). Every
-- query is scoped by plugin, so one plugin never reads another's rows. Owner comes first in each
-- primary key: deleting an owner (or, for an account, the key range "user:<name>@…") is a range
-- delete on the key. Text uses the "C" collation: the key-prefix and id ranges rely on bytewise
-- order, as SQLite's BINARY gives. Timestamps are milliseconds since the Unix epoch.

-- `kv`: one value per (owner, plugin, category, key). `created_at` is the last write, which the
-- category's max age counts from; `expires_at` (if any) hides the value on read and lets GC drop it.
CREATE TABLE plugin_kv (
    owner       TEXT COLLATE "C" NOT NULL,
    plugin      TEXT COLLATE "C" NOT NULL,
    category    TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    value       BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    PRIMARY KEY (owner, plugin, category, key)
);

-- Retention per category (max age, then max items per owner, oldest first).
CREATE INDEX plugin_kv_retention ON plugin_kv (plugin, category, created_at);
-- `purge_expired`.
CREATE INDEX plugin_kv_expiry ON plugin_kv (expires_at) WHERE expires_at IS NOT NULL;

-- `archive`: entries of a stream. `id` is the host-assigned, fixed-width decimal of
-- `ms * 1000 + sequence`, so it sorts by time as text and as a number, and a time range is an id
-- range on the key. `with_jid` is the counterpart as given (bare or full, '' for none), `with_bare`
-- its bare form for the `with` filter.
CREATE TABLE plugin_archive (
    owner       TEXT COLLATE "C" NOT NULL,
    plugin      TEXT COLLATE "C" NOT NULL,
    category    TEXT COLLATE "C" NOT NULL,
    stream      TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    with_bare   TEXT COLLATE "C" NOT NULL,
    with_jid    TEXT COLLATE "C" NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (owner, plugin, category, stream, id)
);

-- XEP-0313 `with` queries page on this one.
CREATE INDEX plugin_archive_with ON plugin_archive (owner, plugin, category, stream, with_bare, id);
-- Retention by age across a whole category.
CREATE INDEX plugin_archive_retention ON plugin_archive (plugin, category, id);

-- The last id handed out per stream, so ids stay unique and increasing even when the clock steps
-- back or entries are removed. Deleted with the owner.
CREATE TABLE plugin_archive_streams (
    owner       TEXT COLLATE "C" NOT NULL,
    plugin      TEXT COLLATE "C" NOT NULL,
    category    TEXT COLLATE "C" NOT NULL,
    stream      TEXT COLLATE "C" NOT NULL,
    last_id     BIGINT NOT NULL CHECK (last_id >= 0),
    PRIMARY KEY (owner, plugin, category, stream)
);
