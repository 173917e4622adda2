-- Open long polls per account (per instance), beside the other per-account limits.
ALTER TABLE account_limits ADD COLUMN max_long_polls integer;
