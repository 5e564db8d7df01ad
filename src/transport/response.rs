//! A response being read, from reqwest (hyper: TLS, proxies, HTTP/2) or
//! straight from the socket (`super::h1`): one type for the code after the
//! head (retries, redirects, the reader task), which never asks which; and
//! what a reqwest failure says, without its URL.

use bytes::Bytes;
use reqwest::header::HeaderMap;

pub enum Response {
    Hyper(reqwest::Response),
    Direct(super::h1::Response),
}

impl Response {
    pub fn status(&self) -> u16 {
        match self {
            Response::Hyper(r) => r.status().as_u16(),
            Response::Direct(r) => r.status,
        }
    }

    pub fn version(&self) -> http::Version {
        match self {
            Response::Hyper(r) => r.version(),
            Response::Direct(r) => r.version,
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Response::Hyper(r) => r.headers(),
            Response::Direct(r) => &r.headers,
        }
    }

    /// The next piece of the body, `None` at its end, or why it broke (a
    /// message without the URL, as `describe_plain` gives reqwest's).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Response::Hyper(r) => r.chunk().await.map_err(|e| describe_plain(&e)),
            Response::Direct(r) => r
                .chunk()
                .await
                .map_err(|why| format!("error reading the response body: {why}")),
        }
    }
}

/// A reqwest error's message and causes, without the URL.
pub fn describe_plain(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_body() || e.is_decode() {
        "error reading the response body".to_string()
    } else if e.is_request() {
        "error sending the request".to_string()
    } else {
        "HTTP error".to_string()
    };
    let mut src = e.source();
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}
