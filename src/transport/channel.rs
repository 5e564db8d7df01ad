//! The bounded hand-over between a stream's reader task and its consumer.
//!
//! The task pushes decoded items; the consumer takes *everything* ready in
//! one lock and serves it from a local buffer, so the per-item cost on the
//! Python thread is a `VecDeque::pop_front`. Wake-ups are paid only when the
//! consumer actually waits: a condition variable for sync iteration, a
//! callback (the event-loop bridge) for async iteration.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::prefetch::Prefetch;

/// Wakes an async consumer; called on a tokio thread, so it must not need
/// the GIL.
pub trait AsyncWake: Send + Sync {
    /// `hint`: the lines the consumer will touch first (see `prefetch.rs`).
    fn wake(&self, hint: Prefetch);
}

struct State<T> {
    items: VecDeque<T>,
    /// The producer finished: no more items will come.
    closed: bool,
    /// The consumer went away: the producer should stop.
    cancelled: bool,
    sync_waiting: bool,
    /// The async consumer's waker, kept across waits (see `take_or_register`).
    async_waker: Option<Arc<dyn AsyncWake>>,
    /// The async consumer waits: call `async_waker` when items arrive.
    async_waiting: bool,
}

pub struct Channel<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    space: Notify,
    capacity: usize,
    /// What of an item the consumer reads first, for the async wake-up's hint.
    hint: fn(&T) -> Prefetch,
}

pub enum Wait {
    /// Items were moved into the consumer's buffer.
    Ready,
    /// The producer finished and everything was taken.
    Closed,
    /// Nothing yet (timeout elapsed or an async waker was registered).
    Empty,
}

impl<T> Channel<T> {
    pub fn new(capacity: usize) -> Arc<Self> {
        Self::with_hint(capacity, |_| Prefetch::NONE)
    }

