//! SQS semantics: names, attributes, messages, receipt handles, MD5s. Knows nothing of
//! HTTP; uses `store` for persistence and `crypto` to seal bodies.

pub mod attributes;
pub mod commit;
pub mod md5;
pub mod message;
pub mod moves;
pub mod names;
pub mod quotas;
pub mod receipt;
pub mod redrive;
pub mod service;
pub mod tags;
pub mod wait;

pub use names::{AccountId, QueueName, QueueRef};
pub use service::QueueService;

use crate::crypto::CryptoError;
use crate::store::StoreError;

/// Errors of queue semantics; `api::error` maps each to its SQS code.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
    #[error("{0}")]
    QueueNameExists(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(&'static str),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    #[error("The address {0} is not valid for this endpoint.")]
    InvalidAddress(String),
    #[error("Message does not exist or is not available for visibility timeout change.")]
    MessageNotInflight,
    #[error("{0}")]
    PurgeQueueInProgress(String),
    #[error("Too many open long polls on this server; retry later.")]
    TooManyLongPolls,
    #[error("{0}")]
    Throttled(String),
    #[error("There should be at least one SendMessageBatchRequestEntry in the request.")]
    EmptyBatchRequest,
    #[error("Maximum number of entries per request are 10. You have sent {0}.")]
    TooManyEntriesInBatchRequest(usize),
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long. Invalid id: {0}"
    )]
    InvalidBatchEntryId(String),
    #[error("{0}")]
    BatchRequestTooLong(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    OverLimit(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}
