//! The mock server's default responses: what each provider sends for a
//! request when no scripted response is queued, in the providers' own wire
//! shapes (compare `tests/fixtures/wire/*.sse`).
//!
//! Content chunks are rendered from templates prepared once per response (a
//! JSON text split around the word, and for the Responses API around the
//! sequence number), so that a 200,000-chunk stream costs a few copies per
//! chunk and no JSON serialization.
//!
//! Request headers steer the load: `x-mock-chunks: N` content chunks
//! (cycling the words of [`DEFAULT_TEXT`]), `x-mock-interval-ms: F` between
//! frames, `x-mock-timestamps: 1` adds `"x_sent_ns"` (CLOCK_REALTIME) to
//! every content chunk as it is written.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

use super::json::{arr, js, Obj};
use super::scenario::{data_frame, FrameSource, Reply, ReplyBody};
use super::status::error_body;

/// The default reply, split into word tokens.
pub const DEFAULT_TEXT: &str = "Hello! This is the sserpent mock server.";
pub const DEFAULT_MODEL: &str = "sserpent-mock";
const FINGERPRINT: &str = "fp_sserpent";

/// What the generators need to know about a request.
pub struct GenRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The parsed JSON body (`{}` when it was empty).
    pub body: &'a Value,
    pub body_len: usize,
    /// Number of content chunks (`x-mock-chunks`).
    pub chunks: usize,
    /// Pause between frames (`x-mock-interval-ms`).
    pub interval: Option<Duration>,
    /// `x-mock-timestamps`.
    pub timestamps: bool,
    /// A number unique to this request within the server (ids).
    pub seq: u64,
}

/// Reads the `x-mock-*` load headers (names lower-case).
pub fn load_headers(headers: &[(String, String)]) -> (usize, Option<Duration>, bool) {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    };
    let chunks = get("x-mock-chunks")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(Words::default_count);
    let interval = get("x-mock-interval-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0));
    let timestamps = get("x-mock-timestamps")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
    (chunks, interval, timestamps)
}

/// The word tokens of the reply, JSON-escaped (without quotes).
pub struct Words {
    tokens: Vec<String>,
    escaped: Vec<Vec<u8>>,
    /// The first token with a leading space, for when the words wrap around.
    wrap_escaped: Vec<u8>,
}

impl Words {
    pub fn new(text: &str) -> Self {
        let mut tokens: Vec<String> = Vec::new();
        for (i, w) in text.split(' ').enumerate() {
            tokens.push(if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            });
        }
        let esc = |s: &str| {
            let q = serde_json::to_string(s).expect("strings serialize");
            q.as_bytes()[1..q.len() - 1].to_vec()
        };
        let escaped = tokens.iter().map(|t| esc(t)).collect();
        let wrap_escaped = esc(&format!(" {}", tokens[0]));
        Words {
            tokens,
            escaped,
            wrap_escaped,
        }
    }

    pub fn default_count() -> usize {
        DEFAULT_TEXT.split(' ').count()
    }

    /// Word `i` (cycling), escaped for a JSON string.
    pub fn escaped(&self, i: usize) -> &[u8] {
        let k = i % self.tokens.len();
        if k == 0 && i > 0 {
            &self.wrap_escaped
        } else {
            &self.escaped[k]
        }
    }

    fn token(&self, i: usize) -> String {
        let k = i % self.tokens.len();
        if k == 0 && i > 0 {
            format!(" {}", self.tokens[0])
        } else {
            self.tokens[k].clone()
        }
    }

    /// The text of `n` chunks joined.
    pub fn text(&self, n: usize) -> String {
        (0..n).map(|i| self.token(i)).collect()
    }
}

/// Placeholders a template is split at. They are inserted raw, never inside
/// escaped text, so they cannot collide with content.
const WORD: &str = "\u{0}W\u{0}";
const SEQ: &str = "\u{0}S\u{0}";

enum Part {
    Lit(Vec<u8>),
    Word,
    Seq,
}

/// One content chunk, ready to render: `prefix` + JSON object with the word
/// (and sequence number) substituted, `"x_sent_ns"` optionally added as the
/// last field, then the blank line.
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// `json` is an object containing [`WORD`] (inside a string) and perhaps [`SEQ`].
    fn new(prefix: &str, json: &str) -> Self {
        let body = json.strip_suffix('}').expect("a JSON object");
        let mut parts = Vec::new();
        let mut lit = prefix.as_bytes().to_vec();
        let mut rest = body;
        while let Some(at) = rest.find('\u{0}') {
            lit.extend_from_slice(&rest.as_bytes()[..at]);
            parts.push(Part::Lit(std::mem::take(&mut lit)));
            let ph = &rest[at..at + 3];
            parts.push(if ph == WORD { Part::Word } else { Part::Seq });
            rest = &rest[at + 3..];
        }
        lit.extend_from_slice(rest.as_bytes());
        parts.push(Part::Lit(lit));
        Template { parts }
    }

    fn render(&self, out: &mut Vec<u8>, word: &[u8], seq: u64, timestamp: bool) {
        for p in &self.parts {
            match p {
                Part::Lit(b) => out.extend_from_slice(b),
                Part::Word => out.extend_from_slice(word),
                Part::Seq => {
                    let _ = write!(out, "{seq}");
                }
            }
        }
        if timestamp {
            let ns = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let _ = write!(out, ",\"x_sent_ns\":{ns}");
        }
        out.extend_from_slice(b"}\n\n");
    }
}

