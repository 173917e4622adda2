//! Message move tasks (StartMessageMoveTask and friends): moving messages out of a
//! dead-letter queue, back to their original source queues or to a chosen destination, at
//! a bounded rate. Tasks live in the database; each instance runs a worker that takes the
//! lease of a running task, so a task survives restarts and never runs on two instances.

use std::sync::Arc;
use std::time::Duration;

use base64::prelude::*;
use chrono::TimeDelta;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{QueueError, QueueRef, redrive};
use crate::clock::Clock;
use crate::store::moves::MoveTaskRow;
use crate::store::{PgStore, StoreError};

/// Highest MaxNumberOfMessagesPerSecond SQS accepts.
pub const MAX_RATE: i32 = 500;
/// Moves per second when the caller sets no rate.
const DEFAULT_RATE: i32 = 100;
const LEASE: TimeDelta = TimeDelta::seconds(30);
/// How often an idle worker looks for tasks started on other instances or abandoned.
const IDLE_POLL: Duration = Duration::from_secs(30);

/// A task as ListMessageMoveTasks reports it.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub handle: Option<String>,
    pub status: String,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub max_per_second: Option<i32>,
    pub moved: i64,
    pub to_move: i64,
    pub failure_reason: Option<String>,
    pub started_at_ms: i64,
}

/// Encodes a task handle: the task id and its source ARN (the source decides authorization).
pub fn encode_handle(id: Uuid, source_arn: &str) -> String {
    BASE64_URL_SAFE_NO_PAD.encode(format!("{id}|{source_arn}"))
}

/// Decodes a task handle into the task id and its source queue.
pub fn decode_handle(handle: &str) -> Option<(Uuid, String, QueueRef)> {
    if handle.len() > 512 {
        return None;
    }
    let raw = String::from_utf8(BASE64_URL_SAFE_NO_PAD.decode(handle).ok()?).ok()?;
    let (id, arn) = raw.split_once('|')?;
    Some((Uuid::parse_str(id).ok()?, arn.to_owned(), redrive::parse_queue_arn(arn)?))
}

fn info(t: &MoveTaskRow) -> TaskInfo {
    let running = t.status == "RUNNING";
    TaskInfo {
        handle: running.then(|| encode_handle(t.id, &t.source_arn)),
        status: t.status.clone(),
        source_arn: t.source_arn.clone(),
        destination_arn: t.destination_arn.clone(),
        max_per_second: t.max_per_second,
        moved: t.moved,
        to_move: t.to_move,
        failure_reason: t.failure_reason.clone(),
        started_at_ms: t.started_at.timestamp_millis(),
    }
}

/// The move-task side of the queue service.
#[derive(Debug)]
pub struct Mover {
    store: PgStore,
    clock: Arc<dyn Clock>,
    instance: Uuid,
    kick: Notify,
}

fn not_found(what: &str) -> QueueError {
    QueueError::ResourceNotFound(what.to_owned())
}

