-- XEP-0484 FAST tokens, PostgreSQL dialect. Keep in step with ../sqlite/0006_fast_tokens.sql.
--
-- Per account and client installation (`agent`: SHA-256 of its XEP-0388 <user-agent id>, so the
-- id itself is never stored) at most two tokens: the one in use (`slot` 0) and a newer one issued
-- but not used yet (`slot` 1), which replaces it when first used (XEP-0484 §6.1). A token is
-- bound to the mechanism it was issued for and valid until `expires_at` (Unix seconds). Deleted
-- with the account.
CREATE TABLE fast_tokens (
    username    TEXT COLLATE "C" NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    agent       TEXT COLLATE "C" NOT NULL,
    slot        BIGINT NOT NULL CHECK (slot IN (0, 1)),
    mechanism   TEXT NOT NULL,
    token       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (username, agent, slot)
);

CREATE INDEX fast_tokens_expiry ON fast_tokens (expires_at);
