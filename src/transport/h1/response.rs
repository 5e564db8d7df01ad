//! An HTTP/1.1 response head parsed, with its body's framing and whether the
//! connection can carry another request. Pure (`http` types and `httparse`),
//! so the fuzz crate builds it too.

use bytes::BytesMut;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;

use super::framing::Framing;

/// Most bytes of a response head accepted (status line and fields).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most response header fields accepted (hyper's default too).
const MAX_HEADERS: usize = 100;

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection may carry another request once this body is read.
    pub reusable: bool,
}

/// Parses a response head from the start of `buf`, consuming it: `Ok(None)`
/// when more bytes are needed. Interim 1xx responses are skipped.
pub fn response(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, String> {
    loop {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut fields);
        let used = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(format!("the response head is larger than {MAX_HEAD} bytes"))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(format!(
                    "the response has more than {MAX_HEADERS} header fields"
                ))
            }
            Err(e) => return Err(format!("invalid HTTP response head: {e}")),
        };
        if used > MAX_HEAD {
            return Err(format!("the response head is larger than {MAX_HEAD} bytes"));
        }
        let status = parsed.code.unwrap_or(0);
        let version = if parsed.version == Some(0) {
            http::Version::HTTP_10
        } else {
            http::Version::HTTP_11
        };
        let mut headers = HeaderMap::with_capacity(parsed.headers.len());
        for f in parsed.headers.iter() {
            let name = HeaderName::from_bytes(f.name.as_bytes())
                .map_err(|_| format!("invalid response header name {:?}", f.name))?;
            let value = HeaderValue::from_bytes(f.value)
                .map_err(|_| format!("invalid value for response header {:?}", f.name))?;
            headers.append(name, value);
        }
        bytes::Buf::advance(buf, used);
        if (100..200).contains(&status) && status != 101 {
            continue; // 100 Continue, 103 Early Hints: the final response follows
        }
        let framing = framing(status, method, &headers)?;
        let close = headers
            .get_all(http::header::CONNECTION)
            .iter()
            .any(|v| has_token(v.as_bytes(), b"close"));
        let keep_alive = headers
            .get_all(http::header::CONNECTION)
            .iter()
            .any(|v| has_token(v.as_bytes(), b"keep-alive"));
        // Transfer-Encoding in HTTP/1.0, or beside Content-Length, is framing
        // a proxy may read differently (RFC 9112 §6.1, §6.3): read, then close.
        let te = headers.contains_key(http::header::TRANSFER_ENCODING);
        let doubtful = te
            && (version == http::Version::HTTP_10
                || headers.contains_key(http::header::CONTENT_LENGTH));
        let reusable = framing != Framing::Close
            && status != 101
            && !close
            && !doubtful
            && (version == http::Version::HTTP_11 || keep_alive);
        return Ok(Some(Head {
            status,
            version,
            headers,
            framing,
            reusable,
        }));
    }
}

/// Where the body ends (RFC 9112 §6.3).
fn framing(status: u16, method: &Method, headers: &HeaderMap) -> Result<Framing, String> {
    if *method == Method::HEAD || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    let codings = headers.get_all(http::header::TRANSFER_ENCODING);
    if codings.iter().next().is_some() {
        let last = codings
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(trim)
            .rfind(|c| !c.is_empty());
        // Chunked must be the final coding; any other framing is read to the close.
        return Ok(match last {
            Some(c) if c.eq_ignore_ascii_case(b"chunked") => Framing::Chunked,
            _ => Framing::Close,
        });
    }
    let mut length = None;
    for v in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in v.as_bytes().split(|&b| b == b',') {
            let n = std::str::from_utf8(trim(part))
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or("invalid content-length in the response")?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting content-length values in the response".into());
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(wire: &[u8], method: Method) -> Result<Option<Head>, String> {
        response(&mut BytesMut::from(wire), &method)
    }

    #[test]
    fn heads_and_their_framing() {
        let h = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\nrest",
            Method::POST,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (h.status, h.framing, h.reusable),
            (200, Framing::Chunked, true)
        );
        assert_eq!(h.headers["x-a"], "1");
        let h = parse(
            b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nconnection: close\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.framing, h.reusable), (Framing::Length(12), false));
        let h = parse(b"HTTP/1.0 200 OK\r\n\r\n", Method::GET)
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.version, h.framing, h.reusable),
            (http::Version::HTTP_10, Framing::Close, false)
        );
        let h = parse(
            b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Empty);
        let h = parse(
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
            Method::HEAD,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Empty);
        let h = parse(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let h = parse(
            b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Length(3));
    }

    #[test]
    fn doubtful_framing_is_read_then_the_connection_closed() {
        let h = parse(
            b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.framing, h.reusable), (Framing::Chunked, false));
        let h = parse(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.framing, h.reusable), (Framing::Chunked, false));
        let h = parse(
            b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.framing, h.reusable), (Framing::Length(2), true));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"[..],
        );
        let h = response(&mut buf, &Method::POST).unwrap().unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(&buf[..], b"hi");
    }

    #[test]
    fn partial_and_bad_heads() {
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-le", Method::GET)
            .unwrap()
            .is_none());
        assert_eq!(
            parse(
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                Method::GET
            )
            .unwrap_err(),
            "conflicting content-length values in the response"
        );
        assert_eq!(
            parse(
                b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
                Method::GET
            )
            .unwrap_err(),
            "invalid content-length in the response"
        );
        assert!(parse(b"HTTQ/1.1 200 OK\r\n\r\n", Method::GET)
            .unwrap_err()
            .starts_with("invalid HTTP response head"));
        let mut long = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEAD + 1));
        assert_eq!(
            parse(&long, Method::GET).unwrap_err(),
            format!("the response head is larger than {MAX_HEAD} bytes")
        );
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse(&many, Method::GET).unwrap_err(),
            format!("the response has more than {MAX_HEADERS} header fields")
        );
    }
}
