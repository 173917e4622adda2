-- The audit trail: every management change, who made it, from where, and its request id.
-- Never a secret: only names, ids and attribute names are recorded.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    account_id  text,
    actor       text NOT NULL,
    action      text NOT NULL,
    resource    text NOT NULL,
    source_ip   text,
    request_id  text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_account ON audit_log (account_id, at);
