//! End-to-end tests of the server over real loopback sockets, with a tiny
//! blocking HTTP/1.1 client.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::scenario::{data_frame, split_frames};
use super::*;

fn connect(server: &MockServer) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn post(path: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads until EOF (or reset); returns the bytes and whether it was a reset.
fn read_all(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, false),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (out, true),
            Err(e) => panic!("read: {e}"),
        }
    }
}

struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
    /// The chunked body ended with its last chunk.
    complete: bool,
}

fn parse_response(raw: &[u8]) -> Response {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    let rest = &raw[end..];
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let Some(nl) = rest[pos..].windows(2).position(|w| w == b"\r\n") else {
                return Response {
                    status,
                    head,
                    body,
                    complete: false,
                };
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[pos..pos + nl]).unwrap(), 16)
                    .unwrap();
            pos += nl + 2;
            if size == 0 {
                return Response {
                    status,
                    head,
                    body,
                    complete: true,
                };
            }
            if rest.len() < pos + size + 2 {
                body.extend_from_slice(&rest[pos..]);
                return Response {
                    status,
                    head,
                    body,
                    complete: false,
                };
            }
            body.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
    }
    Response {
        status,
        head,
        body: rest.to_vec(),
        complete: true,
    }
}

fn one_shot(server: &MockServer, req: &[u8]) -> Response {
    let mut s = connect(server);
    // The request asks for `connection: close` (or the reply is a fault that
    // closes): read_all ends at the server's close.
    s.write_all(req).unwrap();
    parse_response(&read_all(&mut s).0)
}

fn closing(path: &str, body: &str) -> Vec<u8> {
    post(path, "connection: close\r\n", body)
}

#[test]
fn streams_the_default_chat_completion() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    let mut s = connect(&server);
    s.write_all(&closing(
        "/v1/chat/completions",
        r#"{"model":"m","stream":true}"#,
    ))
    .unwrap();
    let r = parse_response(&read_all(&mut s).0);
    assert_eq!(r.status, 200);
    assert!(r.head.contains("content-type: text/event-stream"));
    assert!(r.head.contains("x-request-id: req_mock_"));
    assert!(r.complete);
    let frames = split_frames(&r.body);
    assert_eq!(frames.len(), 10);
    assert_eq!(&frames[9][..], b"data: [DONE]\n\n");
    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(server.wait_closed(None, Duration::from_secs(5)).unwrap());
    let c = &server.connections()[0];
    assert_eq!(c.closed_by, Some(ClosedBy::Server));
    assert_eq!(c.requests, 1);
    assert!(c.bytes_sent > r.body.len() as u64);
}

#[test]
fn keep_alive_serves_several_requests() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    let mut s = connect(&server);
    let mut raw = post("/v1/chat/completions", "", r#"{"stream":false}"#);
    raw.extend(post("/v1/nope?x=1", "", "{}"));
    raw.extend(closing("/v1/messages", r#"{"stream":true}"#));
    s.write_all(&raw).unwrap();
    let (all, _) = read_all(&mut s);
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
    assert_eq!(text.matches("HTTP/1.1 404 Not Found").count(), 1);
    assert!(text.contains("event: message_stop"));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].query, "x=1");
    assert!(reqs
        .iter()
        .all(|r| r.connection_id == reqs[0].connection_id));
    assert!(server.wait_closed(None, Duration::from_secs(5)).unwrap());
    assert_eq!(server.connections()[0].requests, 3);
}

#[test]
fn client_close_mid_stream_is_noticed() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    let mut s = connect(&server);
    s.write_all(&post(
        "/v1/chat/completions",
        "x-mock-chunks: 1000\r\nx-mock-interval-ms: 50\r\n",
        r#"{"stream":true}"#,
    ))
    .unwrap();
    let mut buf = [0u8; 1024];
    let _ = s.read(&mut buf).unwrap();
    drop(s);
    let t = Instant::now();
    assert!(server.wait_closed(None, Duration::from_secs(5)).unwrap());
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(server.connections()[0].closed_by, Some(ClosedBy::Client));
}

