//! Content codings of response bodies: gzip, decoded incrementally.
//!
//! sserpent decodes gzip itself instead of letting reqwest do it, so that the
//! bytes decoded before a corrupt or truncated spot are never lost: reqwest's
//! decoder drops the output of a read that ends in an error, and with it the
//! intact chunks that arrived in the same network read as the fault.

use flate2::{Crc, Decompress, FlushDecompress, Status};
use reqwest::header::{HeaderMap, CONTENT_ENCODING};

/// A gzip header longer than this (file name, comment, extra field) is refused.
const MAX_HEADER: usize = 64 * 1024;

/// The decoder a response's `Content-Encoding` asks for: `None` for none (or
/// `identity`), an error for a coding sserpent does not decode.
pub fn decoder_for(headers: &HeaderMap) -> Result<Option<Gzip>, String> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(None);
    };
    let value = String::from_utf8_lossy(value.as_bytes())
        .trim()
        .to_ascii_lowercase();
    match value.as_str() {
        "" | "identity" => Ok(None),
        "gzip" | "x-gzip" => Ok(Some(Gzip::new())),
        other => Err(format!(
            "unsupported content-encoding {other:?} (sserpent decodes gzip)"
        )),
    }
}

/// The `Content-Encoding` named in errors ("gzip" when none is given).
pub fn coding_name(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_ENCODING)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "gzip".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Deflate,
    Trailer,
}

/// An incremental gzip decoder (RFC 1952; several members in a row decode as one body).
#[derive(Debug)]
pub struct Gzip {
    stage: Stage,
    /// Header or trailer bytes gathered so far.
    pending: Vec<u8>,
    inflate: Decompress,
    crc: Crc,
}

impl Default for Gzip {
    fn default() -> Self {
        Self::new()
    }
}

impl Gzip {
    pub fn new() -> Self {
        Gzip {
            stage: Stage::Header,
            pending: Vec::new(),
            inflate: Decompress::new(false),
            crc: Crc::new(),
        }
    }

    /// Decodes `input`, appending to `out`. On an error `out` holds every byte
    /// decoded before the faulty spot.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.feed_some(input, out, usize::MAX).map(drop)
    }

    /// Like [`Gzip::feed`], but stops once `out` holds `limit` bytes or more
    /// (a few KiB of gzip can expand to gigabytes). Returns the input bytes
    /// used and whether it stopped at the limit: then call again with the
    /// rest of the input, even when none is left (the decoder may hold more).
    pub fn feed_some(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(usize, bool), String> {
        let whole = input.len();
        let mut input = input;
        let consumed = |rest: &[u8]| whole - rest.len();
        loop {
            if out.len() >= limit {
                return Ok((consumed(input), true));
            }
            match self.stage {
                Stage::Header => {
                    if input.is_empty() {
                        return Ok((consumed(input), false));
                    }
                    // The fixed 10 bytes at once, then byte by byte, so that the
                    // header ends exactly where its last field does.
                    let want = 10usize.saturating_sub(self.pending.len()).max(1);
                    let n = want.min(input.len());
                    self.pending.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if self.pending.len() > MAX_HEADER {
                        return Err("invalid gzip header: longer than 64 KiB".into());
                    }
                    if let Some(len) = header_len(&self.pending)? {
                        debug_assert_eq!(len, self.pending.len());
                        self.pending.clear();
                        self.inflate.reset(false);
                        self.crc.reset();
                        self.stage = Stage::Deflate;
                    }
                }
                Stage::Deflate => {
                    out.reserve(
                        input
                            .len()
                            .saturating_mul(4)
                            .clamp(8 * 1024, 1 << 20)
                            .min(limit.saturating_sub(out.len()).max(8 * 1024)),
                    );
                    let spare = out.capacity() - out.len();
                    let (in_before, out_before) = (self.inflate.total_in(), out.len());
                    let res = self
                        .inflate
                        .decompress_vec(input, out, FlushDecompress::None);
                    self.crc.update(&out[out_before..]);
                    let used = (self.inflate.total_in() - in_before) as usize;
                    let written = out.len() - out_before;
                    input = &input[used..];
                    match res {
                        Err(e) => return Err(format!("corrupt gzip data ({e})")),
                        Ok(Status::StreamEnd) => self.stage = Stage::Trailer,
                        Ok(_) => {
                            // Output space left over: everything decodable was written.
                            if input.is_empty() && written < spare {
                                return Ok((consumed(input), false));
                            }
                            if used == 0 && written == 0 {
                                return Err("corrupt gzip data (the decoder is stuck)".into());
                            }
                        }
                    }
                }
                Stage::Trailer => {
                    if input.is_empty() {
                        return Ok((consumed(input), false));
                    }
                    let n = (8 - self.pending.len()).min(input.len());
                    self.pending.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if self.pending.len() == 8 {
                        let p = &self.pending;
                        let crc = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                        let size = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
                        if crc != self.crc.sum() || size != self.crc.amount() {
                            return Err("corrupt gzip data (checksum mismatch)".into());
                        }
                        self.pending.clear();
                        // Another member may follow.
                        self.stage = Stage::Header;
                    }
                }
            }
        }
    }

    /// The body ended: an error unless it ended at the end of a gzip member.
    pub fn finish(&self) -> Result<(), String> {
        if self.stage == Stage::Header && self.pending.is_empty() {
            Ok(())
        } else {
            Err("truncated: the gzip stream stops before its end".into())
        }
    }
}

