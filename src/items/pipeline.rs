//! Bytes in, stream items out: SSE decoding, JSON parsing, terminators and
//! provider errors, shared by the parse adapters and the live streams.
//!
//! The pipeline learns which terminator a stream owes from its first events
//! (OpenAI-style chunks end with `data: [DONE]`, Anthropic with
//! `message_stop`, the Responses API with `response.completed`), so a stream
//! that stops short of it is reported as incomplete instead of ending quietly.
//! NDJSON bodies (`Framing::Ndjson`, Ollama's native API) go through the same
//! steps, one line an event; their terminator is a line with `"done": true`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::providers::gemini;
use crate::providers::openai::schema::{self, Schema};
use crate::wire::json::{Doc, JsonError, Kind, LastTape};
use crate::wire::ndjson::LineDecoder;
use crate::wire::sse::{self, Decoder, Event, Output, SseError};

/// A parsed JSON data event.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub doc: Arc<Doc>,
    pub schema: &'static Schema,
    /// The event type (`None` = "message").
    pub event: Option<String>,
}

#[derive(Debug)]
pub enum Item {
    Event(Event),
    Chunk(Parsed),
}

/// The provider reported an error inside the stream.
#[derive(Debug)]
pub struct ProviderError {
    pub message: String,
    pub kind: Option<String>,
    pub event: Event,
    pub doc: Option<Arc<Doc>>,
    /// Node of the error object in `doc`, if there is one.
    pub error_node: Option<u32>,
}

#[derive(Debug)]
pub enum Fault {
    Sse(SseError),
    InvalidJson { error: JsonError, event: Event },
    Provider(Box<ProviderError>),
    Incomplete(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Sse(e) => e.fmt(f),
            Fault::InvalidJson { error, event } => {
                write!(f, "{}", invalid_json_message(error, &event.data))
            }
            Fault::Provider(p) => f.write_str(&p.message),
            Fault::Incomplete(m) => f.write_str(m),
        }
    }
}

/// "invalid JSON in data event (expecting value at byte 0): data starts with 'xyz'"
pub fn invalid_json_message(error: &JsonError, data: &str) -> String {
    const QUOTE: usize = 80;
    let mut end = data.len().min(QUOTE);
    while !data.is_char_boundary(end) {
        end -= 1;
    }
    let more = if end < data.len() { "..." } else { "" };
    format!(
        "invalid JSON in data event ({error}): data starts with {:?}{more}",
        &data[..end]
    )
}

pub type Out = VecDeque<Result<Item, Fault>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Raw events, every one of them.
    Events,
    /// JSON chunks: `[DONE]`, comments, pings and blank data skipped, errors raised.
    Chunks,
}

/// The terminator a stream owes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Not known yet: learned from the first events.
    Unknown,
    /// `data: [DONE]` (OpenAI chat and completions, Azure, most compatibles).
    Done,
    /// `event: message_stop` (Anthropic Messages).
    MessageStop,
    /// `response.completed` / `response.incomplete` (OpenAI Responses API).
    ResponseDone,
    /// The end of the body is the end (OCI generateText and unknown streams).
    Eof,
    /// A line whose `done` is `true` (Ollama's NDJSON streams).
    DoneTrue,
    /// A candidate's `finishReason` or a blocked prompt (Gemini, which sends no
    /// terminator): the body may end after that response, not before.
    FinishReason,
}

/// How the body is cut into events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Server-sent events (`text/event-stream`).
    Sse,
    /// One JSON document per line (`application/x-ndjson`).
    Ndjson,
}

impl Framing {
    /// The framing a response's `Content-Type` declares: NDJSON for
    /// `application/x-ndjson` (Ollama), `application/ndjson`,
    /// `application/jsonl` and `application/x-jsonl`; SSE for anything else.
    pub fn of_content_type(content_type: &str) -> Framing {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonl" => Framing::Ndjson,
            _ => Framing::Sse,
        }
    }
}

impl Ending {
    fn describe(self) -> &'static str {
        match self {
            Ending::Done => "data: [DONE]",
            Ending::MessageStop => "event: message_stop",
            Ending::ResponseDone => "event: response.completed",
            Ending::DoneTrue => "a line with \"done\": true",
            Ending::FinishReason => "a candidate's finishReason",
            Ending::Unknown | Ending::Eof => "its end",
        }
    }
}

