//! The socket-direct path against a raw TCP server: what it sent, when it
//! reused or closed a connection, and how a broken body fails.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::*;

/// What the server saw: each accepted connection's number, with each request head read on it.
#[derive(Debug, PartialEq)]
enum Seen {
    Request(usize, String),
    Closed(usize),
}

/// How the server answers one request.
#[derive(Clone, Copy)]
enum Respond {
    Reply(&'static [u8]),
    /// Reply, then close the connection.
    ReplyAndClose(&'static [u8]),
    /// Close the connection without a reply.
    Close,
    /// The head, then 50 ms later the body: it arrives in reads of its own (a
    /// small read goes through the worker thread's buffer, `body.rs`).
    Split(&'static [u8], &'static [u8]),
}
use Respond::*;

/// A server that answers each request head with the next of `answers`
/// (when they run out: `Close`); reports what it saw.
async fn server(answers: Vec<Respond>) -> (u16, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let answers = Arc::new(std::sync::Mutex::new(answers.into_iter()));
    tokio::spawn(async move {
        let mut conn = 0;
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            conn += 1;
            tokio::spawn(serve(sock, conn, tx.clone(), answers.clone()));
        }
    });
    (port, rx)
}

type Answers = Arc<std::sync::Mutex<std::vec::IntoIter<Respond>>>;

async fn serve(
    mut sock: TcpStream,
    conn: usize,
    tx: mpsc::UnboundedSender<Seen>,
    answers: Answers,
) {
    let mut buf = Vec::new();
    loop {
        let mut piece = [0u8; 4096];
        let n = sock.read(&mut piece).await.unwrap_or(0);
        if n == 0 {
            let _ = tx.send(Seen::Closed(conn));
            return;
        }
        buf.extend_from_slice(&piece[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            let text = String::from_utf8(head).unwrap();
            let length = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            while buf.len() < length {
                let n = sock.read(&mut piece).await.unwrap();
                buf.extend_from_slice(&piece[..n]);
            }
            let body: Vec<u8> = buf.drain(..length).collect();
            let _ = tx.send(Seen::Request(
                conn,
                text + &String::from_utf8(body).unwrap(),
            ));
            let answer = answers.lock().unwrap().next().unwrap_or(Close);
            match answer {
                Reply(bytes) => sock.write_all(bytes).await.unwrap(),
                ReplyAndClose(bytes) => {
                    sock.write_all(bytes).await.unwrap();
                    let _ = tx.send(Seen::Closed(conn));
                    return;
                }
                Close => {
                    let _ = tx.send(Seen::Closed(conn));
                    return;
                }
                Split(head, body) => {
                    sock.write_all(head).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    sock.write_all(body).await.unwrap();
                }
            }
        }
    }
}

/// What the server saw until it has been quiet for 200 ms, a line each.
async fn log_of(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Vec<String> {
    let mut log = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(200), seen.recv()).await {
        log.push(match s {
            Seen::Request(c, _) => format!("request on {c}"),
            Seen::Closed(c) => format!("closed {c}"),
        });
    }
    log
}

fn pool() -> Arc<Pool> {
    Pool::new(Duration::from_secs(2), Duration::from_secs(30))
}

/// A GET of `port`'s root through `pool`, answered.
async fn get(pool: &Arc<Pool>, port: u16) -> Response {
    send(pool, &Method::GET, &url(port), &HeaderMap::new(), None)
        .await
        .unwrap()
}

fn url(port: u16) -> reqwest::Url {
    reqwest::Url::parse(&format!("http://127.0.0.1:{port}/v1/chat")).unwrap()
}

async fn body_of(resp: Response) -> Result<Vec<u8>, String> {
    // Read the way the reader task reads it.
    let mut resp = crate::transport::response::Response::Direct(resp);
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(b)) => out.extend_from_slice(&b),
            Ok(None) => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

const SSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
    b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\n0\r\n\r\n";

#[tokio::test]
async fn requests_reuse_the_connection_and_send_what_hyper_sends() {
    let (port, mut seen) = server(vec![Reply(SSE), Reply(SSE)]).await;
    let pool = pool();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_static("Bearer k"));
    let body = Bytes::from_static(b"{\"stream\":true}");
    for _ in 0..2 {
        let resp = send(&pool, &Method::POST, &url(port), &headers, Some(&body))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.version, http::Version::HTTP_11);
        assert_eq!(resp.headers["content-type"], "text/event-stream");
        assert_eq!(body_of(resp).await.unwrap(), b"data: one\n\ndata: two\n\n");
    }
    let expected = format!(
        "POST /v1/chat HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: */*\r\nauthorization: Bearer k\r\n\
         content-length: 15\r\n\r\n{{\"stream\":true}}"
    );
    assert_eq!(seen.recv().await, Some(Seen::Request(1, expected.clone())));
    assert_eq!(
        seen.recv().await,
        Some(Seen::Request(1, expected)),
        "the same connection"
    );
    assert_eq!(pool.idle(), 1);
}

