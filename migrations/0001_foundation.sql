-- Accounts (tenants), their access keys, queues and messages.
-- Every message-side table leads with the queue id (see DESIGN.md, "Scale out").

CREATE TABLE accounts (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9]{12}$'),
    name        text NOT NULL UNIQUE,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at  timestamptz NOT NULL
);

-- IAM users and groups of an account. Names are unique per account, ignoring case, as in IAM.
CREATE TABLE users (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        text NOT NULL,
    path        text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_name ON users (account_id, lower(name));

CREATE TABLE groups (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        text NOT NULL,
    path        text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX groups_name ON groups (account_id, lower(name));

CREATE TABLE group_members (
    group_id  text NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Secrets are stored sealed (AES-256-GCM under the server master key), never in clear.
-- A key without a user is the account root's.
CREATE TABLE access_keys (
    access_key_id  text PRIMARY KEY,
    account_id     text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id        text REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed  bytea NOT NULL,
    status         text NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Inactive')),
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz,
    last_used_service text
);
CREATE INDEX access_keys_account ON access_keys (account_id);
CREATE INDEX access_keys_user ON access_keys (user_id);

-- Inline policies of users and groups (owner_id is a user or group id).
CREATE TABLE inline_policies (
    owner_id   text NOT NULL,
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       text NOT NULL,
    document   text NOT NULL,
    PRIMARY KEY (owner_id, name)
);

-- Managed policies with versions (one default), attachable to users and groups.
CREATE TABLE managed_policies (
    id               text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name             text NOT NULL,
    path             text NOT NULL,
    default_version  integer NOT NULL,
    next_version     integer NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX managed_policies_name ON managed_policies (account_id, lower(name));

CREATE TABLE policy_versions (
    policy_id   text NOT NULL REFERENCES managed_policies (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    document    text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (policy_id, version)
);

CREATE TABLE policy_attachments (
    policy_id     text NOT NULL REFERENCES managed_policies (id) ON DELETE CASCADE,
    principal_id  text NOT NULL,
    PRIMARY KEY (policy_id, principal_id)
);
CREATE INDEX policy_attachments_principal ON policy_attachments (principal_id);

CREATE TABLE queues (
    id                     uuid PRIMARY KEY,
    account_id             text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                   text NOT NULL,
    delay_seconds          integer NOT NULL,
    maximum_message_size   integer NOT NULL,
    retention_seconds      integer NOT NULL,
    receive_wait_seconds   integer NOT NULL,
    visibility_timeout     integer NOT NULL,
    created_at             timestamptz NOT NULL,
    last_modified_at       timestamptz NOT NULL,
    -- The last PurgeQueue, for AWS's one-purge-per-60-seconds rule.
    purged_at              timestamptz,
    -- RedrivePolicy: the dead-letter queue (same account, by name, as its ARN names it) and
    -- the receive count past which a message moves there.
    dlq_name               text,
    max_receive_count      integer,
    -- RedriveAllowPolicy, as normalized JSON.
    redrive_allow_policy   text,
    UNIQUE (account_id, name)
);

-- Instances with long polls waiting on a queue (so sends elsewhere notify only where
-- someone waits). Soft state: losing it costs latency, not correctness.
CREATE UNLOGGED TABLE queue_waiters (
    queue_id  uuid NOT NULL,
    instance  uuid NOT NULL,
    since     timestamptz NOT NULL,
    PRIMARY KEY (queue_id, instance)
);

-- Message move tasks (DLQ redrive). A task runs on one instance at a time: the one holding
-- its lease, which it renews while it works; a task whose lease lapsed is taken over.
CREATE TABLE move_tasks (
    id                  uuid PRIMARY KEY,
    account_id          text NOT NULL,
    source_queue_id     uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    source_arn          text NOT NULL,
    destination_arn     text,
    max_per_second      integer,
    status              text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'CANCELLING', 'CANCELLED', 'FAILED')),
    moved               bigint NOT NULL DEFAULT 0,
    to_move             bigint NOT NULL,
    failure_reason      text,
    started_at          timestamptz NOT NULL,
    lease_owner         uuid,
    lease_until         timestamptz
);
CREATE INDEX move_tasks_source ON move_tasks (source_queue_id, started_at DESC);
CREATE UNIQUE INDEX move_tasks_one_running ON move_tasks (source_queue_id) WHERE status IN ('RUNNING', 'CANCELLING');

-- Queue tags (cost allocation metadata; not secret).
CREATE TABLE queue_tags (
    queue_id  uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    key       text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (queue_id, key)
);

-- Bodies and message attributes are sealed, bound to (account, queue id, message id).
-- Visibility is a timestamp: a message is visible when visible_at <= now. It has expired when
-- sent_at is older than the queue's current retention period (so lowering the period applies
-- to stored messages). last_received_at anchors the 12-hour visibility cap.
CREATE TABLE messages (
    queue_id           uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    id                 uuid NOT NULL,
    body_sealed        bytea NOT NULL,
    attributes_sealed  bytea,
    sender_id          text NOT NULL,
    -- The AWSTraceHeader system attribute: message metadata, which SQS does not encrypt.
    trace_header       text,
    sent_at            timestamptz NOT NULL,
    visible_at         timestamptz NOT NULL,
    receive_count      integer NOT NULL DEFAULT 0,
    first_received_at  timestamptz,
    last_received_at   timestamptz,
    -- A message moved from another queue keeps the sealing context of the queue that sealed
    -- it (same account), and remembers that queue's ARN (DeadLetterQueueSourceArn).
    sealed_queue_id    uuid,
    dead_letter_source_arn text,
    PRIMARY KEY (queue_id, id)
);
CREATE INDEX messages_visible ON messages (queue_id, visible_at);
CREATE INDEX queues_dead_letter_sources ON queues (account_id, dlq_name) WHERE dlq_name IS NOT NULL;
