//! sserpent's pure parsing core, compiled into the fuzz crate straight from
//! `../src`: the decoder, the JSON tape, the pipeline, what reads chunks, and
//! the socket-direct HTTP/1.1 path's response head and body framing.
//!
//! These modules use nothing from the crate but each other (at the same
//! module paths as in the crate, hence the nesting below), `memchr`,
//! `serde_json`, and (the HTTP/1.1 reader) `bytes`, `http` and `httparse`. Building them here instead of depending on the `sserpent`
//! crate keeps tokio, reqwest, rustls, ring and (which every build of the
//! crate compiles, Python or not) out of the instrumented fuzz build: about a
//! minute from a cold target directory instead of four (see scripts/fuzz.sh).
//! A module that starts using another part of the crate fails this build
//! loudly; add the module here (or depend on the crate) then.

#[path = "../../src/items/accumulate.rs"]
#[doc(hidden)]
pub mod accumulate;
#[path = "../../src/providers/gemini/mod.rs"]
#[doc(hidden)]
pub mod gemini;
#[path = "../../src/transport/h1/framing.rs"]
#[doc(hidden)]
pub mod framing;
#[path = "../../src/wire/json/mod.rs"]
#[doc(hidden)]
pub mod json;
#[path = "../../src/wire/ndjson.rs"]
#[doc(hidden)]
pub mod ndjson;
#[path = "../../src/providers/ollama.rs"]
#[doc(hidden)]
pub mod ollama;
#[path = "../../src/items/pipeline.rs"]
#[doc(hidden)]
pub mod pipeline;
#[path = "../../src/transport/h1/response.rs"]
#[doc(hidden)]
pub mod response;
#[path = "../../src/providers/openai/schema.rs"]
#[doc(hidden)]
pub mod schema;
#[path = "../../src/wire/sse/mod.rs"]
#[doc(hidden)]
pub mod sse;
#[path = "../../src/items/text.rs"]
#[doc(hidden)]
pub mod text;

// The crate's module paths, which the modules use to name each other.
pub mod wire {
    pub use super::{json, ndjson, sse};
}
pub mod providers {
    pub use super::{gemini, ollama};
    pub mod openai {
        pub use crate::schema;
    }
}
pub mod items {
    pub use super::{accumulate, pipeline, text};
}
pub mod transport {
    pub mod h1 {
        pub use crate::{framing, response};
    }
}
