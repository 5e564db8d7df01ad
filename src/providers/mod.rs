//! What is particular to one provider: its object shapes, the snapshot its SDK
//! builds from a stream, its request signing. One module per provider.
//!
//! May use `wire` only; what every provider shares lives in `items`.

pub mod anthropic;
pub mod gemini;
pub mod oci;
pub mod ollama;
pub mod openai;
