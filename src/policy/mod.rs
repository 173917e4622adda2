//! Authorization. Pure: no I/O, no clock reads.
//!
//! The policy language lives in `document` (parse and validate), `condition` (operators),
//! `glob` and `arn` (the matchers), `context` (request keys) and `eval` (AWS's evaluation
//! logic).
//!
//! The gate (`gate`) is the only maker of `Authorized<T>`, the proof a handler needs. It
//! decides every check of an action with the evaluation engine from the caller's identity
//! policies and the resource's policy. It sees only the resource named in the request (never
//! whether it exists), so a refusal reveals nothing.

pub mod arn;
pub mod condition;
pub mod context;
pub mod document;
pub mod eval;
pub mod gate;
pub mod glob;
pub mod lint;
pub mod pattern;

pub use gate::{Check, anyone, authorize, authorize_trust};

#[cfg(test)]
mod corpus;

/// Proof that the gate allowed an action on `T`.
#[derive(Debug)]
pub struct Authorized<T>(T);

impl<T> Authorized<T> {
    pub fn resource(&self) -> &T {
        &self.0
    }
}

/// A refusal, as AWS words it: who, which action, on what, and why — never the policy text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("User: {principal} is not authorized to perform: {action} on resource: {resource} {why}")]
pub struct Denied {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub why: String,
}