#[tokio::test]
async fn a_pooled_connection_closed_by_the_server_is_replaced_without_an_error() {
    // The first connection answers once, then closes on the next request
    // without answering it: the request, a GET (harmless twice), goes again on a new
    // connection.
    let (port, mut seen) = server(vec![Reply(SSE), Close, Reply(SSE)]).await;
    let pool = pool();
    let h = HeaderMap::new();
    let first = send(&pool, &Method::GET, &url(port), &h, None)
        .await
        .unwrap();
    body_of(first).await.unwrap();
    let second = send(&pool, &Method::GET, &url(port), &h, None)
        .await
        .unwrap();
    assert_eq!(
        body_of(second).await.unwrap(),
        b"data: one\n\ndata: two\n\n"
    );
    let log = log_of(&mut seen).await;
    assert_eq!(
        log,
        ["request on 1", "request on 1", "closed 1", "request on 2"]
    );
}

#[tokio::test]
async fn a_post_the_server_may_have_read_is_not_sent_again() {
    // The pooled connection takes the second request and closes unanswered:
    // the server may have acted on it, so it is not resent behind the caller's back.
    let (port, mut seen) = server(vec![Reply(SSE), Close]).await;
    let pool = pool();
    let h = HeaderMap::new();
    let body = Bytes::from_static(b"{}");
    let first = send(&pool, &Method::POST, &url(port), &h, Some(&body))
        .await
        .unwrap();
    body_of(first).await.unwrap();
    let err = send(&pool, &Method::POST, &url(port), &h, Some(&body))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error sending the request: connection closed before the response"
    );
    let log = log_of(&mut seen).await;
    assert_eq!(
        log,
        ["request on 1", "request on 1", "closed 1"],
        "sent once"
    );
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_while_idle_is_not_used() {
    // The server closes after its answer; once the FIN is in, the idle connection is
    // dropped at checkout and even a POST goes out once, on a new connection.
    let keep: &'static [u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
    let (port, mut seen) = server(vec![ReplyAndClose(keep), Reply(keep)]).await;
    let pool = pool();
    let h = HeaderMap::new();
    let body = Bytes::from_static(b"{}");
    let first = send(&pool, &Method::POST, &url(port), &h, Some(&body))
        .await
        .unwrap();
    assert_eq!(body_of(first).await.unwrap(), b"hi");
    assert_eq!(pool.idle(), 1);
    assert!(matches!(seen.recv().await, Some(Seen::Request(1, _))));
    assert_eq!(seen.recv().await, Some(Seen::Closed(1)));
    tokio::time::sleep(Duration::from_millis(50)).await; // the FIN reaches the client
    let second = send(&pool, &Method::POST, &url(port), &h, Some(&body))
        .await
        .unwrap();
    assert_eq!(body_of(second).await.unwrap(), b"hi");
    assert!(matches!(seen.recv().await, Some(Seen::Request(2, _))));
}

