//! Accounts (tenants) and their credentials, on the admin side. The foundation has the
//! minimal form: an account with a root access key. Users, groups and policies come later.

pub mod accounts;
pub mod integrations;
pub mod policies;
pub mod principals;
pub mod roles;

pub use accounts::{NewAccount, Tenancy};

use crate::crypto::CryptoError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("account name must be 1-64 characters of letters, digits, '.', '_' or '-'")]
    InvalidName,
    #[error("account id must be 12 digits")]
    InvalidId,
    #[error("an account with this id or name already exists")]
    Exists,
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    PackedPolicyTooLarge(String),
    #[error("The policy document is malformed: {0}")]
    MalformedPolicyDocument(#[from] crate::policy::document::PolicyError),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Token(#[from] crate::crypto::token::TokenError),
}

impl From<StoreError> for TenancyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => TenancyError::Exists,
            e => TenancyError::Store(e),
        }
    }
}
