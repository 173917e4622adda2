//! The HTTP entry point: the request id, protocol detection, and the answer, log line and
//! metrics of every call (the stages between are `pipeline`'s; what they read of the request
//! is `request`'s). Headers, signatures and bodies are never logged.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use tracing::Instrument;

use super::request::header;
use super::{ApiState, Output, Protocol};

fn protocol(req: &HttpRequest) -> Protocol {
    let target = header(req, "x-amz-target").unwrap_or("");
    let ctype = header(req, "content-type").unwrap_or("");
    if !target.is_empty() || ctype.starts_with("application/x-amz-json") { Protocol::Json } else { Protocol::Query }
}

/// Every request lands here.
pub async fn entry(req: HttpRequest, payload: web::Payload, state: web::Data<ApiState>) -> HttpResponse {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let proto = protocol(&req);
    let span = tracing::info_span!("request", id = %request_id);
    let mut seen = super::pipeline::Seen::default();
    let result =
        super::pipeline::handle(&req, payload, &state, proto, &request_id, &mut seen).instrument(span.clone()).await;
    let super::pipeline::Seen { action, account } = seen;
    let _enter = span.enter();
    let status;
    let outcome;
    let response = match result {
        Ok(output) => {
            status = 200;
            outcome = "success";
            let (content_type, body) = match output {
                Output::Json(body) => ("application/x-amz-json-1.0", body),
                Output::Value(v) => ("text/xml", super::wire::query::encode(action, &v, &request_id)),
                Output::Xml(x) => ("text/xml", x),
            };
            HttpResponse::Ok()
                .insert_header(("x-amzn-RequestId", request_id.as_str()))
                .content_type(content_type)
                .body(body)
        }
        Err(e) => {
            status = e.status();
            outcome = e.shape();
            if status == 403 || status == 401 {
                tracing::info!(action, account, code = e.shape(), reason = %e, "denied");
            }
            match proto {
                Protocol::Json => super::error::json_response(&e, &request_id),
                Protocol::Query => super::error::xml_response(&e, &request_id),
            }
        }
    };
    tracing::info!(action, account, status, ms = started.elapsed().as_millis() as u64, "request");
    state.metrics.request(action, outcome, &account, started.elapsed());
    response
}
