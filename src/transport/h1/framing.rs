//! HTTP/1.1 message body framing (RFC 9112 §6–7): where a response body ends,
//! as chunked transfer coding, a `Content-Length`, or the connection's close.
//! Pure: bytes in, body bytes out; the socket is in `body`.

use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size line (with extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;
/// Most bytes of trailer fields accepted after the last chunk.
const MAX_TRAILERS: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length` bytes.
    Length(u64),
    /// Until the server closes the connection.
    Close,
    /// No body (HEAD, 204, 304, `Content-Length: 0`).
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer fields after the last chunk, this many bytes of them seen.
    Trailers(usize),
    /// `Content-Length` bytes left.
    Fixed(u64),
    /// Everything until the close.
    Close,
    Done,
}

/// Why a body's framing is broken; the message reads after "the connection
/// broke after N complete chunks: ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError(pub &'static str);

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FramingError {}

/// What [`Decoder::step`] found at the start of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// This many bytes of framing, consumed.
    Framing(usize),
    /// This many bytes of body.
    Data(usize),
    /// More input is needed first (or the body is done).
    More,
}

/// The decoder of one response body.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Decoder {
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Chunked => State::Size,
            Framing::Length(0) | Framing::Empty => State::Done,
            Framing::Length(n) => State::Fixed(n),
            Framing::Close => State::Close,
        };
        Decoder { state }
    }

    /// The body is complete.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// The body ends at the close: EOF is its end, not a truncation.
    pub fn ends_at_close(&self) -> bool {
        self.state == State::Close
    }

    /// What starts `input`, with the decoder's state moved past it: framing
    /// to skip (a chunk-size line, a CRLF, trailer fields), body bytes, or
    /// `More` when `input` ends inside a piece of framing (or the body is
    /// done). Body bytes of a chunk cut by the end of `input` are reported
    /// as they are (a chunk need not arrive whole).
    pub fn step(&mut self, input: &[u8]) -> Result<Step, FramingError> {
        match self.state {
            State::Size => {
                let Some(eol) = memchr::memchr(b'\n', input) else {
                    if input.len() > MAX_SIZE_LINE {
                        return Err(FramingError("chunk size line too long"));
                    }
                    return Ok(Step::More);
                };
                if eol == 0 || input[eol - 1] != b'\r' {
                    return Err(FramingError("invalid chunk size line"));
                }
                let size = chunk_size(&input[..eol - 1])?;
                self.state = if size == 0 {
                    State::Trailers(0)
                } else {
                    State::Data(size)
                };
                Ok(Step::Framing(eol + 1))
            }
            State::Data(left) => Ok(match take(input, left) {
                None => Step::More,
                Some((n, 0)) => {
                    self.state = State::DataEnd;
                    Step::Data(n)
                }
                Some((n, rest)) => {
                    self.state = State::Data(rest);
                    Step::Data(n)
                }
            }),
            State::DataEnd => {
                if input.len() < 2 {
                    if input.first().is_some_and(|&b| b != b'\r') {
                        return Err(FramingError("chunk data not followed by CRLF"));
                    }
                    return Ok(Step::More);
                }
                if &input[..2] != b"\r\n" {
                    return Err(FramingError("chunk data not followed by CRLF"));
                }
                self.state = State::Size;
                Ok(Step::Framing(2))
            }
            State::Trailers(seen) => {
                let Some(eol) = memchr::memchr(b'\n', input) else {
                    if seen + input.len() > MAX_TRAILERS {
                        return Err(FramingError("trailer fields too large"));
                    }
                    return Ok(Step::More);
                };
                if eol == 0 || input[eol - 1] != b'\r' {
                    return Err(FramingError("invalid trailer line"));
                }
                self.state = if eol == 1 {
                    State::Done
                } else if seen + eol + 1 > MAX_TRAILERS {
                    return Err(FramingError("trailer fields too large"));
                } else {
                    State::Trailers(seen + eol + 1)
                };
                Ok(Step::Framing(eol + 1))
            }
            State::Fixed(left) => Ok(match take(input, left) {
                None => Step::More,
                Some((n, rest)) => {
                    self.state = if rest == 0 {
                        State::Done
                    } else {
                        State::Fixed(rest)
                    };
                    Step::Data(n)
                }
            }),
            State::Close if input.is_empty() => Ok(Step::More),
            State::Close => Ok(Step::Data(input.len())),
            State::Done => Ok(Step::More),
        }
    }

    /// The next piece of body decodable from `buf` (consumed from it), or
    /// `Ok(None)` when more bytes are needed (or the body is done).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        loop {
            match self.step(buf)? {
                Step::Framing(n) => buf.advance(n),
                Step::Data(n) => return Ok(Some(buf.split_to(n).freeze())),
                Step::More => return Ok(None),
            }
        }
    }

    /// Decodes as much of `input` as it can, pushing where each piece of
    /// body lies in it (start, length) onto `pieces`; returns how many bytes
    /// of `input` it used (what is left is an unfinished piece of framing,
    /// or follows the body's end). Broken framing after some body stops
    /// there, that body reported: the error comes when the rest is decoded
    /// (`step` moves no state on an error), as [`Decoder::decode`] gives the
    /// body before an error too.
    pub fn decode_slice(
        &mut self,
        input: &[u8],
        pieces: &mut Vec<(usize, usize)>,
    ) -> Result<usize, FramingError> {
        let mut at = 0;
        loop {
            match self.step(&input[at..]) {
                Ok(Step::Framing(n)) => at += n,
                Ok(Step::Data(n)) => {
                    pieces.push((at, n));
                    at += n;
                }
                Ok(Step::More) => return Ok(at),
                Err(_) if !pieces.is_empty() => return Ok(at),
                Err(e) => return Err(e),
            }
        }
    }

    /// The connection reached EOF: `Ok` if that ends the body, else why not.
    pub fn eof(&mut self) -> Result<(), FramingError> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(FramingError(
                "connection closed before the message completed",
            )),
        }
    }
}

/// How many of `left` bytes of body `input` holds, and how many are left
/// after them; `None` when `input` is empty.
fn take(input: &[u8], left: u64) -> Option<(usize, u64)> {
    if input.is_empty() {
        return None;
    }
    let n = left.min(input.len() as u64);
    Some((n as usize, left - n))
}

/// A chunk-size line's size: hex digits, then optional whitespace and
/// `;extensions` (ignored, as every client does).
fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 {
        return Err(FramingError("invalid chunk size"));
    }
    if digits > 16 {
        return Err(FramingError("chunk size too large"));
    }
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len())..];
    if !rest.is_empty() && rest[0] != b';' {
        return Err(FramingError("invalid chunk size"));
    }
    let hex =
        std::str::from_utf8(&line[..digits]).map_err(|_| FramingError("invalid chunk size"))?;
    u64::from_str_radix(hex, 16).map_err(|_| FramingError("chunk size too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` to a decoder `step` bytes at a time; the body, or the
    /// error. Decoded both ways `body.rs` does (from a buffer, and a read's
    /// pieces located in place with the unfinished rest buffered), which must
    /// agree on the body, the end, the bytes left over and any error.
    fn run(framing: Framing, wire: &[u8], step: usize) -> Result<(Vec<u8>, bool), FramingError> {
        let buffered = run_buffered(framing, wire, step);
        let in_place = run_in_place(framing, wire, step);
        assert_eq!(buffered, in_place, "step {step}");
        let (body, end) = buffered;
        end.map(|(done, _)| (body, done))
    }

    /// The body decoded from `buffer`-style reads (`decode` on a buffer), and
    /// how the framing ended: done or not and the bytes left over, or the error.
    type Outcome = (Vec<u8>, Result<(bool, Vec<u8>), FramingError>);

    fn run_buffered(framing: Framing, wire: &[u8], step: usize) -> Outcome {
        let mut d = Decoder::new(framing);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            if let Err(e) = decode_all(&mut d, &mut buf, &mut body) {
                return (body, Err(e));
            }
        }
        (body, Ok((d.done(), buf.to_vec())))
    }

    /// `decode` until it wants more, the body appended to `body`.
    fn decode_all(
        d: &mut Decoder,
        buf: &mut BytesMut,
        body: &mut Vec<u8>,
    ) -> Result<(), FramingError> {
        while let Some(b) = d.decode(buf)? {
            body.extend_from_slice(&b);
        }
        Ok(())
    }

    /// The same, the way `body.rs` reads into its thread's buffer: a read's
    /// pieces located in place while nothing is left over, the unfinished
    /// rest buffered and decoded with `decode`.
    fn run_in_place(framing: Framing, wire: &[u8], step: usize) -> Outcome {
        let mut d = Decoder::new(framing);
        let mut rest = BytesMut::new();
        let mut body = Vec::new();
        let mut pieces = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            if rest.is_empty() {
                pieces.clear();
                let used = match d.decode_slice(piece, &mut pieces) {
                    Ok(used) => used,
                    Err(e) => return (body, Err(e)),
                };
                for &(at, len) in &pieces {
                    body.extend_from_slice(&piece[at..at + len]);
                }
                rest.extend_from_slice(&piece[used..]);
            } else {
                rest.extend_from_slice(piece);
            }
            // What was left over (or just buffered) goes through `decode`, as
            // `Body::poll_chunk` does before its next read.
            if let Err(e) = decode_all(&mut d, &mut rest, &mut body) {
                return (body, Err(e));
            }
        }
        (body, Ok((d.done(), rest.to_vec())))
    }

    #[test]
    fn a_body_after_which_bytes_follow_leaves_them_either_way() {
        let wire = b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
        for step in 1..=wire.len() {
            let got = run_buffered(Framing::Chunked, wire, step);
            let want = (b"abc".to_vec(), Ok((true, b"HTTP/1.1 200 OK\r\n".to_vec())));
            assert_eq!(got, want, "step {step}");
            assert_eq!(
                run_in_place(Framing::Chunked, wire, step),
                want,
                "step {step}"
            );
        }
        for step in 1..=10 {
            let want = (b"hello".to_vec(), Ok((true, b"EXTRA".to_vec())));
            assert_eq!(run_buffered(Framing::Length(5), b"helloEXTRA", step), want);
            assert_eq!(run_in_place(Framing::Length(5), b"helloEXTRA", step), want);
        }
    }

    #[test]
    fn the_body_before_broken_framing_comes_out_either_way() {
        // The last event arrives whole in the same read as a corrupt chunk header.
        let wire = b"e\r\ndata: [DONE]\n\n\r\nzz\r\nmore";
        for step in 1..=wire.len() {
            let want = (
                b"data: [DONE]\n\n".to_vec(),
                Err(FramingError("invalid chunk size")),
            );
            assert_eq!(
                run_buffered(Framing::Chunked, wire, step),
                want,
                "step {step}"
            );
            assert_eq!(
                run_in_place(Framing::Chunked, wire, step),
                want,
                "step {step}"
            );
        }
        let mut d = Decoder::new(Framing::Chunked);
        let mut pieces = Vec::new();
        assert_eq!(d.decode_slice(wire, &mut pieces), Ok(19));
        assert_eq!(pieces, [(3, 14)]);
        assert_eq!(
            d.decode_slice(&wire[19..], &mut Vec::new()),
            Err(FramingError("invalid chunk size"))
        );
    }

    #[test]
    fn step_reports_framing_data_and_more() {
        let mut d = Decoder::new(Framing::Chunked);
        assert_eq!(d.step(b"1"), Ok(Step::More));
        assert_eq!(d.step(b"a\r\n0123"), Ok(Step::Framing(3)));
        assert_eq!(d.step(b"0123"), Ok(Step::Data(4)));
        assert_eq!(d.step(b"456789xyz"), Ok(Step::Data(6)));
        assert_eq!(d.step(b"\r"), Ok(Step::More));
        assert_eq!(d.step(b"\r\n"), Ok(Step::Framing(2)));
        assert_eq!(d.step(b"0\r\n\r\n"), Ok(Step::Framing(3)));
        assert_eq!(d.step(b"\r\n"), Ok(Step::Framing(2)));
        assert!(d.done());
        assert_eq!(d.step(b"more"), Ok(Step::More));
        let mut bad = Decoder::new(Framing::Chunked);
        assert_eq!(bad.step(b"zz\r\n"), Err(FramingError("invalid chunk size")));
    }

    #[test]
    fn chunked_at_every_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in 1..wire.len() {
            assert_eq!(
                run(Framing::Chunked, wire, step),
                Ok((b"hello, world".to_vec(), true)),
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_sizes_in_either_case_with_whitespace_before_extensions() {
        assert_eq!(
            run(Framing::Chunked, b"A \t;x\r\n0123456789\r\n0\r\n\r\n", 64),
            Ok((b"0123456789".to_vec(), true))
        );
        assert_eq!(
            run(Framing::Chunked, b"a\r\n0123456789\r\n0\r\n\r\n", 64),
            Ok((b"0123456789".to_vec(), true))
        );
    }

    #[test]
    fn chunked_errors_name_what_is_wrong() {
        let err = |wire: &[u8]| run(Framing::Chunked, wire, 64).unwrap_err().0;
        assert_eq!(err(b"zz\r\n"), "invalid chunk size");
        assert_eq!(err(b"5x\r\nhello\r\n"), "invalid chunk size");
        assert_eq!(err(b"5\nhello"), "invalid chunk size line");
        assert_eq!(err(b"11111111111111111\r\n"), "chunk size too large");
        assert_eq!(err(b"5\r\nhelloXX"), "chunk data not followed by CRLF");
        assert_eq!(err(b"5\r\nhelloX"), "chunk data not followed by CRLF");
        assert_eq!(err(&[b'1'; MAX_SIZE_LINE + 1]), "chunk size line too long");
        let mut big = b"0\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', MAX_TRAILERS + 1));
        assert_eq!(err(&big), "trailer fields too large");
    }

    #[test]
    fn a_truncated_chunked_body_is_an_error_at_eof() {
        let mut d = Decoder::new(Framing::Chunked);
        let mut buf = BytesMut::from(&b"5\r\nhel"[..]);
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b"hel"[..]));
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(
            d.eof().unwrap_err().0,
            "connection closed before the message completed"
        );
    }

    #[test]
    fn content_length_stops_at_the_length_and_leaves_the_rest() {
        let mut d = Decoder::new(Framing::Length(5));
        let mut buf = BytesMut::from(&b"helloEXTRA"[..]);
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b"hello"[..]));
        assert!(d.done());
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"EXTRA");
        let mut short = Decoder::new(Framing::Length(5));
        let mut buf = BytesMut::from(&b"hel"[..]);
        assert!(short.decode(&mut buf).unwrap().is_some());
        assert!(short.eof().is_err());
    }

    #[test]
    fn close_delimited_bodies_end_at_eof() {
        let mut d = Decoder::new(Framing::Close);
        let mut buf = BytesMut::from(&b"anything"[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap().as_deref(),
            Some(&b"anything"[..])
        );
        assert!(d.ends_at_close() && !d.done());
        assert_eq!(d.eof(), Ok(()));
        assert!(d.done());
    }

    #[test]
    fn empty_bodies_are_done_at_once() {
        assert!(Decoder::new(Framing::Empty).done());
        assert!(Decoder::new(Framing::Length(0)).done());
    }
}
