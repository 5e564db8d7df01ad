//! The cost of `Doc::tape` per document, on chunks as the providers send them.
//!
//!     cargo run --release --no-default-features --example tape_bench -- [DOC] [N]
//!
//! DOC is one of `chunk`, `first`, `finish`, `gemini` (default `chunk`), or `chunk-after`:
//! the OpenAI chunk read against the one before it (`LastTape`, as a stream's pipeline
//! reads; two chunks that differ in their content, alternately); N the number of
//! parses (default 1,000,000). It prints the best ns/doc of five rounds. For instructions
//! per document, run it under `valgrind --tool=callgrind` at two N and subtract.

use std::hint::black_box;
use std::time::Instant;

use sserpent::wire::json::{Doc, LastTape};

const CHUNK: &str = r#"{"id":"chatcmpl-9lMgfRSWPHcw51s6wxKT1YEO2CKpd","object":"chat.completion.chunk","created":1721075653,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_e9b8ed65d2","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}"#;
const FIRST: &str = r#"{"id":"chatcmpl-9lMgfRSWPHcw51s6wxKT1YEO2CKpd","object":"chat.completion.chunk","created":1721075653,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_e9b8ed65d2","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#;
const FINISH: &str = r#"{"id":"chatcmpl-9lMgfRSWPHcw51s6wxKT1YEO2CKpd","object":"chat.completion.chunk","created":1721075653,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_e9b8ed65d2","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":48,"total_tokens":60,"prompt_tokens_details":{"cached_tokens":0}}}"#;
const GEMINI: &str = r#"{"candidates":[{"content":{"parts":[{"text":"Hello! \"Quoted\" line\nand a tab\t\u00e9 here."}],"role":"model"},"finishReason":"STOP","index":0,"safetyRatings":[{"category":"HARM_CATEGORY_HATE_SPEECH","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"NEGLIGIBLE"}]}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":12,"totalTokenCount":17,"scores":[0.5,-1.25e-3]},"modelVersion":"gemini-1.5-flash"}"#;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "chunk".into());
    let n: usize = args.next().map_or(1_000_000, |a| a.parse().expect("N"));
    let text = match which.as_str() {
        "chunk" => CHUNK,
        "first" => FIRST,
        "finish" => FINISH,
        "gemini" => GEMINI,
        "chunk-after" => return after(n),
        other => panic!("unknown document {other:?}"),
    };
    let nodes = Doc::tape(text).expect("a valid document").len();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            black_box(Doc::tape(black_box(text)).map(|v| v.len()).ok());
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!(
        "{which}: {} bytes, {nodes} nodes, {best:.1} ns/doc (best of 5 x {n})",
        text.len()
    );
}

/// The OpenAI chunk read against the one before it, whose content differs.
fn after(n: usize) {
    let other = CHUNK.replace(r#"" world""#, r#""Hello""#);
    let texts = [CHUNK, other.as_str()];
    let mut last = LastTape::default();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for i in 0..n {
            let nodes = last
                .tape(black_box(texts[i & 1]))
                .expect("a valid document");
            black_box(nodes.len());
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!(
        "chunk-after: {} bytes, {best:.1} ns/doc (best of 5 x {n})",
        CHUNK.len()
    );
}
