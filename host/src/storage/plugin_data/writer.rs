//! Write-behind archive appends: `archive.append` returns its id at once, and one writer task
//! per [`Storage`](crate::storage::Storage) commits what is queued in batches, off the routing path
//! (issue 4: archiving at 10 000 messages/s must not slow routing).
//!
//! ## Ids
//! Ids keep the scheme of the module above (`max(now_ms * 1000, last + 1)` per stream), but the
//! last id is kept here, in memory: the first append to a stream reads `last_id` from
//! `plugin_archive_streams` once, later ones never touch the database. Each batch upserts the
//! streams' `last_id`, so a restart (or an evicted stream) resumes above every id handed out and
//! committed. **This assumes one Tessera process per database**: two nodes sharing a PostgreSQL
//! would hand out the same ids. Clustering will need a per-node component in the id (see
//! docs/operators.md). A retried batch that finds its ids already stored had its commit land
//! unseen (the connection dropped during `COMMIT`), and counts as written.
//!
//! ## The writer
//! One task drains the queue: up to [`BATCH`] entries in one transaction (multi-row inserts, one
//! multi-row upsert of the streams' `last_id` and entry count, then each touched stream's
//! `max_items`, oldest dropped, which the count makes a short key-range delete), then commits.
//! While one batch commits the next accumulates: group commit with no artificial delay.
//! A failed batch is retried with backoff and logged (metadata only); nothing is dropped silently.
//! More than [`MAX_PENDING`] entries queued makes `append` wait (backpressure, not loss).
//!
//! ## Ordering with reads and deletes
//! A query or removal waits until every append to its stream enqueued before it is committed
//! ([`Writer::flushed_stream`]); retention waits for all ([`Writer::flushed`]).
//! Deletes (`remove`, retention, owner and account deletion) take the commit lock, which the
//! writer holds from draining a batch to committing it, so they never interleave with a batch:
//! an owner's deletion drops its queued entries under that lock, leaving nothing behind. (On
//! PostgreSQL a remove racing a batch's trim could otherwise deadlock on the stream's row.)

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};

use super::{MAX_ARCHIVE_MS, Millis, NewEntry, archive_id, check_scope, check_text, checked_id};
use crate::storage::{Backend, StorageError};

/// Most entries one batch (one transaction) writes. Batches are only this big when the writer
/// is behind; a bigger one shares more index pages between entries (each owner's entries sit
/// together in the archive indexes) but holds SQLite's write lock longer.
pub(in crate::storage) const BATCH: usize = 4096;

/// Most entries queued or in flight before `append` waits.
pub(in crate::storage) const MAX_PENDING: usize = 50_000;

/// Most streams whose last id is kept in memory; beyond it, the least recently used streams with
/// nothing pending are forgotten (and read again from the database on their next append).
const MAX_STREAMS: usize = 10_000;

/// Retry delays of a failed batch: doubling from the first, capped at the second.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));

/// Attempts at a batch once the storage is closing: after these, the batch is given up (and
/// logged at `error` with its size), so a dead database cannot hold shutdown forever.
const ATTEMPTS_WHEN_CLOSING: u32 = 5;

/// One archive stream: the key of `plugin_archive_streams`, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(in crate::storage) struct StreamKey {
    /// The [`Owner`](super::Owner) text.
    pub(in crate::storage) owner: String,
    pub(in crate::storage) plugin: String,
    pub(in crate::storage) category: String,
    pub(in crate::storage) stream: String,
}

/// One entry to insert.
#[derive(Debug)]
pub(in crate::storage) struct Row {
    pub(in crate::storage) id: u64,
    pub(in crate::storage) with_bare: String,
    pub(in crate::storage) with_jid: String,
    pub(in crate::storage) data: String,
}

/// One stream's part of a batch, as the backend writes it.
#[derive(Debug)]
pub(in crate::storage) struct StreamBatch {
    pub(in crate::storage) key: Arc<StreamKey>,
    /// In id order.
    pub(in crate::storage) rows: Vec<Row>,
    /// The category's `max_items`, as of the latest append.
    pub(in crate::storage) max_items: Option<u64>,
}

#[derive(Debug)]
struct StreamState {
    /// The last id handed out.
    last: u64,
    /// Entries queued or in flight.
    pending: usize,
    max_items: Option<u64>,
    /// The sequence number of its latest append, for eviction.
    used: u64,
}

