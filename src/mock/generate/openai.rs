//! OpenAI's Chat Completions, in Azure OpenAI's variant too (content filter
//! results, its own field order), and the legacy Completions, streamed or
//! not.

use bytes::Bytes;

use super::common::Gen;
use super::template::{frame, Template, WORD};
use crate::mock::json::{arr, js, Obj};
use crate::mock::scenario::{data_frame, Reply};

const FINGERPRINT: &str = "fp_sserpent";

impl Gen<'_> {
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

    pub(super) fn chat(&self, azure: bool) -> Reply {
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

    pub(super) fn completions(&self) -> Reply {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::generate::testing::{events, fixed, json, request};
    use crate::mock::generate::{default_reply, DEFAULT_MODEL, DEFAULT_TEXT};

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
}
