//! The HTTP/1.1 response reader of the socket-direct path (src/transport/h1:
//! `response.rs` parses the head, `framing.rs` finds where the body ends).
//!
//! Input layout: `[method] [cuts] [piece length]{cuts % 8} response...`
//! - `method` odd: the request was a HEAD (no body whatever the head says);
//! - `cuts % 8` piece lengths cut the response into the reads that deliver it
//!   (the rest is the last read).
//!
//! Checked, besides "no panic":
//! - read in the chosen pieces, and one byte at a time, the outcome (the head's
//!   status, fields, framing and reusability; the body; how it ended, and the
//!   error's message) is exactly the outcome of one read of everything;
//! - the buffer never holds more than the head limit plus one read before the
//!   head parses, and a body never yields more bytes than its `Content-Length`
//!   nor any bytes after it is done.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sserpent::transport::h1::framing::{Decoder, Framing};
use sserpent::transport::h1::response::{response, MAX_HEAD};

#[derive(Debug, PartialEq)]
struct Outcome {
    head: Option<(u16, Vec<(String, Vec<u8>)>, Framing, bool)>,
    body: Vec<u8>,
    /// `Ok(true)`: the body completed; `Ok(false)`: more bytes were needed.
    end: Result<bool, String>,
}

fn read(method: &http::Method, pieces: &[&[u8]]) -> Outcome {
    let mut buf = BytesMut::new();
    let mut out = Outcome { head: None, body: Vec::new(), end: Ok(false) };
    let mut decoder: Option<(Decoder, Framing)> = None;
    for piece in pieces {
        buf.extend_from_slice(piece);
        if decoder.is_none() {
            match response(&mut buf, method) {
                Ok(None) => {
                    assert!(buf.len() <= MAX_HEAD + piece.len(), "the head buffer is bounded");
                    continue;
                }
                Ok(Some(h)) => {
                    let fields = h
                        .headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
                        .collect();
                    out.head = Some((h.status, fields, h.framing, h.reusable));
                    decoder = Some((Decoder::new(h.framing), h.framing));
                }
                Err(e) => {
                    out.end = Err(e);
                    return out;
                }
            }
        }
        let (d, framing) = decoder.as_mut().expect("set above");
        loop {
            let was_done = d.done();
            match d.decode(&mut buf) {
                Ok(Some(data)) => {
                    assert!(!was_done, "no body bytes after the body is done");
                    assert!(!data.is_empty());
                    out.body.extend_from_slice(&data);
                    if let Framing::Length(n) = framing {
                        assert!(out.body.len() as u64 <= *n, "no more than Content-Length");
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.end = Err(e.to_string());
                    return out;
                }
            }
        }
        if d.done() {
            out.end = Ok(true);
            return out; // what follows is the next response's (or garbage): not read
        }
    }
    if let Some((d, _)) = decoder.as_mut() {
        out.end = match d.eof() {
            Ok(()) => Ok(true),
            Err(e) => Err(e.to_string()),
        };
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let method = if data[0] & 1 == 1 { http::Method::HEAD } else { http::Method::POST };
    let cuts = (data[1] % 8) as usize;
    if data.len() < 2 + cuts {
        return;
    }
    let lengths = &data[2..2 + cuts];
    let wire = &data[2 + cuts..];
    let whole = read(&method, &[wire]);
    let mut pieces = Vec::new();
    let mut rest = wire;
    for &n in lengths {
        let n = (n as usize).min(rest.len());
        pieces.push(&rest[..n]);
        rest = &rest[n..];
    }
    pieces.push(rest);
    assert_eq!(read(&method, &pieces), whole, "the chosen reads");
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(read(&method, &bytes), whole, "one byte a read");
});
