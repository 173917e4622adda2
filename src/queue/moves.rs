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

use super::{QueueRef, SqsError};
use crate::clock::Clock;
use crate::domain::{QueueArn, TaskHandle};
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

/// Task handles: the task id and its source queue's ARN (the gate authorizes that queue
/// before anything is looked up), MACed with a deployment-wide key carrying a key id, as
/// receipt handles are, so a caller cannot name another account's task by writing its id
/// beside one of their own queues.
///
/// Layout before base64url: `ver:u8 (=1) | key_id:u64 BE | task_id:16 | source ARN (UTF-8) |
/// HMAC-SHA256 over everything before it (32 bytes)`.
pub struct TaskHandles {
    key_id: u64,
    key: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for TaskHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandles").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

const HANDLE_VERSION: u8 = 1;

impl TaskHandles {
    pub fn new(key_id: u64, key: zeroize::Zeroizing<[u8; 32]>) -> Self {
        Self { key_id, key }
    }

    fn mac(&self) -> hmac::Hmac<sha2::Sha256> {
        <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(self.key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    /// The handle of a task.
    pub fn issue(&self, id: Uuid, source_arn: &str) -> String {
        use hmac::Mac;
        let mut buf = Vec::with_capacity(1 + 8 + 16 + source_arn.len() + 32);
        buf.push(HANDLE_VERSION);
        buf.extend_from_slice(&self.key_id.to_be_bytes());
        buf.extend_from_slice(id.as_bytes());
        buf.extend_from_slice(source_arn.as_bytes());
        let mut mac = self.mac();
        mac.update(&buf);
        buf.extend_from_slice(&mac.finalize().into_bytes());
        BASE64_URL_SAFE_NO_PAD.encode(buf)
    }

    /// The task id and source queue ARN a handle names; `None` for anything malformed,
    /// forged, or issued under another key (checked in constant time).
    pub fn check(&self, handle: &TaskHandle) -> Option<(Uuid, QueueArn)> {
        use hmac::Mac;
        let buf = BASE64_URL_SAFE_NO_PAD.decode(handle.as_str()).ok()?;
        if buf.len() < 1 + 8 + 16 + 32 || buf[0] != HANDLE_VERSION || buf[1..9] != self.key_id.to_be_bytes() {
            return None;
        }
        let (body, tag) = buf.split_at(buf.len() - 32);
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_slice(tag).ok()?;
        let id = Uuid::from_slice(&body[9..25]).ok()?;
        let arn = QueueArn::parse(std::str::from_utf8(&body[25..]).ok()?)?;
        Some((id, arn))
    }
}

fn info(handles: &TaskHandles, t: &MoveTaskRow) -> TaskInfo {
    let running = t.status == "RUNNING";
    TaskInfo {
        handle: running.then(|| handles.issue(t.id, &t.source_arn)),
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
    handles: TaskHandles,
    /// How many times the worker has looked for a task to run.
    looks: std::sync::atomic::AtomicU64,
}

fn not_found(what: &str) -> SqsError {
    SqsError::ResourceNotFoundException(what.to_owned())
}

impl Mover {
    pub fn new(store: PgStore, clock: Arc<dyn Clock>, handles: TaskHandles) -> Arc<Self> {
        Arc::new(Self {
            store,
            clock,
            instance: Uuid::new_v4(),
            kick: Notify::new(),
            handles,
            looks: Default::default(),
        })
    }

    /// This instance's id, as move tasks record their lease holder.
    pub fn instance(&self) -> Uuid {
        self.instance
    }

    /// How many times the worker has looked for a task to run: each look either took a task
    /// whose lease nobody held (or whose lease lapsed) or left every task to its holder.
    pub fn looks(&self) -> u64 {
        self.looks.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wakes the worker to look for tasks now (it also looks every half minute).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// The handle of a task of `source_arn` (as StartMessageMoveTask answers it).
    pub fn issue_handle(&self, id: Uuid, source_arn: &str) -> String {
        self.handles.issue(id, source_arn)
    }

    /// What a task handle names, if this deployment issued it (see `TaskHandles`).
    pub fn check_handle(&self, handle: &TaskHandle) -> Option<(Uuid, QueueArn)> {
        self.handles.check(handle)
    }

    /// StartMessageMoveTask. The source must be a dead-letter queue of some queue; the
    /// destination, when given, must exist. One active task per source.
    pub async fn start(
        &self,
        source: &QueueRef,
        source_arn: &QueueArn,
        destination: Option<&QueueArn>,
        rate: Option<i32>,
    ) -> Result<String, SqsError> {
        if let Some(r) = rate
            && !(1..=MAX_RATE).contains(&r)
        {
            return Err(SqsError::InvalidParameterValue(format!(
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
        if let Some(d) = destination.map(QueueArn::queue) {
            let dest = self.store.queue_by_name(d.account.as_str(), d.name.as_str()).await?.ok_or_else(|| {
                not_found("The resource that you specified for the DestinationArn parameter doesn't exist.")
            })?;
            // A FIFO dead-letter queue moves to FIFO queues only, and a standard one to
            // standard ones (its sources are of its type already).
            if dest.fifo != q.fifo {
                return Err(SqsError::InvalidParameterValue(
                    "Value for parameter DestinationArn is invalid. Reason: The source queue and the destination queue must be of the same queue type.".into(),
                ));
            }
        }
        let row = MoveTaskRow {
            id: Uuid::new_v4(),
            account_id: q.account_id.clone(),
            source_queue_id: q.id,
            source_arn: source_arn.to_string(),
            destination_arn: destination.map(QueueArn::to_string),
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
                return Err(SqsError::UnsupportedOperation(
                    "There is already an active message movement task for this source queue.".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.kick.notify_one();
        Ok(self.handles.issue(task.id, &task.source_arn))
    }

    /// ListMessageMoveTasks: most recent first, at most `max` (1–10, default 1).
    pub async fn list(&self, source: &QueueRef, max: Option<i32>) -> Result<Vec<TaskInfo>, SqsError> {
        let max = match max {
            None => 1,
            Some(m @ 1..=10) => m,
            Some(m) => {
                return Err(SqsError::InvalidParameterValue(format!(
                    "Value {m} for parameter MaxResults is invalid. Reason: Must be between 1 and 10."
                )));
            }
        };
        let q =
            self.store.queue_by_name(source.account.as_str(), source.name.as_str()).await?.ok_or_else(|| {
                not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
            })?;
        let tasks = self.store.move_tasks(&q.account_id, q.id, max.into()).await?;
        Ok(tasks.iter().map(|t| info(&self.handles, t)).collect())
    }

    /// CancelMessageMoveTask on `source`, the queue the gate authorized: the handle must be
    /// this deployment's and name a task of that very queue (its account and queue id are in
    /// the statement's WHERE, so nothing of another queue's task changes). Only a running task
    /// is cancelled; messages already moved stay moved.
    pub async fn cancel(&self, source: &QueueRef, handle: &TaskHandle) -> Result<i64, SqsError> {
        let invalid = || not_found("The task handle is not valid.");
        let (id, named) = self.handles.check(handle).ok_or_else(invalid)?;
        if named.queue() != source {
            return Err(invalid());
        }
        let q = self
            .store
            .queue_by_name(source.account.as_str(), source.name.as_str())
            .await?
            .ok_or_else(|| not_found("The task handle does not name a task."))?;
        match self.store.cancel_move_task(&q.account_id, q.id, id).await? {
            Some(t) => Ok(t.moved),
            None => match self.store.move_task(&q.account_id, q.id, id).await? {
                Some(t) => Err(SqsError::InvalidParameterValue(format!(
                    "Only a RUNNING task can be cancelled; this one is {}.",
                    t.status
                ))),
                None => Err(not_found("The task handle does not name a task.")),
            },
        }
    }

    /// The worker: runs tasks whose lease it can take, one at a time (runs forever).
    pub async fn run(self: Arc<Self>) {
        loop {
            let claimed = self.store.claim_move_task(self.instance, self.clock.now(), self.clock.now() + LEASE).await;
            self.looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match claimed {
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
    fn task_handles_round_trip_and_refuse_junk_forgeries_and_foreign_keys() {
        let keys = |b: u8| TaskHandles::new(1, zeroize::Zeroizing::new([b; 32]));
        let check = |k: &TaskHandles, h: &str| TaskHandle::parse(h).ok().and_then(|h| k.check(&h));
        let id = Uuid::new_v4();
        let h = keys(1).issue(id, "arn:aws:sqs:local:111122223333:dlq");
        let (got, arn) = check(&keys(1), &h).unwrap();
        assert_eq!((got, arn.as_str(), arn.queue().name.as_str()), (id, "arn:aws:sqs:local:111122223333:dlq", "dlq"));
        assert!(check(&keys(2), &h).is_none(), "another deployment's key");
        // The earlier unsigned form, and a forgery naming another task beside one's own queue.
        let unsigned = BASE64_URL_SAFE_NO_PAD.encode(format!("{id}|arn:aws:sqs:local:111122223333:dlq"));
        assert!(check(&keys(1), &unsigned).is_none());
        let mut raw = BASE64_URL_SAFE_NO_PAD.decode(&h).unwrap();
        raw[9] ^= 1;
        assert!(check(&keys(1), &BASE64_URL_SAFE_NO_PAD.encode(&raw)).is_none());
        for junk in ["", "junk", "!!!", &"A".repeat(600)] {
            assert!(check(&keys(1), junk).is_none());
        }
    }
}