/// A generated stream: fixed frames, content chunks, fixed frames.
pub struct GenSource {
    pre: Vec<Bytes>,
    /// One template per choice; step `k` renders word `k / len` with
    /// template `k % len`.
    templates: Vec<Template>,
    words: Arc<Words>,
    steps: usize,
    seq_base: u64,
    timestamps: bool,
    post: Vec<Bytes>,
    next: usize,
}

impl FrameSource for GenSource {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        let i = self.next;
        self.next += 1;
        if let Some(f) = self.pre.get(i) {
            out.extend_from_slice(f);
            return true;
        }
        let k = i - self.pre.len();
        if k < self.steps {
            let n = self.templates.len();
            self.templates[k % n].render(
                out,
                self.words.escaped(k / n),
                self.seq_base + k as u64,
                self.timestamps,
            );
            return true;
        }
        match self.post.get(k - self.steps) {
            Some(f) => {
                out.extend_from_slice(f);
                true
            }
            None => {
                self.next -= 1;
                false
            }
        }
    }
}

fn frame(s: String) -> Bytes {
    data_frame(&s)
}

fn named(event: &str, json: String) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

/// The reply for `req` when nothing is queued.
pub fn default_reply(req: &GenRequest<'_>) -> Reply {
    let words = Arc::new(Words::new(DEFAULT_TEXT));
    let route = match route(req.method, req.path) {
        Some(r) => r,
        None => {
            return json_reply(
                404,
                error_body(
                    &format!("Invalid URL ({} {})", req.method, req.path),
                    "invalid_request_error",
                    None,
                ),
                req,
            )
        }
    };
    let g = Gen::new(req, words);
    match route {
        Route::Chat { azure } => g.chat(azure),
        Route::Completions => g.completions(),
        Route::Responses => g.responses(),
        Route::Messages => g.messages(),
        Route::OciGenerateText => g.oci_generate_text(),
        Route::OciChat => g.oci_chat(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Chat { azure: bool },
    Completions,
    Responses,
    Messages,
    OciGenerateText,
    OciChat,
}

/// Which default response a path gets (POST only).
pub fn route(method: &str, path: &str) -> Option<Route> {
    if method != "POST" {
        return None;
    }
    let path = path.trim_end_matches('/');
    Some(if path.ends_with("/chat/completions") {
        Route::Chat {
            azure: path.starts_with("/openai/"),
        }
    } else if path.ends_with("/completions") {
        Route::Completions
    } else if path.ends_with("/responses") {
        Route::Responses
    } else if path.ends_with("/messages") {
        Route::Messages
    } else if path.ends_with("/actions/generateText") {
        Route::OciGenerateText
    } else if path.ends_with("/actions/chat") {
        Route::OciChat
    } else {
        return None;
    })
}

fn request_id_headers(req: &GenRequest<'_>) -> Vec<(String, String)> {
    let id = format!("req_mock_{:06}", req.seq);
    let mut h = vec![("x-request-id".to_string(), id.clone())];
    if req.path.starts_with("/openai/") {
        h.push(("apim-request-id".into(), id));
    } else if req.path.contains("/actions/") {
        h.push(("opc-request-id".into(), id));
    } else if req.path.ends_with("/messages") {
        h.push(("request-id".into(), id));
    }
    h
}

/// Default head fields of a streamed response.
pub fn stream_headers(req: &GenRequest<'_>) -> Vec<(String, String)> {
    let mut h = vec![
        (
            "content-type".to_string(),
            "text/event-stream; charset=utf-8".to_string(),
        ),
        ("cache-control".to_string(), "no-cache".to_string()),
    ];
    h.extend(request_id_headers(req));
    h
}

/// Default head fields of a fixed response.
pub fn fixed_headers(req: &GenRequest<'_>, content_type: &str) -> Vec<(String, String)> {
    let mut h = vec![("content-type".to_string(), content_type.to_string())];
    h.extend(request_id_headers(req));
    h
}

fn json_reply(status: u16, body: String, req: &GenRequest<'_>) -> Reply {
    Reply {
        status,
        headers: fixed_headers(req, "application/json"),
        body: ReplyBody::Fixed(Bytes::from(body)),
        faults: Default::default(),
    }
}

/// Shared state of one generated response.
struct Gen<'a> {
    req: &'a GenRequest<'a>,
    words: Arc<Words>,
    model: String,
    created: u64,
    prompt_tokens: u64,
}

fn body_str<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn body_bool(v: &Value, path: &[&str]) -> Option<bool> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_bool()
}

