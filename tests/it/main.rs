//! The integration tests: the real HTTPS server on a random port against a real PostgreSQL
//! (a private throwaway cluster unless `SLUICE_TEST_DATABASE_URL` is set), driven with the
//! official `aws-sdk-sqs` client and with raw signed HTTP requests. Each test makes its own
//! account, so tests run in parallel.

mod harness;

mod iam_api;
mod identities;
mod keys;

mod answers;
mod at_rest;
mod audit;
mod auth;
mod batches;
mod bench_smoke;
mod compose;
mod cross_account;
mod dead_letters;
mod durability;
mod fifo;
mod group_commit;
mod hardening;
mod instances;
mod integrations;
mod messages;
mod new_user;
mod node_sdk;
mod old_sdk;
mod queue_policies;
mod queues;
mod quotas;
mod refusals;
mod roles;
mod semantics;
mod service_events;
mod support_table;
mod tags;
mod wire;
