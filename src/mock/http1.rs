//! Just enough HTTP/1.1 for the mock server: request heads parsed with
//! `httparse`, bodies by `Content-Length` or `Transfer-Encoding: chunked`,
//! keep-alive; response heads, and chunked framing for streamed bodies.
//!
//! The parsing functions are pure (bytes in, a result and the bytes consumed
//! out) so that they are unit-tested without sockets.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::status::{error_body, reason};

/// Largest request head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024 * 1024;
const MAX_HEADERS: usize = 128;

/// A request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Names lower-cased, values decoded as UTF-8 with replacement.
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query, without its `?`.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// Whether the connection stays open after the response.
    pub fn keep_alive(&self) -> bool {
        if self.header_has_token("connection", "close") {
            return false;
        }
        self.version >= 1 || self.header_has_token("connection", "keep-alive")
    }

    pub fn expects_continue(&self) -> bool {
        self.version >= 1 && self.header_has_token("expect", "100-continue")
    }

    /// How the body is delimited.
    pub fn body_kind(&self) -> Result<BodyKind, HttpError> {
        if self.headers.iter().any(|(n, _)| n == "transfer-encoding") {
            return if self.header_has_token("transfer-encoding", "chunked") {
                Ok(BodyKind::Chunked)
            } else {
                Err(HttpError::Malformed("unsupported transfer-encoding"))
            };
        }
        match self.header("content-length") {
            None => Ok(BodyKind::Length(0)),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n <= MAX_BODY => Ok(BodyKind::Length(n)),
                Ok(_) => Err(HttpError::TooLarge),
                Err(_) => Err(HttpError::Malformed("invalid content-length")),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Length(usize),
    Chunked,
}

/// A request the server cannot read; answered with 400 (413, 431) and a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    Malformed(&'static str),
    HeadTooLarge,
    TooLarge,
}

impl HttpError {
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Malformed(_) => 400,
            HttpError::HeadTooLarge => 431,
            HttpError::TooLarge => 413,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            HttpError::Malformed(m) => m,
            HttpError::HeadTooLarge => "request head too large",
            HttpError::TooLarge => "request body too large",
        }
    }

    /// The head fields and OpenAI-style JSON body it is answered with.
    pub fn answer(&self) -> ([(String, String); 1], String) {
        let headers = [("content-type".to_string(), "application/json".to_string())];
        let body = error_body(self.message(), "invalid_request_error", None);
        (headers, body)
    }
}

/// Parses a request head at the start of `buf`: `Ok(None)` when more bytes
/// are needed, else the head and its length in bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD {
                Err(HttpError::HeadTooLarge)
            } else {
                Ok(None)
            }
        }
        Ok(httparse::Status::Complete(n)) => {
            let head = Head {
                method: req.method.unwrap_or("").to_owned(),
                target: req.path.unwrap_or("").to_owned(),
                version: req.version.unwrap_or(1),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
            };
            Ok(Some((head, n)))
        }
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::HeadTooLarge),
        Err(_) => Err(HttpError::Malformed("malformed request head")),
    }
}

/// Decodes a whole chunked body at the start of `buf` (trailers skipped):
/// `Ok(None)` when more bytes are needed, else the body and the bytes used.
pub fn parse_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let (size, n) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete((n, size))) => (size, n),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HttpError::Malformed("invalid chunk size")),
        };
        pos += n;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let rest = &buf[pos..];
                let Some(end) = memchr::memchr(b'\n', rest) else {
                    return Ok(None);
                };
                let line = &rest[..end];
                pos += end + 1;
                if line.is_empty() || line == b"\r" {
                    return Ok(Some((body, pos)));
                }
            }
        }
        let size = usize::try_from(size).map_err(|_| HttpError::TooLarge)?;
        if body.len() + size > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size;
        match &buf[pos..pos + 2] {
            b"\r\n" => pos += 2,
            _ => return Err(HttpError::Malformed("chunk not followed by CRLF")),
        }
    }
}

/// A complete request.
#[derive(Debug)]
pub struct Request {
    pub head: Head,
    pub body: Bytes,
}

/// How reading the next request ended.
#[derive(Debug)]
pub enum ReadResult {
    Request(Request),
    /// The client closed (or reset) the connection, with or without a
    /// partial request.
    Closed,
    Bad(HttpError),
}

async fn fill<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> bool {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    matches!(rd.read_buf(buf).await, Ok(n) if n > 0)
}

