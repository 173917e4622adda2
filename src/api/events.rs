//! The event webhooks: `POST /events/s3/ACCOUNT_ID/QUEUE_NAME` takes the bucket notifications
//! of S3-compatible stores (MinIO's webhook target) with a storage integration's bearer
//! token, and enqueues for each record the message S3 would have sent. Every record is
//! authorized before anything is enqueued (one refused record enqueues none), as
//! `s3.amazonaws.com` with `aws:SourceArn` = the record's bucket ARN and `aws:SourceAccount`
//! = the integration's account; a replayed record enqueues nothing (see
//! `queue::service::EVENT_REPLAY_WINDOW_SECONDS`). `HEAD` answers 200 at once: MinIO probes
//! with it, and it tells nothing about queues or tokens.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use tracing::Instrument;

use super::{ApiState, SqsError};
use crate::queue::send::SendInput;
use crate::queue::{AccountId, QueueName, QueueRef};

/// MinIO's liveness probe.
pub async fn probe() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// A storage notification.
pub async fn s3(
    req: HttpRequest,
    payload: web::Payload,
    path: web::Path<(String, String)>,
    state: web::Data<ApiState>,
) -> HttpResponse {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!("request", id = %request_id);
    let (account, queue) = path.into_inner();
    let result = deliver_s3(&req, payload, &state, &account, &queue).instrument(span.clone()).await;
    let _enter = span.enter();
    match result {
        Ok((enqueued, duplicates)) => {
            state.metrics.request("S3Event", "success", "", started.elapsed());
            tracing::info!(
                action = "S3Event",
                enqueued,
                duplicates,
                status = 200,
                ms = started.elapsed().as_millis() as u64,
                "request"
            );
            HttpResponse::Ok()
                .insert_header(("x-amzn-RequestId", request_id.as_str()))
                .json(serde_json::json!({"Enqueued": enqueued, "Duplicates": duplicates}))
        }
        Err(e) => {
            state.metrics.request("S3Event", e.shape(), "", started.elapsed());
            let status = e.status();
            tracing::info!(action = "S3Event", code = e.shape(), reason = %e, status, ms = started.elapsed().as_millis() as u64, "request");
            super::error::json_response(&e, &request_id)
        }
    }
}

async fn deliver_s3(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ApiState,
    account: &str,
    queue: &str,
) -> Result<(usize, usize), SqsError> {
    // The token first: nothing of the body is read for a caller it does not authenticate.
    let token = super::request::bearer(req).ok_or_else(|| {
        SqsError::MissingAuthenticationToken("The request must carry Authorization: Bearer <token>.".into())
    })?;
    let principal = state.auth.authenticate_bearer(token).await?;
    let body =
        tokio::time::timeout(state.request_timeout, super::request::read_body(req, payload, state.max_request_bytes))
            .await
            .map_err(|_| SqsError::RequestTimeout("The request body was not received in time.".into()))??;
    super::pipeline::admit(state, &principal.account_id, "S3Event").await?;
    let Some(svc) = principal.service.clone() else {
        return Err(SqsError::AccessDenied("Only a service integration delivers events.".into()));
    };
    if svc.service != "s3.amazonaws.com" {
        return Err(SqsError::AccessDenied(format!("A {} integration cannot deliver storage events.", svc.service)));
    }
    let r = QueueRef {
        account: AccountId::parse(account)
            .ok_or_else(|| SqsError::InvalidAddress(format!("The address {account} is not valid.")))?,
        name: QueueName::parse(queue)?,
    };
    let records = crate::events::s3::parse(&body, &state.region, state.queues.now())?;
    // Every record is authorized before any is enqueued. The queue's policy is read without
    // telling whether the queue exists: a missing queue has none, and is refused alike.
    let queue_policy = state.policies.queue(&r).await?;
    let arn = state.queues.queue_arn(&r);
    let base = super::request::request_context(&principal, req, state);
    let mut proof = None;
    for rec in &records {
        if !svc.sources.contains(&rec.bucket) {
            return Err(SqsError::AccessDenied(format!(
                "The integration may not deliver events of the bucket {}.",
                rec.bucket
            )));
        }
        let mut context = base.clone();
        context.set("aws:SourceArn", rec.source_arn.clone());
        proof = Some(super::decide(
            &principal,
            &[],
            None,
            queue_policy.as_deref(),
            &context,
            "sqs:SendMessage",
            arn.as_str(),
            Some(r.account.as_str()),
            r.clone(),
        )?);
    }
    let Some(target) = proof else { return Ok((0, 0)) };
    let events = records
        .into_iter()
        .map(|rec| {
            let input =
                SendInput { body: rec.body, sender_id: principal.sender_id().to_owned(), ..SendInput::default() };
            (rec.dedup_key, input)
        })
        .collect();
    state.queues.send_events(target.resource(), events).await
}
