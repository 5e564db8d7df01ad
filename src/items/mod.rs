//! A stream's items, alike for every provider: the pipeline from SSE events to
//! parsed chunks (terminators and in-band errors included), each chunk's text
//! delta, and the fold of a whole stream into one final result.
//!
//! May use `wire` and `providers`; knows nothing of sockets or Python.

pub mod accumulate;
pub mod chat_deltas;
pub mod chat_events;
pub mod pipeline;
pub mod text;
