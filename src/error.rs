//! The one error every protocol answers: `SqsError`. Its variants are the codes AWS's SDKs
//! know (SQS's, and IAM's and STS's on the same endpoint); `wire` gives each its JSON shape
//! name, legacy query code, HTTP status and fault in one match, and the variant carries the
//! text. Both encoders render from here (`json_body`, `xml_body`), so a code cannot be spelt
//! two ways.
//!
//! The queue layer answers with `SqsError` directly: its failures are SQS's own codes. The
//! errors of the layers beneath it (store, crypto, keys) become one here, each in one `From`;
//! those of the layers above it (auth, tenancy, the policy gate, events) in `api::error`, so no
//! arrow points up from this module.

use crate::crypto::CryptoError;
use crate::crypto::provider::KmsError;
use crate::keys::KeysError;
use crate::store::StoreError;

/// The three batch actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    Send,
    Delete,
    ChangeVisibility,
}

impl Batch {
    pub fn action(self) -> &'static str {
        match self {
            Batch::Send => "SendMessageBatch",
            Batch::Delete => "DeleteMessageBatch",
            Batch::ChangeVisibility => "ChangeMessageVisibilityBatch",
        }
    }
}

/// An error on its way to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqsError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("{0}")]
    QueueNameExists(String),
    #[error("Message does not exist or is not available for visibility timeout change.")]
    MessageNotInflight,
    #[error("{0}")]
    PurgeQueueInProgress(String),
    #[error("{0}")]
    EmptyBatchRequest(String),
    #[error("{0}")]
    TooManyEntriesInBatchRequest(String),
    #[error("{0}")]
    BatchEntryIdsNotDistinct(String),
    #[error("{0}")]
    InvalidBatchEntryId(String),
    #[error("{0}")]
    BatchRequestTooLong(String),
    #[error("{0}")]
    OverLimit(String),
    #[error("{0}")]
    ResourceNotFoundException(String),
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    RequestThrottled(String),
    #[error("{0}")]
    ReceiptHandleIsInvalid(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    InvalidAddress(String),
    #[error("{0}")]
    InvalidSecurity(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidAction(String),
    #[error("{0}")]
    MissingAction(String),
    #[error("{0}")]
    MalformedQueryString(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    MissingAuthenticationToken(String),
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("{0}")]
    InvalidClientTokenId(String),
    #[error("{0}")]
    ExpiredToken(String),
    #[error("{0}")]
    KmsAccessDenied(String),
    #[error("{0}")]
    KmsDisabled(String),
    #[error("{0}")]
    KmsInvalidKeyUsage(String),
    #[error("{0}")]
    KmsInvalidState(String),
    #[error("{0}")]
    KmsNotFound(String),
    #[error("{0}")]
    KmsOptInRequired(String),
    #[error("{0}")]
    KmsThrottled(String),
    #[error("{0}")]
    ValidationError(String),
    #[error("{0}")]
    PackedPolicyTooLarge(String),
    #[error("{0}")]
    SignatureDoesNotMatch(String),
    #[error("{0}")]
    RequestExpired(String),
    #[error("{0}")]
    RequestEntityTooLarge(String),
    #[error("{0}")]
    RequestTimeout(String),
    /// Details went to the log with the request id; the client learns nothing more.
    #[error("We encountered an internal error. Please try again.")]
    InternalFailure,
}

/// How a code travels: (JSON shape name, legacy query code, HTTP status, sender fault).
pub type Wire = (&'static str, &'static str, u16, bool);

impl SqsError {
    /// The code's JSON shape name, legacy query code (for `x-amzn-query-error` and XML),
    /// HTTP status and fault: the one table of them.
    pub fn wire(&self) -> Wire {
        use SqsError::*;
        match self {
            QueueDoesNotExist => ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400, true),
            QueueNameExists(_) => ("QueueNameExists", "QueueAlreadyExists", 400, true),
            MessageNotInflight => ("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400, true),
            PurgeQueueInProgress(_) => {
                ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403, true)
            }
            RequestThrottled(_) => ("RequestThrottled", "RequestThrottled", 403, true),
            EmptyBatchRequest(_) => ("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400, true),
            TooManyEntriesInBatchRequest(_) => {
                ("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, true)
            }
            BatchEntryIdsNotDistinct(_) => {
                ("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, true)
            }
            InvalidBatchEntryId(_) => ("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400, true),
            BatchRequestTooLong(_) => ("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400, true),
            OverLimit(_) => ("OverLimit", "OverLimit", 403, true),
            ResourceNotFoundException(_) => ("ResourceNotFoundException", "ResourceNotFoundException", 404, true),
            NoSuchEntity(_) => ("NoSuchEntity", "NoSuchEntity", 404, true),
            EntityAlreadyExists(_) => ("EntityAlreadyExists", "EntityAlreadyExists", 409, true),
            LimitExceeded(_) => ("LimitExceeded", "LimitExceeded", 409, true),
            InvalidInput(_) => ("InvalidInput", "InvalidInput", 400, true),
            MalformedPolicyDocument(_) => ("MalformedPolicyDocument", "MalformedPolicyDocument", 400, true),
            DeleteConflict(_) => ("DeleteConflict", "DeleteConflict", 409, true),
            ReceiptHandleIsInvalid(_) => ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404, true),
            InvalidMessageContents(_) => ("InvalidMessageContents", "InvalidMessageContents", 400, true),
            InvalidAttributeName(_) => ("InvalidAttributeName", "InvalidAttributeName", 400, true),
            InvalidAttributeValue(_) => ("InvalidAttributeValue", "InvalidAttributeValue", 400, true),
            UnsupportedOperation(_) => {
                ("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400, true)
            }
            InvalidAddress(_) => ("InvalidAddress", "InvalidAddress", 404, true),
            InvalidSecurity(_) => ("InvalidSecurity", "InvalidSecurity", 403, true),
            InvalidParameterValue(_) => ("InvalidParameterValue", "InvalidParameterValue", 400, true),
            MissingParameter(_) => ("MissingParameter", "MissingParameter", 400, true),
            InvalidAction(_) => ("InvalidAction", "InvalidAction", 400, true),
            MissingAction(_) => ("MissingAction", "MissingAction", 400, true),
            MalformedQueryString(_) => ("MalformedQueryString", "MalformedQueryString", 404, true),
            AccessDenied(_) => ("AccessDenied", "AccessDenied", 403, true),
            MissingAuthenticationToken(_) => ("MissingAuthenticationToken", "MissingAuthenticationToken", 403, true),
            IncompleteSignature(_) => ("IncompleteSignature", "IncompleteSignature", 400, true),
            InvalidClientTokenId(_) => ("InvalidClientTokenId", "InvalidClientTokenId", 403, true),
            ExpiredToken(_) => ("ExpiredToken", "ExpiredToken", 403, true),
            KmsAccessDenied(_) => ("KmsAccessDenied", "KMS.AccessDeniedException", 400, true),
            KmsDisabled(_) => ("KmsDisabled", "KMS.DisabledException", 400, true),
            KmsInvalidKeyUsage(_) => ("KmsInvalidKeyUsage", "KMS.InvalidKeyUsageException", 400, true),
            KmsInvalidState(_) => ("KmsInvalidState", "KMS.InvalidStateException", 400, true),
            KmsNotFound(_) => ("KmsNotFound", "KMS.NotFoundException", 400, true),
            KmsOptInRequired(_) => ("KmsOptInRequired", "KMS.OptInRequired", 403, true),
            KmsThrottled(_) => ("KmsThrottled", "KMS.ThrottlingException", 400, true),
            ValidationError(_) => ("ValidationError", "ValidationError", 400, true),
            PackedPolicyTooLarge(_) => ("PackedPolicyTooLarge", "PackedPolicyTooLarge", 400, true),
            SignatureDoesNotMatch(_) => ("SignatureDoesNotMatch", "SignatureDoesNotMatch", 403, true),
            RequestExpired(_) => ("RequestExpired", "RequestExpired", 400, true),
            RequestEntityTooLarge(_) => ("RequestEntityTooLarge", "RequestEntityTooLarge", 413, true),
            RequestTimeout(_) => ("RequestTimeout", "RequestTimeout", 408, true),
            InternalFailure => ("InternalFailure", "InternalFailure", 500, false),
        }
    }

    /// The JSON shape name (AWS JSON 1.0's `__type`, and a batch entry's `Code`).
    pub fn shape(&self) -> &'static str {
        self.wire().0
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.wire().2
    }

    /// `Sender` or `Receiver`.
    pub fn fault(&self) -> &'static str {
        if self.wire().3 { "Sender" } else { "Receiver" }
    }

    /// An internal failure: `what` goes to the log (with the request id of the span it is
    /// made in), never to the client.
    pub fn internal(what: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %what, "internal error");
        Self::InternalFailure
    }

    /// A required parameter is absent.
    pub fn missing(parameter: &str) -> Self {
        Self::MissingParameter(format!("The request must contain the parameter {parameter}."))
    }

    /// A receipt handle that names no receive of this queue (shown cut to 100 characters).
    pub fn receipt_handle_invalid(handle: &str) -> Self {
        let shown: String = handle.chars().take(100).collect();
        Self::ReceiptHandleIsInvalid(format!("The input receipt handle \"{shown}\" is not a valid receipt handle."))
    }

    /// A batch without entries; AWS names the entry type of the action called.
    pub fn empty_batch(batch: Batch) -> Self {
        Self::EmptyBatchRequest(format!("There should be at least one {}RequestEntry in the request.", batch.action()))
    }

    /// A batch of more than ten entries.
    pub fn too_many_entries(n: usize) -> Self {
        Self::TooManyEntriesInBatchRequest(format!("Maximum number of entries per request are 10. You have sent {n}."))
    }

    /// Two entries of a batch with one id.
    pub fn ids_not_distinct(id: &str) -> Self {
        Self::BatchEntryIdsNotDistinct(format!("Id {id} repeated."))
    }

    /// A batch entry id outside AWS's rule (AWS's text does not name the id).
    pub fn invalid_batch_id() -> Self {
        Self::InvalidBatchEntryId(
            "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
                .into(),
        )
    }

    /// The AWS JSON 1.0 body.
    pub fn json_body(&self) -> String {
        serde_json::json!({ "__type": format!("com.amazonaws.sqs#{}", self.shape()), "message": self.to_string() })
            .to_string()
    }

    /// The `x-amzn-query-error` header: the legacy code and the fault.
    pub fn query_error_header(&self) -> String {
        format!("{};{}", self.wire().1, self.fault())
    }

    /// The query protocol's XML body.
    pub fn xml_body(&self, request_id: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
            self.fault(),
            xml_escape(self.wire().1),
            xml_escape(&self.to_string()),
            xml_escape(request_id)
        )
    }
}

/// Escapes text for XML element content and attribute values (a carriage return too, which
/// XML would otherwise fold into a line feed).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

impl From<StoreError> for SqsError {
    fn from(e: StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<CryptoError> for SqsError {
    fn from(e: CryptoError) -> Self {
        Self::internal(&e)
    }
}

impl From<KeysError> for SqsError {
    fn from(e: KeysError) -> Self {
        match &e {
            KeysError::Kms(KmsError::Unavailable(_)) => Self::KmsThrottled(
                "The key provider is unavailable and no cached data key can serve; retry later.".into(),
            ),
            // KMS's own texts, as SQS passes them on.
            KeysError::Kms(KmsError::Denied(text)) => Self::KmsAccessDenied(text.clone()),
            KeysError::Kms(KmsError::NotFound(text)) => Self::KmsNotFound(text.clone()),
            KeysError::Kms(KmsError::InvalidCiphertext) => Self::KmsInvalidState(e.to_string()),
            _ => Self::internal(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every variant. The match below has no wildcard: a new variant does not compile
    /// until it is listed here, and with it in `WIRE`.
    fn every_variant() -> Vec<SqsError> {
        use SqsError::*;
        let t = || "text".to_owned();
        let all = vec![
            QueueDoesNotExist,
            QueueNameExists(t()),
            MessageNotInflight,
            PurgeQueueInProgress(t()),
            EmptyBatchRequest(t()),
            TooManyEntriesInBatchRequest(t()),
            BatchEntryIdsNotDistinct(t()),
            InvalidBatchEntryId(t()),
            BatchRequestTooLong(t()),
            OverLimit(t()),
            ResourceNotFoundException(t()),
            NoSuchEntity(t()),
            EntityAlreadyExists(t()),
            LimitExceeded(t()),
            InvalidInput(t()),
            MalformedPolicyDocument(t()),
            DeleteConflict(t()),
            RequestThrottled(t()),
            ReceiptHandleIsInvalid(t()),
            InvalidMessageContents(t()),
            InvalidAttributeName(t()),
            InvalidAttributeValue(t()),
            UnsupportedOperation(t()),
            InvalidAddress(t()),
            InvalidSecurity(t()),
            InvalidParameterValue(t()),
            MissingParameter(t()),
            InvalidAction(t()),
            MissingAction(t()),
            MalformedQueryString(t()),
            AccessDenied(t()),
            MissingAuthenticationToken(t()),
            IncompleteSignature(t()),
            InvalidClientTokenId(t()),
            ExpiredToken(t()),
            KmsAccessDenied(t()),
            KmsDisabled(t()),
            KmsInvalidKeyUsage(t()),
            KmsInvalidState(t()),
            KmsNotFound(t()),
            KmsOptInRequired(t()),
            KmsThrottled(t()),
            ValidationError(t()),
            PackedPolicyTooLarge(t()),
            SignatureDoesNotMatch(t()),
            RequestExpired(t()),
            RequestEntityTooLarge(t()),
            RequestTimeout(t()),
            InternalFailure,
        ];
        for e in &all {
            match e {
                QueueDoesNotExist
                | QueueNameExists(_)
                | MessageNotInflight
                | PurgeQueueInProgress(_)
                | EmptyBatchRequest(_)
                | TooManyEntriesInBatchRequest(_)
                | BatchEntryIdsNotDistinct(_)
                | InvalidBatchEntryId(_)
                | BatchRequestTooLong(_)
                | OverLimit(_)
                | ResourceNotFoundException(_)
                | NoSuchEntity(_)
                | EntityAlreadyExists(_)
                | LimitExceeded(_)
                | InvalidInput(_)
                | MalformedPolicyDocument(_)
                | DeleteConflict(_)
                | RequestThrottled(_)
                | ReceiptHandleIsInvalid(_)
                | InvalidMessageContents(_)
                | InvalidAttributeName(_)
                | InvalidAttributeValue(_)
                | UnsupportedOperation(_)
                | InvalidAddress(_)
                | InvalidSecurity(_)
                | InvalidParameterValue(_)
                | MissingParameter(_)
                | InvalidAction(_)
                | MissingAction(_)
                | MalformedQueryString(_)
                | AccessDenied(_)
                | MissingAuthenticationToken(_)
                | IncompleteSignature(_)
                | InvalidClientTokenId(_)
                | ExpiredToken(_)
                | KmsAccessDenied(_)
                | KmsDisabled(_)
                | KmsInvalidKeyUsage(_)
                | KmsInvalidState(_)
                | KmsNotFound(_)
                | KmsOptInRequired(_)
                | KmsThrottled(_)
                | ValidationError(_)
                | PackedPolicyTooLarge(_)
                | SignatureDoesNotMatch(_)
                | RequestExpired(_)
                | RequestEntityTooLarge(_)
                | RequestTimeout(_)
                | InternalFailure => {}
            }
        }
        all
    }

    /// AWS's codes (botocore's SQS model and AWS-recorded answers), statuses and faults.
    const WIRE: &[(&str, &str, u16, &str)] = &[
        ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400, "Sender"),
        ("QueueNameExists", "QueueAlreadyExists", 400, "Sender"),
        ("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400, "Sender"),
        ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403, "Sender"),
        ("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400, "Sender"),
        ("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, "Sender"),
        ("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, "Sender"),
        ("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400, "Sender"),
        ("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400, "Sender"),
        ("OverLimit", "OverLimit", 403, "Sender"),
        ("ResourceNotFoundException", "ResourceNotFoundException", 404, "Sender"),
        ("NoSuchEntity", "NoSuchEntity", 404, "Sender"),
        ("EntityAlreadyExists", "EntityAlreadyExists", 409, "Sender"),
        ("LimitExceeded", "LimitExceeded", 409, "Sender"),
        ("InvalidInput", "InvalidInput", 400, "Sender"),
        ("MalformedPolicyDocument", "MalformedPolicyDocument", 400, "Sender"),
        ("DeleteConflict", "DeleteConflict", 409, "Sender"),
        ("RequestThrottled", "RequestThrottled", 403, "Sender"),
        ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404, "Sender"),
        ("InvalidMessageContents", "InvalidMessageContents", 400, "Sender"),
        ("InvalidAttributeName", "InvalidAttributeName", 400, "Sender"),
        ("InvalidAttributeValue", "InvalidAttributeValue", 400, "Sender"),
        ("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400, "Sender"),
        ("InvalidAddress", "InvalidAddress", 404, "Sender"),
        ("InvalidSecurity", "InvalidSecurity", 403, "Sender"),
        ("InvalidParameterValue", "InvalidParameterValue", 400, "Sender"),
        ("MissingParameter", "MissingParameter", 400, "Sender"),
        ("InvalidAction", "InvalidAction", 400, "Sender"),
        ("MissingAction", "MissingAction", 400, "Sender"),
        ("MalformedQueryString", "MalformedQueryString", 404, "Sender"),
        ("AccessDenied", "AccessDenied", 403, "Sender"),
        ("MissingAuthenticationToken", "MissingAuthenticationToken", 403, "Sender"),
        ("IncompleteSignature", "IncompleteSignature", 400, "Sender"),
        ("InvalidClientTokenId", "InvalidClientTokenId", 403, "Sender"),
        ("ExpiredToken", "ExpiredToken", 403, "Sender"),
        ("KmsAccessDenied", "KMS.AccessDeniedException", 400, "Sender"),
        ("KmsDisabled", "KMS.DisabledException", 400, "Sender"),
        ("KmsInvalidKeyUsage", "KMS.InvalidKeyUsageException", 400, "Sender"),
        ("KmsInvalidState", "KMS.InvalidStateException", 400, "Sender"),
        ("KmsNotFound", "KMS.NotFoundException", 400, "Sender"),
        ("KmsOptInRequired", "KMS.OptInRequired", 403, "Sender"),
        ("KmsThrottled", "KMS.ThrottlingException", 400, "Sender"),
        ("ValidationError", "ValidationError", 400, "Sender"),
        ("PackedPolicyTooLarge", "PackedPolicyTooLarge", 400, "Sender"),
        ("SignatureDoesNotMatch", "SignatureDoesNotMatch", 403, "Sender"),
        ("RequestExpired", "RequestExpired", 400, "Sender"),
        ("RequestEntityTooLarge", "RequestEntityTooLarge", 413, "Sender"),
        ("RequestTimeout", "RequestTimeout", 408, "Sender"),
        ("InternalFailure", "InternalFailure", 500, "Receiver"),
    ];

    #[test]
    fn every_variant_renders_its_code_status_and_fault_in_both_protocols() {
        let all = every_variant();
        assert_eq!(all.len(), WIRE.len());
        for (e, &(shape, query, status, fault)) in all.iter().zip(WIRE) {
            assert_eq!((e.shape(), e.status(), e.fault()), (shape, status, fault), "{e:?}");
            let json: serde_json::Value = serde_json::from_str(&e.json_body()).unwrap();
            assert_eq!(json["__type"], format!("com.amazonaws.sqs#{shape}"));
            assert_eq!(json["message"], e.to_string());
            assert_eq!(e.query_error_header(), format!("{query};{fault}"));
            let xml = e.xml_body("req-1");
            assert!(xml.contains(&format!("<Type>{fault}</Type><Code>{query}</Code>")), "{xml}");
            assert!(xml.contains(&format!("<Message>{}</Message>", xml_escape(&e.to_string()))), "{xml}");
            assert!(xml.ends_with("<RequestId>req-1</RequestId></ErrorResponse>"), "{xml}");
        }
        let mut shapes: Vec<&str> = WIRE.iter().map(|w| w.0).collect();
        shapes.sort();
        shapes.dedup();
        assert_eq!(shapes.len(), WIRE.len(), "a code is listed twice");
    }

    #[test]
    fn fixed_texts_are_aws_texts() {
        assert_eq!(SqsError::QueueDoesNotExist.to_string(), "The specified queue does not exist.");
        assert_eq!(SqsError::missing("QueueUrl").to_string(), "The request must contain the parameter QueueUrl.");
        assert_eq!(SqsError::ids_not_distinct("a").to_string(), "Id a repeated.");
        assert!(SqsError::receipt_handle_invalid(&"h".repeat(300)).to_string().len() < 200);
        assert_eq!(SqsError::InternalFailure.to_string(), "We encountered an internal error. Please try again.");
    }

    #[test]
    fn xml_escape_keeps_carriage_returns() {
        assert_eq!(xml_escape("a&b<c>\"\r"), "a&amp;b&lt;c&gt;&quot;&#xD;");
    }

    #[test]
    fn kms_outcomes_keep_their_codes_and_other_key_failures_are_internal() {
        let e = SqsError::from(KeysError::Kms(KmsError::Unavailable("down".into())));
        assert_eq!(e.shape(), "KmsThrottled");
        assert_eq!(SqsError::from(KeysError::Kms(KmsError::Denied("no".into()))).shape(), "KmsAccessDenied");
        assert_eq!(SqsError::from(KeysError::Kms(KmsError::NotFound("k".into()))).shape(), "KmsNotFound");
        assert_eq!(SqsError::from(KeysError::Random), SqsError::InternalFailure);
    }
}
