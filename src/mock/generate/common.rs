//! What every wire shape's generator shares: the request as it sees it (the
//! `x-mock-*` load included), the default head fields, and [`Gen`], one
//! response's state, which the shapes' files render streamed or fixed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

use super::template::{GenSource, Template, Words};
use crate::mock::scenario::{Faults, Reply, ReplyBody};

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

pub(super) fn json_reply(status: u16, body: String, req: &GenRequest<'_>) -> Reply {
    Reply {
        status,
        headers: fixed_headers(req, "application/json"),
        body: ReplyBody::Fixed(Bytes::from(body)),
        faults: Default::default(),
    }
}

/// Shared state of one generated response.
pub(super) struct Gen<'a> {
    pub(super) req: &'a GenRequest<'a>,
    pub(super) words: Arc<Words>,
    pub(super) model: String,
    pub(super) created: u64,
    pub(super) prompt_tokens: u64,
}

pub(super) fn body_str<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

pub(super) fn body_bool(v: &Value, path: &[&str]) -> Option<bool> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_bool()
}

impl<'a> Gen<'a> {
    pub(super) fn new(req: &'a GenRequest<'a>, words: Arc<Words>) -> Self {
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

    pub(super) fn stream(&self) -> bool {
        self.req.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    pub(super) fn choices(&self) -> usize {
        self.req
            .body
            .get("n")
            .and_then(Value::as_u64)
            .map_or(1, |n| n.clamp(1, 128) as usize)
    }

    pub(super) fn include_usage(&self) -> bool {
        body_bool(self.req.body, &["stream_options", "include_usage"]) == Some(true)
    }

    pub(super) fn completion_tokens(&self, choices: usize) -> u64 {
        (self.req.chunks * choices) as u64
    }

    pub(super) fn text(&self) -> String {
        self.words.text(self.req.chunks)
    }

    pub(super) fn streamed(
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
            faults: Faults {
                delay: self.req.interval,
                ..Default::default()
            },
        }
    }

    pub(super) fn fixed(&self, body: String) -> Reply {
        json_reply(200, body, self.req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
