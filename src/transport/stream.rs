//! One stream's reader task: sends the request, then reads, decodes and
//! parses ahead of the consumer into the bounded channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::items::accumulate::Accumulator;
use crate::items::pipeline::{Ending, Fault, Framing, Item, Mode, Out, Pipeline};
use crate::items::text::{reasoning_delta, text_delta};
use crate::transport::channel::Channel;
use crate::transport::decoding::Decoding;
use crate::transport::http::{ClientOptions, HttpError, RequestSpec, ResponseHead};
use crate::transport::idle_timer::IdleTimer;
use crate::transport::messages::{broken, Msg, StreamFault, View};
use crate::transport::metrics::Metrics;
use crate::transport::release;
use crate::transport::response::Response;
use crate::transport::retry::{failure_kind, send_with_retries};
use crate::wire::json::Doc;

/// Reader tasks alive right now (a leak check: returns to zero when every
/// stream has ended or been dropped).
pub static LIVE_TASKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct LiveTask;

impl LiveTask {
    fn new() -> Self {
        LIVE_TASKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        LiveTask
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        LIVE_TASKS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

pub struct StreamTask {
    pub upstream: crate::transport::http::Upstream,
    /// The stream's place in the client's pool, given back when the task ends.
    pub lease: crate::transport::pools::Lease,
    pub spec: RequestSpec,
    pub opts: ClientOptions,
    pub channel: Arc<Channel<Msg>>,
    pub metrics: Arc<Metrics>,
    /// The view, decided by the consumer's first read (`open()` does not decide it).
    pub view: tokio::sync::watch::Receiver<Option<View>>,
    pub resolved: View,
    pub max_event_size: usize,
    pub ending: Option<Ending>,
    /// SSE or NDJSON; `None`: as the response's `Content-Type` says.
    pub framing: Option<Framing>,
    /// False: a stream owing `data: [DONE]` may end without it.
    pub require_done: bool,
    /// `final()`'s result: every chunk is folded into it here, before it is delivered.
    pub acc: Option<Arc<std::sync::Mutex<Accumulator>>>,
}

/// Bytes drained after the terminator so the connection can go back to the
/// pool (the server usually sends its last bytes right after `[DONE]`).
const DRAIN_LIMIT: usize = 64 * 1024;
const DRAIN_WAIT: Duration = Duration::from_millis(200);
/// Bytes gathered from frames already received before a batch is handed over.
const BATCH_BYTES: usize = 256 * 1024;

/// What the deliveries of one stream have done so far.
#[derive(Default)]
struct Delivered {
    /// A chunk carried text (the first one's is looked for; then only `text()`'s).
    seen_text: bool,
}

impl StreamTask {
    pub async fn run(mut self) {
        // Counted until the future completes or is dropped (aborted).
        let _live = LiveTask::new();
        let started = Instant::now();
        self.metrics.with(|m| m.start(started));
        let channel = self.channel.clone();
        let metrics = self.metrics.clone();
        let total = self.opts.total_timeout;
        let work = self.work();
        let outcome = match total {
            Some(t) => tokio::time::timeout(t, work).await.unwrap_or_else(|_| {
                Err(StreamFault::Http(HttpError::Timeout(format!(
                    "the stream exceeded its total timeout of {:.3}s",
                    t.as_secs_f64()
                ))))
            }),
            None => work.await,
        };
        // The end time is recorded before the consumer can see the end.
        metrics.with(|m| {
            m.ended_at.get_or_insert_with(Instant::now);
        });
        // A stream's end may be the last read for a while: leave no batch waiting (before
        // the end is pushed, so a consumer that saw it sees this done).
        release::collect();
        match outcome {
            Ok(()) => channel.push_now(Msg::End),
            Err(fault) => channel.push_now(Msg::Fault(fault)),
        }
        channel.close();
    }

    async fn work(&mut self) -> Result<(), StreamFault> {
        let metrics = &self.metrics;
        let mut resp = send_with_retries(&self.upstream, &self.spec, &self.opts, |n, failed| {
            metrics.with(|m| {
                m.attempts = n;
                if let Some(e) = failed {
                    m.retries.push((Instant::now(), n, failure_kind(e)));
                }
            })
        })
        .await
        .map_err(StreamFault::Http)?;
        let head_at = Instant::now();
        metrics.with(|m| m.headers_at = Some(head_at));
        if !self.channel.push(Msg::Head(ResponseHead::of(&resp))).await {
            return Ok(());
        }
        self.channel.flush();
        let mut rx = self.view.clone();
        self.resolved = match rx.wait_for(Option::is_some).await {
            Ok(v) => v.unwrap_or(View::Chunks),
            Err(_) => return Ok(()), // the stream was dropped
        };
        if self.resolved == View::Body {
            return self.read_body(resp).await;
        }
        let mode = match self.resolved {
            View::Events | View::RawEvents => Mode::Events,
            _ => Mode::Chunks,
        };
        let mut pipeline = Pipeline::new(mode, self.max_event_size).requiring_events();
        if let Some(e) = self.ending {
            pipeline = pipeline.with_ending(e);
        }
        let framing = self.framing.unwrap_or_else(|| {
            let ct = resp.headers().get(reqwest::header::CONTENT_TYPE);
            Framing::of_content_type(ct.and_then(|v| v.to_str().ok()).unwrap_or(""))
        });
        pipeline = pipeline.with_framing(framing);
        if self.resolved == View::RawEvents {
            pipeline.keep_raw();
        }
        if !self.require_done {
            pipeline = pipeline.done_optional();
        }
        let mut out = Out::new();
        let mut batch = Vec::new();
        let mut so_far = Delivered::default();
        let read_timeout = self.opts.read_timeout;
        let mut idle = IdleTimer::new(read_timeout);
        let mut body = Decoding::new(&resp);
        if let Some(fault) = body.fault(0) {
            return Err(fault);
        }
        loop {
            let read = idle.run(resp.chunk()).await;
            let at = Instant::now();
            idle.touch(at);
            match read {
                Err(_) => {
                    self.deliver(&mut out, &mut batch, at, &mut so_far).await;
                    return Err(StreamFault::Http(HttpError::Timeout(format!(
                        "no data received for {:.3}s (read_timeout) after {} chunks",
                        read_timeout.as_secs_f64(),
                        metrics.with(|m| m.chunks)
                    ))));
                }
                Ok(Err(e)) => {
                    self.deliver(&mut out, &mut batch, at, &mut so_far).await;
                    let chunks = metrics.with(|m| m.chunks);
                    return Err(broken(&e, chunks));
                }
                Ok(Ok(Some(bytes))) => {
                    let mut received = bytes.len();
                    body.feed(bytes, &mut pipeline, &mut out);
                    // Take whatever else the socket already delivered before handing
                    // the batch over: one wake-up and one lock per batch, not per frame.
                    let mut ended = None;
                    while received < BATCH_BYTES
                        && !pipeline.finished()
                        && body.ok()
                        && !body.pending()
                    {
                        match resp.chunk().now_or_never() {
                            Some(Ok(Some(more))) => {
                                received += more.len();
                                body.feed(more, &mut pipeline, &mut out);
                            }
                            Some(Ok(None)) => {
                                ended = Some(Ok(()));
                                break;
                            }
                            Some(Err(e)) => {
                                ended = Some(Err(e));
                                break;
                            }
                            None => break,
                        }
                    }
                    metrics.with(|m| m.bytes += received as u64);
                    match ended {
                        Some(Ok(())) => body.finish(&mut pipeline, &mut out),
                        Some(Err(e)) if body.ok() => {
                            self.deliver(&mut out, &mut batch, at, &mut so_far).await;
                            let chunks = metrics.with(|m| m.chunks);
                            return Err(broken(&e, chunks));
                        }
                        _ => {}
                    }
                    loop {
                        if !body.ok() && !pipeline.finished() {
                            // Everything decoded before the corrupt or missing part goes first.
                            if self.deliver(&mut out, &mut batch, at, &mut so_far).await {
                                let chunks = metrics.with(|m| m.chunks);
                                return Err(body.fault(chunks).expect("failed"));
                            }
                            return Ok(());
                        }
                        if !self.deliver(&mut out, &mut batch, at, &mut so_far).await
                            || ended.is_some()
                        {
                            return Ok(());
                        }
                        // Decoded input left over: its next slice, once the items so
                        // far went through the bounded channel.
                        if !body.pending() || pipeline.finished() {
                            break;
                        }
                        body.step(&mut pipeline, &mut out);
                    }
                    if pipeline.finished() {
                        self.drain_rest(&mut resp).await;
                        return Ok(());
                    }
                }
                Ok(Ok(None)) => {
                    body.finish(&mut pipeline, &mut out);
                    if self.deliver(&mut out, &mut batch, at, &mut so_far).await {
                        if let Some(fault) = body.fault(metrics.with(|m| m.chunks)) {
                            return Err(fault);
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Hands the items of one read to the consumer. Returns false when the
    /// consumer is gone or a fault ended the stream (pushed as its last message).
    async fn deliver(
        &self,
        out: &mut Out,
        batch: &mut Vec<Msg>,
        at: Instant,
        so_far: &mut Delivered,
    ) -> bool {
        if out.is_empty() {
            return true;
        }
        // `final()`'s fold, before the chunks leave this thread. (From 2026-12-07 a stream
        // delivered in large batches handed it to its consumer, then the busier thread;
        // with chunks read against the one before them (`wire/json/retape.rs`) this one
        // is the less busy, and the hand-over was removed: docs/performance.md.)
        if let Some(acc) = self.acc.as_ref() {
            let mut acc = acc.lock().unwrap_or_else(|e| e.into_inner());
            // A stream closed meanwhile (its channel cancelled under this lock): `final()`
            // may have been read already, and must not change after it (found in review:
            // a large delivery parsed while the consumer closed was folded after the close).
            if !self.channel.is_cancelled() {
                for item in out.iter() {
                    if let Ok(Item::Chunk(c)) = item {
                        acc.add(c);
                    }
                }
            }
        }
        let mut fault = None;
        let resolved = self.resolved;
        let seen_text = &mut so_far.seen_text;
        self.metrics.with(|m| {
            for item in out.drain(..) {
                match item {
                    Ok(Item::Chunk(c)) => {
                        let text = if resolved == View::Text || !*seen_text {
                            text_delta(&c).map(|t| t.into_owned())
                        } else {
                            None
                        };
                        *seen_text |= text.is_some();
                        m.chunk(at, text.is_some());
                        match resolved {
                            View::Text => {
                                if let Some(t) = text {
                                    batch.push(Msg::Text(t));
                                }
                            }
                            View::Reasoning => {
                                if let Some(t) = reasoning_delta(&c) {
                                    batch.push(Msg::Text(t.into_owned()));
                                }
                            }
                            _ => batch.push(Msg::Item(Item::Chunk(c))),
                        }
                    }
                    Ok(Item::Event(e)) => {
                        m.chunk(at, false);
                        batch.push(Msg::Item(Item::Event(e)));
                    }
                    Err(f) => {
                        fault = Some(f);
                        break;
                    }
                }
            }
        });
        out.clear();
        let delivered = self.channel.push_many(batch).await;
        // Chunks' documents the consumer let go of, freed here (see `release.rs`): after
        // this read's items are on their way, so the frees never delay them.
        release::collect();
        if !delivered {
            return false;
        }
        if let Some(f) = fault {
            // Everything before the fault was delivered; the fault ends the stream.
            self.metrics.with(|m| m.ended_at = Some(Instant::now()));
            self.channel.push_now(Msg::Fault(StreamFault::Pipeline(f)));
            self.channel.close();
            return false;
        }
        true
    }

    /// A non-streamed response: read it whole (bounded) and parse it.
    async fn read_body(&self, mut resp: Response) -> Result<(), StreamFault> {
        let mut body = Vec::new();
        let coding = crate::wire::encoding::coding_name(resp.headers());
        let undecodable = |why: String| {
            StreamFault::Decoding(format!(
                "the {coding}-encoded response body could not be decoded: {why}"
            ))
        };
        let mut gzip = crate::wire::encoding::decoder_for(resp.headers()).map_err(undecodable)?;
        let mut decoded = Vec::new();
        loop {
            let read = tokio::time::timeout(self.opts.read_timeout, resp.chunk()).await;
            match read {
                Err(_) => {
                    return Err(StreamFault::Http(HttpError::Timeout(format!(
                        "no data received for {:.3}s (read_timeout)",
                        self.opts.read_timeout.as_secs_f64()
                    ))))
                }
                Ok(Err(e)) => {
                    return Err(StreamFault::Http(HttpError::Body(format!(
                        "the connection broke while reading the response: {e}"
                    ))))
                }
                Ok(Ok(Some(raw))) => {
                    let b: &[u8] = match &mut gzip {
                        None => &raw,
                        Some(g) => {
                            decoded.clear();
                            g.feed(&raw, &mut decoded).map_err(undecodable)?;
                            &decoded
                        }
                    };
                    if body.len() + b.len() > self.max_event_size {
                        return Err(StreamFault::Pipeline(Fault::Sse(
                            crate::wire::sse::SseError::EventTooLarge {
                                limit: self.max_event_size,
                            },
                        )));
                    }
                    body.extend_from_slice(b);
                }
                Ok(Ok(None)) => {
                    if let Some(g) = &gzip {
                        g.finish().map_err(undecodable)?;
                    }
                    break;
                }
            }
        }
        self.metrics.with(|m| m.bytes += body.len() as u64);
        let text = String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let event = crate::wire::sse::Event {
            event: None,
            data: text,
            id: Arc::from(""),
            raw: None,
        };
        match Doc::tape(&event.data) {
            Ok(nodes) => {
                let doc = Arc::new(Doc::new(event.data, nodes));
                let (mut schema, _) = crate::providers::openai::schema::detect(&doc);
                if std::ptr::eq(schema, &crate::providers::openai::schema::ANY) {
                    schema = crate::providers::ollama::detect(&doc);
                }
                let parsed = crate::items::pipeline::Parsed {
                    doc,
                    schema,
                    event: None,
                };
                if let Some(acc) = &self.acc {
                    acc.lock().unwrap_or_else(|e| e.into_inner()).add(&parsed);
                }
                // The body was read whole: it ends before it is handed over, so
                // `is_closed` and `elapsed` are final when the consumer gets it.
                let now = Instant::now();
                self.metrics.with(|m| {
                    m.chunk(now, false);
                    m.ended_at = Some(now);
                });
                self.channel.push_now(Msg::Item(Item::Chunk(parsed)));
                Ok(())
            }
            Err(error) => Err(StreamFault::Pipeline(Fault::InvalidJson { error, event })),
        }
    }

    async fn drain_rest(&self, resp: &mut Response) {
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            match tokio::time::timeout(DRAIN_WAIT, resp.chunk()).await {
                Ok(Ok(Some(b))) => drained += b.len(),
                _ => break,
            }
        }
    }
}