impl Mover {
    pub fn new(store: PgStore, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self { store, clock, instance: Uuid::new_v4(), kick: Notify::new() })
    }

    /// StartMessageMoveTask. The source must be a dead-letter queue of some queue; the
    /// destination, when given, must exist. One active task per source.
    pub async fn start(
        &self,
        source: &QueueRef,
        source_arn: &str,
        destination: Option<(&QueueRef, &str)>,
        rate: Option<i32>,
    ) -> Result<String, QueueError> {
        if let Some(r) = rate
            && !(1..=MAX_RATE).contains(&r)
        {
            return Err(QueueError::InvalidParameterValue(format!(
                "Value {r} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and {MAX_RATE}."
            )));
        }
        let q =
            self.store.queue_by_name(source.account.as_str(), source.name.as_str()).await?.ok_or_else(|| {
                not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
            })?;
        let sources = self.store.dead_letter_sources(&q.account_id, &q.name, None, 1).await?;
        if sources.is_empty() {
            return Err(not_found("Source queue must be configured as a Dead Letter Queue."));
        }
        if let Some((d, _)) = destination
            && self.store.queue_by_name(d.account.as_str(), d.name.as_str()).await?.is_none()
        {
            return Err(not_found("The resource that you specified for the DestinationArn parameter doesn't exist."));
        }
        let row = MoveTaskRow {
            id: Uuid::new_v4(),
            account_id: q.account_id.clone(),
            source_queue_id: q.id,
            source_arn: source_arn.to_owned(),
            destination_arn: destination.map(|(_, arn)| arn.to_owned()),
            max_per_second: rate,
            status: "RUNNING".into(),
            moved: 0,
            to_move: 0,
            failure_reason: None,
            started_at: self.clock.now(),
        };
        let task = match self.store.start_move_task(&row).await {
            Ok(t) => t,
            Err(StoreError::Conflict(_)) => {
                return Err(QueueError::UnsupportedOperation(
                    "There is already an active message movement task for this source queue.".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.kick.notify_one();
        Ok(encode_handle(task.id, &task.source_arn))
    }

    /// ListMessageMoveTasks: most recent first, at most `max` (1–10, default 1).
    pub async fn list(&self, source: &QueueRef, max: Option<i32>) -> Result<Vec<TaskInfo>, QueueError> {
        let max = match max {
            None => 1,
            Some(m @ 1..=10) => m,
            Some(m) => {
                return Err(QueueError::InvalidParameterValue(format!(
                    "Value {m} for parameter MaxResults is invalid. Reason: Must be between 1 and 10."
                )));
            }
        };
        let q =
            self.store.queue_by_name(source.account.as_str(), source.name.as_str()).await?.ok_or_else(|| {
                not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
            })?;
        Ok(self.store.move_tasks(q.id, max.into()).await?.iter().map(info).collect())
    }

    /// CancelMessageMoveTask: only a running task; messages already moved stay moved.
    pub async fn cancel(&self, handle: &str) -> Result<i64, QueueError> {
        let (id, arn, _) = decode_handle(handle).ok_or_else(|| not_found("The task handle is not valid."))?;
        match self.store.cancel_move_task(id).await? {
            Some(t) if t.source_arn == arn => Ok(t.moved),
            Some(_) | None => match self.store.move_task(id).await? {
                Some(t) if t.source_arn == arn => Err(QueueError::InvalidParameterValue(format!(
                    "Only a RUNNING task can be cancelled; this one is {}.",
                    t.status
                ))),
                _ => Err(not_found("The task handle does not name a task.")),
            },
        }
    }

    /// The worker: runs tasks whose lease it can take, one at a time (runs forever).
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.store.claim_move_task(self.instance, self.clock.now(), self.clock.now() + LEASE).await {
                Ok(Some(task)) => {
                    if let Err(e) = self.work(&task).await {
                        tracing::warn!(error = %e, task = %task.id, "move task interrupted; it will be resumed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not look for move tasks"),
            }
            let _ = tokio::time::timeout(IDLE_POLL, self.kick.notified()).await;
        }
    }

    async fn work(&self, task: &MoveTaskRow) -> Result<(), StoreError> {
        let rate = task.max_per_second.unwrap_or(DEFAULT_RATE).clamp(1, MAX_RATE);
        // Batches of up to 10, spaced so that at most `rate` messages move per second.
        let batch = rate.min(10);
        let pause = Duration::from_secs_f64(f64::from(batch) / f64::from(rate));
        loop {
            let started = tokio::time::Instant::now();
            let now = self.clock.now();
            let moved = self
                .store
                .move_batch(task, self.instance, task.destination_arn.as_deref(), now, now + LEASE, batch.into())
                .await?;
            match moved {
                // Cancelled, or no longer ours.
                None => return Ok(()),
                Some(0) => {
                    self.store.finish_move_task(task.id, self.instance, "COMPLETED", None).await?;
                    return Ok(());
                }
                Some(_) => tokio::time::sleep_until(started + pause).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_handles_round_trip_and_refuse_junk() {
        let id = Uuid::new_v4();
        let h = encode_handle(id, "arn:aws:sqs:local:111122223333:dlq");
        let (got, arn, q) = decode_handle(&h).unwrap();
        assert_eq!((got, arn.as_str(), q.name.as_str()), (id, "arn:aws:sqs:local:111122223333:dlq", "dlq"));
        assert!(decode_handle("junk").is_none());
        assert!(decode_handle(&BASE64_URL_SAFE_NO_PAD.encode("not-a-uuid|arn:aws:sqs:r:111122223333:q")).is_none());
    }
}
