//! Sending a request with retries before the first body byte: which
//! failures are retried, `Retry-After`, backoff, and the wait for headers.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use super::headers_deadline::{within_read_timeout, HeadersTimeout};
use super::http::{
    read_limited, send_following, ClientOptions, HttpError, RequestSpec, ResponseHead, Upstream,
    MAX_ERROR_BODY,
};
use super::response::Response;

const MAX_BACKOFF: Duration = Duration::from_secs(8);

fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
    {
        return Some(Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 60.0)));
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.clamp(0.0, 60.0)));
    }
    let when = httpdate(v)?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or_default()
            .min(Duration::from_secs(60)),
    )
}

/// Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
fn httpdate(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // days from civil (Howard Hinnant)
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

fn backoff(opts: &ClientOptions, attempt: u32) -> Duration {
    let base = opts
        .initial_backoff
        .saturating_mul(1 << attempt.min(10))
        .min(MAX_BACKOFF);
    // Up to 25% jitter, from the clock's low bits (no RNG dependency).
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    base.mul_f64(1.0 - (nanos % 250) as f64 / 1000.0)
}

/// Sends the request, retrying (connect errors, timeouts before the
/// response, 408/409/429/5xx) while no body byte has been delivered.
/// Returns the 2xx response, or the final failure.
pub async fn send_with_retries(
    upstream: &Upstream,
    spec: &RequestSpec,
    opts: &ClientOptions,
    mut on_attempt: impl FnMut(u32, Option<&HttpError>),
) -> Result<Response, HttpError> {
    let mut attempt = 0u32;
    let mut last: Option<HttpError> = None;
    loop {
        on_attempt(attempt + 1, last.as_ref());
        let outcome = within_read_timeout(
            send_following(upstream, spec),
            opts.connect_timeout,
            opts.read_timeout,
        )
        .await;
        let (failure, delay) = match outcome {
            Err(HeadersTimeout::AfterConnect(t)) => (
                HttpError::Timeout(format!(
                    "no response headers within {:.3}s of connecting (read_timeout)",
                    t.as_secs_f64()
                )),
                None,
            ),
            Err(HeadersTimeout::Connecting(t)) => (
                HttpError::Timeout(format!(
                    "no connection within {:.3}s (connect_timeout + read_timeout)",
                    t.as_secs_f64()
                )),
                None,
            ),
            Ok(Err(e)) => {
                let msg = e.describe();
                if e.is_timeout() {
                    (
                        HttpError::Timeout(format!(
                            "connect timed out after {:.3}s: {msg}",
                            opts.connect_timeout.as_secs_f64()
                        )),
                        None,
                    )
                } else if e.is_builder() {
                    return Err(HttpError::Invalid(msg));
                } else {
                    (HttpError::Connect(msg), None)
                }
            }
            Ok(Ok(resp)) => {
                let status = resp.status();
                if (200..300).contains(&status) {
                    return Ok(resp);
                }
                let head = ResponseHead::of(&resp);
                let delay = retry_after(resp.headers());
                let body = read_limited(resp, MAX_ERROR_BODY).await;
                let retry = retryable_status(status);
                let err = HttpError::Status { head, body };
                if !retry {
                    return Err(err);
                }
                (err, delay)
            }
        };
        if attempt >= opts.max_retries {
            return Err(failure);
        }
        let pause = delay.unwrap_or_else(|| backoff(opts, attempt));
        tokio::time::sleep(pause).await;
        last = Some(failure);
        attempt += 1;
    }
}

/// Why an attempt failed, as OpenTelemetry's `error.type` reads it: the HTTP
/// status code, or the class of the exception it would have raised.
pub fn failure_kind(e: &HttpError) -> String {
    match e {
        HttpError::Status { head, .. } => head.status.to_string(),
        HttpError::Timeout(_) => "APITimeoutError".into(),
        HttpError::Connect(_) | HttpError::Body(_) => "APIConnectionError".into(),
        HttpError::Invalid(_) => "SserpentError".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let past = HeaderMap::from_iter([(
            HeaderName::from_static("retry-after"),
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        )]);
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        assert_eq!(
            httpdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784111777))
        );
    }

    #[test]
    fn statuses_retried() {
        assert!(
            retryable_status(429)
                && retryable_status(500)
                && retryable_status(408)
                && retryable_status(409)
        );
        assert!(!retryable_status(400) && !retryable_status(401) && !retryable_status(404));
    }
}
