//! After a receive: DeleteMessage, ChangeMessageVisibility and their batches, each bound
//! to the receive its receipt handle names.

use std::collections::HashMap;

use chrono::TimeDelta;
use uuid::Uuid;

use super::service::*;
use super::{QueueRef, SqsError};
use crate::domain::ReceiptHandle;

impl QueueService {
    /// DeleteMessage: a handle from another queue (or a recreated one) is invalid; a stale
    /// handle of this queue still deletes, as on AWS.
    pub async fn delete_message(&self, r: &QueueRef, handle: &ReceiptHandle) -> Result<(), SqsError> {
        let q = self.hot_queue(r).await?;
        let receipt = self
            .receipts
            .check(handle)
            .filter(|rc| rc.queue_id == q.id)
            .ok_or_else(|| SqsError::receipt_handle_invalid(handle.as_str()))?;
        if q.fifo {
            let mut results = self.delete_fifo(&q, vec![(handle, receipt)]).await?;
            return results.pop().unwrap_or(Ok(()));
        }
        self.group.delete(q.id, vec![receipt.message_id]).await
    }

    /// Deletes from a FIFO queue: only with the handle of the receive that holds the message
    /// (AWS: an expired handle is refused, so a message another receiver now holds stays
    /// with it). A delete may unlock the message's group, so waiting receivers are woken.
    async fn delete_fifo(
        &self,
        q: &crate::store::QueueRow,
        receipts: Vec<(&ReceiptHandle, super::receipt::Receipt)>,
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        let keys: Vec<(uuid::Uuid, i32)> =
            receipts.iter().map(|(_, r)| (r.message_id, i32::try_from(r.receive_seq).unwrap_or(-1))).collect();
        let outcome = self.store.delete_fifo(q.id, &keys, self.clock.now()).await?;
        let deleted = outcome.iter().filter(|(_, deleted, _)| *deleted).count();
        if deleted > 0 {
            self.wake(q.id, deleted);
        }
        Ok(receipts
            .iter()
            .map(|(handle, r)| match outcome.iter().find(|(id, _, _)| *id == r.message_id) {
                Some((_, false, true)) => Err(SqsError::InvalidParameterValue(format!(
                    "Value {} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
                    handle.as_str()
                ))),
                _ => Ok(()),
            })
            .collect())
    }

