//! The one place where every module's error becomes an SQS error: its JSON `__type`, its
//! legacy query code (for `x-amzn-query-error` and XML), its HTTP status and fault.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

use crate::auth::AuthError;
use crate::auth::sigv4::SigV4Error;
use crate::policy::Denied;
use crate::queue::QueueError;

/// An SQS error code, as the SDKs know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    QueueDoesNotExist,
    QueueNameExists,
    MessageNotInflight,
    PurgeQueueInProgress,
    EmptyBatchRequest,
    TooManyEntriesInBatchRequest,
    BatchEntryIdsNotDistinct,
    InvalidBatchEntryId,
    BatchRequestTooLong,
    OverLimit,
    ResourceNotFoundException,
    NoSuchEntity,
    EntityAlreadyExists,
    LimitExceeded,
    InvalidInput,
    MalformedPolicyDocument,
    DeleteConflict,
    RequestThrottled,
    ReceiptHandleIsInvalid,
    InvalidMessageContents,
    InvalidAttributeName,
    InvalidAttributeValue,
    UnsupportedOperation,
    InvalidAddress,
    InvalidSecurity,
    InvalidParameterValue,
    MissingParameter,
    InvalidAction,
    MissingAction,
    MalformedQueryString,
    AccessDenied,
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidClientTokenId,
    ExpiredToken,
    KmsAccessDenied,
    KmsDisabled,
    KmsInvalidKeyUsage,
    KmsInvalidState,
    KmsNotFound,
    KmsOptInRequired,
    KmsThrottled,
    ValidationError,
    PackedPolicyTooLarge,
    SignatureDoesNotMatch,
    RequestExpired,
    RequestEntityTooLarge,
    RequestTimeout,
    InternalFailure,
}

