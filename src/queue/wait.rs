//! Long-poll wake-ups, within one instance and across instances.
//!
//! In one process a long poll sleeps on its queue's `Notify`. Across processes sharing a
//! database, an instance with long polls on a queue registers in `queue_waiters`; after a
//! send commits, a background notifier sends `pg_notify` for that queue, coalesced over a few
//! milliseconds, outside the send's transaction (so notifications never serialize commits),
//! and only for queues another instance is waiting on. Every instance listens and wakes its
//! local waiters. A lost notification costs latency, not correctness: waiters also wake on
//! their deadline and on the next visibility time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::Clock;
use crate::store::{PgStore, StoreError};

/// How long sends are gathered before one notification statement goes out.
const COALESCE: Duration = Duration::from_millis(5);
/// Registrations older than this are from instances that are gone.
const STALE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

#[derive(Debug)]
struct Local {
    notify: Arc<Notify>,
    waiters: usize,
}

/// The wake-up hub of one instance.
#[derive(Debug)]
pub struct Wakeups {
    instance: Uuid,
    store: PgStore,
    clock: Arc<dyn Clock>,
    local: Mutex<HashMap<Uuid, Local>>,
    pending: Mutex<HashSet<Uuid>>,
    kick: Notify,
}

/// A registered long poll; dropping it deregisters locally.
#[derive(Debug)]
pub struct WaitGuard {
    hub: Arc<Wakeups>,
    queue_id: Uuid,
    pub notify: Arc<Notify>,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if let Ok(mut local) = self.hub.local.lock()
            && let Some(l) = local.get_mut(&self.queue_id)
        {
            l.waiters = l.waiters.saturating_sub(1);
        }
    }
}

impl Wakeups {
    pub fn new(store: PgStore, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            instance: Uuid::new_v4(),
            store,
            clock,
            local: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashSet::new()),
            kick: Notify::new(),
        })
    }

    /// Registers a long poll on `queue_id` (and, for the first one here, tells other
    /// instances that this one waits on the queue).
    pub async fn wait(self: &Arc<Self>, queue_id: Uuid) -> Result<WaitGuard, StoreError> {
        let (notify, first) = {
            let mut local = self.local.lock().map_err(|_| StoreError::Conflict("wake-up registry"))?;
            let l = local.entry(queue_id).or_insert_with(|| Local { notify: Arc::new(Notify::new()), waiters: 0 });
            l.waiters += 1;
            (l.notify.clone(), l.waiters == 1)
        };
        let guard = WaitGuard { hub: self.clone(), queue_id, notify };
        if first {
            self.store.register_waiter(queue_id, self.instance, self.clock.now()).await?;
        }
        Ok(guard)
    }

    /// Wakes this instance's long polls on a queue.
    pub fn wake_local(&self, queue_id: Uuid) {
        if let Ok(local) = self.local.lock()
            && let Some(l) = local.get(&queue_id)
        {
            l.notify.notify_waiters();
        }
    }

    /// Wakes one of this instance's long polls on a queue (or, when none is waiting right
    /// now, the next one to wait).
    pub fn wake_one_local(&self, queue_id: Uuid) {
        self.wake_some_local(queue_id, 1);
    }

    /// Wakes up to `n` of this instance's long polls on a queue, one per message: waking them
    /// all for one message only makes the others look and find nothing.
    fn wake_some_local(&self, queue_id: Uuid, n: usize) {
        if let Ok(local) = self.local.lock()
            && let Some(l) = local.get(&queue_id)
        {
            for _ in 0..n.min(l.waiters.max(1)) {
                l.notify.notify_one();
            }
        }
    }

    /// `n` messages became visible on `queue_id`: wake as many local polls now, and other
    /// instances' polls soon.
    pub fn sent(&self, queue_id: Uuid, n: usize) {
        self.wake_some_local(queue_id, n);
        if let Ok(mut p) = self.pending.lock() {
            p.insert(queue_id);
        }
        self.kick.notify_one();
    }

    /// Forgets a deleted queue.
    pub fn forget(&self, queue_id: Uuid) {
        if let Ok(mut local) = self.local.lock()
            && local.get(&queue_id).is_some_and(|l| l.waiters == 0)
        {
            local.remove(&queue_id);
        }
    }

    /// Refreshes this instance's registrations (dropping queues nobody here waits on any
    /// more) and removes those of instances that are gone. Run periodically.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let active: Vec<Uuid> = match self.local.lock() {
            Ok(mut local) => {
                local.retain(|_, l| l.waiters > 0 || Arc::strong_count(&l.notify) > 1);
                local.iter().filter(|(_, l)| l.waiters > 0).map(|(id, _)| *id).collect()
            }
            Err(_) => Vec::new(),
        };
        let now = self.clock.now();
        self.store.refresh_waiters(self.instance, &active, now, now - STALE).await
    }

    /// Sends coalesced notifications for queues that got messages (runs forever).
    pub async fn run_notifier(self: Arc<Self>) {
        loop {
            self.kick.notified().await;
            tokio::time::sleep(COALESCE).await;
            let queues: Vec<Uuid> = match self.pending.lock() {
                Ok(mut p) => p.drain().collect(),
                Err(_) => continue,
            };
            if queues.is_empty() {
                continue;
            }
            if let Err(e) = self.store.notify_waiters(&queues, self.instance).await {
                tracing::warn!(error = %e, "could not notify other instances");
            }
        }
    }

    /// Listens for other instances' notifications and wakes local polls (runs forever).
    pub async fn run_listener(self: Arc<Self>) {
        loop {
            let mut listener = match self.store.listen().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for wake-ups; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if let Ok(id) = Uuid::parse_str(n.payload()) {
                            self.wake_local(id);
                        }
                    }
                    Ok(None) => {
                        // Reconnected: notifications may have been lost; let every poll look.
                        self.wake_all_local();
                    }
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "wake-up listener failed; reconnecting");
                        self.wake_all_local();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    }

    fn wake_all_local(&self) {
        if let Ok(local) = self.local.lock() {
            for l in local.values() {
                l.notify.notify_waiters();
            }
        }
    }
}