    /// A channel whose async wake-ups carry `hint(first queued item)`.
    pub fn with_hint(capacity: usize, hint: fn(&T) -> Prefetch) -> Arc<Self> {
        Arc::new(Channel {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                cancelled: false,
                sync_waiting: false,
                async_waker: None,
                async_waiting: false,
            }),
            ready: Condvar::new(),
            space: Notify::new(),
            capacity: capacity.max(1),
            hint,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- producer side (tokio task) ----

    /// Pushes one item, waiting while the channel is full. Returns false
    /// when the consumer is gone (the caller should stop reading).
    ///
    /// The consumer is not woken per item: call [`Channel::flush`] after the
    /// items of one socket read, so a waiting consumer wakes once per batch.
    pub async fn push(&self, item: T) -> bool {
        let mut item = Some(item);
        loop {
            let notified = self.space.notified();
            {
                let mut st = self.lock();
                if st.cancelled {
                    return false;
                }
                if st.items.len() < self.capacity {
                    st.items.push_back(item.take().expect("pushed once"));
                    return true;
                }
                // Full: the consumer must hear about what is queued before we wait.
                self.wake(st);
            }
            notified.await;
        }
    }

    /// Pushes a batch (one socket read's items), draining `items` (its capacity stays
    /// for the next batch), and wakes a waiting consumer once. Waits while the channel
    /// holds `capacity` items or more; then the whole batch goes in, even past
    /// `capacity`. Returns false when the consumer is gone.
    ///
    /// A stream's ready items are then bounded by twice `capacity` and three reads'
    /// items (the consumer's buffer, taken whole from the channel, and the channel
    /// each hold less than `capacity` and one read's; the producer holds one more
    /// read's), where it was twice `capacity` and one read's (a read is at most 256 KiB
    /// of body, decoded: `transport/decoding.rs`, `transport/stream.rs`).
    ///
    /// Filling up to `capacity` and waiting with the rest made every read of more
    /// than `capacity` items wait for a wake-up from the consumer's thread, and tokio
    /// gives a task woken from outside its workers to whichever worker it unparks: one
    /// stream read back to back moved between the two workers on most reads, its state
    /// and its memory following it (docs/performance.md).
    pub async fn push_many(&self, items: &mut Vec<T>) -> bool {
        loop {
            let notified = self.space.notified();
            {
                let mut st = self.lock();
                if st.cancelled {
                    items.clear();
                    return false;
                }
                if items.is_empty() {
                    return true;
                }
                if st.items.len() < self.capacity {
                    st.items.extend(items.drain(..));
                    self.wake(st);
                    return true;
                }
                // Full: the consumer must hear about what is queued before we wait.
                self.wake(st);
            }
            notified.await;
        }
    }

    /// Wakes a waiting consumer if items are queued.
    pub fn flush(&self) {
        let st = self.lock();
        if !st.items.is_empty() {
            self.wake(st);
        }
    }

    /// Pushes without waiting for space (final messages: errors, the end).
    pub fn push_now(&self, item: T) {
        let mut st = self.lock();
        st.items.push_back(item);
        self.wake(st);
    }

    /// No more items will come.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        self.wake(st);
    }

    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// Resolves when the consumer cancels (lets the task stop mid-wait).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.space.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    fn wake(&self, mut st: MutexGuard<'_, State<T>>) {
        let sync = std::mem::take(&mut st.sync_waiting);
        let waker = if std::mem::take(&mut st.async_waiting) {
            st.async_waker.clone()
        } else {
            None
        };
        // The consumer's first touches: this channel's lock, the queue slot of the
        // first item, and what of the item it reads.
        let hint = match (&waker, st.items.front()) {
            (Some(_), Some(first)) => (self.hint)(first)
                .with(self as *const Self, 64)
                .with(first as *const T, std::mem::size_of::<T>()),
            _ => Prefetch::NONE,
        };
        drop(st);
        if sync {
            self.ready.notify_all();
        }
        if let Some(w) = waker {
            w.wake(hint);
        }
    }

    // ---- consumer side (Python thread) ----

    /// Moves every ready item into `buf` without blocking.
    pub fn take_ready(&self, buf: &mut VecDeque<T>) -> Wait {
        let mut st = self.lock();
        self.take_locked(&mut st, buf)
    }

    fn take_locked(&self, st: &mut State<T>, buf: &mut VecDeque<T>) -> Wait {
        if !st.items.is_empty() {
            let was_full = st.items.len() >= self.capacity;
            if buf.is_empty() {
                std::mem::swap(buf, &mut st.items);
            } else {
                buf.extend(st.items.drain(..));
            }
            if was_full {
                self.space.notify_waiters();
            }
            return Wait::Ready;
        }
        if st.closed {
            Wait::Closed
        } else {
            Wait::Empty
        }
    }

    /// Blocks up to `timeout` for items (call with the GIL released).
    pub fn wait_sync(&self, buf: &mut VecDeque<T>, timeout: Duration) -> Wait {
        let mut st = self.lock();
        match self.take_locked(&mut st, buf) {
            Wait::Empty => {}
            done => return done,
        }
        st.sync_waiting = true;
        let (mut st, _) = self
            .ready
            .wait_timeout(st, timeout)
            .unwrap_or_else(|e| e.into_inner());
        st.sync_waiting = false;
        self.take_locked(&mut st, buf)
    }

    /// Takes ready items, or registers `waker` to be called when some arrive.
    ///
    /// The waker is kept for the next wait, so the consumer (the Python thread, once a
    /// chunk) does not clone an `Arc` whose count the producer's thread also changes:
    /// with thousands of streams that count's cache line moved between the cores twice
    /// a chunk. Only the producer clones it now, to call it outside the lock.
    pub fn take_or_register(&self, buf: &mut VecDeque<T>, waker: &Arc<dyn AsyncWake>) -> Wait {
        let mut st = self.lock();
        match self.take_locked(&mut st, buf) {
            Wait::Empty => {
                if !st
                    .async_waker
                    .as_ref()
                    .is_some_and(|w| Arc::ptr_eq(w, waker))
                {
                    st.async_waker = Some(waker.clone());
                }
                st.async_waiting = true;
                Wait::Empty
            }
            done => done,
        }
    }

    /// The consumer is gone (or the stream was closed from elsewhere): drop
    /// queued items, stop the producer, and end any wait in progress.
    pub fn cancel(&self) {
        let mut st = self.lock();
        st.cancelled = true;
        st.closed = true;
        st.items.clear();
        st.sync_waiting = true; // make `wake` notify unconditionally
        self.wake(st);
        self.space.notify_waiters();
        // The kept waker holds the loop bridge (Python objects, a socket pair): dropped
        // here, on the consumer's thread, rather than with the channel on a tokio thread.
        let waker = self.lock().async_waker.take();
        drop(waker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn bounded_push_waits_for_space() {
        let rt = current_thread();
        let ch = Channel::<u32>::new(2);
        let producer = {
            let ch = ch.clone();
            std::thread::spawn(move || {
                rt.block_on(async {
                    for i in 0..10 {
                        assert!(ch.push(i).await);
                        ch.flush();
                    }
                    ch.close();
                })
            })
        };
        let mut got = Vec::new();
        let mut buf = VecDeque::new();
        loop {
            match ch.wait_sync(&mut buf, Duration::from_millis(50)) {
                Wait::Closed => break,
                _ => {
                    assert!(buf.len() <= 2, "never more than capacity at once");
                    got.extend(buf.drain(..));
                }
            }
        }
        producer.join().unwrap();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    /// `f`'s output, which must come without waiting for the consumer.
    fn at_once<F: std::future::Future>(rt: &tokio::runtime::Runtime, f: F) -> F::Output {
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), f).await })
            .expect("waited for the consumer")
    }

    #[test]
    fn a_batch_goes_in_whole_and_the_next_waits_until_the_consumer_takes() {
        let rt = current_thread();
        let ch = Channel::<u32>::new(4);
        let mut buf = VecDeque::new();
        // Below capacity: a batch of 6 goes in whole, past the capacity of 4.
        let mut batch: Vec<u32> = (0..6).collect();
        assert!(at_once(&rt, ch.push_many(&mut batch)));
        assert!(batch.is_empty());
        // At capacity or more: the next batch waits, untouched, for the consumer; an
        // empty one (a read that made no item) does not.
        let mut next: Vec<u32> = (6..8).collect();
        let waited = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(50), ch.push_many(&mut next)).await
        });
        assert!(waited.is_err(), "pushed into a full channel");
        assert_eq!(next, vec![6, 7]);
        assert!(at_once(&rt, ch.push_many(&mut Vec::new())));
        assert!(matches!(ch.take_ready(&mut buf), Wait::Ready));
        assert_eq!(
            buf.drain(..).collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );
        assert!(at_once(&rt, ch.push_many(&mut next)));
        assert!(matches!(ch.take_ready(&mut buf), Wait::Ready));
        assert_eq!(buf.drain(..).collect::<Vec<_>>(), vec![6, 7]);
        // A cancelled consumer: the batch is dropped and the producer told to stop.
        let mut last = vec![9];
        ch.cancel();
        assert!(!at_once(&rt, ch.push_many(&mut last)));
        assert!(last.is_empty());
    }

    #[test]
    fn cancel_stops_producer() {
        let rt = current_thread();
        let ch = Channel::<u32>::new(1);
        ch.cancel();
        assert!(!rt.block_on(ch.push(1)));
    }
}
