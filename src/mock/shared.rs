//! What every connection's task shares, whatever its protocol: the queued
//! scenarios, the records and settings, the choice of a request's reply
//! (scripted or default), and the recording of a connection's close.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;

use super::generate::{self, GenRequest};
use super::http1::Request;
use super::oci_auth;
use super::record::{monotonic, ClosedBy, Recorder, RequestRecord};
use super::scenario::{
    merge_headers, ListSource, Reply, ReplyBody, Scenario, ScenarioBody, ScenarioQueue,
};
use super::status::{error_body, status_error_body};

/// State shared by the server's tasks and its owner.
#[derive(Default)]
pub struct Shared {
    pub queue: Mutex<ScenarioQueue>,
    pub recorder: Recorder,
    seq: AtomicU64,
    /// Set: OCI paths require a request signature verifying with this key.
    pub oci_key: Mutex<Option<crate::providers::oci::PublicKey>>,
    /// HTTP/2 streams a connection may have open at once (0: the default).
    pub h2_max_streams: AtomicU32,
}

impl Shared {
    fn take_scenario(&self, path: &str) -> Option<Arc<Scenario>> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(path)
    }

    /// Records `req` (received on connection `conn_id`) and returns its
    /// reply, checking its OCI signature first when one is required.
    pub fn answer(&self, req: &Request, conn_id: u64) -> Reply {
        let oci_key = self
            .oci_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let oci_signature = match oci_key {
            Some(key) if oci_auth::is_oci_path(req.head.path()) => Some(oci_auth::check(&key, req)),
            _ => None,
        };
        let unauthorized = matches!(oci_signature, Some(Err(_)));
        self.recorder.add_request(RequestRecord {
            method: req.head.method.clone(),
            path: req.head.path().to_owned(),
            query: req.head.query().to_owned(),
            headers: req.head.headers.clone(),
            body: req.body.clone(),
            connection_id: conn_id,
            received_at: monotonic(),
            oci_signature,
        });
        if unauthorized {
            oci_auth::unauthorized()
        } else {
            self.reply_for(req)
        }
    }

    /// The reply to `req`: the first matching queued scenario, else the
    /// default response for its path.
    pub fn reply_for(&self, req: &Request) -> Reply {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let scenario = self.take_scenario(req.head.path());
        let parsed = if req.body.iter().all(u8::is_ascii_whitespace) {
            Ok(Value::Object(Default::default()))
        } else {
            serde_json::from_slice::<Value>(&req.body)
        };
        let empty = Value::Object(Default::default());
        let (chunks, interval, timestamps) = generate::load_headers(&req.head.headers);
        let gen = GenRequest {
            method: &req.head.method,
            path: req.head.path(),
            body: parsed.as_ref().unwrap_or(&empty),
            body_len: req.body.len(),
            chunks,
            interval,
            timestamps,
            seq,
        };
        let default = || {
            if parsed.is_err() && generate::route(gen.method, gen.path).is_some() {
                Reply {
                    status: 400,
                    headers: generate::fixed_headers(&gen, "application/json"),
                    body: ReplyBody::Fixed(
                        error_body(
                            "We could not parse the JSON body of your request.",
                            "invalid_request_error",
                            None,
                        )
                        .into(),
                    ),
                    faults: Default::default(),
                }
            } else {
                generate::default_reply(&gen)
            }
        };
        let Some(s) = scenario else {
            return default();
        };
        let (mut headers, body) = match &s.body {
            ScenarioBody::Frames(frames) => (
                generate::stream_headers(&gen),
                ReplyBody::Stream(Box::new(ListSource::new(frames.clone()))),
            ),
            ScenarioBody::Fixed {
                bytes,
                content_type,
            } => (
                generate::fixed_headers(&gen, content_type),
                ReplyBody::Fixed(bytes.clone()),
            ),
            ScenarioBody::Default if s.status >= 400 => (
                generate::fixed_headers(&gen, "application/json"),
                ReplyBody::Fixed(status_error_body(s.status).into()),
            ),
            ScenarioBody::Default => {
                let mut r = default();
                if r.status == 200 {
                    r.status = s.status;
                }
                merge_headers(&mut r.headers, &s.headers);
                let mut faults = s.faults.clone();
                faults.delay = faults.delay.or(r.faults.delay);
                r.faults = faults;
                return r;
            }
        };
        merge_headers(&mut headers, &s.headers);
        Reply {
            status: s.status,
            headers,
            body,
            faults: s.faults.clone(),
        }
    }
}

/// Resolves when the server is stopping.
pub(super) async fn stopping(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Records the connection's close when its task ends, however it ends.
pub(super) struct CloseGuard {
    pub shared: Arc<Shared>,
    pub id: u64,
    pub by: ClosedBy,
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.shared.recorder.close_connection(self.id, self.by);
    }
}
