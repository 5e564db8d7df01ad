//! Wire formats, bytes in and out: the SSE decoder and encoder, NDJSON line
//! framing, the JSON tape and its partial reader, and response content codings.
//!
//! Pure functions over bytes: this layer uses nothing else of the crate.

pub mod encode;
pub mod encoding;
pub mod json;
pub mod ndjson;
pub mod partial_json;
pub mod sse;