#[test]
fn cut_after_and_mid_event() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    let frames: Arc<[Bytes]> = vec![
        data_frame("{\"a\":1}"),
        data_frame("{\"a\":2}"),
        data_frame("{\"t\":\"\u{3042}\u{3044}\"}"),
        data_frame("[DONE]"),
    ]
    .into();
    server
        .enqueue(Scenario {
            body: ScenarioBody::Frames(frames.clone()),
            faults: Faults {
                cut_after: Some(2),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    server
        .enqueue(Scenario {
            body: ScenarioBody::Frames(frames.clone()),
            faults: Faults {
                cut_after: Some(2),
                cut_mid_event: true,
                reset: true,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    let r = one_shot(&server, &post("/x", "", ""));
    assert!(!r.complete);
    assert_eq!(r.body, [&frames[0][..], &frames[1][..]].concat());

    let mut s = connect(&server);
    s.write_all(&post("/x", "", "")).unwrap();
    let (raw, was_reset) = read_all(&mut s);
    assert!(was_reset);
    let r = parse_response(&raw);
    assert!(!r.complete);
    let tail = &r.body[frames[0].len() + frames[1].len()..];
    assert!(frames[2].starts_with(tail) && tail.len() < frames[2].len());
    assert!(
        std::str::from_utf8(tail).is_err(),
        "the cut splits a character"
    );
    // Recorded before the client could see the close: no wait needed.
    assert_eq!(server.connections()[1].closed_by, Some(ClosedBy::Server));
}

#[test]
fn stall_with_keepalive_until_the_client_leaves() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    server
        .enqueue(Scenario {
            faults: Faults {
                stall_after: Some(1),
                keepalive: Some(Duration::from_millis(20)),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    let mut s = connect(&server);
    s.write_all(&post("/v1/chat/completions", "", r#"{"stream":true}"#))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.windows(13).filter(|w| w == b": keep-alive\n").count() < 3 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let body = parse_response(&got).body;
    let frames = split_frames(&body);
    assert!(frames[0].starts_with(b"data: {\"id\":\"chatcmpl-mock"));
    assert!(frames[1..].iter().all(|f| &f[..] == b": keep-alive\n\n"));
    assert!(server.connections()[0].is_open());
    drop(s);
    assert!(server.wait_closed(None, Duration::from_secs(5)).unwrap());
    assert_eq!(server.connections()[0].closed_by, Some(ClosedBy::Client));
}

#[test]
fn close_before_headers_and_status_errors() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    server
        .enqueue(Scenario {
            faults: Faults {
                close_before_headers: true,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    server
        .enqueue(Scenario {
            status: 429,
            headers: vec![("Retry-After".into(), "0".into())],
            ..Default::default()
        })
        .unwrap();
    let mut s = connect(&server);
    s.write_all(&post("/v1/chat/completions", "", "{}"))
        .unwrap();
    assert_eq!(read_all(&mut s).0, b"");
    let r = one_shot(&server, &closing("/v1/chat/completions", "{}"));
    assert_eq!(r.status, 429);
    assert!(r.head.contains("Retry-After: 0\r\n"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let r = one_shot(&server, &closing("/v1/chat/completions", "{}"));
    assert_eq!(r.status, 200);
    assert_eq!(server.pending(), 0);
}

#[test]
fn big_fast_stream() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    let mut s = connect(&server);
    s.write_all(&post(
        "/v1/chat/completions",
        "x-mock-chunks: 200000\r\nconnection: close\r\n",
        r#"{"stream":true}"#,
    ))
    .unwrap();
    let t = Instant::now();
    let (raw, _) = read_all(&mut s);
    let elapsed = t.elapsed();
    let r = parse_response(&raw);
    assert!(r.complete);
    let n = r.body.windows(6).filter(|w| w == b"data: ").count();
    assert_eq!(n, 200_000 + 3);
    eprintln!("200k chunks, {} bytes in {elapsed:?}", r.body.len());
}

#[test]
fn invalid_json_gets_400_and_bad_requests_close() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    let r = one_shot(&server, &closing("/v1/chat/completions", "{nope"));
    assert_eq!(r.status, 400);
    let r = one_shot(&server, b"BLAH\x01 / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
}

#[test]
fn bounded_stall_with_keepalive_then_the_rest_of_the_body() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    let frames: Arc<[Bytes]> = vec![
        data_frame("{\"a\":1}"),
        data_frame("{\"a\":2}"),
        data_frame("[DONE]"),
    ]
    .into();
    server
        .enqueue(Scenario {
            body: ScenarioBody::Frames(frames.clone()),
            faults: Faults {
                stall_after: Some(1),
                keepalive: Some(Duration::from_millis(20)),
                stall_for: Some(Duration::from_millis(150)),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    let r = one_shot(&server, &post("/x", "connection: close\r\n", ""));
    assert!(r.complete, "the body ends properly after the stall");
    let got = split_frames(&r.body);
    assert_eq!(&got[0][..], &frames[0][..]);
    assert_eq!(&got[got.len() - 2][..], &frames[1][..]);
    assert_eq!(&got[got.len() - 1][..], &frames[2][..]);
    let comments = &got[1..got.len() - 2];
    assert!(comments.len() >= 3, "{} keep-alives", comments.len());
    assert!(comments.iter().all(|f| &f[..] == b": keep-alive\n\n"));

    // Without keep-alives: silence, then the rest; past the end of the body too.
    server
        .enqueue(Scenario {
            body: ScenarioBody::Frames(frames.clone()),
            faults: Faults {
                stall_after: Some(3),
                stall_for: Some(Duration::from_millis(50)),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    let r = one_shot(&server, &post("/x", "connection: close\r\n", ""));
    assert!(r.complete);
    assert_eq!(r.body, frames.concat());
}

#[test]
fn close_stops_stalled_connections_and_records_the_server() {
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    server
        .enqueue(Scenario {
            faults: Faults {
                stall_after: Some(0),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    let mut s = connect(&server);
    s.write_all(&post("/v1/chat/completions", "", r#"{"stream":true}"#))
        .unwrap();
    let mut buf = [0u8; 1024];
    let _ = s.read(&mut buf).unwrap();
    server.close();
    assert!(server.is_closed());
    let c = &server.connections()[0];
    assert_eq!(c.closed_by, Some(ClosedBy::Server));
    let (rest, _) = read_all(&mut s);
    assert!(rest.is_empty());
    assert!(TcpStream::connect(server.addr()).is_err());
}

/// CPU seconds (user, system) used so far by the server's runtime threads.
fn mock_threads_cpu() -> (f64, f64) {
    let (mut user, mut sys) = (0u64, 0u64);
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != "sserpent-mock" {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        user += fields[11].parse::<u64>().unwrap_or(0);
        sys += fields[12].parse::<u64>().unwrap_or(0);
    }
    (user as f64 / 100.0, sys as f64 / 100.0)
}

/// Load check, not a unit test:
/// `MOCK_LOAD_N=5000 cargo test --release --no-default-features mock::tests::load -- --ignored --nocapture`
#[test]
#[ignore = "load check; run on demand"]
fn load_paced_streams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let n: usize = std::env::var("MOCK_LOAD_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let chunks = 100; // 5 s at 20 chunks/s
    let server = MockServer::start("127.0.0.1", 0).unwrap();
    let addr = server.addr();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let req = post(
        "/v1/chat/completions",
        &format!("connection: close\r\nx-mock-chunks: {chunks}\r\nx-mock-interval-ms: 50\r\nx-mock-timestamps: 1\r\n"),
        r#"{"stream":true}"#,
    );
    let cpu0 = mock_threads_cpu();
    let t0 = Instant::now();
    let mut lags: Vec<u64> = client.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..n {
            let req = req.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(&req).await.unwrap();
                let mut lags = Vec::new();
                let mut buf = vec![0u8; 16 * 1024];
                let mut carry: Vec<u8> = Vec::new();
                loop {
                    let k = s.read(&mut buf).await.unwrap();
                    if k == 0 {
                        return lags;
                    }
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos() as u64;
                    carry.extend_from_slice(&buf[..k]);
                    let key = b"\"x_sent_ns\":";
                    let mut pos = 0;
                    while let Some(at) = carry[pos..].windows(key.len()).position(|w| w == key) {
                        let start = pos + at + key.len();
                        let end = start
                            + carry[start..]
                                .iter()
                                .take_while(|b| b.is_ascii_digit())
                                .count();
                        if end == carry.len() {
                            break;
                        }
                        let sent: u64 = std::str::from_utf8(&carry[start..end])
                            .unwrap()
                            .parse()
                            .unwrap();
                        lags.push(now.saturating_sub(sent));
                        pos = end;
                    }
                    carry.drain(..pos);
                }
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = mock_threads_cpu();
    let (user, sys) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let cpu = user + sys;
    lags.sort_unstable();
    let pct = |p: f64| lags[((lags.len() - 1) as f64 * p) as usize] as f64 / 1e6;
    assert_eq!(lags.len(), n * chunks);
    eprintln!(
        "{n} streams x {chunks} chunks at 20/s: wall {wall:.2} s, server CPU {user:.2} s user + {sys:.2} s system ({:.0}% of one core), lag p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        100.0 * cpu / wall,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
