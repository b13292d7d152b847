-- Tessera storage, PostgreSQL dialect. Keep in step with ../sqlite/0001_initial.sql: the same
-- tables, columns and constraints, so one test suite covers both backends.
--
-- Accounts hold salted SCRAM keys (RFC 5802 §3) for SHA-1 and SHA-256, never a password.
-- Everything an account owns references it with ON DELETE CASCADE, so deleting the account row
-- deletes the roster, its groups, its version and the pending requests in the same statement.
-- Text keys use the "C" collation so they compare bytewise, as SQLite's BINARY does: usernames
-- list in code point order whatever the database's locale.

CREATE TABLE accounts (
    username            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    created_at          BIGINT NOT NULL,
    last_login_at       BIGINT,
    sha1_salt           BYTEA  NOT NULL,
    sha1_iterations     BIGINT NOT NULL CHECK (sha1_iterations BETWEEN 1 AND 4294967295),
    sha1_stored_key     BYTEA  NOT NULL,
    sha1_server_key     BYTEA  NOT NULL,
    sha256_salt         BYTEA  NOT NULL,
    sha256_iterations   BIGINT NOT NULL CHECK (sha256_iterations BETWEEN 1 AND 4294967295),
    sha256_stored_key   BYTEA  NOT NULL,
    sha256_server_key   BYTEA  NOT NULL
);

-- RFC 6121 §2.6: one version per roster, bumped in the same transaction as every roster change.
-- No row means version 0.
CREATE TABLE roster_versions (
    username    TEXT COLLATE "C" NOT NULL PRIMARY KEY
                REFERENCES accounts (username) ON DELETE CASCADE,
    version     BIGINT NOT NULL CHECK (version >= 0)
);

-- RFC 6121 §2.1.2: one row per contact. `contact` is a bare JID in its normalised string form.
CREATE TABLE roster_items (
    username        TEXT COLLATE "C" NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    contact         TEXT COLLATE "C" NOT NULL,
    name            TEXT,
    subscription    TEXT    NOT NULL,
    ask_out         BOOLEAN NOT NULL,
    approved        BOOLEAN NOT NULL,
    PRIMARY KEY (username, contact)
);

-- RFC 6121 §2.1.2.2: an item's groups, in the order the client gave them.
CREATE TABLE roster_groups (
    username    TEXT COLLATE "C" NOT NULL,
    contact     TEXT COLLATE "C" NOT NULL,
    position    BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    PRIMARY KEY (username, contact, position),
    FOREIGN KEY (username, contact) REFERENCES roster_items (username, contact) ON DELETE CASCADE
);

-- RFC 6121 §3.1.3: inbound subscription requests awaiting the user's answer ("Pending In").
CREATE TABLE pending_in (
    username    TEXT COLLATE "C" NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    contact     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (username, contact)
);
