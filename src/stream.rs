//! One stream's reader task: sends the request, then reads, decodes and
//! parses ahead of the consumer into the bounded channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::accumulate::Accumulator;
use crate::channel::Channel;
use crate::encoding::Gzip;
use crate::http::{send_with_retries, ClientOptions, HttpError, RequestSpec, ResponseHead};
use crate::metrics::Metrics;
use crate::pipeline::{Ending, Fault, Item, Mode, Out, Pipeline};
use crate::text::text_delta;

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

/// How the consumer reads the stream (fixed when it starts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Chunks,
    Events,
    Text,
    /// Not a stream: the whole body, parsed as one JSON document.
    Body,
}

#[derive(Debug)]
pub enum Msg {
    Head(ResponseHead),
    Item(Item),
    Text(String),
    Fault(StreamFault),
    End,
}

#[derive(Debug)]
pub enum StreamFault {
    Http(HttpError),
    Pipeline(Fault),
    /// The connection broke in the middle of the body.
    Broken(String),
    /// The body could not be decoded per its `Content-Encoding` (corrupt or truncated).
    Decoding(String),
}

/// The fault for a failed read of the body, after `chunks` complete chunks.
fn broken(e: &reqwest::Error, chunks: u64) -> StreamFault {
    StreamFault::Broken(format!(
        "the connection broke after {chunks} complete chunks: {}",
        crate::http::describe_plain(e)
    ))
}

/// Feeds the pipeline the body as its content coding decodes it.
struct Decoding {
    gzip: Option<Gzip>,
    coding: String,
    buf: Vec<u8>,
    /// Why the body stopped decoding.
    failed: Option<String>,
}

impl Decoding {
    fn new(resp: &reqwest::Response) -> Self {
        let coding = crate::encoding::coding_name(resp.headers());
        let (gzip, failed) = match crate::encoding::decoder_for(resp.headers()) {
            Ok(g) => (g, None),
            Err(e) => (None, Some(e)),
        };
        Decoding {
            gzip,
            coding,
            buf: Vec::new(),
            failed,
        }
    }

    fn ok(&self) -> bool {
        self.failed.is_none()
    }

    /// Feeds what `bytes` decode to (up to a corrupt spot) to the pipeline.
    fn feed(&mut self, bytes: &[u8], pipeline: &mut Pipeline, out: &mut Out) {
        if self.failed.is_some() {
            return;
        }
        match &mut self.gzip {
            None => pipeline.feed(bytes, out),
            Some(g) => {
                self.buf.clear();
                let res = g.feed(bytes, &mut self.buf);
                pipeline.feed(&self.buf, out);
                self.failed = res.err();
            }
        }
    }

    /// The body ended: the pipeline is finished unless the coding was cut short.
    fn finish(&mut self, pipeline: &mut Pipeline, out: &mut Out) {
        if let (None, Some(g)) = (&self.failed, &self.gzip) {
            self.failed = g.finish().err();
        }
        if self.failed.is_none() {
            pipeline.finish(out);
        }
    }

    fn fault(&self, chunks: u64) -> Option<StreamFault> {
        self.failed.as_ref().map(|why| {
            StreamFault::Decoding(format!(
                "the {}-encoded response body could not be decoded after {chunks} complete chunks: {why}",
                self.coding
            ))
        })
    }
}

pub struct StreamTask {
    pub client: reqwest::Client,
    pub spec: RequestSpec,
    pub opts: ClientOptions,
    pub channel: Arc<Channel<Msg>>,
    pub metrics: Arc<Metrics>,
    /// The view, decided by the consumer's first read (`open()` does not decide it).
    pub view: tokio::sync::watch::Receiver<Option<View>>,
    pub resolved: View,
    pub max_event_size: usize,
    pub ending: Option<Ending>,
    /// Folds every chunk into the `final()` result (chunk views only).
    pub acc: Option<Arc<std::sync::Mutex<Accumulator>>>,
}

