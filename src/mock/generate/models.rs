//! OpenAI's non-streamed endpoints the drop-in clients hand to the openai SDK
//! (`models`, `embeddings`): `GET /v1/models`, `GET /v1/models/{id}` and
//! `POST /v1/embeddings`, with deterministic values so tests can assert them.

use base64::Engine;
use serde_json::{json, Value};

use super::common::{json_reply, GenRequest, DEFAULT_MODEL};
use crate::mock::scenario::Reply;
use crate::mock::status::error_body;

/// The models `GET /v1/models` lists, in order.
pub const MODELS: [&str; 3] = [DEFAULT_MODEL, "gpt-4o-mini", "text-embedding-3-small"];
/// The length of an embedding when the request gives no `dimensions`.
pub const DEFAULT_DIMENSIONS: usize = 8;
const CREATED: u64 = 1_700_000_000;

fn model_json(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": CREATED, "owned_by": "sserpent"})
}

/// `GET .../models` and `GET .../models/{id}`; other GETs get none.
pub(super) fn get_route(path: &str) -> Option<super::Route> {
    let path = path.trim_end_matches('/');
    if path.ends_with("/models") {
        return Some(super::Route::Models);
    }
    let (head, id) = path.rsplit_once('/')?;
    (head.ends_with("/models") && !id.is_empty()).then_some(super::Route::Model)
}

pub(super) fn list(req: &GenRequest<'_>) -> Reply {
    let data: Vec<Value> = MODELS.iter().map(|m| model_json(m)).collect();
    json_reply(
        200,
        json!({"object": "list", "data": data}).to_string(),
        req,
    )
}

pub(super) fn retrieve(req: &GenRequest<'_>, id: &str) -> Reply {
    if MODELS.contains(&id) {
        return json_reply(200, model_json(id).to_string(), req);
    }
    json_reply(
        404,
        error_body(
            &format!("The model '{id}' does not exist"),
            "invalid_request_error",
            Some("model_not_found"),
        ),
        req,
    )
}

/// A vector that depends only on `text` and `dims`: FNV-1a of the text
/// seeds an xorshift generator.
pub fn vector(text: &str, dims: usize) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            // Multiples of 1/1024 in [-1, 1): exact in f32, so the float and
            // base64 encodings decode to the same numbers.
            ((h >> 53) as i64 - 1024) as f32 / 1024.0
        })
        .collect();
    if v.iter().all(|x| *x == 0.0) && dims > 0 {
        v[0] = 1.0;
    }
    v
}

fn inputs(body: &Value) -> Option<Vec<String>> {
    match body.get("input")? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect(),
        ),
        // Token arrays: one input of numbers, or a list of them.
        Value::Array(items) if items.iter().all(Value::is_number) => {
            Some(vec![Value::Array(items.clone()).to_string()])
        }
        Value::Array(items) if items.iter().all(Value::is_array) => {
            Some(items.iter().map(Value::to_string).collect())
        }
        _ => None,
    }
}

pub(super) fn embeddings(req: &GenRequest<'_>) -> Reply {
    let bad = |m: &str, param: &str| {
        let body = error_body(m, "invalid_request_error", None);
        let mut v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["error"]["param"] = json!(param);
        json_reply(400, v.to_string(), req)
    };
    let Some(texts) = inputs(req.body) else {
        return bad(
            "'input' must be a string, an array of strings or an array of token arrays",
            "input",
        );
    };
    let dims = match req.body.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(d) => match d.as_u64() {
            Some(n @ 1..=4096) => n as usize,
            _ => {
                return bad(
                    "'dimensions' must be an integer from 1 to 4096",
                    "dimensions",
                )
            }
        },
    };
    let base64 = match req.body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return bad(
                "'encoding_format' must be 'float' or 'base64'",
                "encoding_format",
            )
        }
    };
    let model = req
        .body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_MODEL);
    let tokens: usize = texts
        .iter()
        .map(|t| t.split_whitespace().count().max(1))
        .sum();
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v = vector(t, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    json_reply(200, body.to_string(), req)
}

#[cfg(test)]
mod tests {
    use super::super::default_reply;
    use super::super::testing::{fixed, json, request};
    use super::*;

    #[test]
    fn lists_and_retrieves_models() {
        let body = json("{}");
        let v = fixed(default_reply(&request("GET", "/v1/models", &body)));
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][1]["id"], "gpt-4o-mini");
        assert_eq!(v["data"].as_array().map(Vec::len), Some(3));
        let v = fixed(default_reply(&request(
            "GET",
            "/v1/models/gpt-4o-mini",
            &body,
        )));
        assert_eq!(v, model_json("gpt-4o-mini"));
        let r = default_reply(&request("GET", "/v1/models/nope", &body));
        assert_eq!(r.status, 404);
    }

    #[test]
    fn embeddings_are_deterministic_in_both_encodings() {
        let body = json(r#"{"model":"m","input":["a b","c"],"dimensions":4}"#);
        let v = fixed(default_reply(&request("POST", "/v1/embeddings", &body)));
        assert_eq!(v["data"][0]["embedding"], json!(vector("a b", 4)));
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        let body = json(r#"{"model":"m","input":"a b","dimensions":4,"encoding_format":"base64"}"#);
        let v = fixed(default_reply(&request("POST", "/v1/embeddings", &body)));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f32> = raw
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(floats, vector("a b", 4));
        let body = json(r#"{"model":"m","input":5}"#);
        assert_eq!(
            default_reply(&request("POST", "/v1/embeddings", &body)).status,
            400
        );
    }
}
