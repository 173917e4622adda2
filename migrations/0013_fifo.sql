-- FIFO queues. A queue's type is fixed when it is created; its FIFO settings
-- (ContentBasedDeduplication, DeduplicationScope=messageGroup, FifoThroughputLimit=
-- perMessageGroupId) can change.
ALTER TABLE queues
    ADD COLUMN fifo boolean NOT NULL DEFAULT false,
    ADD COLUMN content_based_dedup boolean NOT NULL DEFAULT false,
    ADD COLUMN dedup_per_group boolean NOT NULL DEFAULT false,
    ADD COLUMN throughput_per_group boolean NOT NULL DEFAULT false,
    -- A standard queue that has been sent a MessageGroupId: its receives share out the
    -- groups fairly (a fair queue).
    ADD COLUMN fair boolean NOT NULL DEFAULT false;

-- Per message: its MessageGroupId (metadata, as SQS treats it: FIFO queues order and lock
-- by it; on a standard queue it only tags the tenant of a fair queue), its
-- MessageDeduplicationId sealed with the message, and its SequenceNumber (FIFO only).
ALTER TABLE messages
    ADD COLUMN group_id text,
    ADD COLUMN dedup_id_sealed bytea,
    ADD COLUMN seq bigint;
-- A FIFO group's messages in order: its head, and the prefix a receive may take.
CREATE INDEX messages_fifo_groups ON messages (queue_id, group_id, seq) WHERE seq IS NOT NULL;

-- Sequence numbers of FIFO messages: one series for every queue, so they only grow.
CREATE SEQUENCE message_seq AS bigint;

-- Deduplication: a record per accepted send for five minutes, whether or not its message was
-- received or deleted since; cleared by PurgeQueue. The key is an HMAC (under a key derived
-- from the master key) of the queue, the scope (the group, with DeduplicationScope=
-- messageGroup) and the deduplication id: a content-based id is a hash of the body, and a
-- clear hash would let anyone who reads the database confirm a guessed body.
CREATE TABLE fifo_dedup (
    queue_id    uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    dedup_key   bytea NOT NULL,
    message_id  uuid NOT NULL,
    seq         bigint NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (queue_id, dedup_key)
);
CREATE INDEX fifo_dedup_expiry ON fifo_dedup (queue_id, expires_at);

-- Receive attempts (ReceiveRequestAttemptId): what a FIFO receive handed out, so that a
-- retry of it within five minutes, on any instance, gets the same messages and handles.
CREATE TABLE fifo_attempts (
    queue_id        uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    attempt_id      text NOT NULL,
    message_ids     uuid[] NOT NULL,
    receive_counts  integer[] NOT NULL,
    -- When the receive made them visible again; a change since means they were changed.
    visible_until   timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (queue_id, attempt_id)
);
CREATE INDEX fifo_attempts_expiry ON fifo_attempts (queue_id, expires_at);
