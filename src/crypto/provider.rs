//! Key providers: where the master keys that wrap data keys live (a keyring file, an HSM, a
//! KMS). A provider generates a 256-bit data key and returns it with its wrapped form bound
//! to an encryption context; it unwraps only with the same context. Caching, reuse periods
//! and use caps live above it (`keys`), so providers stay small.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use zeroize::Zeroizing;

/// The name of the service master key in every provider (SSE-SQS, `alias/aws/sqs`).
pub const SERVICE_KEY: &str = "default";

/// A future a provider returns (the trait is used as `Arc<dyn KeyProvider>`).
pub type ProviderFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KmsError>> + Send + 'a>>;

/// What a wrapped data key is bound to: non-secret key–value pairs, encoded canonically
/// (sorted by key, each key and value u16-length-prefixed) as the AAD of the wrap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        for (k, v) in &self.0 {
            for part in [k.as_bytes(), v.as_bytes()] {
                let len = part.len().min(u16::MAX as usize);
                out.extend_from_slice(&(len as u16).to_be_bytes());
                out.extend_from_slice(&part[..len]);
            }
        }
        out
    }
}

/// A plaintext data key: fixed size, zeroized on drop, never printed.
pub struct PlainKey(pub Zeroizing<[u8; 32]>);

impl std::fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainKey(..)")
    }
}

/// A data key fresh from a provider: its plaintext and its wrapped form.
#[derive(Debug)]
pub struct DataKey {
    pub plaintext: PlainKey,
    /// Self-describing (it carries the master key version it was wrapped under).
    pub wrapped: Vec<u8>,
}

/// What a provider says about a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub provider: &'static str,
    pub master_key: String,
    pub current_version: String,
    pub versions: usize,
}

/// Why a provider call failed. `Unavailable` is retryable: a cached data key keeps serving
/// (as SQS does while KMS is unreachable); the others are permanent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    #[error("the key provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the key provider refused: {0}")]
    Denied(String),
    #[error("the wrapped key does not open (tampered, or another context)")]
    InvalidCiphertext,
    #[error("no such master key: {0}")]
    NotFound(String),
    #[error("the key provider is misconfigured: {0}")]
    Config(String),
}

/// A place that holds master keys.
pub trait KeyProvider: Send + Sync + 'static {
    /// `local`, `pkcs11`, `aws-kms`, …
    fn id(&self) -> &'static str;

    /// A new data key wrapped under the current version of `master_key`, bound to `ctx`.
    fn generate_data_key<'a>(&'a self, master_key: &'a str, ctx: &'a EncryptionContext) -> ProviderFuture<'a, DataKey>;

    /// Unwraps; `InvalidCiphertext` unless `wrapped` was made for exactly `ctx`.
    fn decrypt_data_key<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, PlainKey>;

    /// Re-wraps under the current version of `master_key` (the data key does not change).
    fn rewrap<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, Vec<u8>>;

    /// Makes a master key (version 1) if it does not exist.
    fn create_key<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo>;

    fn describe<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo>;

    /// A new version becomes current; older versions still unwrap.
    fn rotate<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo>;

    /// Destroys every version: whatever it wrapped can never be unwrapped again.
    fn destroy<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_context_is_sorted_and_length_prefixed() {
        let a = EncryptionContext::new().with("qid", "q").with("acct", "1");
        let b = EncryptionContext::new().with("acct", "1").with("qid", "q");
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
        assert_eq!(
            a.canonical_bytes(),
            [0, 2, 0, 4, b'a', b'c', b'c', b't', 0, 1, b'1', 0, 3, b'q', b'i', b'd', 0, 1, b'q']
        );
        // No ambiguity between ("ab","c") and ("a","bc").
        let x = EncryptionContext::new().with("ab", "c");
        let y = EncryptionContext::new().with("a", "bc");
        assert_ne!(x.canonical_bytes(), y.canonical_bytes());
    }
}
