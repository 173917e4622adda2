//! Group commit of concurrent sends and deletes: those that arrive while earlier groups are
//! being committed wait together and are stored by one multi-row INSERT (or DELETE, or FIFO
//! insert) and one commit, so at load the database does one statement and one WAL flush for
//! many requests instead of one each.
//!
//! A send never waits for company: when fewer than `max_flushes` inserts are in flight it is
//! flushed at once (alone, at low load). Otherwise it joins the pending group, which the next
//! flush to finish takes. Each flush runs in its own task, so a request that goes away (its
//! client disconnected) cannot strand the others of its group. Every send is answered only
//! after the commit that stored it.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::SqsError;
use crate::store::fifo::{Sent, sent_for};
use crate::store::{NewMessage, PgStore, StoreError};

/// At most this many sealed bytes go into one statement (a few requests of large messages
/// each form their own group).
const MAX_GROUP_BYTES: usize = 4 << 20;
/// At most this many rows go into one statement.
const MAX_GROUP_ROWS: usize = 1000;

/// FIFO messages to store with their keyed deduplication ids, sent at `now`.
struct FifoSend {
    rows: Vec<NewMessage>,
    keys: Vec<Vec<u8>>,
    now: DateTime<Utc>,
}

/// What one request asks: messages to store, messages to delete, or FIFO messages to store.
enum Op {
    Insert(Vec<NewMessage>),
    Delete(Vec<Uuid>),
    Fifo(FifoSend),
}

/// The kinds of statement a group can be (one kind per group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Insert,
    Delete,
    Fifo,
}

struct Waiting {
    queue_id: Uuid,
    op: Op,
    /// Answered once committed: what each FIFO message became (empty for the other kinds).
    done: oneshot::Sender<Result<Vec<Sent>, SqsError>>,
}

impl Waiting {
    fn rows(&self) -> usize {
        match &self.op {
            Op::Insert(rows) => rows.len(),
            Op::Delete(ids) => ids.len(),
            Op::Fifo(f) => f.rows.len(),
        }
    }

    fn bytes(&self) -> usize {
        let sealed = |rows: &[NewMessage]| -> usize {
            rows.iter().map(|r| r.body_sealed.len() + r.attributes_sealed.as_ref().map_or(0, Vec::len)).sum()
        };
        match &self.op {
            Op::Insert(rows) => sealed(rows),
            Op::Delete(ids) => ids.len() * 32,
            Op::Fifo(f) => sealed(&f.rows),
        }
    }

    fn kind(&self) -> Kind {
        match self.op {
            Op::Insert(_) => Kind::Insert,
            Op::Delete(_) => Kind::Delete,
            Op::Fifo(_) => Kind::Fifo,
        }
    }

    fn keys(&self) -> &[Vec<u8>] {
        match &self.op {
            Op::Fifo(f) => &f.keys,
            _ => &[],
        }
    }

