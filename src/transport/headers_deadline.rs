//! The wait for response headers: `read_timeout` counted from when the
//! request's connection is made, not from when the request started, so a
//! server that accepts and then sends nothing (or dribbles header bytes) fails
//! after `read_timeout`, while connecting is bounded by `connect_timeout` alone.
//!
//! reqwest can't say when a request's connection is ready, so a connector layer
//! tells the request that asked for it through a task-local: hyper starts a
//! new connection inside the first poll of the request that needs one, within
//! that request's task. A request served by a pooled connection (or a new
//! HTTP/2 stream) starts no connect and is "connected" from the start.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

tokio::task_local! {
    static WATCH: Arc<ConnectWatch>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No connection asked for (yet): the request is on a pooled one.
    Pooled,
    Connecting(Instant),
    Connected(Instant),
}

/// What the connector layer saw of one request's connection.
struct ConnectWatch {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl ConnectWatch {
    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
        // A stored permit, so a change between two waits is not missed.
        self.changed.notify_one();
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why the headers did not come in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadersTimeout {
    /// Connected (or on a pooled connection), then `read_timeout` passed.
    AfterConnect(Duration),
    /// Still connecting after `connect_timeout + read_timeout` (a backstop:
    /// reqwest's own `connect_timeout` normally fails the connect first).
    Connecting(Duration),
}

/// Runs `send` (one request and its redirects), failing with a
/// [`HeadersTimeout`] when its response headers are not in within
/// `read_timeout` of its connection being made.
pub async fn within_read_timeout<T>(
    send: impl Future<Output = T>,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<T, HeadersTimeout> {
    let start = Instant::now();
    let watch = Arc::new(ConnectWatch {
        phase: Mutex::new(Phase::Pooled),
        changed: Notify::new(),
    });
    let send = WATCH.scope(Arc::clone(&watch), send);
    tokio::pin!(send);
    loop {
        let phase = watch.phase();
        let deadline = match phase {
            Phase::Pooled => start + read_timeout,
            Phase::Connected(at) => at + read_timeout,
            Phase::Connecting(since) => since + connect_timeout + read_timeout,
        };
        tokio::select! {
            biased;
            out = &mut send => return Ok(out),
            () = watch.changed.notified() => continue,
            () = tokio::time::sleep_until(deadline) => {
                if watch.phase() != phase {
                    continue;
                }
                return Err(match phase {
                    Phase::Connecting(_) => HeadersTimeout::Connecting(connect_timeout + read_timeout),
                    _ => HeadersTimeout::AfterConnect(read_timeout),
                });
            }
        }
    }
}

/// A connect started in this request's task (the socket-direct HTTP/1.1
/// path, `super::h1`, which connects itself).
pub(super) fn connecting() {
    let _ = WATCH.try_with(|w| w.set(Phase::Connecting(Instant::now())));
}

/// The connect started by [`connecting`] succeeded.
pub(super) fn connected() {
    let _ = WATCH.try_with(|w| w.set(Phase::Connected(Instant::now())));
}

/// The connector layer (`reqwest::ClientBuilder::connector_layer`) that
/// reports a connect's start and end to the request that asked for it.
#[derive(Clone, Copy, Debug, Default)]
pub struct WatchConnectsLayer;

impl<S> tower_layer::Layer<S> for WatchConnectsLayer {
    type Service = WatchConnects<S>;

    fn layer(&self, inner: S) -> WatchConnects<S> {
        WatchConnects(inner)
    }
}

#[derive(Clone, Debug)]
pub struct WatchConnects<S>(S);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> tower_service::Service<R> for WatchConnects<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // None when hyper connects outside a request's task (a connect it
        // finishes in the background after the request took a pooled one).
        let watch = WATCH.try_with(Arc::clone).ok();
        if let Some(w) = &watch {
            w.set(Phase::Connecting(Instant::now()));
        }
        let connect = self.0.call(request);
        Box::pin(async move {
            let out = connect.await;
            if let (Some(w), true) = (watch, out.is_ok()) {
                w.set(Phase::Connected(Instant::now()));
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn pooled_requests_get_read_timeout_from_the_start() {
        let never = std::future::pending::<()>();
        let t = Instant::now();
        let r = within_read_timeout(never, 1000 * MS, 200 * MS).await;
        assert_eq!(r, Err(HeadersTimeout::AfterConnect(200 * MS)));
        assert_eq!(t.elapsed(), 200 * MS);
        assert_eq!(within_read_timeout(async { 7 }, MS, MS).await, Ok(7));
    }

    /// A request that connects for 500 ms gets its 200 ms after that.
    #[tokio::test(start_paused = true)]
    async fn read_timeout_counts_from_the_connect() {
        let t = Instant::now();
        let send = async {
            let mut connector = WatchConnectsLayer.layer(tower_service_fn(|_: ()| async {
                tokio::time::sleep(500 * MS).await;
                Ok::<_, ()>(())
            }));
            tower_service::Service::call(&mut connector, ())
                .await
                .unwrap();
            std::future::pending::<()>().await
        };
        let r = within_read_timeout(send, 1000 * MS, 200 * MS).await;
        assert_eq!(r, Err(HeadersTimeout::AfterConnect(200 * MS)));
        assert_eq!(t.elapsed(), 700 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connect_that_never_ends_is_bounded_by_both_timeouts() {
        let t = Instant::now();
        let send = async {
            let mut connector = WatchConnectsLayer.layer(tower_service_fn(|_: ()| {
                std::future::pending::<Result<(), ()>>()
            }));
            tower_service::Service::call(&mut connector, ()).await
        };
        let r = within_read_timeout(send, 300 * MS, 200 * MS).await;
        assert_eq!(r, Err(HeadersTimeout::Connecting(500 * MS)));
        assert_eq!(t.elapsed(), 500 * MS);
    }

    use tower_layer::Layer as _;

    /// A connector made of a closure, for the tests.
    #[derive(Clone)]
    struct ServiceFn<F>(F);

    fn tower_service_fn<F>(f: F) -> ServiceFn<F> {
        ServiceFn(f)
    }

    impl<F, Fut, R, T, E> tower_service::Service<R> for ServiceFn<F>
    where
        F: FnMut(R) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        type Response = T;
        type Error = E;
        type Future = Fut;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), E>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: R) -> Fut {
            (self.0)(request)
        }
    }
}