/// Reads the next request from `rd`, with `buf` holding bytes already read.
/// Answers `Expect: 100-continue` on `wr` before reading the body.
pub async fn read_request<R, W>(rd: &mut R, wr: &mut W, buf: &mut BytesMut) -> ReadResult
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (head, n) = loop {
        // Stray CRLFs between requests are allowed (RFC 9112, 2.2).
        while buf.starts_with(b"\r\n") || buf.starts_with(b"\n") {
            let k = if buf[0] == b'\r' { 2 } else { 1 };
            buf.advance(k);
        }
        if !buf.is_empty() {
            match parse_head(buf) {
                Ok(Some(found)) => break found,
                Ok(None) => {}
                Err(e) => return ReadResult::Bad(e),
            }
        }
        if !fill(rd, buf).await {
            return ReadResult::Closed;
        }
    };
    buf.advance(n);
    let kind = match head.body_kind() {
        Ok(k) => k,
        Err(e) => return ReadResult::Bad(e),
    };
    let body_ready = match kind {
        BodyKind::Length(len) => buf.len() >= len,
        BodyKind::Chunked => matches!(parse_chunked(buf), Ok(Some(_))),
    };
    if !body_ready
        && head.expects_continue()
        && wr
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
    {
        return ReadResult::Closed;
    }
    let body = match kind {
        BodyKind::Length(len) => {
            while buf.len() < len {
                if !fill(rd, buf).await {
                    return ReadResult::Closed;
                }
            }
            buf.split_to(len).freeze()
        }
        BodyKind::Chunked => loop {
            match parse_chunked(buf) {
                Ok(Some((body, used))) => {
                    buf.advance(used);
                    break Bytes::from(body);
                }
                Ok(None) => {
                    if !fill(rd, buf).await {
                        return ReadResult::Closed;
                    }
                }
                Err(e) => return ReadResult::Bad(e),
            }
        },
    };
    ReadResult::Request(Request { head, body })
}

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 streams).
    Chunked,
    /// Neither: the body ends when the connection closes (HTTP/1.0 streams).
    Close,
    /// The transport delimits the body (HTTP/2 DATA frames).
    Frames,
}

