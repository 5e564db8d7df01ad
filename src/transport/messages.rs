//! What a stream's reader task and its consumer pass each other: the view the
//! consumer reads, the messages in the channel, and the faults a stream can end in.

use crate::items::pipeline::{Fault, Item};
use crate::transport::http::{HttpError, ResponseHead};
use crate::transport::prefetch::Prefetch;
use crate::wire::json::Doc;

/// How the consumer reads the stream (fixed when it starts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Chunks,
    Events,
    /// Events carrying the bytes they came in as (`Event::raw`), for
    /// re-streaming them unchanged (`stream.sse()`).
    RawEvents,
    Text,
    /// Just the reasoning deltas (`stream.reasoning_text()`).
    Reasoning,
    /// Not a stream: the whole body, parsed as one JSON document.
    Body,
}

#[derive(Debug)]
pub enum Msg {
    Head(ResponseHead),
    Item(Item),
    Text(String),
    Fault(StreamFault),
    End,
}

impl Msg {
    /// What of a queued message the Python thread reads first: a chunk's document
    /// (its `Arc`, the head of its tape and of its text), or a text delta's bytes.
    pub fn prefetch(&self) -> Prefetch {
        match self {
            Msg::Item(Item::Chunk(p)) => {
                let doc = &*p.doc;
                Prefetch::NONE
                    .with(doc as *const Doc, std::mem::size_of::<Doc>())
                    .with(
                        doc.nodes.as_ptr(),
                        std::mem::size_of_val(doc.nodes.as_slice()),
                    )
                    .with(doc.text.as_ptr(), doc.text.len())
            }
            Msg::Text(t) => Prefetch::NONE.with(t.as_ptr(), t.len()),
            _ => Prefetch::NONE,
        }
    }
}

#[derive(Debug)]
pub enum StreamFault {
    Http(HttpError),
    Pipeline(Fault),
    /// The connection broke in the middle of the body.
    Broken(String),
    /// The body could not be decoded per its `Content-Encoding` (corrupt or truncated).
    Decoding(String),
}

/// The fault for a failed read of the body, after `chunks` complete chunks.
pub(super) fn broken(why: &str, chunks: u64) -> StreamFault {
    StreamFault::Broken(format!(
        "the connection broke after {chunks} complete chunks: {why}"
    ))
}
