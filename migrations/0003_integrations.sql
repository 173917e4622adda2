-- Signing keys of integration bearer tokens (Ed25519), one set per account. The private key
-- is sealed under the master key; the account's newest key that is not retired signs, every
-- key not retired verifies (tokens of its own account only).
CREATE TABLE integration_signing_keys (
    kid            text PRIMARY KEY,
    account_id     text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    private_sealed bytea NOT NULL,
    public_pem     text NOT NULL,
    created_at     timestamptz NOT NULL,
    retired_at     timestamptz
);

-- Service integrations: a service principal delivering on behalf of sources of one account.
CREATE TABLE integrations (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    service     text NOT NULL CHECK (service IN ('s3.amazonaws.com', 'sns.amazonaws.com')),
    sources     text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX integrations_account ON integrations (account_id);

-- Which account a source (a bucket name, a topic ARN) belongs to: the first account that
-- registers it. No integration of another account can claim it.
CREATE TABLE integration_source_owners (
    service     text NOT NULL,
    source      text NOT NULL,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (service, source)
);
