//! Ollama's native API: `/api/chat` and `/api/generate` stream NDJSON
//! (`application/x-ndjson`), one object a line with `"done": false`, then a
//! last line with `"done": true`, `done_reason` and the eval counts and
//! durations. Streams unless the body says `"stream": false`, as Ollama does.

use super::common::Gen;
use super::template::{Template, WORD};
use crate::mock::json::Obj;
use crate::mock::scenario::Reply;

/// RFC 3339 UTC for Unix seconds (days to civil date, Howard Hinnant's algorithm).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Gen<'_> {
    pub(super) fn ollama(&self, generate: bool) -> Reply {
        let created_at = rfc3339(self.created);
        let head = Obj::new()
            .s("model", &self.model)
            .s("created_at", &created_at);
        let last = |content: &str| {
            let o = if generate {
                head.clone().s("response", content)
            } else {
                head.clone().raw(
                    "message",
                    &Obj::new()
                        .s("role", "assistant")
                        .s("content", content)
                        .done(),
                )
            };
            o.b("done", true)
                .s("done_reason", "stop")
                .n("total_duration", 4_883_583_458)
                .n("load_duration", 1_334_875)
                .n("prompt_eval_count", self.prompt_tokens)
                .n("prompt_eval_duration", 342_546_000)
                .n("eval_count", self.req.chunks as u64)
                .n("eval_duration", 4_535_599_000)
                .done()
        };
        if self
            .req
            .body
            .get("stream")
            .and_then(serde_json::Value::as_bool)
            == Some(false)
        {
            return self.fixed(last(&self.text()));
        }
        let word = if generate {
            head.clone().raw("response", &format!("\"{WORD}\""))
        } else {
            head.clone().raw(
                "message",
                &format!(r#"{{"role":"assistant","content":"{WORD}"}}"#),
            )
        }
        .b("done", false)
        .done();
        let post = vec![bytes::Bytes::from(last("") + "\n")];
        let mut reply = self.streamed(Vec::new(), vec![Template::line(&word)], 0, post);
        for (k, v) in &mut reply.headers {
            if k.eq_ignore_ascii_case("content-type") {
                *v = "application/x-ndjson".into();
            }
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use crate::mock::generate::testing::{fixed, json, request};
    use crate::mock::generate::{default_reply, DEFAULT_TEXT};
    use crate::mock::scenario::ReplyBody;

    fn lines(path: &str, body: &str) -> (Vec<serde_json::Value>, Vec<u8>, String) {
        let body = json(body);
        let reply = default_reply(&request("POST", path, &body));
        let ct = reply.headers[0].1.clone();
        let ReplyBody::Stream(mut src) = reply.body else {
            panic!("not a stream")
        };
        let mut raw = Vec::new();
        while src.next_frame(&mut raw) {}
        let text = String::from_utf8(raw.clone()).unwrap();
        (text.lines().map(json).collect(), raw, ct)
    }

    #[test]
    fn chat_and_generate_stream_ndjson() {
        let (v, raw, ct) = lines("/api/chat", r#"{"model":"llama3.2","messages":[]}"#);
        assert_eq!(ct, "application/x-ndjson");
        assert!(raw.ends_with(b"}\n") && !raw.windows(2).any(|w| w == b"\n\n"));
        let text: String = v[..v.len() - 1]
            .iter()
            .map(|l| l["message"]["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, DEFAULT_TEXT);
        assert!(v[..v.len() - 1].iter().all(|l| l["done"] == false));
        let end = &v[v.len() - 1];
        assert_eq!(
            (end["done"].clone(), end["eval_count"].clone()),
            (true.into(), 7.into())
        );
        assert_eq!(end["model"], "llama3.2");
        let (v, _, _) = lines("/api/generate", r#"{"model":"m","prompt":"p"}"#);
        assert_eq!(v[0]["response"], "Hello!");
        assert_eq!(v[v.len() - 1]["done_reason"], "stop");
        let f = fixed(default_reply(&request(
            "POST",
            "/api/chat",
            &json(r#"{"stream":false}"#),
        )));
        assert_eq!(f["message"]["content"], DEFAULT_TEXT);
        assert_eq!(f["done"], true);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