#[tokio::test]
async fn a_request_asking_to_close_does_not_pool_its_connection() {
    let keep: &'static [u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
    let (port, _seen) = server(vec![Reply(keep)]).await;
    let pool = pool();
    let mut h = HeaderMap::new();
    h.insert("connection", HeaderValue::from_static("close"));
    let resp = send(&pool, &Method::GET, &url(port), &h, None)
        .await
        .unwrap();
    assert_eq!(body_of(resp).await.unwrap(), b"hi");
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn connection_close_and_bodies_read_to_the_close_are_not_pooled() {
    let close: &'static [u8] =
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nhi";
    let eof: &'static [u8] = b"HTTP/1.1 200 OK\r\n\r\n";
    let (port, _seen) = server(vec![Reply(close), ReplyAndClose(eof)]).await;
    let pool = pool();
    let h = HeaderMap::new();
    let resp = send(&pool, &Method::GET, &url(port), &h, None)
        .await
        .unwrap();
    assert_eq!(body_of(resp).await.unwrap(), b"hi");
    assert_eq!(pool.idle(), 0);
    let resp = send(&pool, &Method::GET, &url(port), &h, None)
        .await
        .unwrap();
    assert_eq!(body_of(resp).await.unwrap(), b"", "read to the close");
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_naming_why() {
    let cut: &'static [u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nb\r\ndata: one\n\n\r\n5\r\nda";
    let (port, _seen) = server(vec![ReplyAndClose(cut)]).await;
    let pool = pool();
    let resp = get(&pool, port).await;
    let mut resp = resp;
    assert_eq!(resp.chunk().await.unwrap().unwrap(), &b"data: one\n\n"[..]);
    assert_eq!(resp.chunk().await.unwrap().unwrap(), &b"da"[..]);
    let err = body_of(resp).await;
    let msg = err.unwrap_err();
    assert_eq!(
        msg,
        "error reading the response body: connection closed before the message completed"
    );
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let (port, mut seen) = server(vec![Reply(SSE)]).await;
    let pool = Pool::new(Duration::from_secs(2), Duration::from_millis(100));
    let resp = get(&pool, port).await;
    body_of(resp).await.unwrap();
    assert_eq!(pool.idle(), 1);
    assert!(matches!(seen.recv().await, Some(Seen::Request(1, _))));
    let closed = tokio::time::timeout(Duration::from_secs(2), seen.recv()).await;
    assert_eq!(
        closed.unwrap(),
        Some(Seen::Closed(1)),
        "the reaper closed it"
    );
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn a_refused_connect_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = send(&pool(), &Method::GET, &url(port), &HeaderMap::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Connect(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("connection failed: tcp connect error: "),
        "{err}"
    );
}

#[tokio::test]
async fn a_response_that_is_not_http_fails_the_request() {
    let (port, _seen) = server(vec![Reply(b"SSH-2.0-OpenSSH\r\n\r\n")]).await;
    let err = send(&pool(), &Method::GET, &url(port), &HeaderMap::new(), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("error sending the request: invalid HTTP response head"),
        "{err}"
    );
}

#[test]
fn the_reader_is_chosen_by_the_options_and_the_environment() {
    assert_eq!(reads_directly(true, None, false), Ok(true));
    assert_eq!(reads_directly(true, Some("direct"), false), Ok(true));
    assert_eq!(
        reads_directly(true, None, true),
        Ok(false),
        "HTTP_PROXY or ALL_PROXY set"
    );
    assert_eq!(reads_directly(true, Some("hyper"), false), Ok(false));
    assert_eq!(
        reads_directly(false, None, false),
        Ok(false),
        "a proxy, or HTTP/2 only"
    );
    assert_eq!(
        reads_directly(true, Some("fast"), false),
        Err("SSERPENT_HTTP1=\"fast\" is not an HTTP/1.1 reader; allowed values: direct, hyper (unset or empty: direct)".into())
    );
}

/// The body's pieces as they come, and how it ended (`None`: at its end).
async fn pieces_of(resp: Response) -> (Vec<Vec<u8>>, Option<String>) {
    let mut resp = crate::transport::response::Response::Direct(resp);
    let mut pieces = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(b)) => pieces.push(b.to_vec()),
            Ok(None) => return (pieces, None),
            Err(e) => return (pieces, Some(e)),
        }
    }
}

const HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

#[tokio::test]
async fn a_body_read_apart_from_its_head_comes_whole_and_its_connection_is_reused() {
    let body: &'static [u8] = b"b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\n0\r\n\r\n";
    let (port, mut seen) = server(vec![Split(HEAD, body), Split(HEAD, body)]).await;
    let pool = pool();
    for _ in 0..2 {
        let resp = get(&pool, port).await;
        // (Normally one read holds both events, copied out of the thread's buffer in
        // one piece; a client slowed past the 50 ms reads them with the head.)
        let (pieces, end) = pieces_of(resp).await;
        assert_eq!(
            (pieces.concat(), end),
            (b"data: one\n\ndata: two\n\n".to_vec(), None)
        );
    }
    assert_eq!(log_of(&mut seen).await, ["request on 1", "request on 1"]);
    assert_eq!(pool.idle(), 1);
}

#[tokio::test]
async fn bytes_after_the_body_in_its_read_keep_the_connection_out_of_the_pool() {
    let body: &'static [u8] = b"b\r\ndata: one\n\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
    let (port, _seen) = server(vec![Split(HEAD, body)]).await;
    let pool = pool();
    let resp = get(&pool, port).await;
    assert_eq!(
        pieces_of(resp).await,
        (vec![b"data: one\n\n".to_vec()], None)
    );
    assert_eq!(
        pool.idle(),
        0,
        "a response nobody asked for follows: not reusable"
    );
}

#[tokio::test]
async fn the_events_before_broken_framing_in_the_same_read_come_first() {
    let body: &'static [u8] = b"e\r\ndata: [DONE]\n\n\r\nzz\r\n";
    let (port, _seen) = server(vec![Split(HEAD, body)]).await;
    let pool = pool();
    let resp = get(&pool, port).await;
    let (pieces, end) = pieces_of(resp).await;
    assert_eq!(pieces.concat(), b"data: [DONE]\n\n");
    assert_eq!(
        end.as_deref(),
        Some("error reading the response body: invalid chunk size")
    );
    assert_eq!(pool.idle(), 0);
}
