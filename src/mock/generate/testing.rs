//! What the generators' unit tests share: a request with the default load,
//! and a reply read back as SSE events or as JSON.

use serde_json::Value;

use super::common::GenRequest;
use super::template::Words;
use crate::mock::scenario::{split_frames, Reply, ReplyBody};

pub(super) fn request<'a>(method: &'a str, path: &'a str, body: &'a Value) -> GenRequest<'a> {
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
pub(super) fn events(reply: Reply) -> (Vec<(String, String)>, Vec<u8>) {
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

pub(super) fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

pub(super) fn fixed(reply: Reply) -> Value {
    let ReplyBody::Fixed(b) = reply.body else {
        panic!("not fixed")
    };
    serde_json::from_slice(&b).unwrap()
}
