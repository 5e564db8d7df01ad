//! Getting the bytes: the shared tokio runtime, HTTP requests with retries, and
//! one reader task per stream that reads, decodes and parses ahead into a
//! bounded channel, stamping timings as bytes arrive.
//!
//! May use `wire`, `providers` and `items`; knows nothing of Python.

pub mod channel;
pub mod decoding;
pub mod h1;
pub mod headers_deadline;
pub mod http;
pub mod idle_timer;
pub mod messages;
pub mod metrics;
pub mod pools;
pub mod prefetch;
pub mod release;
pub mod response;
pub mod retry;
pub mod runtime;
pub mod stream;
pub mod tls;
