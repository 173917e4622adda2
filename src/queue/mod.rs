//! SQS semantics: names, attributes, messages, receipt handles, MD5s. Knows nothing of
//! HTTP; uses `store` for persistence and `keys` to seal bodies. Its failures are SQS's codes
//! (`SqsError`).

pub mod attributes;
pub mod catalog;
pub mod commit;
pub mod fifo;
pub mod md5;
pub mod message;
pub mod moves;
pub mod quotas;
pub mod receipt;
pub mod receive;
pub mod redrive;
pub mod send;
pub mod service;
pub mod sweep;
pub mod tags;
pub mod visibility;
pub mod wait;

pub use crate::domain::{AccountId, QueueName, QueueRef};
pub use service::QueueService;

/// The queue layer answers with SQS's own codes: `SqsError` (one table of codes, statuses
/// and texts, in `crate::error`).
pub use crate::error::SqsError;