impl Code {
    /// (JSON shape name, legacy query code, HTTP status, sender fault)
    pub fn wire(self) -> (&'static str, &'static str, u16, bool) {
        use Code::*;
        match self {
            QueueDoesNotExist => ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400, true),
            QueueNameExists => ("QueueNameExists", "QueueAlreadyExists", 400, true),
            MessageNotInflight => ("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400, true),
            PurgeQueueInProgress => ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403, true),
            RequestThrottled => ("RequestThrottled", "RequestThrottled", 403, true),
            EmptyBatchRequest => ("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400, true),
            TooManyEntriesInBatchRequest => {
                ("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, true)
            }
            BatchEntryIdsNotDistinct => {
                ("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, true)
            }
            InvalidBatchEntryId => ("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400, true),
            BatchRequestTooLong => ("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400, true),
            OverLimit => ("OverLimit", "OverLimit", 403, true),
            ResourceNotFoundException => ("ResourceNotFoundException", "ResourceNotFoundException", 404, true),
            NoSuchEntity => ("NoSuchEntity", "NoSuchEntity", 404, true),
            EntityAlreadyExists => ("EntityAlreadyExists", "EntityAlreadyExists", 409, true),
            LimitExceeded => ("LimitExceeded", "LimitExceeded", 409, true),
            InvalidInput => ("InvalidInput", "InvalidInput", 400, true),
            MalformedPolicyDocument => ("MalformedPolicyDocument", "MalformedPolicyDocument", 400, true),
            DeleteConflict => ("DeleteConflict", "DeleteConflict", 409, true),
            ReceiptHandleIsInvalid => ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404, true),
            InvalidMessageContents => ("InvalidMessageContents", "InvalidMessageContents", 400, true),
            InvalidAttributeName => ("InvalidAttributeName", "InvalidAttributeName", 400, true),
            InvalidAttributeValue => ("InvalidAttributeValue", "InvalidAttributeValue", 400, true),
            UnsupportedOperation => ("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400, true),
            InvalidAddress => ("InvalidAddress", "InvalidAddress", 404, true),
            InvalidSecurity => ("InvalidSecurity", "InvalidSecurity", 403, true),
            InvalidParameterValue => ("InvalidParameterValue", "InvalidParameterValue", 400, true),
            MissingParameter => ("MissingParameter", "MissingParameter", 400, true),
            InvalidAction => ("InvalidAction", "InvalidAction", 400, true),
            MissingAction => ("MissingAction", "MissingAction", 400, true),
            MalformedQueryString => ("MalformedQueryString", "MalformedQueryString", 404, true),
            AccessDenied => ("AccessDenied", "AccessDenied", 403, true),
            MissingAuthenticationToken => ("MissingAuthenticationToken", "MissingAuthenticationToken", 403, true),
            IncompleteSignature => ("IncompleteSignature", "IncompleteSignature", 400, true),
            InvalidClientTokenId => ("InvalidClientTokenId", "InvalidClientTokenId", 403, true),
            ExpiredToken => ("ExpiredToken", "ExpiredToken", 403, true),
            KmsAccessDenied => ("KmsAccessDenied", "KMS.AccessDeniedException", 400, true),
            KmsDisabled => ("KmsDisabled", "KMS.DisabledException", 400, true),
            KmsInvalidKeyUsage => ("KmsInvalidKeyUsage", "KMS.InvalidKeyUsageException", 400, true),
            KmsInvalidState => ("KmsInvalidState", "KMS.InvalidStateException", 400, true),
            KmsNotFound => ("KmsNotFound", "KMS.NotFoundException", 400, true),
            KmsOptInRequired => ("KmsOptInRequired", "KMS.OptInRequired", 403, true),
            KmsThrottled => ("KmsThrottled", "KMS.ThrottlingException", 400, true),
            ValidationError => ("ValidationError", "ValidationError", 400, true),
            PackedPolicyTooLarge => ("PackedPolicyTooLarge", "PackedPolicyTooLarge", 400, true),
            SignatureDoesNotMatch => ("SignatureDoesNotMatch", "SignatureDoesNotMatch", 403, true),
            RequestExpired => ("RequestExpired", "RequestExpired", 400, true),
            RequestEntityTooLarge => ("RequestEntityTooLarge", "RequestEntityTooLarge", 413, true),
            RequestTimeout => ("RequestTimeout", "RequestTimeout", 408, true),
            InternalFailure => ("InternalFailure", "InternalFailure", 500, false),
        }
    }
}

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn internal(what: &dyn std::fmt::Display) -> Self {
        // Details go to the log (with the request id), never to the client.
        tracing::error!(error = %what, "internal error");
        Self::new(Code::InternalFailure, "We encountered an internal error. Please try again.")
    }

    /// The AWS JSON 1.0 form.
    pub fn to_json_response(&self, request_id: &str) -> HttpResponse {
        let (shape, query_code, status, sender) = self.code.wire();
        let fault = if sender { "Sender" } else { "Receiver" };
        let body = json!({ "__type": format!("com.amazonaws.sqs#{shape}"), "message": self.message });
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
            .insert_header(("x-amzn-RequestId", request_id))
            .insert_header(("x-amzn-query-error", format!("{query_code};{fault}")))
            .content_type("application/x-amz-json-1.0")
            .body(body.to_string())
    }

    /// The query protocol's XML form.
    pub fn to_xml_response(&self, request_id: &str) -> HttpResponse {
        let (_, query_code, status, sender) = self.code.wire();
        let fault = if sender { "Sender" } else { "Receiver" };
        let body = format!(
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
            xml_escape(query_code),
            xml_escape(&self.message),
            xml_escape(request_id)
        );
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
            .insert_header(("x-amzn-RequestId", request_id))
            .content_type("text/xml")
            .body(body)
    }
}

/// Escapes text for XML, including CR (which XML parsers would otherwise normalize).
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

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        let code = match &e {
            QueueError::QueueDoesNotExist => Code::QueueDoesNotExist,
            QueueError::QueueNameExists(_) => Code::QueueNameExists,
            QueueError::InvalidParameterValue(_) => Code::InvalidParameterValue,
            QueueError::MissingParameter(_) => Code::MissingParameter,
            QueueError::InvalidAttributeName(_) => Code::InvalidAttributeName,
            QueueError::InvalidAttributeValue(_) => Code::InvalidAttributeValue,
            QueueError::InvalidMessageContents(_) => Code::InvalidMessageContents,
            QueueError::ReceiptHandleIsInvalid(_) => Code::ReceiptHandleIsInvalid,
            QueueError::InvalidAddress(_) => Code::InvalidAddress,
            QueueError::MessageNotInflight => Code::MessageNotInflight,
            QueueError::PurgeQueueInProgress(_) => Code::PurgeQueueInProgress,
            QueueError::TooManyLongPolls | QueueError::Throttled(_) => Code::RequestThrottled,
            QueueError::EmptyBatchRequest => Code::EmptyBatchRequest,
            QueueError::TooManyEntriesInBatchRequest(_) => Code::TooManyEntriesInBatchRequest,
            QueueError::BatchEntryIdsNotDistinct(_) => Code::BatchEntryIdsNotDistinct,
            QueueError::InvalidBatchEntryId(_) => Code::InvalidBatchEntryId,
            QueueError::BatchRequestTooLong(_) => Code::BatchRequestTooLong,
            QueueError::ResourceNotFound(_) => Code::ResourceNotFoundException,
            QueueError::OverLimit(_) => Code::OverLimit,
            QueueError::UnsupportedOperation(_) => Code::UnsupportedOperation,
            QueueError::Store(e) => return Self::internal(e),
            QueueError::Crypto(e) => return Self::internal(e),
            QueueError::Keys(k) => {
                use crate::crypto::provider::KmsError as K;
                use crate::keys::KeysError as E;
                match k {
                    E::Kms(K::Unavailable(_)) => {
                        return Self::new(
                            Code::KmsThrottled,
                            "The key provider is unavailable and no cached data key can serve; retry later.",
                        );
                    }
                    E::Kms(K::Denied(_)) => Code::KmsAccessDenied,
                    E::Kms(K::NotFound(_)) => Code::KmsNotFound,
                    E::Kms(K::InvalidCiphertext) => Code::KmsInvalidState,
                    _ => return Self::internal(k),
                }
            }
        };
        Self::new(code, e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = match &e {
            AuthError::SigV4(s) => match s {
                SigV4Error::Missing => Code::MissingAuthenticationToken,
                SigV4Error::Incomplete(_) => Code::IncompleteSignature,
                SigV4Error::BadDate(_) => Code::IncompleteSignature,
                SigV4Error::PresignExpired => Code::RequestExpired,
                // As S3 answers headers left out of a signature.
                SigV4Error::HeadersNotSigned(_) => Code::AccessDenied,
                SigV4Error::WrongService { .. }
                | SigV4Error::TooOld { .. }
                | SigV4Error::TooNew { .. }
                | SigV4Error::Mismatch
                | SigV4Error::PayloadHashMismatch
                | SigV4Error::UnsignedPayload => Code::SignatureDoesNotMatch,
            },
            AuthError::UnknownKey | AuthError::BadSessionToken | AuthError::Disabled => Code::InvalidClientTokenId,
            AuthError::SessionExpired => Code::ExpiredToken,
            AuthError::Token(crate::crypto::token::TokenError::Expired) => Code::ExpiredToken,
            AuthError::Token(_) | AuthError::Revoked => Code::InvalidClientTokenId,
            AuthError::Store(e) => return Self::internal(e),
            AuthError::Crypto(e) => return Self::internal(e),
        };
        Self::new(code, e.to_string())
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        Self::new(Code::AccessDenied, e.to_string())
    }
}

impl From<crate::tenancy::TenancyError> for ApiError {
    fn from(e: crate::tenancy::TenancyError) -> Self {
        use crate::tenancy::TenancyError as T;
        let code = match &e {
            T::NoSuchEntity(_) => Code::NoSuchEntity,
            T::EntityAlreadyExists(_) | T::Exists => Code::EntityAlreadyExists,
            T::LimitExceeded(_) => Code::LimitExceeded,
            T::InvalidInput(_) | T::InvalidName | T::InvalidId => Code::InvalidInput,
            T::MalformedPolicyDocument(_) => Code::MalformedPolicyDocument,
            T::DeleteConflict(_) => Code::DeleteConflict,
            T::Validation(_) => Code::ValidationError,
            T::PackedPolicyTooLarge(_) => Code::PackedPolicyTooLarge,
            T::Store(e) => return Self::internal(e),
            T::Crypto(e) => return Self::internal(e),
            T::Token(crate::crypto::token::TokenError::LifetimeTooLong) => Code::InvalidInput,
            T::Token(e) => return Self::internal(e),
        };
        Self::new(code, e.to_string())
    }
}

impl From<crate::events::EventError> for ApiError {
    fn from(e: crate::events::EventError) -> Self {
        Self::new(Code::InvalidParameterValue, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_aws_statuses_and_legacy_codes() {
        assert_eq!(Code::QueueDoesNotExist.wire().1, "AWS.SimpleQueueService.NonExistentQueue");
        assert_eq!(Code::QueueNameExists.wire().1, "QueueAlreadyExists");
        assert_eq!(Code::ReceiptHandleIsInvalid.wire().2, 404);
        assert_eq!(Code::AccessDenied.wire().2, 403);
        assert_eq!(Code::SignatureDoesNotMatch.wire().2, 403);
        assert!(!Code::InternalFailure.wire().3);
    }

    #[test]
    fn xml_escape_keeps_carriage_returns() {
        assert_eq!(xml_escape("a&b<c>\"\r"), "a&amp;b&lt;c&gt;&quot;&#xD;");
    }
}
