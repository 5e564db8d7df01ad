//! Gemini's `streamGenerateContent?alt=sse` (the Gemini API and Vertex AI): one
//! `GenerateContentResponse` per word, each with the usage counted so far, then
//! one with `finishReason: STOP` and the whole usage; CRLF line endings, as
//! Google's servers send them. `:generateContent` answers with one response.

use super::common::Gen;
use super::template::{Template, WORD};
use crate::mock::json::Obj;
use crate::mock::scenario::Reply;

/// Whether `path` is a Gemini model method (`Some(true)` for the streamed one).
pub(super) fn route(path: &str) -> Option<bool> {
    let (resource, method) = path.rsplit_once(':')?;
    if !resource.contains("/models/") {
        return None;
    }
    match method {
        "streamGenerateContent" => Some(true),
        "generateContent" => Some(false),
        _ => None,
    }
}

/// The model the path names: `.../models/{model}:method`.
fn model_of(path: &str) -> &str {
    let resource = path.rsplit_once(':').map_or(path, |(r, _)| r);
    resource.rsplit_once("/models/").map_or("", |(_, m)| m)
}

impl Gen<'_> {
    pub(super) fn gemini(&self, stream: bool) -> Reply {
        let model = model_of(self.req.path);
        let id = format!("mock{:016}", self.req.seq);
        let p = self.prompt_tokens;
        let c = self.completion_tokens(1);
        let usage = |c: Option<u64>| {
            let mut u = Obj::new().n("promptTokenCount", p);
            if let Some(c) = c {
                u = u.n("candidatesTokenCount", c);
            }
            u.n("totalTokenCount", p + c.unwrap_or(0)).done()
        };
        let response = |parts: &str, finish: bool, usage: &str| {
            let content = Obj::new().raw("parts", parts).s("role", "model").done();
            let mut candidate = Obj::new().raw("content", &content);
            if finish {
                candidate = candidate.s("finishReason", "STOP");
            }
            let candidate = candidate.n("index", 0).done();
            Obj::new()
                .raw("candidates", &format!("[{candidate}]"))
                .raw("usageMetadata", usage)
                .s("modelVersion", model)
                .s("responseId", &id)
                .done()
        };
        if !stream {
            let parts = format!("[{}]", Obj::new().s("text", &self.text()).done());
            return self.fixed(response(&parts, true, &usage(Some(c))));
        }
        let delta = response(&format!(r#"[{{"text":"{WORD}"}}]"#), false, &usage(None));
        let templates = vec![Template::new("data: ", &delta).crlf()];
        let last = response(r#"[{"text":""}]"#, true, &usage(Some(c)));
        let post = vec![bytes::Bytes::from(format!("data: {last}\r\n\r\n"))];
        self.streamed(Vec::new(), templates, 0, post)
    }
}

#[cfg(test)]
mod tests {
    use crate::mock::generate::testing::{events, fixed, json, request};
    use crate::mock::generate::{default_reply, route, Route, DEFAULT_TEXT};

    #[test]
    fn routes_the_gemini_and_vertex_paths() {
        for (path, stream) in [
            ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", true),
            ("/v1beta/models/gemini-2.5-flash:generateContent", false),
            (
                "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent",
                true,
            ),
        ] {
            assert_eq!(route("POST", path), Some(Route::Gemini { stream }), "{path}");
        }
        assert_eq!(route("POST", "/v1beta/models/x:countTokens"), None);
        assert_eq!(route("POST", "/v1beta/x:streamGenerateContent"), None);
    }

    #[test]
    fn gemini_stream() {
        let body = json(r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#);
        let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
        let (ev, raw) = events(default_reply(&request("POST", path, &body)));
        assert_eq!(ev.len(), 8);
        assert!(raw.ends_with(b"}\r\n\r\n"));
        assert!(!raw.windows(2).any(|w| w == b"\n\n"));
        let text: String = ev
            .iter()
            .map(|(_, d)| {
                json(d)["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(text, DEFAULT_TEXT);
        let last = json(&ev[7].1);
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 7);
        assert_eq!(last["modelVersion"], "gemini-2.5-flash");
        assert!(json(&ev[0].1)["candidates"][0]
            .get("finishReason")
            .is_none());
        let path = "/v1beta/models/gemini-2.5-flash:generateContent";
        let v = fixed(default_reply(&request("POST", path, &body)));
        assert_eq!(
            v["candidates"][0]["content"]["parts"][0]["text"],
            DEFAULT_TEXT
        );
        assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    }
}