pub struct Pipeline {
    decoder: Decoder,
    mode: Mode,
    ending: Ending,
    finished: bool,
    scratch: Output,
    /// Count of items produced, for messages.
    produced: u64,
    /// A body without a single event is incomplete (live streams: the
    /// request asked for a stream).
    require_events: bool,
    /// NDJSON framing: lines are read by this instead of `decoder`.
    ndjson: Option<LineDecoder>,
    /// False: a stream owing `data: [DONE]` may end without it (servers known to omit it).
    require_done: bool,
    /// The last chunk's text and tape: the next chunk is read against it
    /// (`wire::json::retape`), as most of its bytes are the same.
    last: LastTape,
    /// What the last chunk's root said it is (`schema::detect`): the same for the next
    /// one when `last` says no root key changed, nor a root value `shape_reads`.
    last_shape: Option<(&'static Schema, bool)>,
}

impl Pipeline {
    pub fn new(mode: Mode, max_event_size: usize) -> Self {
        Pipeline {
            decoder: Decoder::new(max_event_size),
            mode,
            ending: Ending::Unknown,
            finished: false,
            scratch: Vec::new(),
            produced: 0,
            require_events: false,
            ndjson: None,
            require_done: true,
            last: LastTape::default(),
            last_shape: None,
        }
    }

    /// Reads the body as NDJSON instead of SSE (before anything is fed).
    pub fn with_framing(mut self, framing: Framing) -> Self {
        self.ndjson = match framing {
            Framing::Ndjson => Some(LineDecoder::new(self.decoder.max_event_size())),
            Framing::Sse => None,
        };
        self
    }

    pub fn framing(&self) -> Framing {
        if self.ndjson.is_some() {
            Framing::Ndjson
        } else {
            Framing::Sse
        }
    }

    /// A stream owing `data: [DONE]` that ends without it is not incomplete
    /// (OpenAI-compatible servers known to omit it). Other terminators, a cut
    /// event and an empty body still are.
    pub fn done_optional(mut self) -> Self {
        self.require_done = false;
        self
    }

    /// Fixes the terminator instead of learning it.
    pub fn with_ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }

    /// Events keep the bytes they came in as (see `Decoder::keep_raw`). Not
    /// NDJSON lines: re-streamed (`stream.sse()`), they become SSE events.
    pub fn keep_raw(&mut self) {
        self.decoder.keep_raw();
    }

    /// An empty body is reported as incomplete.
    pub fn requiring_events(mut self) -> Self {
        self.require_events = true;
        self
    }

    /// A terminator or a fault was reached: later input is ignored.
    pub fn finished(&self) -> bool {
        self.finished
    }

    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    pub fn feed(&mut self, bytes: &[u8], out: &mut Out) {
        if self.finished {
            return;
        }
        let mut events = std::mem::take(&mut self.scratch);
        match &mut self.ndjson {
            Some(n) => n.feed(bytes, &mut events),
            None => self.decoder.feed(bytes, &mut events),
        }
        for ev in events.drain(..) {
            if self.finished {
                break;
            }
            match ev {
                Ok(ev) => self.on_event(ev, out),
                Err(e) => self.fail(Fault::Sse(e), out),
            }
        }
        self.scratch = events;
    }

    /// The body ended. Reports an incomplete stream if an event was cut off or
    /// the terminator this stream owes never came.
    pub fn finish(&mut self, out: &mut Out) {
        if self.finished {
            return;
        }
        self.finished = true;
        let partial = match &mut self.ndjson {
            Some(n) => {
                let partial = n.has_pending_line();
                n.close();
                partial
            }
            None => {
                let partial = self.decoder.has_pending_event();
                self.decoder.close();
                partial
            }
        };
        if partial {
            out.push_back(Err(Fault::Incomplete(format!(
                "the stream ended in the middle of {}, after {} complete {}",
                if self.ndjson.is_some() {
                    "a line"
                } else {
                    "an event"
                },
                self.produced,
                if self.mode == Mode::Chunks {
                    "chunks"
                } else {
                    "events"
                }
            ))));
        } else if self.require_events && self.produced == 0 {
            // Even a stream that may just end (`Ending::Eof`, OCI's) owes one event: a
            // 200 without any (a proxy's or captive portal's page) is no stream.
            out.push_back(Err(Fault::Incomplete(
                "the response body ended before its first event".into(),
            )));
        } else if !matches!(self.ending, Ending::Unknown | Ending::Eof)
            && (self.require_done || self.ending != Ending::Done)
        {
            out.push_back(Err(Fault::Incomplete(format!(
                "the stream ended without {}, after {} complete {}",
                self.ending.describe(),
                self.produced,
                if self.mode == Mode::Chunks {
                    "chunks"
                } else {
                    "events"
                }
            ))));
        }
    }

