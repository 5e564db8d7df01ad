//! The read-idle timeout of a stream's body.

use std::time::{Duration, Instant};

/// The read-idle timeout, restarted by every read without touching tokio's
/// timer wheel per read: the timer is armed once and, when it fires early
/// (reads came in meanwhile), re-armed for the last read plus the timeout.
/// A `tokio::time::timeout` per read would insert and remove a timer entry
/// for every chunk.
pub(super) struct IdleTimer {
    timeout: Duration,
    last: Instant,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

pub(super) struct Elapsed;

impl IdleTimer {
    pub(super) fn new(timeout: Duration) -> Self {
        IdleTimer {
            timeout,
            last: Instant::now(),
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    /// A byte arrived at `at`.
    pub(super) fn touch(&mut self, at: Instant) {
        self.last = at;
    }

    /// `fut`, or `Elapsed` once nothing was read for the timeout.
    pub(super) async fn run<F: std::future::Future>(
        &mut self,
        fut: F,
    ) -> Result<F::Output, Elapsed> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return Ok(out),
                _ = self.sleep.as_mut() => {
                    let due = self.last + self.timeout;
                    if Instant::now() >= due {
                        return Err(Elapsed);
                    }
                    self.sleep.as_mut().reset(due.into());
                }
            }
        }
    }
}
