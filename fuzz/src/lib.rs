//! sserpent's pure parsing core, compiled into the fuzz crate straight from
//! `../src`: the decoder, the JSON tape, the pipeline and what reads chunks.
//!
//! These six modules use nothing from the crate but each other, `memchr` and
//! `serde_json`. Building them here instead of depending on the `sserpent`
//! crate keeps tokio, reqwest, rustls, ring and rsa (which every build of the
//! crate compiles, Python or not) out of the instrumented fuzz build: about a
//! minute from a cold target directory instead of four (see scripts/fuzz.sh).
//! A module that starts using another part of the crate fails this build
//! loudly; add the module here (or depend on the crate) then.

#[path = "../../src/accumulate.rs"]
pub mod accumulate;
#[path = "../../src/json.rs"]
pub mod json;
#[path = "../../src/pipeline.rs"]
pub mod pipeline;
#[path = "../../src/schema.rs"]
pub mod schema;
#[path = "../../src/sse.rs"]
pub mod sse;
#[path = "../../src/text.rs"]
pub mod text;