    fn fail(&mut self, fault: Fault, out: &mut Out) {
        self.finished = true;
        out.push_back(Err(fault));
    }

    fn learn_from_type(&mut self, event_type: &str) {
        if self.ending == Ending::Unknown {
            if event_type == "message_start" {
                self.ending = Ending::MessageStop;
            } else if event_type.starts_with("response.") {
                self.ending = Ending::ResponseDone;
            }
        }
    }

    fn ends_stream(&self, event_type: &str) -> bool {
        match self.ending {
            Ending::MessageStop => event_type == "message_stop",
            Ending::ResponseDone => {
                matches!(event_type, "response.completed" | "response.incomplete")
            }
            _ => false,
        }
    }

    fn on_event(&mut self, ev: Event, out: &mut Out) {
        let is_done = ev.data.trim_ascii() == "[DONE]";
        if let Some(t) = ev.event.as_deref() {
            self.learn_from_type(t);
        }
        match self.mode {
            Mode::Events => {
                // An `event: error` ends the stream too (Anthropic, Responses API).
                let mut stop =
                    is_done || self.ends_stream(ev.event_type()) || ev.event_type() == "error";
                if self.ndjson.is_some() || self.ending == Ending::DoneTrue {
                    stop |= self.learn_done(&ev.data);
                }
                self.produced += 1;
                out.push_back(Ok(Item::Event(ev)));
                if stop {
                    self.finished = true;
                }
            }
            Mode::Chunks => self.on_chunk_event(ev, is_done, out),
        }
    }

    /// Events of an NDJSON (or `DoneTrue`) stream: learns the `"done"` terminator
    /// from a line's root `done` member; true when it is `true` and owed.
    fn learn_done(&mut self, data: &str) -> bool {
        let Ok(nodes) = Doc::tape(data) else {
            return false;
        };
        let doc = Doc::new(data.to_owned(), nodes);
        let done = (doc.node(0).kind == Kind::Object)
            .then(|| doc.get(0, "done"))
            .flatten();
        if self.ending == Ending::Unknown && done.is_some() {
            self.ending = Ending::DoneTrue;
        }
        self.ending == Ending::DoneTrue && done.is_some_and(|d| doc.node(d).kind == Kind::True)
    }

    fn on_chunk_event(&mut self, ev: Event, is_done: bool, out: &mut Out) {
        if is_done {
            self.finished = true;
            return;
        }
        let event_type = ev.event_type();
        if event_type == "ping" || ev.data.trim_ascii().is_empty() {
            return;
        }
        let nodes = match self.last.tape(&ev.data) {
            Ok(nodes) => nodes,
            Err(error) => {
                if event_type == "error" {
                    // An error event whose data is plain text.
                    let message = ev.data.clone();
                    self.fail(
                        Fault::Provider(Box::new(ProviderError {
                            message,
                            kind: None,
                            event: ev,
                            doc: None,
                            error_node: None,
                        })),
                        out,
                    );
                } else {
                    self.fail(Fault::InvalidJson { error, event: ev }, out);
                }
                return;
            }
        };
        let stop = self.ends_stream(event_type);
        let is_error_event = matches!(event_type, "error" | "response.failed");
        let sse::Event {
            event, data, id, ..
        } = ev;
        let doc = Arc::new(Doc::new(data, nodes));
        // The shape is the last chunk's unless a root key, or a root value it is read
        // from, changed.
        let same_shape = self
            .last
            .changed_root_values()
            .is_some_and(|values| values.iter().all(|&v| !shape_reads(&doc, v - 1)));
        let (schema, has_error) = match self.last_shape {
            Some(shape) if same_shape => shape,
            _ => {
                let (mut schema, has_error) = schema::detect(&doc);
                if std::ptr::eq(schema, &schema::ANY) {
                    // Reads the root's members only, too.
                    schema = crate::providers::ollama::detect(&doc);
                }
                (schema, has_error)
            }
        };
        self.last_shape = Some((schema, has_error));
        if has_error || is_error_event {
            let ev = sse::Event {
                event,
                data: doc.text.clone(),
                id,
                raw: None,
            };
            if let Some(p) = provider_error(&doc, &ev) {
                let p = ProviderError { event: ev, ..p };
                self.fail(Fault::Provider(Box::new(p)), out);
                return;
            }
            // e.g. `"error": null` in an ordinary chunk: not an error.
            return self.chunk(
                Parsed {
                    doc,
                    schema,
                    event: ev.event,
                },
                stop,
                out,
            );
        }
        self.chunk(Parsed { doc, schema, event }, stop, out);
    }

