//! Group commit of concurrent sends: sends that arrive while earlier inserts are being
//! committed wait together and are stored by one multi-row INSERT and one commit, so at load
//! the database does one statement and one WAL flush for many sends instead of one each.
//!
//! A send never waits for company: when fewer than `max_flushes` inserts are in flight it is
//! flushed at once (alone, at low load). Otherwise it joins the pending group, which the next
//! flush to finish takes. Each flush runs in its own task, so a request that goes away (its
//! client disconnected) cannot strand the others of its group. Every send is answered only
//! after the commit that stored it.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

use super::QueueError;
use crate::store::{NewMessage, PgStore, StoreError};

/// At most this many sealed bytes go into one statement (a few requests of large messages
/// each form their own group).
const MAX_GROUP_BYTES: usize = 4 << 20;
/// At most this many rows go into one statement.
const MAX_GROUP_ROWS: usize = 1000;

struct Waiting {
    queue_id: Uuid,
    rows: Vec<NewMessage>,
    done: oneshot::Sender<Result<(), QueueError>>,
}

impl Waiting {
    fn bytes(&self) -> usize {
        self.rows.iter().map(|r| r.body_sealed.len() + r.attributes_sealed.as_ref().map_or(0, Vec::len)).sum()
    }
}

#[derive(Default)]
struct State {
    pending: Vec<Waiting>,
    flushing: usize,
}

/// The group committer of one process.
pub struct GroupCommit {
    store: PgStore,
    max_flushes: usize,
    state: Mutex<State>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("max_flushes", &self.max_flushes).finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// `max_flushes`: how many group inserts may be in flight at once (each holds one
    /// database connection).
    pub fn new(store: PgStore, max_flushes: usize) -> Arc<Self> {
        Arc::new(Self { store, max_flushes: max_flushes.max(1), state: Mutex::new(State::default()) })
    }

    /// Stores `rows` into `queue_id`; returns once they are committed.
    pub async fn insert(self: &Arc<Self>, queue_id: Uuid, rows: Vec<NewMessage>) -> Result<(), QueueError> {
        let (done, answer) = oneshot::channel();
        let group = {
            let mut state = self.state.lock().map_err(|_| QueueError::Throttled("group commit".into()))?;
            state.pending.push(Waiting { queue_id, rows, done });
            if state.flushing < self.max_flushes {
                state.flushing += 1;
                Some(take_group(&mut state.pending))
            } else {
                None
            }
        };
        if let Some(group) = group {
            tokio::spawn(self.clone().flush(group));
        }
        // The flush always answers (its task owns the sender); a dropped sender means the
        // runtime is shutting down.
        answer.await.map_err(|_| QueueError::Throttled("The service is shutting down.".into()))?
    }

    /// Inserts `group`, answers its senders, then takes the next pending group, if any.
    async fn flush(self: Arc<Self>, mut group: Vec<Waiting>) {
        loop {
            self.store_group(group).await;
            let Ok(mut state) = self.state.lock() else { return };
            if state.pending.is_empty() {
                state.flushing -= 1;
                return;
            }
            group = take_group(&mut state.pending);
        }
    }

    async fn store_group(&self, group: Vec<Waiting>) {
        let parts: Vec<(Uuid, &[NewMessage])> = group.iter().map(|w| (w.queue_id, w.rows.as_slice())).collect();
        match self.store.insert_grouped(&parts).await {
            Ok(()) => group.into_iter().for_each(|w| {
                let _ = w.done.send(Ok(()));
            }),
            Err(e) if group.len() == 1 => {
                if let Some(w) = group.into_iter().next() {
                    let _ = w.done.send(Err(queue_error(e)));
                }
            }
            Err(_) => {
                // One send's failure (its queue was deleted meanwhile) must not fail the
                // others: store each alone.
                for w in group {
                    let r = self.store.insert_grouped(&[(w.queue_id, &w.rows)]).await.map_err(queue_error);
                    let _ = w.done.send(r);
                }
            }
        }
    }
}

fn queue_error(e: StoreError) -> QueueError {
    match e {
        StoreError::Gone(_) => QueueError::QueueDoesNotExist,
        e => QueueError::Store(e),
    }
}

/// Takes pending sends, oldest first, up to the group's row and byte bounds (at least one).
fn take_group(pending: &mut Vec<Waiting>) -> Vec<Waiting> {
    let (mut rows, mut bytes, mut n) = (0, 0, 0);
    for w in pending.iter() {
        let (r, b) = (w.rows.len(), w.bytes());
        if n > 0 && (rows + r > MAX_GROUP_ROWS || bytes + b > MAX_GROUP_BYTES) {
            break;
        }
        rows += r;
        bytes += b;
        n += 1;
    }
    let rest = pending.split_off(n);
    std::mem::replace(pending, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(rows: usize, bytes_each: usize) -> Waiting {
        let row = |_| NewMessage {
            id: Uuid::new_v4(),
            body_sealed: vec![0; bytes_each],
            attributes_sealed: None,
            trace_header: None,
            sender_id: "s".into(),
            sent_at: chrono::Utc::now(),
            visible_at: chrono::Utc::now(),
            dek_id: None,
        };
        Waiting { queue_id: Uuid::nil(), rows: (0..rows).map(row).collect(), done: oneshot::channel().0 }
    }

    #[test]
    fn a_group_takes_pending_sends_in_order_up_to_its_bounds() {
        let mut pending: Vec<Waiting> = (0..150).map(|_| waiting(10, 100)).collect();
        let first = pending[0].rows[0].id;
        let group = take_group(&mut pending);
        assert_eq!(group.len(), MAX_GROUP_ROWS / 10);
        assert_eq!(group[0].rows[0].id, first);
        assert_eq!(pending.len(), 50);
        // Large messages: bounded by bytes, but a group always takes at least one send.
        let mut big: Vec<Waiting> = (0..3).map(|_| waiting(10, MAX_GROUP_BYTES / 4)).collect();
        assert_eq!(take_group(&mut big).len(), 1);
        assert_eq!(big.len(), 2);
        assert!(take_group(&mut Vec::new()).is_empty());
    }
}
