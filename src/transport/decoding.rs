//! A response body's content coding, decoded in bounded slices on its way to the
//! pipeline (so a small gzip body that expands to gigabytes goes through the
//! bounded channel a slice at a time).

use crate::items::pipeline::{Out, Pipeline};
use crate::transport::messages::StreamFault;
use crate::transport::response::Response;
use crate::wire::encoding::Gzip;

/// Decoded bytes handed to the pipeline at a time: gzip input that expands
/// further (a few KiB can hold gigabytes) is decoded on the next round,
/// after the items so far went through the bounded channel.
const DECODED_SLICE: usize = 256 * 1024;

/// Feeds the pipeline the body as its content coding decodes it.
pub(super) struct Decoding {
    gzip: Option<Gzip>,
    coding: String,
    buf: Vec<u8>,
    /// Input not decoded yet (its output would pass the slice).
    rest: bytes::Bytes,
    /// The decoder stopped at the slice and may hold output.
    more: bool,
    /// Why the body stopped decoding.
    failed: Option<String>,
}

impl Decoding {
    pub(super) fn new(resp: &Response) -> Self {
        let coding = crate::wire::encoding::coding_name(resp.headers());
        let (gzip, failed) = match crate::wire::encoding::decoder_for(resp.headers()) {
            Ok(g) => (g, None),
            Err(e) => (None, Some(e)),
        };
        Decoding {
            gzip,
            coding,
            buf: Vec::new(),
            rest: bytes::Bytes::new(),
            more: false,
            failed,
        }
    }

    pub(super) fn ok(&self) -> bool {
        self.failed.is_none()
    }

    /// Decoded input is waiting: call [`Decoding::step`] before reading more.
    pub(super) fn pending(&self) -> bool {
        self.failed.is_none() && (self.more || !self.rest.is_empty())
    }

    /// Feeds what `bytes` decode to (up to a corrupt spot, and at most one
    /// slice; see [`Decoding::pending`]) to the pipeline.
    pub(super) fn feed(&mut self, bytes: bytes::Bytes, pipeline: &mut Pipeline, out: &mut Out) {
        debug_assert!(!self.pending());
        self.rest = bytes;
        self.step(pipeline, out);
    }

    /// Decodes the next slice of what is pending.
    pub(super) fn step(&mut self, pipeline: &mut Pipeline, out: &mut Out) {
        if self.failed.is_some() {
            self.rest = bytes::Bytes::new();
            return;
        }
        match &mut self.gzip {
            None => pipeline.feed(&std::mem::take(&mut self.rest), out),
            Some(g) => {
                self.buf.clear();
                let res = g.feed_some(&self.rest, &mut self.buf, DECODED_SLICE);
                pipeline.feed(&self.buf, out);
                match res {
                    Ok((used, more)) => {
                        let _ = self.rest.split_to(used);
                        self.more = more;
                    }
                    Err(e) => {
                        self.failed = Some(e);
                        self.rest = bytes::Bytes::new();
                        self.more = false;
                    }
                }
                if self.buf.capacity() > 2 * DECODED_SLICE {
                    self.buf = Vec::new();
                }
            }
        }
    }

    /// The body ended: the pipeline is finished unless the coding was cut short.
    pub(super) fn finish(&mut self, pipeline: &mut Pipeline, out: &mut Out) {
        if let (None, Some(g)) = (&self.failed, &self.gzip) {
            self.failed = g.finish().err();
        }
        if self.failed.is_none() {
            pipeline.finish(out);
        }
    }

    pub(super) fn fault(&self, chunks: u64) -> Option<StreamFault> {
        self.failed.as_ref().map(|why| {
            StreamFault::Decoding(format!(
                "the {}-encoded response body could not be decoded after {chunks} complete chunks: {why}",
                self.coding
            ))
        })
    }
}
