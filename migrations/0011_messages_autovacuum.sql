-- A queue table churns: every message is inserted, updated on each receive and deleted, so
-- dead row versions pile up at the head of the visibility index, where every receive starts
-- its scan. Vacuum it after 1% of its rows (not PostgreSQL's default 20%), without the cost
-- delay, so receives keep scanning live entries (docs/operations.md, "Autovacuum").
ALTER TABLE messages SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0.02
);