/// The length of the gzip header at the start of `buf`; `None` while it is
/// incomplete; an error as soon as it cannot be one.
fn header_len(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.first().is_some_and(|&b| b != 0x1f) || buf.get(1).is_some_and(|&b| b != 0x8b) {
        return Err("invalid gzip header".into());
    }
    if let Some(&cm) = buf.get(2) {
        if cm != 8 {
            return Err(format!(
                "invalid gzip header: compression method {cm} is not deflate"
            ));
        }
    }
    if buf.len() < 10 {
        return Ok(None);
    }
    let flags = buf[3];
    if flags & 0xe0 != 0 {
        return Err("invalid gzip header: reserved flags set".into());
    }
    let mut at = 10;
    if flags & 0x04 != 0 {
        // FEXTRA: a two-byte length, then that many bytes.
        let Some(len) = buf.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + u16::from_le_bytes([len[0], len[1]]) as usize;
        if buf.len() < at {
            return Ok(None);
        }
    }
    for flag in [0x08, 0x10] {
        // FNAME, FCOMMENT: zero-terminated.
        if flags & flag != 0 {
            match buf[at..].iter().position(|&b| b == 0) {
                Some(i) => at += i + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & 0x02 != 0 {
        at += 2; // FHCRC
        if buf.len() < at {
            return Ok(None);
        }
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::{Compression, GzBuilder};
    use proptest::prelude::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Decodes `pieces` one after the other: the output and the first error.
    fn decode(pieces: &[&[u8]]) -> (Vec<u8>, Result<(), String>) {
        let mut d = Gzip::new();
        let mut out = Vec::new();
        for p in pieces {
            if let Err(e) = d.feed(p, &mut out) {
                return (out, Err(e));
            }
        }
        let end = d.finish();
        (out, end)
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!("data: {{\"i\":{i},\"t\":\"\u{3042}\u{3044}\"}}\n\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn decodes_whole_and_bytewise() {
        let plain = text(200);
        let z = gzip(&plain);
        assert_eq!(decode(&[&z]), (plain.clone(), Ok(())));
        let bytes: Vec<&[u8]> = z.chunks(1).collect();
        assert_eq!(decode(&bytes), (plain, Ok(())));
    }

    #[test]
    fn several_members_and_optional_header_fields() {
        let mut e = GzBuilder::new()
            .filename("body.sse")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .write(Vec::new(), Compression::fast());
        e.write_all(b"first ").unwrap();
        let mut z = e.finish().unwrap();
        z.extend(gzip(b"second"));
        for step in [1, 3, 7, z.len()] {
            let pieces: Vec<&[u8]> = z.chunks(step).collect();
            assert_eq!(decode(&pieces), (b"first second".to_vec(), Ok(())));
        }
    }

    #[test]
    fn output_is_handed_over_in_bounded_slices() {
        // 64 MiB of zeros gzip to about 64 KiB: decoded at most ~1 MiB at a time.
        let plain = vec![0u8; 64 << 20];
        let packed = gzip(&plain);
        let mut d = Gzip::new();
        let (mut input, mut total, mut calls) = (&packed[..], 0usize, 0);
        loop {
            let mut out = Vec::new();
            let (used, more) = d.feed_some(input, &mut out, 1 << 20).unwrap();
            // At most twice the limit (the buffer's growth past it).
            assert!(out.len() <= 2 << 20, "a slice of {} bytes", out.len());
            assert!(out.iter().all(|&b| b == 0));
            total += out.len();
            input = &input[used..];
            calls += 1;
            if !more && input.is_empty() {
                break;
            }
        }
        assert_eq!(total, plain.len());
        assert!(calls >= 32, "{calls} calls");
        d.finish().unwrap();
    }

    #[test]
    fn empty_body_is_fine() {
        assert_eq!(decode(&[]), (Vec::new(), Ok(())));
    }

    #[test]
    fn truncation_keeps_every_byte_before_it() {
        let plain = text(50);
        let z = gzip(&plain);
        for cut in 1..z.len() {
            let (out, end) = decode(&[&z[..cut]]);
            assert!(plain.starts_with(&out), "cut at {cut}");
            let err = end.unwrap_err();
            assert!(
                err.starts_with("truncated") || err.contains("checksum"),
                "{err}"
            );
        }
    }

    #[test]
    fn corruption_keeps_what_was_decoded_before_it() {
        // Sync-flushed pieces, as a streaming server sends them; then junk.
        let mut c = flate2::Compress::new(Compression::default(), false);
        let mut z = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff".to_vec();
        let head = text(10);
        let mut buf = Vec::with_capacity(head.len() + 1024);
        c.compress_vec(&head, &mut buf, flate2::FlushCompress::Sync)
            .unwrap();
        z.extend_from_slice(&buf);
        z.extend_from_slice(b"\x00junk\xff\xff\x13\x37 not deflate at all");
        // In one piece: the bytes before the junk are kept all the same.
        let (out, end) = decode(&[&z]);
        assert_eq!(out, head);
        assert!(end.unwrap_err().starts_with("corrupt gzip data"));
    }

    #[test]
    fn bad_headers_and_checksums() {
        assert_eq!(
            decode(&[b"data: {}\n\n"]).1,
            Err("invalid gzip header".into())
        );
        assert!(decode(&[b"\x1f\x8b\x07"])
            .1
            .unwrap_err()
            .contains("not deflate"));
        let mut z = gzip(b"hello");
        let n = z.len();
        z[n - 8] ^= 1;
        let (out, end) = decode(&[&z]);
        assert_eq!(out, b"hello");
        assert!(end.unwrap_err().contains("checksum"));
    }

    #[test]
    fn coding_from_headers() {
        let mut h = HeaderMap::new();
        assert!(decoder_for(&h).unwrap().is_none());
        h.insert(CONTENT_ENCODING, "identity".parse().unwrap());
        assert!(decoder_for(&h).unwrap().is_none());
        h.insert(CONTENT_ENCODING, " GZIP ".parse().unwrap());
        assert!(decoder_for(&h).unwrap().is_some());
        h.insert(CONTENT_ENCODING, "br".parse().unwrap());
        assert!(decoder_for(&h).unwrap_err().contains("\"br\""));
        assert_eq!(coding_name(&h), "br");
    }

    proptest! {
        #[test]
        fn any_piecing_decodes_the_same(data in proptest::collection::vec(any::<u8>(), 0..4000),
                                        cuts in proptest::collection::vec(any::<usize>(), 0..20)) {
            let z = gzip(&data);
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (z.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut prev = 0;
            for p in points {
                pieces.push(&z[prev..p]);
                prev = p;
            }
            pieces.push(&z[prev..]);
            prop_assert_eq!(decode(&pieces), (data, Ok(())));
        }
    }
}
