//! Sluice: a multi-tenant, secured message-queue service that speaks the Amazon SQS API.
//!
//! One request flows one way through the layers (see DESIGN.md):
//!
//! - [`domain`]: the names that cross layers (account ids, queue names and references, queue
//!   ARNs, message ids, receipt and task handles), each made once by a parser.
//! - [`error`]: `SqsError`, the one error every protocol answers (code, HTTP status, fault
//!   and text in one table), and the conversions of the layers beneath the queue.
//! - [`api`]: the wire protocols (AWS JSON 1.0, query/XML), the action table, and the
//!   conversions of the upper layers' errors. Calls [`auth`] then the [`policy`] gate, then a
//!   handler.
//! - [`auth`]: turns a request into a [`auth::Principal`] by verifying SigV4 (with session
//!   tokens for temporary credentials) or a service integration's bearer token.
//! - [`policy`]: pure authorization; the only maker of the `Authorized<T>` proof handlers need.
//! - [`queue`]: SQS semantics — names, attributes, messages, receipt handles, MD5s, tenant
//!   limits.
//! - [`keys`]: per-queue data keys from the key provider (cached, verified, re-wrapped, shredded).
//! - [`tenancy`]: accounts, users, roles, policies, keys, service integrations and the audit
//!   trail (admin side).
//! - [`events`]: storage notifications and topic deliveries turned into the message bodies
//!   AWS's services send.
//! - [`crypto`]: the sealed formats, the master key, the key providers (keyring, PKCS#11, AWS
//!   KMS) and the integration-token codec. No database.
//! - [`metrics`]: the Prometheus registry behind the metrics listener.
//! - [`store`]: every SQL statement, the migrations, and the managed local PostgreSQL.
//! - [`bounds`]: input bounds checked before parsing (JSON nesting depth).
//! - [`cache`]: the one cache shape for what the database says (per cache epoch, TTL,
//!   single-flight loads).
//! - [`clock`]: the injected time every rule reads.
//! - [`boot`]: wires the parts and starts the HTTPS server (database, keys, TLS, background
//!   tasks, the operations listener, the bootstrap account); [`config`]: typed settings;
//!   [`cli`]: the command line, one room per command.

pub mod api;
pub mod auth;
pub mod boot;
pub mod bounds;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod events;
pub mod keys;
pub mod metrics;
pub mod policy;
pub mod queue;
pub mod store;
pub mod tenancy;

pub use boot::{BuildOptions, Running, build};
pub use config::Config;

/// Installs the one rustls crypto provider (ring). Call first in `main` and in tests.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod house_rules;
