//! Turning storage notifications and topic deliveries into SQS message bodies, in the
//! formats AWS's services deliver (S3 event records). Pure: no HTTP, no SQL.

pub mod s3;
pub mod sns;

/// Why a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("The notification is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("The notification has {0} records; at most {max} are accepted per request.", max = s3::MAX_RECORDS)]
    TooManyRecords(usize),
    #[error("Record {index}: {reason}")]
    BadRecord { index: usize, reason: String },
}