    #[cfg(test)]
    fn is_insert(&self) -> bool {
        self.kind() == Kind::Insert
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
    pub async fn insert(self: &Arc<Self>, queue_id: Uuid, rows: Vec<NewMessage>) -> Result<(), SqsError> {
        self.submit(queue_id, Op::Insert(rows)).await.map(drop)
    }

    /// Deletes messages `ids` of `queue_id` (those already gone are ignored); returns once
    /// committed.
    pub async fn delete(self: &Arc<Self>, queue_id: Uuid, ids: Vec<Uuid>) -> Result<(), SqsError> {
        self.submit(queue_id, Op::Delete(ids)).await.map(drop)
    }

    /// Stores FIFO messages sent at `now` (`keys[i]`, all distinct, is the keyed
    /// deduplication id of `rows[i]`) into `queue_id`; returns, once committed, what each
    /// became (stored, or the message its key already names).
    pub async fn fifo(
        self: &Arc<Self>,
        queue_id: Uuid,
        rows: Vec<NewMessage>,
        keys: Vec<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Sent>, SqsError> {
        self.submit(queue_id, Op::Fifo(FifoSend { rows, keys, now })).await
    }

    async fn submit(self: &Arc<Self>, queue_id: Uuid, op: Op) -> Result<Vec<Sent>, SqsError> {
        let (done, answer) = oneshot::channel();
        let group = {
            let mut state = self.state.lock().map_err(|_| SqsError::RequestThrottled("group commit".into()))?;
            state.pending.push(Waiting { queue_id, op, done });
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
        answer.await.map_err(|_| SqsError::RequestThrottled("The service is shutting down.".into()))?
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
        match self.run(&group).await {
            Ok(answers) => group.into_iter().zip(answers).for_each(|(w, a)| {
                let _ = w.done.send(Ok(a));
            }),
            Err(e) if group.len() == 1 => {
                if let Some(w) = group.into_iter().next() {
                    let _ = w.done.send(Err(queue_error(e)));
                }
            }
            Err(_) => {
                // One request's failure (its queue was deleted meanwhile) must not fail the
                // others: run each alone.
                for w in group {
                    let r = self.run(std::slice::from_ref(&w)).await.map_err(queue_error);
                    let _ = w.done.send(r.map(|mut a| a.pop().unwrap_or_default()));
                }
            }
        }
    }

    /// One statement for a group (all of one kind); answers each request in order.
    async fn run(&self, group: &[Waiting]) -> Result<Vec<Vec<Sent>>, StoreError> {
        match group.first().map(Waiting::kind) {
            Some(Kind::Insert) => {
                let parts: Vec<(Uuid, &[NewMessage])> = group
                    .iter()
                    .filter_map(|w| match &w.op {
                        Op::Insert(rows) => Some((w.queue_id, rows.as_slice())),
                        _ => None,
                    })
                    .collect();
                self.store.insert_grouped(&parts).await?;
            }
            Some(Kind::Delete) => {
                let parts: Vec<(Uuid, &[Uuid])> = group
                    .iter()
                    .filter_map(|w| match &w.op {
                        Op::Delete(ids) => Some((w.queue_id, ids.as_slice())),
                        _ => None,
                    })
                    .collect();
                self.store.delete_grouped(&parts).await?;
            }
            Some(Kind::Fifo) => {
                let sends: Vec<(Uuid, &FifoSend)> = group
                    .iter()
                    .filter_map(|w| match &w.op {
                        Op::Fifo(f) => Some((w.queue_id, f)),
                        _ => None,
                    })
                    .collect();
                let parts: Vec<crate::store::fifo::FifoPart<'_>> =
                    sends.iter().map(|(q, f)| (*q, f.rows.as_slice(), f.keys.as_slice())).collect();
                // The latest clock of the group decides what has expired.
                let now = sends.iter().map(|(_, f)| f.now).max().unwrap_or_default();
                let expires_at = now + chrono::TimeDelta::seconds(super::fifo::DEDUP_WINDOW_SECONDS);
                let held = self.store.insert_fifo_grouped(&parts, now, expires_at).await?;
                return sends.iter().map(|(_, f)| sent_for(&held, &f.rows, &f.keys)).collect();
            }
            None => {}
        }
        Ok(group.iter().map(|_| Vec::new()).collect())
    }
}

fn queue_error(e: StoreError) -> SqsError {
    match e {
        StoreError::Gone(_) => SqsError::QueueDoesNotExist,
        e => e.into(),
    }
}

/// Takes pending requests of the kind of the oldest (inserts, deletes or FIFO inserts), oldest
/// first, up to the group's row and byte bounds (at least one); the others stay pending, in
/// order. A FIFO send whose deduplication keys meet one already in the group waits for the
/// next group (one statement cannot record a key twice; the next sees the first's record).
fn take_group(pending: &mut Vec<Waiting>) -> Vec<Waiting> {
    let Some(kind) = pending.first().map(Waiting::kind) else { return Vec::new() };
    let (mut rows, mut bytes) = (0, 0);
    let (mut group, mut rest): (Vec<Waiting>, Vec<Waiting>) = (Vec::new(), Vec::new());
    for w in pending.drain(..) {
        let (r, b) = (w.rows(), w.bytes());
        let fits = group.is_empty() || (rows + r <= MAX_GROUP_ROWS && bytes + b <= MAX_GROUP_BYTES);
        let apart = w.keys().iter().all(|k| group.iter().all(|g| !g.keys().contains(k)));
        if w.kind() == kind && fits && apart && rest.iter().all(|x: &Waiting| x.kind() != kind) {
            rows += r;
            bytes += b;
            group.push(w);
        } else {
            rest.push(w);
        }
    }
    *pending = rest;
    group
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
            sent_at: chrono::DateTime::UNIX_EPOCH,
            visible_at: chrono::DateTime::UNIX_EPOCH,
            dek_id: None,
            group_id: None,
            dedup_id_sealed: None,
        };
        Waiting { queue_id: Uuid::nil(), op: Op::Insert((0..rows).map(row).collect()), done: oneshot::channel().0 }
    }

    #[test]
    fn a_group_takes_pending_sends_in_order_up_to_its_bounds() {
        let mut pending: Vec<Waiting> = (0..150).map(|_| waiting(10, 100)).collect();
        let first_id = |w: &Waiting| match &w.op {
            Op::Insert(rows) => rows[0].id,
            Op::Delete(ids) => ids[0],
            Op::Fifo(f) => f.rows[0].id,
        };
        let first = first_id(&pending[0]);
        let group = take_group(&mut pending);
        assert_eq!(group.len(), MAX_GROUP_ROWS / 10);
        assert_eq!(first_id(&group[0]), first);
        assert_eq!(pending.len(), 50);
        // Large messages: bounded by bytes, but a group always takes at least one send.
        let mut big: Vec<Waiting> = (0..3).map(|_| waiting(10, MAX_GROUP_BYTES / 4)).collect();
        assert_eq!(take_group(&mut big).len(), 1);
        assert_eq!(big.len(), 2);
        assert!(take_group(&mut Vec::new()).is_empty());
    }

    #[test]
    fn fifo_sends_with_a_key_in_common_go_in_different_groups() {
        let fifo = |keys: &[u8]| Waiting {
            queue_id: Uuid::nil(),
            op: Op::Fifo(FifoSend {
                rows: keys
                    .iter()
                    .map(|_| waiting(1, 10))
                    .flat_map(|w| match w.op {
                        Op::Insert(rows) => rows,
                        _ => Vec::new(),
                    })
                    .collect(),
                keys: keys.iter().map(|k| vec![*k]).collect(),
                now: chrono::DateTime::UNIX_EPOCH,
            }),
            done: oneshot::channel().0,
        };
        let mut pending = vec![fifo(&[1, 2]), fifo(&[3]), fifo(&[2, 4]), fifo(&[5]), waiting(1, 10)];
        let group = take_group(&mut pending);
        assert_eq!(
            group.iter().map(|w| w.keys().to_vec()).collect::<Vec<_>>(),
            vec![vec![vec![1], vec![2]], vec![vec![3]]]
        );
        // The one that met key 2 waits, and the FIFO send after it keeps its place behind it.
        assert_eq!(pending.len(), 3);
        let group = take_group(&mut pending);
        assert_eq!(group.iter().map(Waiting::rows).collect::<Vec<_>>(), vec![2, 1]);
        assert!(group.iter().all(|w| w.kind() == Kind::Fifo));
        assert!(take_group(&mut pending).iter().all(Waiting::is_insert));
    }

    #[test]
    fn a_group_is_all_inserts_or_all_deletes_and_the_rest_keeps_its_order() {
        let delete = |n: usize| Waiting {
            queue_id: Uuid::nil(),
            op: Op::Delete((0..n).map(|_| Uuid::new_v4()).collect()),
            done: oneshot::channel().0,
        };
        let mut pending = vec![delete(1), waiting(1, 10), delete(2), waiting(2, 10), delete(3)];
        let group = take_group(&mut pending);
        assert_eq!(group.iter().map(Waiting::rows).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(group.iter().all(|w| !w.is_insert()));
        assert_eq!(pending.iter().map(Waiting::rows).collect::<Vec<_>>(), vec![1, 2]);
        let group = take_group(&mut pending);
        assert!(group.iter().all(Waiting::is_insert) && group.len() == 2 && pending.is_empty());
    }
}
