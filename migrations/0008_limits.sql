-- Per-account limits: overrides of the configured defaults (NULL: the default applies).
CREATE TABLE account_limits (
    account_id           text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    requests_per_second  integer,
    max_queues           bigint,
    max_stored_messages  bigint,
    max_stored_bytes     bigint
);

-- What each account stores, as last measured by the sweep (sends are refused against it;
-- between two sweeps an account may overshoot by what it sends in between).
CREATE TABLE account_usage (
    account_id       text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    stored_messages  bigint NOT NULL,
    stored_bytes     bigint NOT NULL,
    measured_at      timestamptz NOT NULL
);
