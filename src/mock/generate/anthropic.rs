//! Anthropic's Messages API: `message_start`, one text content block streamed
//! as `content_block_delta` events, then `message_delta` (the usage) and
//! `message_stop`.

use super::common::Gen;
use super::template::{named, Template, WORD};
use crate::mock::json::Obj;
use crate::mock::scenario::Reply;

impl Gen<'_> {
    pub(super) fn messages(&self) -> Reply {
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
}

#[cfg(test)]
mod tests {
    use crate::mock::generate::testing::{events, fixed, json, request};
    use crate::mock::generate::{default_reply, DEFAULT_TEXT};

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
}
