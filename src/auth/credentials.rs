//! Unsealed access keys as the authenticator caches them (in a `cache::EpochCache`). Entries
//! expire after a short TTL, so a disabled key stops working within that bound even without a
//! notification.

use zeroize::Zeroizing;

/// The longest an unsealed key is trusted without asking the database again.
pub const MAX_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// How long an access key id that does not exist is remembered as such (a flood of requests
/// naming unknown ids costs one database read per id per this period).
pub const ABSENT_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// How many keys (and sessions) one instance keeps unsealed.
pub const MAX_ENTRIES: usize = 10_000;

/// An access key ready for verification.
pub struct CachedKey {
    pub account_id: String,
    pub secret: Zeroizing<String>,
    pub active: bool,
    /// The key's user: (id, name, path); None for the account root.
    pub user: Option<(String, String, String)>,
}

impl std::fmt::Debug for CachedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKey").field("account_id", &self.account_id).finish_non_exhaustive()
    }
}
