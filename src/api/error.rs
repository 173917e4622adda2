//! Where the errors of the layers above the queue (authentication, tenancy, the policy gate,
//! events) become `SqsError`s, and the HTTP form of an `SqsError` for each protocol. The codes,
//! statuses, faults and bodies themselves are `crate::error`'s one table.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::auth::AuthError;
use crate::auth::sigv4::SigV4Error;
pub use crate::error::{SqsError, xml_escape};
use crate::policy::Denied;

fn status(e: &SqsError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The AWS JSON 1.0 answer.
pub fn json_response(e: &SqsError, request_id: &str) -> HttpResponse {
    HttpResponse::build(status(e))
        .insert_header(("x-amzn-RequestId", request_id))
        .insert_header(("x-amzn-query-error", e.query_error_header()))
        .content_type("application/x-amz-json-1.0")
        .body(e.json_body())
}

/// The query protocol's XML answer.
pub fn xml_response(e: &SqsError, request_id: &str) -> HttpResponse {
    HttpResponse::build(status(e))
        .insert_header(("x-amzn-RequestId", request_id))
        .content_type("text/xml")
        .body(e.xml_body(request_id))
}

impl From<AuthError> for SqsError {
    fn from(e: AuthError) -> Self {
        let text = e.to_string();
        match &e {
            AuthError::SigV4(s) => match s {
                SigV4Error::Missing => Self::MissingAuthenticationToken(text),
                SigV4Error::Incomplete(_) | SigV4Error::BadDate(_) => Self::IncompleteSignature(text),
                SigV4Error::PresignExpired => Self::RequestExpired(text),
                // As S3 answers headers left out of a signature.
                SigV4Error::HeadersNotSigned(_) => Self::AccessDenied(text),
                SigV4Error::WrongService { .. }
                | SigV4Error::WrongRegion { .. }
                | SigV4Error::TooOld { .. }
                | SigV4Error::TooNew { .. }
                | SigV4Error::Mismatch
                | SigV4Error::PayloadHashMismatch
                | SigV4Error::UnsignedPayload => Self::SignatureDoesNotMatch(text),
            },
            AuthError::UnknownKey | AuthError::BadSessionToken | AuthError::Disabled => {
                Self::InvalidClientTokenId(text)
            }
            AuthError::SessionExpired | AuthError::Token(crate::crypto::token::TokenError::Expired) => {
                Self::ExpiredToken(text)
            }
            AuthError::Token(_) | AuthError::Revoked => Self::InvalidClientTokenId(text),
            AuthError::Store(e) => Self::internal(e),
            AuthError::Crypto(e) => Self::internal(e),
        }
    }
}

impl From<Denied> for SqsError {
    fn from(e: Denied) -> Self {
        Self::AccessDenied(e.to_string())
    }
}

impl From<crate::tenancy::TenancyError> for SqsError {
    fn from(e: crate::tenancy::TenancyError) -> Self {
        use crate::tenancy::TenancyError as T;
        let text = e.to_string();
        match &e {
            T::NoSuchEntity(_) => Self::NoSuchEntity(text),
            T::EntityAlreadyExists(_) | T::Exists => Self::EntityAlreadyExists(text),
            T::LimitExceeded(_) => Self::LimitExceeded(text),
            T::InvalidInput(_) | T::InvalidName | T::InvalidId => Self::InvalidInput(text),
            T::MalformedPolicyDocument(_) => Self::MalformedPolicyDocument(text),
            T::DeleteConflict(_) => Self::DeleteConflict(text),
            T::Validation(_) => Self::ValidationError(text),
            T::PackedPolicyTooLarge(_) => Self::PackedPolicyTooLarge(text),
            T::Store(e) => Self::internal(e),
            T::Crypto(e) => Self::internal(e),
            T::Token(crate::crypto::token::TokenError::LifetimeTooLong) => Self::InvalidInput(text),
            T::Token(e) => Self::internal(e),
        }
    }
}

impl From<crate::events::EventError> for SqsError {
    fn from(e: crate::events::EventError) -> Self {
        Self::InvalidParameterValue(e.to_string())
    }
}

impl From<crate::auth::policies::PoliciesError> for SqsError {
    fn from(e: crate::auth::policies::PoliciesError) -> Self {
        match e {
            crate::auth::policies::PoliciesError::Policy(p) => Self::MalformedPolicyDocument(p.to_string()),
            crate::auth::policies::PoliciesError::Store(s) => Self::internal(&s),
        }
    }
}
