-- Tessera storage, SQLite dialect. Keep in step with ../postgres/0001_initial.sql: the same tables,
-- columns and constraints, so one test suite covers both backends.
--
-- Accounts hold salted SCRAM keys (RFC 5802 §3) for SHA-1 and SHA-256, never a password.
-- Everything an account owns references it with ON DELETE CASCADE, so deleting the account row
-- deletes the roster, its groups, its version and the pending requests in the same statement
-- (this needs `PRAGMA foreign_keys = ON`, which the pool sets on every connection).
-- Text compares bytewise (SQLite's BINARY collation), so usernames list in code point order.

CREATE TABLE accounts (
    username            TEXT    NOT NULL PRIMARY KEY,
    created_at          INTEGER NOT NULL,
    last_login_at       INTEGER,
    sha1_salt           BLOB    NOT NULL,
    sha1_iterations     INTEGER NOT NULL CHECK (sha1_iterations BETWEEN 1 AND 4294967295),
    sha1_stored_key     BLOB    NOT NULL,
    sha1_server_key     BLOB    NOT NULL,
    sha256_salt         BLOB    NOT NULL,
    sha256_iterations   INTEGER NOT NULL CHECK (sha256_iterations BETWEEN 1 AND 4294967295),
    sha256_stored_key   BLOB    NOT NULL,
    sha256_server_key   BLOB    NOT NULL
) STRICT;

-- RFC 6121 §2.6: one version per roster, bumped in the same transaction as every roster change.
-- No row means version 0.
CREATE TABLE roster_versions (
    username    TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version >= 0)
) STRICT;

-- RFC 6121 §2.1.2: one row per contact. `contact` is a bare JID in its normalised string form.
CREATE TABLE roster_items (
    username        TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    contact         TEXT    NOT NULL,
    name            TEXT,
    subscription    TEXT    NOT NULL,
    ask_out         INTEGER NOT NULL CHECK (ask_out IN (0, 1)),
    approved        INTEGER NOT NULL CHECK (approved IN (0, 1)),
    PRIMARY KEY (username, contact)
) STRICT;

-- RFC 6121 §2.1.2.2: an item's groups, in the order the client gave them.
CREATE TABLE roster_groups (
    username    TEXT    NOT NULL,
    contact     TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    PRIMARY KEY (username, contact, position),
    FOREIGN KEY (username, contact) REFERENCES roster_items (username, contact) ON DELETE CASCADE
) STRICT;

-- RFC 6121 §3.1.3: inbound subscription requests awaiting the user's answer ("Pending In").
CREATE TABLE pending_in (
    username    TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    contact     TEXT    NOT NULL,
    PRIMARY KEY (username, contact)
) STRICT;