/// Bytes drained after the terminator so the connection can go back to the
/// pool (the server usually sends its last bytes right after `[DONE]`).
const DRAIN_LIMIT: usize = 64 * 1024;
const DRAIN_WAIT: Duration = Duration::from_millis(200);
/// Bytes gathered from frames already received before a batch is handed over.
const BATCH_BYTES: usize = 256 * 1024;

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
        match outcome {
            Ok(()) => channel.push_now(Msg::End),
            Err(fault) => channel.push_now(Msg::Fault(fault)),
        }
        channel.close();
    }

    async fn work(&mut self) -> Result<(), StreamFault> {
        let metrics = &self.metrics;
        let mut resp = send_with_retries(&self.client, &self.spec, &self.opts, |n| {
            metrics.with(|m| m.attempts = n)
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
        let mode = if self.resolved == View::Events {
            Mode::Events
        } else {
            Mode::Chunks
        };
        let mut pipeline = Pipeline::new(mode, self.max_event_size).requiring_events();
        if let Some(e) = self.ending {
            pipeline = pipeline.with_ending(e);
        }
        let mut out = Out::new();
        let mut seen_text = false;
        let read_timeout = self.opts.read_timeout;
        let mut body = Decoding::new(&resp);
        if let Some(fault) = body.fault(0) {
            return Err(fault);
        }
        loop {
            let read = tokio::time::timeout(read_timeout, resp.chunk()).await;
            let at = Instant::now();
            match read {
                Err(_) => {
                    self.deliver(&mut out, at, &mut seen_text).await;
                    return Err(StreamFault::Http(HttpError::Timeout(format!(
                        "no data received for {:.3}s (read_timeout) after {} chunks",
                        read_timeout.as_secs_f64(),
                        metrics.with(|m| m.chunks)
                    ))));
                }
                Ok(Err(e)) => {
                    self.deliver(&mut out, at, &mut seen_text).await;
                    let chunks = metrics.with(|m| m.chunks);
                    return Err(broken(&e, chunks));
                }
                Ok(Ok(Some(bytes))) => {
                    let mut received = bytes.len();
                    body.feed(&bytes, &mut pipeline, &mut out);
                    // Take whatever else the socket already delivered before handing
                    // the batch over: one wake-up and one lock per batch, not per frame.
                    let mut ended = None;
                    while received < BATCH_BYTES && !pipeline.finished() && body.ok() {
                        match resp.chunk().now_or_never() {
                            Some(Ok(Some(more))) => {
                                received += more.len();
                                body.feed(&more, &mut pipeline, &mut out);
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
                            self.deliver(&mut out, at, &mut seen_text).await;
                            let chunks = metrics.with(|m| m.chunks);
                            return Err(broken(&e, chunks));
                        }
                        _ => {}
                    }
                    if !body.ok() && !pipeline.finished() {
                        // Everything decoded before the corrupt or missing part goes first.
                        if self.deliver(&mut out, at, &mut seen_text).await {
                            let chunks = metrics.with(|m| m.chunks);
                            return Err(body.fault(chunks).expect("failed"));
                        }
                        return Ok(());
                    }
                    if !self.deliver(&mut out, at, &mut seen_text).await || ended.is_some() {
                        return Ok(());
                    }
                    if pipeline.finished() {
                        self.drain_rest(&mut resp).await;
                        return Ok(());
                    }
                }
                Ok(Ok(None)) => {
                    body.finish(&mut pipeline, &mut out);
                    if self.deliver(&mut out, at, &mut seen_text).await {
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
    async fn deliver(&self, out: &mut Out, at: Instant, seen_text: &mut bool) -> bool {
        if out.is_empty() {
            return true;
        }
        if let Some(acc) = &self.acc {
            let mut acc = acc.lock().unwrap_or_else(|e| e.into_inner());
            for item in out.iter() {
                if let Ok(Item::Chunk(c)) = item {
                    acc.add(c);
                }
            }
        }
        let mut msgs = Vec::with_capacity(out.len());
        let mut marks: Vec<bool> = Vec::with_capacity(out.len());
        let mut fault = None;
        for item in out.drain(..) {
            match item {
                Ok(Item::Chunk(c)) => {
                    let text = if self.resolved == View::Text || !*seen_text {
                        text_delta(&c).map(|t| t.into_owned())
                    } else {
                        None
                    };
                    *seen_text |= text.is_some();
                    marks.push(text.is_some());
                    match self.resolved {
                        View::Text => {
                            if let Some(t) = text {
                                msgs.push(Msg::Text(t));
                            }
                        }
                        _ => msgs.push(Msg::Item(Item::Chunk(c))),
                    }
                }
                Ok(Item::Event(e)) => {
                    marks.push(false);
                    msgs.push(Msg::Item(Item::Event(e)));
                }
                Err(f) => {
                    fault = Some(f);
                    break;
                }
            }
        }
        out.clear();
        self.metrics.with(|m| {
            for has_text in &marks {
                m.chunk(at, *has_text);
            }
        });
        if !self.channel.push_many(msgs).await {
            return false;
        }
        if let Some(f) = fault {
            // Everything before the fault was delivered; the fault ends the stream.
            self.metrics.with(|m| m.ended_at = Some(Instant::now()));
            self.channel.push_now(Msg::Fault(StreamFault::Pipeline(f)));
            self.channel.close();
            return false;
        }
        self.channel.flush();
        true
    }

    /// A non-streamed response: read it whole (bounded) and parse it.
    async fn read_body(&self, mut resp: reqwest::Response) -> Result<(), StreamFault> {
        let mut body = Vec::new();
        let coding = crate::encoding::coding_name(resp.headers());
        let undecodable = |why: String| {
            StreamFault::Decoding(format!(
                "the {coding}-encoded response body could not be decoded: {why}"
            ))
        };
        let mut gzip = crate::encoding::decoder_for(resp.headers()).map_err(undecodable)?;
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
                        "the connection broke while reading the response: {}",
                        crate::http::describe_plain(&e)
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
                            crate::sse::SseError::EventTooLarge {
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
        let event = crate::sse::Event {
            event: None,
            data: text,
            id: Arc::from(""),
        };
        match crate::json::Doc::tape(&event.data) {
            Ok(nodes) => {
                let doc = Arc::new(crate::json::Doc {
                    text: event.data,
                    nodes,
                });
                let (schema, _) = crate::schema::detect(&doc);
                let parsed = crate::pipeline::Parsed {
                    doc,
                    schema,
                    event: None,
                };
                if let Some(acc) = &self.acc {
                    acc.lock().unwrap_or_else(|e| e.into_inner()).add(&parsed);
                }
                self.metrics.with(|m| m.chunk(Instant::now(), false));
                self.channel.push_now(Msg::Item(Item::Chunk(parsed)));
                Ok(())
            }
            Err(error) => Err(StreamFault::Pipeline(Fault::InvalidJson { error, event })),
        }
    }

    async fn drain_rest(&self, resp: &mut reqwest::Response) {
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            match tokio::time::timeout(DRAIN_WAIT, resp.chunk()).await {
                Ok(Ok(Some(b))) => drained += b.len(),
                _ => break,
            }
        }
    }
}
