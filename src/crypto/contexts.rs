//! The sealing and MAC contexts of credentials, shared by the side that issues them
//! (`tenancy`) and the side that checks them (`auth`), so the two cannot drift apart.

use super::Context;

/// An access key's secret, bound to its account and key id.
pub fn access_key_secret(access_key_id: &str, account_id: &str) -> Context {
    Context::new("access-key-secret").with(account_id).with(access_key_id)
}

/// A session's secret (temporary credentials).
pub fn session_secret(access_key_id: &str, account_id: &str) -> Context {
    Context::new("session-secret").with(account_id).with(access_key_id)
}

/// What a session token's HMAC covers: the token and the access key it goes with.
pub fn session_token(access_key_id: &str, token: &str) -> Context {
    Context::new("session-token").with(access_key_id).with(token)
}

/// The label of the key session tokens are MACed under.
pub const SESSION_TOKEN_MAC: &str = "session-token-v1";
