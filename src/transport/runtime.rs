//! The one tokio runtime shared by every client, recreated after `fork()`.
//!
//! A forked child inherits the parent's memory but none of its threads, so
//! the parent's runtime would accept tasks that never run. Each process
//! therefore gets its own runtime, keyed by pid; the parent's copy in the
//! child is leaked on purpose (dropping it would wait for threads that do
//! not exist there).

use std::sync::{Arc, Mutex};

use tokio::runtime::{Builder, Runtime};

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// Worker threads: `SSERPENT_WORKER_THREADS`, else up to 2 (reading and
/// parsing ahead needs little; the Python thread is the consumer).
fn worker_threads() -> usize {
    std::env::var("SSERPENT_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(2)))
}

/// This process's runtime if one was started in it, without starting one.
pub fn running() -> Option<Arc<Runtime>> {
    let slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    match slot.as_ref() {
        Some((owner, rt)) if *owner == std::process::id() => Some(rt.clone()),
        _ => None,
    }
}

pub fn runtime() -> Arc<Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, rt)) = slot.as_ref() {
        if *owner == pid {
            return rt.clone();
        }
    }
    if let Some((_, inherited)) = slot.take() {
        std::mem::forget(inherited);
    }
    let rt = Arc::new(
        Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .thread_name("sserpent-io")
            .enable_all()
            .build()
            .expect("sserpent: cannot start the tokio runtime"),
    );
    *slot = Some((pid, rt.clone()));
    rt
}
