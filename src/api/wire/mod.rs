//! The two SQS wire protocols as shapes: AWS JSON 1.0 request and answer types (`json`), and
//! the legacy query protocol's parameters in and XML out (`query`), turned into and out of
//! the same JSON shape so that both share one action table and one set of handlers.

pub mod json;
pub mod query;
