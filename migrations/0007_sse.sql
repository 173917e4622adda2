-- SQS's server-side encryption attributes. Bodies are sealed whatever they say: with SSE off
-- a queue's data keys are wrapped under the service master key, as with SSE-SQS.
ALTER TABLE queues
    ADD COLUMN sse_sqs            boolean NOT NULL DEFAULT true,
    -- KmsMasterKeyId as the caller wrote it, and the provider key it resolved to.
    ADD COLUMN kms_master_key_id  text,
    ADD COLUMN kms_master_key     text,
    ADD COLUMN kms_reuse_seconds  integer NOT NULL DEFAULT 300
        CHECK (kms_reuse_seconds BETWEEN 60 AND 86400);

-- Master keys of accounts (SSE-KMS's customer managed keys), held by the key provider.
CREATE TABLE master_keys (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    alias         text,
    provider      text NOT NULL,
    provider_key  text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX master_keys_alias ON master_keys (account_id, alias) WHERE alias IS NOT NULL;