/// Serializes a response head. `headers` come first, in order (a caller puts
/// defaults and overrides together); the framing and `connection` headers
/// are added here unless `headers` has them already.
pub fn response_head(
    status: u16,
    headers: &[(String, String)],
    framing: Framing,
    close: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(n) if !has("content-length") => {
            out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
        }
        Framing::Chunked if !has("transfer-encoding") => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        _ => {}
    }
    if (close || framing == Framing::Close) && !has("connection") {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Room kept at the front of a [`ChunkBuf`] for the chunk-size line.
const HEADROOM: usize = 18;

/// A buffer of body bytes that goes out as one HTTP chunk: frames are
/// appended to `data()` and `take()` returns the bytes to write, chunk-size
/// line and CRLF included, with no copy.
pub struct ChunkBuf {
    buf: Vec<u8>,
    chunked: bool,
    start: usize,
}

impl ChunkBuf {
    pub fn new(chunked: bool, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + HEADROOM + 2);
        buf.resize(HEADROOM, 0);
        ChunkBuf {
            buf,
            chunked,
            start: HEADROOM,
        }
    }

    /// The buffer to append body bytes to.
    pub fn data(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Body bytes held.
    pub fn len(&self) -> usize {
        self.buf.len() - HEADROOM
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames the held bytes as one chunk; call `clear` after writing them.
    pub fn take(&mut self) -> &[u8] {
        let len = self.len();
        if len == 0 {
            return &[];
        }
        if !self.chunked {
            self.start = HEADROOM;
            return &self.buf[HEADROOM..];
        }
        let size = format!("{len:x}\r\n");
        self.start = HEADROOM - size.len();
        self.buf[self.start..HEADROOM].copy_from_slice(size.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        &self.buf[self.start..]
    }

    /// Like `take`, with the last chunk (the end of a chunked body) appended.
    pub fn take_last(&mut self) -> &[u8] {
        if !self.chunked {
            return self.take();
        }
        if self.is_empty() {
            self.start = HEADROOM;
        } else {
            self.take();
        }
        self.buf.extend_from_slice(LAST_CHUNK);
        &self.buf[self.start..]
    }

    pub fn clear(&mut self) {
        self.buf.truncate(HEADROOM);
        self.start = HEADROOM;
    }
}

/// The last chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes a whole response with a fixed body.
pub async fn write_fixed<W: AsyncWrite + Unpin>(
    wr: &mut W,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    close: bool,
) -> std::io::Result<usize> {
    let mut out = response_head(status, headers, Framing::Length(body.len()), close);
    out.extend_from_slice(body);
    wr.write_all(&out).await?;
    Ok(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head_in_pieces() {
        let raw = b"POST /v1/chat/completions?api-version=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Mock-Chunks: 3\r\n\r\n{}";
        for cut in 0..raw.len() - 2 {
            if cut < raw.len() - 3 {
                assert_eq!(parse_head(&raw[..cut]), Ok(None), "cut {cut}");
            }
        }
        let (head, n) = parse_head(raw).unwrap().unwrap();
        assert_eq!(n, raw.len() - 2);
        assert_eq!(head.method, "POST");
        assert_eq!(head.path(), "/v1/chat/completions");
        assert_eq!(head.query(), "api-version=1");
        assert_eq!(head.header("x-mock-chunks"), Some("3"));
        assert_eq!(head.body_kind(), Ok(BodyKind::Length(2)));
        assert!(head.keep_alive());
        assert!(!head.expects_continue());
    }

    #[test]
    fn connection_rules() {
        let (h, _) = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive());
        let (h, _) = parse_head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive());
        let (h, _) =
            parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(!h.keep_alive());
        assert!(h.expects_continue());
    }

    #[test]
    fn rejects_bad_requests() {
        assert!(matches!(
            parse_head(b"\x00\x01 nonsense\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        let big = vec![b'a'; MAX_HEAD + 10];
        assert_eq!(parse_head(&big).unwrap_err().status(), 431);
        let mut long = b"GET / HTTP/1.1\r\nx: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEAD + 1));
        assert_eq!(parse_head(&long), Err(HttpError::HeadTooLarge));
        let (h, _) = parse_head(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.body_kind().is_err());
        let (h, _) = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.body_kind().is_err());
    }

    #[test]
    fn decodes_chunked_bodies() {
        let raw = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for cut in 0..raw.len() - 4 {
            assert_eq!(parse_chunked(&raw[..cut]), Ok(None), "cut {cut}");
        }
        let (body, used) = parse_chunked(raw).unwrap().unwrap();
        assert_eq!(body, b"hello, world");
        assert_eq!(&raw[used..], b"NEXT");
        assert!(parse_chunked(b"zz\r\n").is_err());
        assert!(parse_chunked(b"2\r\nabXY").is_err());
        assert_eq!(parse_chunked(b"0\r\n\r\n"), Ok(Some((Vec::new(), 5))));
    }

    #[test]
    fn response_heads() {
        let h = response_head(
            429,
            &[("retry-after".into(), "1".into())],
            Framing::Length(2),
            true,
        );
        assert_eq!(
            h,
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
        );
        let h = response_head(200, &[], Framing::Chunked, false);
        assert_eq!(h, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    }

    #[test]
    fn chunk_buffer_frames_in_place() {
        let mut c = ChunkBuf::new(true, 64);
        assert_eq!(c.take(), b"");
        c.data().extend_from_slice(&[b'x'; 300]);
        let out = c.take().to_vec();
        assert!(out.starts_with(b"12c\r\nxxx"));
        assert!(out.ends_with(b"x\r\n"));
        assert_eq!(out.len(), 5 + 300 + 2);
        c.clear();
        assert!(c.is_empty());
        c.data().extend_from_slice(b"ab");
        assert_eq!(c.take(), b"2\r\nab\r\n");
        c.clear();
        assert_eq!(c.take_last(), b"0\r\n\r\n");
        c.clear();
        c.data().extend_from_slice(b"ab");
        assert_eq!(c.take_last(), b"2\r\nab\r\n0\r\n\r\n");
        let mut p = ChunkBuf::new(false, 8);
        p.data().extend_from_slice(b"ab");
        assert_eq!(p.take(), b"ab");
    }

    #[tokio::test]
    async fn reads_pipelined_requests() {
        let raw: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n";
        let mut rd = raw;
        let mut wr = Vec::new();
        let mut buf = BytesMut::new();
        let ReadResult::Request(a) = read_request(&mut rd, &mut wr, &mut buf).await else {
            panic!()
        };
        assert_eq!((a.head.path(), &a.body[..]), ("/a", &b"abc"[..]));
        let ReadResult::Request(b) = read_request(&mut rd, &mut wr, &mut buf).await else {
            panic!()
        };
        assert_eq!((b.head.path(), &b.body[..]), ("/b", &b"xyz"[..]));
        assert!(matches!(
            read_request(&mut rd, &mut wr, &mut buf).await,
            ReadResult::Closed
        ));
        assert!(wr.is_empty());
    }

    #[tokio::test]
    async fn answers_expect_continue() {
        let raw: &[u8] =
            b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc";
        // The body arrives after the head: feed it in two reads.
        let (head, body) = raw.split_at(raw.len() - 3);
        let mut rd = tokio::io::AsyncReadExt::chain(head, body);
        let mut wr = Vec::new();
        let mut buf = BytesMut::new();
        let r = read_request(&mut rd, &mut wr, &mut buf).await;
        assert!(matches!(r, ReadResult::Request(_)));
        assert_eq!(wr, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
