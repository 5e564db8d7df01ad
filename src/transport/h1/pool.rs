//! Idle HTTP/1.1 connections kept for the next request to the same origin,
//! closed after `pool_idle_timeout` by a reaper task that runs only while
//! the pool holds some.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// Where a connection goes: host (as the URL spells it) and port.
pub type Origin = (String, u16);

pub struct Pool {
    pub(super) connect_timeout: Duration,
    idle_timeout: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    idle: HashMap<Origin, Vec<(TcpStream, Instant)>>,
    reaping: bool,
}

impl Pool {
    pub fn new(connect_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Pool {
            connect_timeout,
            idle_timeout,
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently idled live connection to `origin`, if any: those
    /// idle too long, or closed by the server meanwhile, are dropped.
    pub fn take(&self, origin: &Origin) -> Option<TcpStream> {
        let mut inner = self.lock();
        let list = inner.idle.get_mut(origin)?;
        let now = Instant::now();
        let mut found = None;
        while let Some((sock, since)) = list.pop() {
            if now.duration_since(since) < self.idle_timeout && still_open(&sock) {
                found = Some(sock);
                break;
            }
        }
        if list.is_empty() {
            inner.idle.remove(origin);
        }
        found
    }

    /// Keeps a connection whose response was read to its end.
    pub fn put(self: &Arc<Self>, origin: Origin, sock: TcpStream) {
        let mut inner = self.lock();
        inner
            .idle
            .entry(origin)
            .or_default()
            .push((sock, Instant::now()));
        if !inner.reaping {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                inner.reaping = true;
                rt.spawn(reap(Arc::downgrade(self)));
            }
        }
    }

    /// Idle connections held now (expired ones dropped first).
    pub fn idle(&self) -> usize {
        let mut inner = self.lock();
        self.expire(&mut inner, Instant::now());
        inner.idle.values().map(Vec::len).sum()
    }

    /// Drops expired connections; the earliest expiry of the rest.
    fn expire(&self, inner: &mut Inner, now: Instant) -> Option<Instant> {
        let mut next = None::<Instant>;
        inner.idle.retain(|_, list| {
            list.retain(|(_, since)| now.duration_since(*since) < self.idle_timeout);
            if let Some(first) = list.iter().map(|(_, since)| *since).min() {
                let due = first + self.idle_timeout;
                next = Some(next.map_or(due, |n| n.min(due)));
            }
            !list.is_empty()
        });
        next
    }
}

/// Closes connections as they pass the idle timeout; ends when the pool is
/// empty (the next `put` starts another) or dropped.
async fn reap(pool: Weak<Pool>) {
    loop {
        let due = {
            let Some(pool) = pool.upgrade() else { return };
            let mut inner = pool.lock();
            match pool.expire(&mut inner, Instant::now()) {
                Some(due) => due,
                None => {
                    inner.reaping = false;
                    return;
                }
            }
        };
        tokio::time::sleep_until(due.into()).await;
    }
}

/// A pooled connection the server has not closed (nor sent anything on),
/// asked of the socket itself: tokio's readiness may not have seen a FIN
/// that just arrived.
fn still_open(sock: &TcpStream) -> bool {
    let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    let peek = socket2::SockRef::from(sock).peek(&mut probe);
    matches!(peek, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}
