//! What a `Client` shares with every stream it made: the connection pools,
//! the options, the base URL and the default headers. Apart from `client.rs`
//! so that `Stream`, which the client builds, can hold one.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::transport::http::ClientOptions;
use crate::transport::pools::{Lease, Shards};

pub struct ClientInner {
    pub(super) pools: Shards,
    pub opts: ClientOptions,
    pub base_url: Option<reqwest::Url>,
    pub headers: Vec<(String, String)>,
}

impl ClientInner {
    /// A connection pool with room for one more stream, and the stream's
    /// place in it (held until the stream's task ends).
    pub fn http(&self) -> PyResult<(crate::transport::http::Upstream, Lease)> {
        self.pools.lease().map_err(PyValueError::new_err)
    }
}