    fn chunk(&mut self, parsed: Parsed, mut stop: bool, out: &mut Out) {
        let schema = parsed.schema;
        if self.ndjson.is_some() || self.ending == Ending::DoneTrue {
            let doc = &*parsed.doc;
            let done = (doc.node(0).kind == Kind::Object)
                .then(|| doc.get(0, "done"))
                .flatten();
            // Ollama: every line has `done`, the last one `true`.
            if self.ending == Ending::Unknown && done.is_some() {
                self.ending = Ending::DoneTrue;
            }
            if self.ending == Ending::DoneTrue {
                stop |= done.is_some_and(|d| doc.node(d).kind == Kind::True);
            }
        }
        if self.ending == Ending::Unknown
            && (std::ptr::eq(schema, &schema::CHAT_COMPLETION_CHUNK)
                || std::ptr::eq(schema, &schema::COMPLETION))
        {
            self.ending = Ending::Done;
        }
        if std::ptr::eq(schema, &gemini::GENERATE_CONTENT_RESPONSE) {
            if self.ending == Ending::Unknown {
                self.ending = Ending::FinishReason;
            }
            // Complete from here on: what follows (a usage-only response) may still come.
            if self.ending == Ending::FinishReason && gemini::is_final(&parsed.doc) {
                self.ending = Ending::Eof;
            }
        }
        self.emit(parsed, stop, out);
    }

    fn emit(&mut self, parsed: Parsed, stop: bool, out: &mut Out) {
        self.produced += 1;
        out.push_back(Ok(Item::Chunk(parsed)));
        if stop {
            self.finished = true;
        }
    }
}

/// Whether the shape of a chunk (`schema::detect`, then `ollama::detect`) depends on the
/// value of the root member whose key is node `key`: beyond which root keys there are and
/// whether their values are objects or strings (a value read again is a string or number
/// token, and stays one), they read the value of `object` and of `response`. An escaped
/// key could be either.
fn shape_reads(doc: &Doc, key: u32) -> bool {
    doc.node(key).escaped || matches!(doc.raw_bytes(key), b"object" | b"response")
}

/// Recognizes an error reported inside a stream: `{"error": {...}}` (OpenAI,
/// Azure, vLLM, LiteLLM), `event: error` (Anthropic, Responses API) and
/// `response.failed`.
fn provider_error(doc: &Arc<Doc>, ev: &Event) -> Option<ProviderError> {
    let root = 0;
    if doc.node(root).kind != Kind::Object {
        return None;
    }
    let event_type = ev.event_type();
    let error_node = if event_type == "response.failed" {
        doc.get(root, "response")
            .filter(|&r| doc.node(r).kind == Kind::Object)
            .and_then(|r| doc.get(r, "error"))
    } else {
        doc.get(root, "error")
    };
    let error_node = error_node.filter(|&e| matches!(doc.node(e).kind, Kind::Object | Kind::Str));
    if error_node.is_none() && event_type != "error" && event_type != "response.failed" {
        return None;
    }
    // Where message/type live: the error object, or the root (Responses `error` event).
    let holder = error_node
        .filter(|&e| doc.node(e).kind == Kind::Object)
        .unwrap_or(root);
    let text = |node: Option<u32>| node.and_then(|n| doc.str_value(n)).map(|s| s.into_owned());
    let message = match error_node {
        Some(e) if doc.node(e).kind == Kind::Str => text(Some(e)),
        _ => text(doc.get(holder, "message")),
    }
    .unwrap_or_else(|| format!("the provider reported an error: {}", doc.text));
    let kind = text(doc.get(holder, "type"))
        .filter(|t| !(holder == root && t == "error"))
        // Google's errors: {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED"}.
        .or_else(|| text(doc.get(holder, "status")));
    Some(ProviderError {
        message,
        kind,
        event: Event {
            event: None,
            data: String::new(),
            id: Arc::from(""),
            raw: None,
        },
        doc: Some(doc.clone()),
        error_node: error_node.or(Some(root)),
    })
}

#[cfg(test)]
#[path = "pipeline_ndjson_tests.rs"]
mod ndjson_tests;

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