    /// ChangeMessageVisibility: the new timeout counts from now, for the handle's own
    /// receive, and may not reach past 12 hours after that receive.
    pub async fn change_message_visibility(
        &self,
        r: &QueueRef,
        handle: &ReceiptHandle,
        timeout: i32,
    ) -> Result<(), SqsError> {
        in_range("VisibilityTimeout", Some(timeout), 0, MAX_VISIBILITY)?;
        let q = self.hot_queue(r).await?;
        let invalid = || SqsError::receipt_handle_invalid(handle.as_str());
        let receipt = self.receipts.check(handle).filter(|rc| rc.queue_id == q.id).ok_or_else(invalid)?;
        let seq = i32::try_from(receipt.receive_seq).map_err(|_| invalid())?;
        let now = self.clock.now();
        let visible_at = now + TimeDelta::seconds(timeout.into());
        if self.store.change_visibility(q.id, receipt.message_id, seq, now, visible_at, VISIBILITY_CAP).await? {
            if timeout == 0 {
                self.wake(q.id, 1);
            }
            return Ok(());
        }
        // Refused: say why, as SQS does.
        let Some(state) = self.store.inflight_state(q.id, receipt.message_id).await? else {
            return Err(invalid());
        };
        if state.receive_count != seq {
            return Err(invalid());
        }
        if state.visible_at <= now {
            return Err(SqsError::MessageNotInflight);
        }
        let received = state.last_received_at.unwrap_or(now);
        Err(SqsError::InvalidParameterValue(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds] (received {} s ago).",
            (now - received).num_seconds()
        )))
    }

    /// DeleteMessageBatch: malformed or foreign handles fail their entry; the rest are
    /// deleted in one statement (stale handles included, as with DeleteMessage).
    pub async fn delete_message_batch(
        &self,
        r: &QueueRef,
        entries: Vec<(String, ReceiptHandle)>,
    ) -> Result<Vec<(String, Result<(), SqsError>)>, SqsError> {
        check_batch_ids(Batch::Delete, entries.iter().map(|(id, _)| id.as_str()))?;
        let q = self.hot_queue(r).await?;
        if q.fifo {
            let mut results = Vec::with_capacity(entries.len());
            let mut valid = Vec::new();
            for (id, handle) in &entries {
                match self.receipts.check(handle).filter(|rc| rc.queue_id == q.id) {
                    Some(rc) => valid.push((id.clone(), handle, rc)),
                    None => results.push((id.clone(), Err(SqsError::receipt_handle_invalid(handle.as_str())))),
                }
            }
            if !valid.is_empty() {
                let outcome = self.delete_fifo(&q, valid.iter().map(|(_, h, rc)| (*h, *rc)).collect()).await?;
                results.extend(valid.into_iter().map(|(id, _, _)| id).zip(outcome));
            }
            return Ok(results);
        }
        let mut ids = Vec::new();
        let results: Vec<_> = entries
            .into_iter()
            .map(|(id, handle)| match self.receipts.check(&handle).filter(|rc| rc.queue_id == q.id) {
                Some(rc) => {
                    ids.push(rc.message_id);
                    (id, Ok(()))
                }
                None => (id, Err(SqsError::receipt_handle_invalid(handle.as_str()))),
            })
            .collect();
        if !ids.is_empty() {
            self.group.delete(q.id, ids).await?;
        }
        Ok(results)
    }

    /// ChangeMessageVisibilityBatch: each entry as ChangeMessageVisibility would treat it;
    /// the valid ones change in one statement.
    pub async fn change_message_visibility_batch(
        &self,
        r: &QueueRef,
        entries: Vec<(String, ReceiptHandle, Option<i32>)>,
    ) -> Result<Vec<(String, Result<(), SqsError>)>, SqsError> {
        check_batch_ids(Batch::ChangeVisibility, entries.iter().map(|(id, _, _)| id.as_str()))?;
        let q = self.hot_queue(r).await?;
        let now = self.clock.now();
        let mut results: Vec<(String, Result<(), SqsError>)> = Vec::with_capacity(entries.len());
        let mut changes = Vec::new();
        let mut pending = Vec::new();
        for (id, handle, timeout) in entries {
            let checked = (|| {
                let timeout = timeout.ok_or(SqsError::missing("VisibilityTimeout"))?;
                in_range("VisibilityTimeout", Some(timeout), 0, MAX_VISIBILITY)?;
                let invalid = || SqsError::receipt_handle_invalid(handle.as_str());
                let rc = self.receipts.check(&handle).filter(|rc| rc.queue_id == q.id).ok_or_else(invalid)?;
                let seq = i32::try_from(rc.receive_seq).map_err(|_| invalid())?;
                Ok((rc.message_id, seq, now + TimeDelta::seconds(timeout.into()), timeout))
            })();
            match checked {
                Ok((msg, seq, deadline, timeout)) => {
                    changes.push((msg, seq, deadline));
                    pending.push((results.len(), msg, seq, timeout));
                    results.push((id, Ok(())));
                }
                Err(e) => results.push((id, Err(e))),
            }
        }
        if changes.is_empty() {
            return Ok(results);
        }
        let changed = self.store.change_visibilities(q.id, &changes, now, VISIBILITY_CAP).await?;
        let refused: Vec<Uuid> = pending.iter().map(|p| p.1).filter(|m| !changed.contains(m)).collect();
        let states: HashMap<Uuid, crate::store::messages::InflightRow> = if refused.is_empty() {
            HashMap::new()
        } else {
            self.store.inflight_states(q.id, &refused).await?.into_iter().collect()
        };
        let mut released = 0;
        for (index, msg, seq, timeout) in pending {
            if changed.contains(&msg) {
                released += usize::from(timeout == 0);
                continue;
            }
            let err = match states.get(&msg) {
                Some(s) if s.receive_count == seq && s.visible_at <= now => SqsError::MessageNotInflight,
                Some(s) if s.receive_count == seq => SqsError::InvalidParameterValue(format!(
                    "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]."
                )),
                _ => SqsError::receipt_handle_invalid("(batch entry)"),
            };
            results[index].1 = Err(err);
        }
        if released > 0 {
            self.wake(q.id, released);
        }
        Ok(results)
    }
}
