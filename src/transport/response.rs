//! A response being read, from reqwest (hyper: TLS, proxies, HTTP/2) or
//! straight from the socket (`super::h1`): one type for the code after the
//! head (retries, redirects, the reader task), which never asks which.

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
            Response::Hyper(r) => r.chunk().await.map_err(|e| super::http::describe_plain(&e)),
            Response::Direct(r) => r
                .chunk()
                .await
                .map_err(|why| format!("error reading the response body: {why}")),
        }
    }
}