#[derive(Debug)]
struct Queued {
    seq: u64,
    key: Arc<StreamKey>,
    row: Row,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Queued>,
    /// The sequence number of the latest enqueued entry (the first is 1).
    seq: u64,
    streams: HashMap<Arc<StreamKey>, StreamState>,
    /// Bumped whenever a stream is forgotten, so a concurrent first load can tell its read may
    /// be stale.
    forgotten: u64,
    closed: bool,
}

/// The writer's shared state; the task and every `Storage` clone hold it.
pub(in crate::storage) struct Writer {
    backend: Backend,
    state: Mutex<State>,
    /// The task's wake-up: something was queued, or the storage is closing.
    wake: Notify,
    /// Free queue slots.
    space: Semaphore,
    /// Every entry with a sequence number up to this is committed (or was dropped with its
    /// owner).
    committed: watch::Sender<u64>,
    /// Held by the writer from draining a batch to its commit, and by every delete.
    commit: tokio::sync::Mutex<()>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer task on the current runtime.
    pub(in crate::storage) fn start(backend: Backend) -> Handle {
        let writer = Arc::new(Self {
            backend,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            space: Semaphore::new(MAX_PENDING),
            committed: watch::Sender::new(0),
            commit: tokio::sync::Mutex::new(()),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(writer.clone().run());
        *lock(&writer.task) = Some(task);
        Handle(writer)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues entries for one stream and returns their ids, consecutive in the stream, once
    /// queued; and the sequence number to wait for to see them committed. At most [`BATCH`]
    /// entries (the caller splits). Waits while [`MAX_PENDING`] entries are queued.
    ///
    /// # Cancel safety
    /// Cancel-safe: nothing is queued until the last step, which does not wait.
    pub(in crate::storage) async fn append(
        &self,
        key: StreamKey,
        max_items: Option<u64>,
        entries: &[NewEntry<'_>],
        now_ms: Millis,
    ) -> Result<(Vec<String>, u64), StorageError> {
        check_scope(&key.plugin, &key.category, ("stream", &key.stream))?;
        for entry in entries {
            check_text("archive data", entry.data)?;
        }
        if now_ms > MAX_ARCHIVE_MS {
            return Err(StorageError::Invalid(format!(
                "time {now_ms} ms is beyond what archive ids encode"
            )));
        }
        debug_assert!(entries.len() <= BATCH, "the caller splits at BATCH");
        let n = u32::try_from(entries.len().min(BATCH)).expect("invariant: BATCH fits u32");
        let permit = self
            .space
            .acquire_many(n)
            .await
            .map_err(|_| StorageError::Closed)?;
        let key = Arc::new(key);
        loop {
            let forgotten = {
                let mut state = self.state();
                if state.closed {
                    return Err(StorageError::Closed);
                }
                if state.streams.contains_key(&key) {
                    let done = state.enqueue(&key, max_items, entries, now_ms)?;
                    permit.forget();
                    drop(state);
                    self.wake.notify_one();
                    return Ok(done);
                }
                state.forgotten
            };
            // First append to this stream since start (or since it was forgotten).
            let last = self.last_id(&key).await?;
            let mut state = self.state();
            if !state.streams.contains_key(&key) && state.forgotten == forgotten {
                state.streams.insert(
                    key.clone(),
                    StreamState {
                        last,
                        pending: 0,
                        max_items,
                        used: 0,
                    },
                );
            }
            // Otherwise another append loaded it meanwhile, or a stream was forgotten while we
            // read (our value may be stale): go round again.
        }
    }

    async fn last_id(&self, key: &StreamKey) -> Result<u64, StorageError> {
        match &self.backend {
            Backend::Sqlite(db) => db.archive_last_id(key).await,
            Backend::Postgres(db) => db.archive_last_id(key).await,
        }
    }

    /// Waits until every entry queued before the call is committed (read-your-writes).
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits.
    pub(in crate::storage) async fn flushed(&self) {
        let upto = self.state().seq;
        self.committed_upto(upto).await;
    }

    /// Waits until every entry queued for stream `key` before the call is committed (the
    /// queue is committed in order, so entries queued before those are too, later ones not).
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits.
    pub(in crate::storage) async fn flushed_stream(&self, key: &StreamKey) {
        let upto = match self.state().streams.get(key) {
            Some(stream) if stream.pending > 0 => stream.used,
            _ => return,
        };
        self.committed_upto(upto).await;
    }

    /// Waits until the entries up to sequence number `seq` are committed.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits.
    pub(in crate::storage) async fn committed_upto(&self, seq: u64) {
        let mut rx = self.committed.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail.
        let _ = rx.wait_for(|&done| done >= seq).await;
    }

    /// The sequence number of the latest entry queued: [`committed_upto`](Self::committed_upto)
    /// with it waits for everything appended so far.
    pub(in crate::storage) fn queued_upto(&self) -> u64 {
        self.state().seq
    }

    /// Entries queued or in flight.
    pub(in crate::storage) fn pending(&self) -> usize {
        MAX_PENDING.saturating_sub(self.space.available_permits())
    }

    /// The commit lock, for a delete that must not interleave with a batch (see the module docs).
    ///
    /// # Cancel safety
    /// Cancel-safe (`tokio::sync::Mutex::lock`).
    pub(in crate::storage) async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.commit.lock().await
    }

    /// Drops the queued entries and the streams of every owner `which` selects (the owner was
    /// deleted); how many entries. Call with the commit lock held, after deleting the stored
    /// records, so nothing of the owner's is committed afterwards.
    pub(in crate::storage) fn drop_owners(&self, which: impl Fn(&str) -> bool) -> u64 {
        let mut state = self.state();
        let before = state.queue.len();
        state.queue.retain(|q| !which(&q.key.owner));
        let dropped = before - state.queue.len();
        let streams = state.streams.len();
        state.streams.retain(|key, _| !which(&key.owner));
        if state.streams.len() != streams {
            state.forgotten += 1;
        }
        if state.queue.is_empty() {
            // No batch is in flight (we hold the commit lock): everything queued is settled.
            let seq = state.seq;
            self.committed.send_if_modified(|done| {
                let moved = *done < seq;
                *done = seq.max(*done);
                moved
            });
        }
        drop(state);
        self.space.add_permits(dropped);
        dropped as u64
    }

    /// Stops taking appends; the task writes everything queued, then ends.
    fn shut(&self) {
        self.state().closed = true;
        self.space.close();
        self.wake.notify_one();
    }

    /// Stops taking appends, writes everything queued, and waits for the task to end.
    ///
    /// # Cancel safety
    /// Cancel-safe: closing happens at the first poll; the writer finishes on its own.
    pub(in crate::storage) async fn close(&self) {
        self.shut();
        let task = lock(&self.task).take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "archive writer task failed");
        }
    }

    async fn run(self: Arc<Self>) {
        loop {
            let guard = self.commit.lock().await;
            let next = {
                let mut state = self.state();
                if !state.queue.is_empty() {
                    let (batch, upto) = state.drain();
                    Some((batch, upto, state.closed))
                } else if state.closed {
                    return;
                } else {
                    None
                }
            };
            let Some((batch, upto, closing)) = next else {
                drop(guard);
                // `notify_one` keeps a permit if we are not waiting yet: no lost wake-up.
                self.wake.notified().await;
                continue;
            };
            let entries: usize = batch.iter().map(|s| s.rows.len()).sum();
            self.write(&batch, entries, closing).await;
            self.settle(&batch, upto);
            drop(guard);
            self.space.add_permits(entries);
        }
    }

    /// Writes one batch, retrying with backoff (giving up only when closing, see
    /// [`ATTEMPTS_WHEN_CLOSING`]).
    async fn write(&self, batch: &[StreamBatch], entries: usize, closing: bool) {
        let mut delay = BACKOFF.0;
        let mut attempt = 1;
        loop {
            let result = match &self.backend {
                Backend::Sqlite(db) => db.archive_write_batch(batch).await,
                Backend::Postgres(db) => db.archive_write_batch(batch).await,
            };
            let Err(e) = result else { return };
            if is_unique_violation(&e) {
                if attempt > 1 {
                    // A batch is one transaction: an id already there on a retry means the
                    // failed attempt's commit landed after all (the connection dropped during
                    // `COMMIT`).
                    return;
                }
                // On the first attempt it means another process hands out ids in this database,
                // which the single-process design rules out (see the module docs): retrying
                // cannot help.
                tracing::error!(entries, error = %e,
                    "archive batch collides with stored ids (another server on this database?); \
                     batch lost");
                return;
            }
            let closing = closing || self.state().closed;
            if closing && attempt >= ATTEMPTS_WHEN_CLOSING {
                tracing::error!(entries, attempt, error = %e, "archive batch given up at shutdown");
                return;
            }
            tracing::error!(entries, streams = batch.len(), attempt, error = %e,
                "archive batch failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(BACKOFF.1);
            attempt += 1;
        }
    }

    /// After a batch: the streams' pending entries, eviction, and the committed mark.
    fn settle(&self, batch: &[StreamBatch], upto: u64) {
        let mut state = self.state();
        for part in batch {
            if let Some(stream) = state.streams.get_mut(&part.key) {
                stream.pending = stream.pending.saturating_sub(part.rows.len());
            }
        }
        state.evict();
        drop(state);
        self.committed.send_replace(upto);
    }
}

/// Whether a batch failed on a duplicate primary key.
fn is_unique_violation(e: &StorageError) -> bool {
    matches!(e, StorageError::Database(sqlx::Error::Database(db))
        if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// What a [`Storage`](crate::storage::Storage) (and its clones) hold: dropping the last one
/// closes the writer, which then writes what is queued and ends, so no task outlives its storage.
#[derive(Debug)]
pub(in crate::storage) struct Handle(pub(in crate::storage) Arc<Writer>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.shut();
    }
}

impl std::ops::Deref for Handle {
    type Target = Writer;

    fn deref(&self) -> &Writer {
        &self.0
    }
}

impl State {
    /// Allocates ids for `entries` in the (loaded) stream `key` and queues them.
    fn enqueue(
        &mut self,
        key: &Arc<StreamKey>,
        max_items: Option<u64>,
        entries: &[NewEntry<'_>],
        now_ms: Millis,
    ) -> Result<(Vec<String>, u64), StorageError> {
        let seq = self.seq;
        let stream = self
            .streams
            .get_mut(key)
            .expect("invariant: the caller checked the stream is loaded");
        let mut last = stream.last;
        let mut rows = Vec::with_capacity(entries.len());
        for entry in entries {
            // `now_ms <= MAX_ARCHIVE_MS` was checked: no overflow.
            last = (now_ms * 1000).max(last + 1);
            checked_id(last)?;
            let (with_bare, with_jid) = match entry.with {
                Some(with) => (with.to_bare().to_string(), with.to_string()),
                None => (String::new(), String::new()),
            };
            rows.push(Row {
                id: last,
                with_bare,
                with_jid,
                data: entry.data.to_owned(),
            });
        }
        stream.last = last;
        stream.pending += rows.len();
        stream.max_items = max_items;
        stream.used = seq + rows.len() as u64;
        let ids: Vec<String> = rows.iter().map(|r| archive_id(r.id)).collect();
        for (n, row) in rows.into_iter().enumerate() {
            self.queue.push_back(Queued {
                seq: seq + 1 + n as u64,
                key: key.clone(),
                row,
            });
        }
        self.seq = seq + entries.len() as u64;
        Ok((ids, self.seq))
    }

    /// Takes up to [`BATCH`] entries, grouped by stream in id order, and the sequence number the
    /// batch settles: everything queued so far if it empties the queue (entries dropped with
    /// their owner included), else its last entry's.
    fn drain(&mut self) -> (Vec<StreamBatch>, u64) {
        let take = self.queue.len().min(BATCH);
        let mut batch: Vec<StreamBatch> = Vec::new();
        let mut index: HashMap<Arc<StreamKey>, usize> = HashMap::new();
        let mut last_seq = 0;
        for queued in self.queue.drain(..take) {
            last_seq = queued.seq;
            let at = *index.entry(queued.key.clone()).or_insert_with(|| {
                let stream = self.streams.get(&queued.key);
                batch.push(StreamBatch {
                    key: queued.key.clone(),
                    rows: Vec::new(),
                    max_items: stream.and_then(|s| s.max_items),
                });
                batch.len() - 1
            });
            batch[at].rows.push(queued.row);
        }
        let upto = if self.queue.is_empty() {
            self.seq
        } else {
            last_seq
        };
        (batch, upto)
    }

    /// Past [`MAX_STREAMS`], forgets the least recently used half of the idle streams.
    fn evict(&mut self) {
        if self.streams.len() <= MAX_STREAMS {
            return;
        }
        let mut idle: Vec<(u64, Arc<StreamKey>)> = self
            .streams
            .iter()
            .filter(|(_, s)| s.pending == 0)
            .map(|(k, s)| (s.used, k.clone()))
            .collect();
        idle.sort_unstable_by_key(|(used, _)| *used);
        let excess = self.streams.len() - MAX_STREAMS / 2;
        for (_, key) in idle.into_iter().take(excess) {
            self.streams.remove(&key);
        }
        self.forgotten += 1;
    }
}

/// Locks a std mutex; a panic while it was held cannot leave these maps inconsistent in a way
/// worse than losing the writer, so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
