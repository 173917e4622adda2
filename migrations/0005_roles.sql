-- IAM roles and the temporary credentials of their sessions (and of users' GetSessionToken).
-- Role policies reuse inline_policies (owner_id = role id) and policy_attachments.

CREATE TABLE roles (
    id                    text PRIMARY KEY,
    account_id            text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                  text NOT NULL,
    path                  text NOT NULL,
    trust_policy          text NOT NULL,
    description           text NOT NULL DEFAULT '',
    max_session_duration  integer NOT NULL DEFAULT 3600 CHECK (max_session_duration BETWEEN 3600 AND 43200),
    -- Sessions issued before this instant are refused ("revoke active sessions").
    sessions_valid_after  timestamptz,
    created_at            timestamptz NOT NULL
);
CREATE UNIQUE INDEX roles_name ON roles (account_id, lower(name));

-- The secret is sealed under the master key; the session token is kept only as an HMAC.
CREATE TABLE sessions (
    access_key_id    text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role_id          text REFERENCES roles (id) ON DELETE CASCADE,
    user_id          text REFERENCES users (id) ON DELETE CASCADE,
    session_name     text NOT NULL,
    secret_sealed    bytea NOT NULL,
    token_mac        bytea NOT NULL,
    session_policy   text,
    source_identity  text,
    issued_at        timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    CHECK ((role_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX sessions_role ON sessions (role_id);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
