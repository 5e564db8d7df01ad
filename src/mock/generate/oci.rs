//! OCI Generative AI: `generateText` (Cohere's generated texts) and `chat`
//! in its GENERIC and COHERE formats, streamed unless the request says
//! `isStream: false`.

use super::common::{body_bool, body_str, Gen};
use super::template::{frame, Template, WORD};
use crate::mock::json::{js, Obj};
use crate::mock::scenario::{data_frame, Reply};

impl Gen<'_> {
    fn oci_stream(&self, field: &[&str]) -> bool {
        // OCI streams only when asked, but a mock meant for streaming tests
        // treats a missing flag as "stream".
        body_bool(self.req.body, field) != Some(false)
    }

    pub(super) fn oci_generate_text(&self) -> Reply {
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

    pub(super) fn oci_chat(&self) -> Reply {
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
    use crate::mock::generate::testing::{events, json, request};
    use crate::mock::generate::{default_reply, DEFAULT_TEXT};

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
}
