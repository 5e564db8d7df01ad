//! The mock server's default responses: what each provider sends for a
//! request when no scripted response is queued, in the providers' own wire
//! shapes (compare `tests/fixtures/wire/*.sse` and `*.ndjson`). Here the routing
//! by path; one file per wire shape (`openai.rs`, `responses.rs`, `anthropic.rs`,
//! `oci.rs`, `ollama.rs`: NDJSON) renders it, with what `common.rs` and `template.rs` share.
//! shapes (compare `tests/fixtures/wire/*.sse`). Here the routing by path;
//! one file per wire shape (`openai.rs`, `responses.rs`, `anthropic.rs`,
//! `oci.rs`, `gemini.rs`) renders it, with what `common.rs` and `template.rs` share.
//!
//! Request headers steer the load: `x-mock-chunks: N` content chunks
//! (cycling the words of [`DEFAULT_TEXT`]), `x-mock-interval-ms: F` between
//! frames, `x-mock-timestamps: 1` adds `"x_sent_ns"` (CLOCK_REALTIME) to
//! every content chunk as it is written.

mod anthropic;
mod common;
mod gemini;
mod models;
mod oci;
mod ollama;
mod openai;
mod responses;
mod template;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use super::scenario::Reply;
use super::status::error_body;
use common::{json_reply, Gen};
use template::Words;

pub use common::{fixed_headers, load_headers, stream_headers, GenRequest, DEFAULT_MODEL};
pub use template::DEFAULT_TEXT;

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
        Route::OllamaChat => g.ollama(false),
        Route::OllamaGenerate => g.ollama(true),
        Route::Gemini { stream } => g.gemini(stream),
        Route::Models => models::list(req),
        Route::Model => models::retrieve(
            req,
            req.path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(""),
        ),
        Route::Embeddings => models::embeddings(req),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Chat {
        azure: bool,
    },
    Completions,
    Responses,
    Messages,
    OciGenerateText,
    OciChat,
    /// Ollama's native `/api/chat` and `/api/generate` (NDJSON).
    OllamaChat,
    OllamaGenerate,
    /// `/v1beta/models/{model}:streamGenerateContent` (or `:generateContent`), and
    /// Vertex AI's `/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:...`.
    Gemini {
        stream: bool,
    },
    /// `GET .../models` (models.rs).
    Models,
    /// `GET .../models/{id}`.
    Model,
    /// `POST .../embeddings`.
    Embeddings,
}

/// Which default response a path gets (POST, and GET for the models).
pub fn route(method: &str, path: &str) -> Option<Route> {
    if method == "GET" {
        return models::get_route(path);
    }
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
    } else if path.ends_with("/api/chat") {
        Route::OllamaChat
    } else if path.ends_with("/api/generate") {
        Route::OllamaGenerate
    } else if let Some(stream) = gemini::route(path) {
        Route::Gemini { stream }
    } else if path.ends_with("/embeddings") {
        Route::Embeddings
    } else {
        return None;
    })
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
}
