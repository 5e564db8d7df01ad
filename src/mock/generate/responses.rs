//! OpenAI's Responses API: named `response.*` events, every one with its
//! sequence number, around the output text's deltas.

use super::common::Gen;
use super::template::{named, Template, SEQ, WORD};
use crate::mock::json::Obj;
use crate::mock::scenario::Reply;

impl Gen<'_> {
    pub(super) fn responses(&self) -> Reply {
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
}

#[cfg(test)]
mod tests {
    use crate::mock::generate::testing::{events, json, request};
    use crate::mock::generate::{default_reply, DEFAULT_TEXT};

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
}
