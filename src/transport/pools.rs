//! The connection pools of one `Client`: one for HTTP/1.1, one per
//! `http2_max_streams` open streams for HTTP/2, and the lease each stream
//! holds on its pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{ClientOptions, Upstream};

/// The reqwest clients (connection pools) of one `Client`.
///
/// HTTP/1.1 needs one: its pool opens a connection per concurrent stream.
/// HTTP/2 puts every stream to an origin on one connection per pool, but a
/// server caps the streams open at once on a connection
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`, often 100 to 250), and past the cap
/// hyper queues new streams until one ends instead of opening another
/// connection: stream 101 of a busy service would wait minutes for its
/// first byte. So an HTTP/2 client takes another pool, hence another
/// connection, for every `http2_max_streams` streams open at once. Pools
/// beyond the first are dropped (with their connections) once they have had
/// no stream for `pool_idle_timeout`, so a burst's pools don't outlive it.
pub struct Shards {
    opts: ClientOptions,
    /// The pools and the pid they belong to: a forked child must not reuse
    /// the parent's pooled connections (they are the parent's sockets).
    inner: Mutex<(u32, Vec<Shard>)>,
}

struct Shard {
    upstream: Upstream,
    usage: Arc<Usage>,
}

/// How many streams a pool carries, and since when it carries none.
#[derive(Default)]
struct Usage {
    open: AtomicUsize,
    idle_since: Mutex<Option<Instant>>,
}

impl Usage {
    fn idle_for(&self, now: Instant) -> Option<Duration> {
        if self.open.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        since.map(|t| now.saturating_duration_since(t))
    }
}

/// A stream's place in a pool, given back when the stream's task ends.
pub struct Lease {
    usage: Arc<Usage>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.usage.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .usage
                .idle_since
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }
}

impl Shards {
    pub fn new(opts: ClientOptions) -> Result<Self, String> {
        let first = Shard {
            upstream: Upstream::new(&opts)?,
            usage: Arc::default(),
        };
        Ok(Shards {
            opts,
            inner: Mutex::new((std::process::id(), vec![first])),
        })
    }

    /// A pool with room for one more stream, and the stream's lease on it.
    pub fn lease(&self) -> Result<(Upstream, Lease), String> {
        let cap = if self.opts.http2 {
            self.opts.http2_max_streams.max(1)
        } else {
            usize::MAX
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        if inner.0 != pid {
            // A forked child: the parent's pools hold the parent's
            // connections; never touch (or drop) them here.
            for old in std::mem::take(&mut inner.1) {
                std::mem::forget(old);
            }
            inner.0 = pid;
        }
        let shards = &mut inner.1;
        self.drop_idle(shards);
        let free = shards
            .iter()
            .position(|s| s.usage.open.load(Ordering::Acquire) < cap);
        let shard = match free {
            Some(i) => &shards[i],
            None => {
                shards.push(Shard {
                    upstream: Upstream::new(&self.opts)?,
                    usage: Arc::default(),
                });
                &shards[shards.len() - 1]
            }
        };
        shard.usage.open.fetch_add(1, Ordering::AcqRel);
        let lease = Lease {
            usage: shard.usage.clone(),
        };
        Ok((shard.upstream.clone(), lease))
    }

    /// Drops the pools, but the first, idle for `pool_idle_timeout`.
    fn drop_idle(&self, shards: &mut Vec<Shard>) {
        let now = Instant::now();
        let mut index = 0;
        shards.retain(|s| {
            index += 1;
            index == 1
                || s.usage
                    .idle_for(now)
                    .is_none_or(|d| d < self.opts.pool_idle_timeout)
        });
    }

    /// Pools held now (idle ones past `pool_idle_timeout` dropped first).
    pub fn pools(&self) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.0 == std::process::id() {
            self.drop_idle(&mut inner.1);
        }
        inner.1.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http2_streams_spread_over_pools_of_bounded_size() {
        let opts = ClientOptions {
            http1: false,
            http2: true,
            http2_max_streams: 2,
            ..ClientOptions::default()
        };
        let pools = Shards::new(opts).unwrap();
        let a = pools.lease().unwrap();
        let b = pools.lease().unwrap();
        assert_eq!(pools.pools(), 1);
        let c = pools.lease().unwrap();
        assert_eq!(pools.pools(), 2, "a third stream opens a second pool");
        drop(a);
        let d = pools.lease().unwrap();
        assert_eq!(pools.pools(), 2, "a freed place is taken before a new pool");
        drop((b, c, d));
        let _e = pools.lease().unwrap();
        assert_eq!(pools.pools(), 2);
    }

    #[test]
    fn idle_pools_past_the_first_are_dropped_after_the_idle_timeout() {
        let opts = ClientOptions {
            http1: false,
            http2: true,
            http2_max_streams: 1,
            pool_idle_timeout: Duration::from_millis(50),
            ..ClientOptions::default()
        };
        let pools = Shards::new(opts).unwrap();
        let leases: Vec<_> = (0..4).map(|_| pools.lease().unwrap()).collect();
        assert_eq!(pools.pools(), 4);
        drop(leases);
        assert_eq!(
            pools.pools(),
            4,
            "kept until they have been idle long enough"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(pools.pools(), 1, "the first pool stays");
        let busy = pools.lease().unwrap();
        let _second = pools.lease().unwrap();
        assert_eq!(pools.pools(), 2);
        drop(busy);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            pools.pools(),
            2,
            "a pool with a stream is kept, the first even when idle"
        );
    }

    #[test]
    fn http1_streams_share_one_pool() {
        let pools = Shards::new(ClientOptions::default()).unwrap();
        let leases: Vec<_> = (0..500).map(|_| pools.lease().unwrap()).collect();
        assert_eq!(pools.pools(), 1);
        drop(leases);
    }
}
