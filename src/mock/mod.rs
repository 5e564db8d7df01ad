//! Embedded mock LLM server (placeholder; being written).

#[cfg(feature = "python")]
pub mod py;
