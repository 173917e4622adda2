-- Per-queue data keys (envelope encryption): each wrapped by a key provider under a master
-- key, bound to its account, queue id and own id. A message sealed under one carries its id
-- in the sealed header and in `dek_id`. No foreign key to queues: a message moved to a
-- dead-letter queue keeps its source queue's key, which deleting the source queue keeps
-- while such messages live (the rest are deleted with the queue: crypto-shredding).
CREATE TABLE queue_data_keys (
    id          bigint PRIMARY KEY,
    queue_id    uuid NOT NULL,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider    text NOT NULL,
    master_key  text NOT NULL,
    wrapped     bytea NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX queue_data_keys_queue ON queue_data_keys (queue_id);

ALTER TABLE messages ADD COLUMN dek_id bigint;
CREATE INDEX messages_moved_keys ON messages (sealed_queue_id, dek_id) WHERE sealed_queue_id IS NOT NULL;
