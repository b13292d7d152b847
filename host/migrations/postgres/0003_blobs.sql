-- Plugin blobs (the WIT `blobs`), PostgreSQL dialect. Keep in step with ../sqlite/0003_blobs.sql.
--
-- The metadata of each blob lives here; its bytes live in a file under `<data_dir>/blobs/` whose
-- name (`file`) the host chose: 32 random hex digits, never derived from the guest's `name`. A row
-- always has its file (the file is written and renamed into place before the row is committed,
-- and deleted only after the row's deletion is committed); a file may briefly have no row, and
-- the GC sweeps such orphans after a grace period. Owner text, collation and key order as in
-- 0002_plugin_data.sql, so an account's blobs are a key-range delete.
CREATE TABLE plugin_blobs (
    owner       TEXT COLLATE "C" NOT NULL,
    plugin      TEXT COLLATE "C" NOT NULL,
    category    TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    file        TEXT COLLATE "C" NOT NULL UNIQUE,
    size        BIGINT NOT NULL CHECK (size >= 0),
    sha256      BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    PRIMARY KEY (owner, plugin, category, name)
);

-- Retention per category (max age, then max items per owner, oldest first).
CREATE INDEX plugin_blobs_retention ON plugin_blobs (plugin, category, created_at);
-- `purge_expired`.
CREATE INDEX plugin_blobs_expiry ON plugin_blobs (expires_at) WHERE expires_at IS NOT NULL;
-- The per-plugin quota sums sizes over this.
CREATE INDEX plugin_blobs_plugin ON plugin_blobs (plugin, size);
