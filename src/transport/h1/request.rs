//! The HTTP/1.1 request head as hyper writes it for reqwest: lowercase
//! names, `host` and `accept: */*` added when missing, a `content-length`
//! for a body.

use reqwest::header::HeaderMap;
use reqwest::Method;

/// Bodies up to this size go in the same write as the head.
pub const INLINE_BODY: usize = 16 * 1024;

/// The request head, with a body of up to [`INLINE_BODY`] appended.
pub fn request(
    method: &Method,
    url: &reqwest::Url,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let inline = body.filter(|b| b.len() <= INLINE_BODY);
    let mut out = Vec::with_capacity(256 + inline.map_or(0, <[u8]>::len));
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(url.path().as_bytes());
    if let Some(q) = url.query() {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key(reqwest::header::HOST) {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(url.host_str().unwrap_or("").as_bytes());
        if let Some(port) = url.port() {
            out.push(b':');
            out.extend_from_slice(port.to_string().as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(reqwest::header::ACCEPT) {
        out.extend_from_slice(b"accept: */*\r\n");
    }
    for (name, value) in headers {
        if name == reqwest::header::CONTENT_LENGTH || name == reqwest::header::TRANSFER_ENCODING {
            continue; // framed from the body below
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match body {
        Some(b) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(b.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
        }
        // A method that carries a body says it has none, as hyper does.
        None if matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {
            out.extend_from_slice(b"content-length: 0\r\n\r\n");
        }
        None => out.extend_from_slice(b"\r\n"),
    }
    if let Some(b) = inline {
        out.extend_from_slice(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_request_head_as_hyper_writes_it() {
        let url = reqwest::Url::parse("http://127.0.0.1:8080/v1/chat?x=1").unwrap();
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer k"));
        let head = request(&Method::POST, &url, &h, Some(b"{}"));
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /v1/chat?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\naccept: */*\r\n\
             authorization: Bearer k\r\ncontent-length: 2\r\n\r\n{}"
        );
        let url = reqwest::Url::parse("http://[::1]/").unwrap();
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_static("text/event-stream"));
        assert_eq!(
            String::from_utf8(request(&Method::GET, &url, &h, None)).unwrap(),
            "GET / HTTP/1.1\r\nhost: [::1]\r\naccept: text/event-stream\r\n\r\n"
        );
    }

    #[test]
    fn a_large_body_is_not_copied_into_the_head() {
        let url = reqwest::Url::parse("http://h/").unwrap();
        let body = vec![b'x'; 20_000];
        let head = request(&Method::POST, &url, &HeaderMap::new(), Some(&body));
        assert!(head.ends_with(b"content-length: 20000\r\n\r\n"));
    }
}
