-- Integration tokens revoked one by one (by their `jti`), kept until they would have expired
-- anyway. Revoking an integration still ends all of its tokens at once.
CREATE TABLE revoked_tokens (
    account_id      text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    jti             text NOT NULL,
    integration_id  text,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, jti)
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
