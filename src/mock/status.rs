//! How the mock server names a status: the reason phrase of its status line,
//! and the OpenAI-style JSON error body of a reply that has no body of its
//! own (unknown paths, unreadable requests, scripted error statuses).

use super::json::{js, Obj};

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Site Overloaded",
        _ => "Unknown",
    }
}

/// An OpenAI-style error object.
pub fn error_body(message: &str, kind: &str, code: Option<&str>) -> String {
    let err = Obj::new()
        .s("message", message)
        .s("type", kind)
        .null("param")
        .raw("code", &code.map_or("null".into(), js))
        .done();
    Obj::new().raw("error", &err).done()
}

/// The error body for a scripted status without a body.
pub fn status_error_body(status: u16) -> String {
    let (kind, code) = match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        404 => ("invalid_request_error", Some("not_found")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        s if s >= 500 => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    error_body(
        &format!("sserpent mock server: HTTP {status} {}", reason(status)),
        kind,
        code,
    )
}
