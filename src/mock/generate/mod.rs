//! The mock server's default responses: what each provider sends for a
//! request when no scripted response is queued, in the providers' own wire
//! shapes (compare `tests/fixtures/wire/*.sse`). Here the routing by path
//! and what every shape shares; one file per wire shape renders its frames
//! with the templates of `template.rs`.
//!
//! Request headers steer the load: `x-mock-chunks: N` content chunks
//! (cycling the words of [`DEFAULT_TEXT`]), `x-mock-interval-ms: F` between
//! frames, `x-mock-timestamps: 1` adds `"x_sent_ns"` (CLOCK_REALTIME) to
//! every content chunk as it is written.

mod anthropic;
mod oci;
mod openai;
mod responses;
mod template;
#[cfg(test)]
mod testing;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

use super::scenario::{Reply, ReplyBody};
use super::status::error_body;
use template::{GenSource, Template, Words};

/// The default reply, split into word tokens.
pub const DEFAULT_TEXT: &str = "Hello! This is the sserpent mock server.";
pub const DEFAULT_MODEL: &str = "sserpent-mock";

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
}

#[cfg(test)]
mod tests {
    use super::testing::{fixed, json, request};
    use super::*;

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