impl<'a> Gen<'a> {
    fn new(req: &'a GenRequest<'a>, words: Arc<Words>) -> Self {
        let model = body_str(req.body, &["model"])
            .or_else(|| body_str(req.body, &["servingMode", "modelId"]))
            .map(str::to_owned)
            .or_else(|| {
                // Azure names the deployment in the path.
                let rest = req.path.strip_prefix("/openai/deployments/")?;
                Some(rest.split('/').next()?.to_owned())
            })
            .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
        Gen {
            req,
            words,
            model,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            prompt_tokens: (req.body_len as u64 / 4).max(1),
        }
    }

    fn stream(&self) -> bool {
        self.req.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    fn choices(&self) -> usize {
        self.req
            .body
            .get("n")
            .and_then(Value::as_u64)
            .map_or(1, |n| n.clamp(1, 128) as usize)
    }

    fn include_usage(&self) -> bool {
        body_bool(self.req.body, &["stream_options", "include_usage"]) == Some(true)
    }

    fn completion_tokens(&self, choices: usize) -> u64 {
        (self.req.chunks * choices) as u64
    }

    fn text(&self) -> String {
        self.words.text(self.req.chunks)
    }

    fn streamed(
        &self,
        pre: Vec<Bytes>,
        templates: Vec<Template>,
        seq_base: u64,
        post: Vec<Bytes>,
    ) -> Reply {
        let steps = self.req.chunks * templates.len();
        Reply {
            status: 200,
            headers: stream_headers(self.req),
            body: ReplyBody::Stream(Box::new(GenSource {
                pre,
                templates,
                words: self.words.clone(),
                steps,
                seq_base,
                timestamps: self.req.timestamps,
                post,
                next: 0,
            })),
            faults: super::scenario::Faults {
                delay: self.req.interval,
                ..Default::default()
            },
        }
    }

    fn fixed(&self, body: String) -> Reply {
        json_reply(200, body, self.req)
    }

    fn openai_usage(&self, choices: usize, details: bool) -> String {
        let c = self.completion_tokens(choices);
        let o = Obj::new()
            .n("prompt_tokens", self.prompt_tokens)
            .n("completion_tokens", c)
            .n("total_tokens", self.prompt_tokens + c);
        if details {
            o.raw("prompt_tokens_details", r#"{"cached_tokens":0,"audio_tokens":0}"#)
                .raw(
                    "completion_tokens_details",
                    r#"{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}"#,
                )
                .done()
        } else {
            o.done()
        }
    }

    fn chat(&self, azure: bool) -> Reply {
        const SAFE: &str = r#"{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}"#;
        let n = self.choices();
        let id = format!("chatcmpl-mock{:016}", self.req.seq);
        let usage = self.include_usage();
        if !self.stream() {
            let text = self.text();
            let choices = (0..n).map(|i| {
                let message = Obj::new()
                    .s("role", "assistant")
                    .s("content", &text)
                    .null("refusal")
                    .raw("annotations", "[]")
                    .done();
                let mut c = Obj::new();
                if azure {
                    c = c.raw("content_filter_results", SAFE);
                }
                c.n("index", i as u64)
                    .raw("message", &message)
                    .null("logprobs")
                    .s("finish_reason", "stop")
                    .done()
            });
            let mut o = Obj::new()
                .s("id", &id)
                .s("object", "chat.completion")
                .n("created", self.created)
                .s("model", &self.model)
                .raw("choices", &arr(choices));
            if azure {
                o = o.raw(
                    "prompt_filter_results",
                    &format!(r#"[{{"prompt_index":0,"content_filter_results":{SAFE}}}]"#),
                );
            }
            let o = o
                .raw("usage", &self.openai_usage(n, true))
                .s("service_tier", "default")
                .s("system_fingerprint", FINGERPRINT)
                .done();
            return self.fixed(o);
        }
        // One chunk object; `choice` is the choice's JSON.
        let chunk = |choice: String, usage_json: Option<&str>| -> String {
            let choices = if choice.is_empty() {
                "[]".to_string()
            } else {
                format!("[{choice}]")
            };
            let o = if azure {
                Obj::new()
                    .n("created", self.created)
                    .s("id", &id)
                    .s("model", &self.model)
                    .s("object", "chat.completion.chunk")
                    .s("system_fingerprint", FINGERPRINT)
                    .raw("choices", &choices)
            } else {
                Obj::new()
                    .s("id", &id)
                    .s("object", "chat.completion.chunk")
                    .n("created", self.created)
                    .s("model", &self.model)
                    .s("system_fingerprint", FINGERPRINT)
                    .raw("choices", &choices)
            };
            match usage_json {
                Some(u) => o.raw("usage", u).done(),
                None if usage => o.null("usage").done(),
                None => o.done(),
            }
        };
        let choice = |i: usize, delta: &str, finish: Option<&str>, filter: &str| -> String {
            let finish = finish.map_or("null".into(), js);
            if azure {
                Obj::new()
                    .raw("content_filter_results", filter)
                    .raw("delta", delta)
                    .raw("finish_reason", &finish)
                    .n("index", i as u64)
                    .null("logprobs")
                    .done()
            } else {
                Obj::new()
                    .n("index", i as u64)
                    .raw("delta", delta)
                    .null("logprobs")
                    .raw("finish_reason", &finish)
                    .done()
            }
        };
        let mut pre = Vec::new();
        if azure {
            pre.push(frame(
                Obj::new()
                    .raw("choices", "[]")
                    .n("created", 0)
                    .s("id", "")
                    .s("model", "")
                    .s("object", "")
                    .raw(
                        "prompt_filter_results",
                        &format!(r#"[{{"prompt_index":0,"content_filter_results":{SAFE}}}]"#),
                    )
                    .done(),
            ));
        }
        for i in 0..n {
            pre.push(frame(chunk(
                choice(
                    i,
                    r#"{"role":"assistant","content":"","refusal":null}"#,
                    None,
                    "{}",
                ),
                None,
            )));
        }
        let templates = (0..n)
            .map(|i| {
                let delta = format!(r#"{{"content":"{WORD}"}}"#);
                Template::new("data: ", &chunk(choice(i, &delta, None, SAFE), None))
            })
            .collect();
        let mut post: Vec<Bytes> = (0..n)
            .map(|i| frame(chunk(choice(i, "{}", Some("stop"), "{}"), None)))
            .collect();
        if usage {
            post.push(frame(chunk(
                String::new(),
                Some(&self.openai_usage(n, true)),
            )));
        }
        post.push(data_frame("[DONE]"));
        self.streamed(pre, templates, 0, post)
    }

    fn completions(&self) -> Reply {
        let n = self.choices();
        let id = format!("cmpl-mock{:016}", self.req.seq);
        let head = || {
            Obj::new()
                .s("id", &id)
                .s("object", "text_completion")
                .n("created", self.created)
                .s("model", &self.model)
        };
        let choice = |i: usize, text: &str, finish: Option<&str>| {
            Obj::new()
                .raw("text", text)
                .n("index", i as u64)
                .null("logprobs")
                .raw("finish_reason", &finish.map_or("null".into(), js))
                .done()
        };
        if !self.stream() {
            let text = js(&self.text());
            let o = head()
                .raw(
                    "choices",
                    &arr((0..n).map(|i| choice(i, &text, Some("stop")))),
                )
                .raw("usage", &self.openai_usage(n, false))
                .s("system_fingerprint", FINGERPRINT)
                .done();
            return self.fixed(o);
        }
        let templates = (0..n)
            .map(|i| {
                let c = choice(i, &format!("\"{WORD}\""), None);
                Template::new("data: ", &head().raw("choices", &format!("[{c}]")).done())
            })
            .collect();
        let mut post: Vec<Bytes> = (0..n)
            .map(|i| {
                let c = choice(i, "\"\"", Some("stop"));
                frame(head().raw("choices", &format!("[{c}]")).done())
            })
            .collect();
        if self.include_usage() {
            post.push(frame(
                head()
                    .raw("choices", "[]")
                    .raw("usage", &self.openai_usage(n, false))
                    .done(),
            ));
        }
        post.push(data_frame("[DONE]"));
        self.streamed(Vec::new(), templates, 0, post)
    }

    fn responses(&self) -> Reply {
        let rid = format!("resp_mock{:016}", self.req.seq);
        let mid = format!("msg_mock{:016}", self.req.seq);
        let text = self.text();
        let c = self.completion_tokens(1);
        let usage = Obj::new()
            .n("input_tokens", self.prompt_tokens)
            .raw("input_tokens_details", r#"{"cached_tokens":0}"#)
            .n("output_tokens", c)
            .raw("output_tokens_details", r#"{"reasoning_tokens":0}"#)
            .n("total_tokens", self.prompt_tokens + c)
            .done();
        let part = |t: &str| {
            Obj::new()
                .s("type", "output_text")
                .s("text", t)
                .raw("annotations", "[]")
                .done()
        };
        let item = |status: &str, content: &str| {
            Obj::new()
                .s("id", &mid)
                .s("type", "message")
                .s("status", status)
                .s("role", "assistant")
                .raw("content", content)
                .done()
        };
        let completed_item = item("completed", &format!("[{}]", part(&text)));
        let response = |status: &str, output: &str, usage: Option<&str>| {
            let o = Obj::new()
                .s("id", &rid)
                .s("object", "response")
                .n("created_at", self.created)
                .s("status", status)
                .s("model", &self.model)
                .raw("output", output);
            match usage {
                Some(u) => o.raw("usage", u).done(),
                None => o.done(),
            }
        };
        if !self.stream() {
            return self.fixed(response(
                "completed",
                &format!("[{completed_item}]"),
                Some(&usage),
            ));
        }
        let ev = |kind: &str, seq: u64| Obj::new().s("type", kind).n("sequence_number", seq);
        let pre = vec![
            named(
                "response.created",
                ev("response.created", 0)
                    .raw("response", &response("in_progress", "[]", None))
                    .done(),
            ),
            named(
                "response.in_progress",
                ev("response.in_progress", 1)
                    .raw("response", &response("in_progress", "[]", None))
                    .done(),
            ),
            named(
                "response.output_item.added",
                ev("response.output_item.added", 2)
                    .n("output_index", 0)
                    .raw("item", &item("in_progress", "[]"))
                    .done(),
            ),
            named(
                "response.content_part.added",
                ev("response.content_part.added", 3)
                    .s("item_id", &mid)
                    .n("output_index", 0)
                    .n("content_index", 0)
                    .raw("part", &part(""))
                    .done(),
            ),
        ];
        let delta = Obj::new()
            .s("type", "response.output_text.delta")
            .raw("sequence_number", SEQ)
            .s("item_id", &mid)
            .n("output_index", 0)
            .n("content_index", 0)
            .raw("delta", &format!("\"{WORD}\""))
            .raw("logprobs", "[]")
            .done();
        let templates = vec![Template::new(
            "event: response.output_text.delta\ndata: ",
            &delta,
        )];
        let s = 4 + self.req.chunks as u64;
        let post = vec![
            named(
                "response.output_text.done",
                ev("response.output_text.done", s)
                    .s("item_id", &mid)
                    .n("output_index", 0)
                    .n("content_index", 0)
                    .s("text", &text)
                    .raw("logprobs", "[]")
                    .done(),
            ),
            named(
                "response.content_part.done",
                ev("response.content_part.done", s + 1)
                    .s("item_id", &mid)
                    .n("output_index", 0)
                    .n("content_index", 0)
                    .raw("part", &part(&text))
                    .done(),
            ),
            named(
                "response.output_item.done",
                ev("response.output_item.done", s + 2)
                    .n("output_index", 0)
                    .raw("item", &completed_item)
                    .done(),
            ),
            named(
                "response.completed",
                ev("response.completed", s + 3)
                    .raw(
                        "response",
                        &response("completed", &format!("[{completed_item}]"), Some(&usage)),
                    )
                    .done(),
            ),
        ];
        self.streamed(pre, templates, 4, post)
    }

    fn messages(&self) -> Reply {
        let id = format!("msg_mock{:016}", self.req.seq);
        let c = self.completion_tokens(1);
        if !self.stream() {
            let content = format!(
                "[{}]",
                Obj::new().s("type", "text").s("text", &self.text()).done()
            );
            let usage = Obj::new()
                .n("input_tokens", self.prompt_tokens)
                .n("output_tokens", c)
                .done();
            return self.fixed(
                Obj::new()
                    .s("id", &id)
                    .s("type", "message")
                    .s("role", "assistant")
                    .s("model", &self.model)
                    .raw("content", &content)
                    .s("stop_reason", "end_turn")
                    .null("stop_sequence")
                    .raw("usage", &usage)
                    .done(),
            );
        }
        let message = Obj::new()
            .s("id", &id)
            .s("type", "message")
            .s("role", "assistant")
            .s("model", &self.model)
            .raw("content", "[]")
            .null("stop_reason")
            .null("stop_sequence")
            .raw(
                "usage",
                &Obj::new()
                    .n("input_tokens", self.prompt_tokens)
                    .n("output_tokens", 1)
                    .done(),
            )
            .done();
        let pre = vec![
            named(
                "message_start",
                Obj::new()
                    .s("type", "message_start")
                    .raw("message", &message)
                    .done(),
            ),
            named(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                    .into(),
            ),
            named("ping", r#"{"type":"ping"}"#.into()),
        ];
        let delta = format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{WORD}"}}}}"#
        );
        let templates = vec![Template::new("event: content_block_delta\ndata: ", &delta)];
        let post = vec![
            named(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#.into(),
            ),
            named(
                "message_delta",
                format!(
                    r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{c}}}}}"#
                ),
            ),
            named("message_stop", r#"{"type":"message_stop"}"#.into()),
        ];
        self.streamed(pre, templates, 0, post)
    }

    fn oci_stream(&self, field: &[&str]) -> bool {
        // OCI streams only when asked, but a mock meant for streaming tests
        // treats a missing flag as "stream".
        body_bool(self.req.body, field) != Some(false)
    }

    fn oci_generate_text(&self) -> Reply {
        let s = self.req.seq;
        let id = format!("{:08x}-0000-4000-8000-{:012x}", s, s);
        if !self.oci_stream(&["inferenceRequest", "isStream"]) {
            let texts = format!(
                "[{}]",
                Obj::new().s("id", &id).s("text", &self.text()).done()
            );
            return self.fixed(
                Obj::new()
                    .s("modelId", &self.model)
                    .s("modelVersion", "1.0")
                    .raw(
                        "inferenceResponse",
                        &Obj::new()
                            .s("runtimeType", "COHERE")
                            .raw("generatedTexts", &texts)
                            .done(),
                    )
                    .done(),
            );
        }
        let t = Obj::new()
            .s("id", &id)
            .raw("text", &format!("\"{WORD}\""))
            .done();
        self.streamed(Vec::new(), vec![Template::new("data: ", &t)], 0, Vec::new())
    }

    fn oci_chat(&self) -> Reply {
        let cohere = body_str(self.req.body, &["chatRequest", "apiFormat"])
            .is_some_and(|f| f.eq_ignore_ascii_case("COHERE"));
        let text = self.text();
        let c = self.completion_tokens(1);
        let usage = Obj::new()
            .n("completionTokens", c)
            .n("promptTokens", self.prompt_tokens)
            .n("totalTokens", c + self.prompt_tokens)
            .done();
        let history = || {
            let user = body_str(self.req.body, &["chatRequest", "message"]).unwrap_or("");
            format!(
                "[{},{}]",
                Obj::new().s("role", "USER").s("message", user).done(),
                Obj::new().s("role", "CHATBOT").s("message", &text).done()
            )
        };
        let message =
            |t: &str| format!(r#"{{"role":"ASSISTANT","content":[{{"type":"TEXT","text":{t}}}]}}"#);
        if !self.oci_stream(&["chatRequest", "isStream"]) {
            let chat = if cohere {
                Obj::new()
                    .s("apiFormat", "COHERE")
                    .s("text", &text)
                    .raw("chatHistory", &history())
                    .s("finishReason", "COMPLETE")
                    .done()
            } else {
                let choice = Obj::new()
                    .n("index", 0)
                    .raw("message", &message(&js(&text)))
                    .s("finishReason", "stop")
                    .done();
                Obj::new()
                    .s("apiFormat", "GENERIC")
                    .raw("choices", &format!("[{choice}]"))
                    .raw("usage", &usage)
                    .done()
            };
            return self.fixed(
                Obj::new()
                    .s("modelId", &self.model)
                    .s("modelVersion", "1.0")
                    .raw("chatResponse", &chat)
                    .done(),
            );
        }
        if cohere {
            let t = Obj::new()
                .s("apiFormat", "COHERE")
                .raw("text", &format!("\"{WORD}\""))
                .done();
            let last = Obj::new()
                .s("apiFormat", "COHERE")
                .s("text", &text)
                .s("finishReason", "COMPLETE")
                .raw("chatHistory", &history())
                .done();
            return self.streamed(
                Vec::new(),
                vec![Template::new("data: ", &t)],
                0,
                vec![frame(last)],
            );
        }
        let t = Obj::new()
            .n("index", 0)
            .raw("message", &message(&format!("\"{WORD}\"")))
            .done();
        let post = vec![
            frame(
                Obj::new()
                    .raw("message", &message("\"\""))
                    .s("finishReason", "stop")
                    .done(),
            ),
            frame(Obj::new().raw("usage", &usage).done()),
            data_frame("[DONE]"),
        ];
        self.streamed(Vec::new(), vec![Template::new("data: ", &t)], 0, post)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::scenario::split_frames;

    fn request<'a>(method: &'a str, path: &'a str, body: &'a Value) -> GenRequest<'a> {
        GenRequest {
            method,
            path,
            body,
            body_len: 100,
            chunks: Words::default_count(),
            interval: None,
            timestamps: false,
            seq: 1,
        }
    }

    /// Streams the reply; returns (event type, data) pairs and the raw bytes.
    fn events(reply: Reply) -> (Vec<(String, String)>, Vec<u8>) {
        let ReplyBody::Stream(mut src) = reply.body else {
            panic!("not a stream")
        };
        let mut raw = Vec::new();
        while src.next_frame(&mut raw) {}
        let mut out = Vec::new();
        for f in split_frames(&raw) {
            let text = std::str::from_utf8(&f).unwrap();
            let mut event = "message".to_string();
            let mut data = String::new();
            for line in text.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.into();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.into();
                }
            }
            out.push((event, data));
        }
        (out, raw)
    }

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
    }

    fn fixed(reply: Reply) -> Value {
        let ReplyBody::Fixed(b) = reply.body else {
            panic!("not fixed")
        };
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn words_cycle_with_spaces() {
        let w = Words::new(DEFAULT_TEXT);
        assert_eq!(w.text(Words::default_count()), DEFAULT_TEXT);
        assert_eq!(w.text(9), format!("{DEFAULT_TEXT} Hello! This"));
        assert_eq!(w.escaped(0), b"Hello!");
        assert_eq!(w.escaped(7), b" Hello!");
        let q = Words::new("a\"b c");
        assert_eq!(q.escaped(0), b"a\\\"b");
    }

    #[test]
    fn openai_chat_stream_with_usage_and_n() {
        let body = json(
            r#"{"model":"gpt-x","stream":true,"n":2,"stream_options":{"include_usage":true}}"#,
        );
        let (ev, _) = events(default_reply(&request(
            "POST",
            "/v1/chat/completions",
            &body,
        )));
        // 2 role chunks, 7 * 2 content chunks, 2 finish chunks, usage, [DONE].
        assert_eq!(ev.len(), 2 + 14 + 2 + 1 + 1);
        assert_eq!(ev.last().unwrap().1, "[DONE]");
        let first = json(&ev[0].1);
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["model"], "gpt-x");
        assert_eq!(first["system_fingerprint"], FINGERPRINT);
        assert_eq!(
            first["choices"][0]["delta"],
            json(r#"{"role":"assistant","content":"","refusal":null}"#)
        );
        assert!(first["usage"].is_null() && first.get("usage").is_some());
        assert!(ev[0].1.starts_with(r#"{"id":"chatcmpl-mock"#));
        let mut text = [String::new(), String::new()];
        for (_, d) in &ev[2..16] {
            let c = json(d);
            let i = c["choices"][0]["index"].as_u64().unwrap() as usize;
            assert!(c["choices"][0]["finish_reason"].is_null());
            text[i].push_str(c["choices"][0]["delta"]["content"].as_str().unwrap());
        }
        assert_eq!(text, [DEFAULT_TEXT, DEFAULT_TEXT]);
        let fin = json(&ev[16].1);
        assert_eq!(fin["choices"][0]["delta"], json("{}"));
        assert_eq!(fin["choices"][0]["finish_reason"], "stop");
        let usage = json(&ev[18].1);
        assert_eq!(usage["choices"], json("[]"));
        assert_eq!(usage["usage"]["completion_tokens"], 14);
        assert_eq!(usage["usage"]["prompt_tokens"], 25);
        assert_eq!(usage["usage"]["total_tokens"], 39);
    }

    #[test]
    fn openai_chat_without_usage_has_no_usage_field() {
        let body = json(r#"{"stream":true}"#);
        let (ev, _) = events(default_reply(&request("POST", "/chat/completions", &body)));
        assert_eq!(ev.len(), 1 + 7 + 1 + 1);
        for (_, d) in &ev[..ev.len() - 1] {
            assert!(json(d).get("usage").is_none());
            assert_eq!(json(d)["model"], DEFAULT_MODEL);
        }
    }

    #[test]
    fn azure_shapes() {
        let body = json(r#"{"stream":true}"#);
        let req = request("POST", "/openai/deployments/my-gpt/chat/completions", &body);
        let (ev, _) = events(default_reply(&req));
        let first = json(&ev[0].1);
        assert_eq!(first["choices"], json("[]"));
        assert_eq!(first["prompt_filter_results"][0]["prompt_index"], 0);
        for (_, d) in &ev[1..ev.len() - 1] {
            let c = json(d);
            assert!(c["choices"][0].get("content_filter_results").is_some());
            assert_eq!(c["model"], "my-gpt");
        }
        assert!(ev[2].1.starts_with(r#"{"created":"#));
        let c = json(&ev[2].1);
        assert_eq!(
            c["choices"][0]["content_filter_results"]["hate"]["severity"],
            "safe"
        );
        let req = request("POST", "/openai/v1/chat/completions", &body);
        let (ev, _) = events(default_reply(&req));
        assert_eq!(json(&ev[0].1)["choices"], json("[]"));
    }

    #[test]
    fn non_stream_chat() {
        let body = json(r#"{"model":"m","n":3}"#);
        let v = fixed(default_reply(&request(
            "POST",
            "/v1/chat/completions",
            &body,
        )));
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"].as_array().unwrap().len(), 3);
        assert_eq!(v["choices"][2]["index"], 2);
        assert_eq!(v["choices"][0]["message"]["content"], DEFAULT_TEXT);
        assert_eq!(v["usage"]["completion_tokens"], 21);
    }

    #[test]
    fn completions() {
        let body = json(r#"{"stream":true,"model":"i"}"#);
        let (ev, _) = events(default_reply(&request("POST", "/v1/completions", &body)));
        assert_eq!(ev.len(), 7 + 1 + 1);
        let text: String = ev[..7]
            .iter()
            .map(|(_, d)| json(d)["choices"][0]["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, DEFAULT_TEXT);
        assert_eq!(json(&ev[0].1)["object"], "text_completion");
        assert_eq!(json(&ev[7].1)["choices"][0]["finish_reason"], "stop");
        let v = fixed(default_reply(&request(
            "POST",
            "/v1/completions",
            &json("{}"),
        )));
        assert_eq!(v["choices"][0]["text"], DEFAULT_TEXT);
    }

    #[test]
    fn responses_api() {
        let body = json(r#"{"stream":true,"model":"r"}"#);
        let (ev, _) = events(default_reply(&request("POST", "/v1/responses", &body)));
        let kinds: Vec<&str> = ev.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(kinds[0], "response.created");
        assert_eq!(kinds[4], "response.output_text.delta");
        assert_eq!(*kinds.last().unwrap(), "response.completed");
        assert_eq!(kinds.len(), 4 + 7 + 4);
        for (i, (e, d)) in ev.iter().enumerate() {
            let v = json(d);
            assert_eq!(v["type"], e.as_str());
            assert_eq!(v["sequence_number"], i as u64);
        }
        let done = json(&ev.last().unwrap().1);
        assert_eq!(done["response"]["usage"]["output_tokens"], 7);
        assert_eq!(
            done["response"]["output"][0]["content"][0]["text"],
            DEFAULT_TEXT
        );
    }

    #[test]
    fn anthropic_messages() {
        let body = json(r#"{"stream":true,"model":"claude"}"#);
        let (ev, _) = events(default_reply(&request("POST", "/v1/messages", &body)));
        let kinds: Vec<&str> = ev.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(kinds[..3], ["message_start", "content_block_start", "ping"]);
        assert_eq!(
            kinds[kinds.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"]
        );
        let text: String = ev[3..10]
            .iter()
            .map(|(_, d)| json(d)["delta"]["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, DEFAULT_TEXT);
        for (e, d) in &ev {
            assert_eq!(json(d)["type"], e.as_str());
        }
        assert_eq!(json(&ev[ev.len() - 2].1)["usage"]["output_tokens"], 7);
        let v = fixed(default_reply(&request("POST", "/v1/messages", &json("{}"))));
        assert_eq!(v["content"][0]["text"], DEFAULT_TEXT);
    }

    #[test]
    fn oci_shapes() {
        let body = json(
            r#"{"servingMode":{"modelId":"cohere.command"},"inferenceRequest":{"runtimeType":"COHERE","isStream":true}}"#,
        );
        let (ev, _) = events(default_reply(&request(
            "POST",
            "/20231130/actions/generateText",
            &body,
        )));
        assert_eq!(ev.len(), 7);
        assert!(json(&ev[0].1)["id"].is_string());
        assert_eq!(json(&ev[1].1)["text"], " This");

        let body = json(r#"{"chatRequest":{"apiFormat":"GENERIC","isStream":true}}"#);
        let (ev, _) = events(default_reply(&request(
            "POST",
            "/20231130/actions/chat",
            &body,
        )));
        assert_eq!(ev.len(), 7 + 3);
        assert_eq!(json(&ev[0].1)["message"]["content"][0]["text"], "Hello!");
        assert_eq!(json(&ev[7].1)["finishReason"], "stop");
        assert_eq!(json(&ev[8].1)["usage"]["completionTokens"], 7);
        assert_eq!(ev[9].1, "[DONE]");

        let body = json(r#"{"chatRequest":{"apiFormat":"COHERE","message":"Hi?"}}"#);
        let (ev, _) = events(default_reply(&request(
            "POST",
            "/20231130/actions/chat",
            &body,
        )));
        assert_eq!(ev.len(), 8);
        let last = json(&ev[7].1);
        assert_eq!(last["text"], DEFAULT_TEXT);
        assert_eq!(last["finishReason"], "COMPLETE");
        assert_eq!(last["chatHistory"][0]["message"], "Hi?");
        assert_eq!(json(&ev[0].1)["apiFormat"], "COHERE");
    }

    #[test]
    fn unknown_paths_get_404() {
        let body = json("{}");
        let r = default_reply(&request("POST", "/v1/nothing", &body));
        assert_eq!(r.status, 404);
        let v = fixed(r);
        assert_eq!(v["error"]["message"], "Invalid URL (POST /v1/nothing)");
        let r = default_reply(&request("GET", "/v1/chat/completions", &body));
        assert_eq!(r.status, 404);
    }

    #[test]
    fn timestamps_and_many_chunks() {
        let body = json(r#"{"stream":true}"#);
        let mut req = request("POST", "/v1/chat/completions", &body);
        req.chunks = 1000;
        req.timestamps = true;
        let (ev, raw) = events(default_reply(&req));
        assert_eq!(ev.len(), 1000 + 3);
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        for (_, d) in &ev[1..1001] {
            let v = json(d);
            let ts = v["x_sent_ns"].as_u64().unwrap();
            assert!(ts <= before && ts > before - 60_000_000_000);
        }
        assert!(json(&ev[0].1).get("x_sent_ns").is_none());
        assert!(raw.ends_with(b"data: [DONE]\n\n"));
    }

    #[test]
    fn load_headers_parse() {
        let h = |v: &[(&str, &str)]| {
            load_headers(
                &v.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(h(&[]), (7, None, false));
        assert_eq!(
            h(&[
                ("x-mock-chunks", "200000"),
                ("x-mock-interval-ms", "50"),
                ("x-mock-timestamps", "1")
            ]),
            (200_000, Some(Duration::from_millis(50)), true)
        );
        assert_eq!(
            h(&[("x-mock-interval-ms", "0.5")]).1,
            Some(Duration::from_micros(500))
        );
        assert_eq!(h(&[("x-mock-interval-ms", "-1")]).1, None);
    }
}
