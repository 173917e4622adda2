-- Deliveries from service integrations already enqueued, so that a replayed notification
-- enqueues nothing new. The key is a SHA-256 digest of what identifies the event (for S3:
-- request id, bucket, object key and sequencer), never the event itself; a row is honoured
-- until it expires (the replay window) and swept afterwards.
CREATE TABLE event_receipts (
    queue_id    uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    dedup_key   bytea NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (queue_id, dedup_key)
);
CREATE INDEX event_receipts_expiry ON event_receipts (queue_id, expires_at);
