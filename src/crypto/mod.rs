//! Sealed bytes and the keys that seal them. Pure: no database, no HTTP.
//!
//! The foundation seals everything under one server master key held in a key file
//! (`MasterKey::load_or_create`); the key-provider issue generalizes this into the
//! `KeyProvider` trait with per-queue data keys. The sealed format already carries a
//! version, an algorithm id and a key reference so that change needs no migration.

#[cfg(feature = "aws-kms")]
pub mod aws_kms;
pub mod contexts;
pub mod keyring;
pub mod master;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod provider;
pub mod seal;
pub mod token;

pub use master::MasterKey;
pub use seal::{Context, Sealer};

/// Errors of the crypto layer. Messages never carry key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value has unknown version {0}")]
    UnknownVersion(u8),
    #[error("sealed value refers to unknown key {0}")]
    UnknownKey(u64),
    #[error("sealed value failed authentication")]
    Unauthentic,
    #[error("encryption failed")]
    Encrypt,
    #[error("random number generator failed")]
    Random,
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

/// Fills `buf` with bytes from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}
