//! The floor for `bench_concurrency.py`: N paced streams read by the cheapest
//! client this machine can run, in Rust on tokio (two worker threads, as
//! sserpent's runtime), with no HTTP library, no SSE or JSON parsing and no
//! Python: each task writes its request, reads the socket and, for every
//! `"x_sent_ns":` it finds, records now minus that send time. Whatever lag
//! this client shows, no client on the same cores can beat.
//!
//!     python -m sserpent mock-server --port 8765 &
//!     cargo run --release --no-default-features --example floor_client -- 8765 5000 120

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn cpu_seconds() -> f64 {
    let mut s = String::new();
    if std::fs::File::open("/proc/self/stat")
        .and_then(|mut f| f.read_to_string(&mut s))
        .is_err()
    {
        return 0.0;
    }
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

async fn one(port: u16, chunks: usize, lags: Arc<Mutex<Vec<u64>>>) -> std::io::Result<()> {
    let body =
        r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         x-mock-chunks: {chunks}\r\nx-mock-interval-ms: 50\r\nx-mock-timestamps: 1\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut sock = TcpStream::connect(("127.0.0.1", port)).await?;
    sock.set_nodelay(true)?;
    sock.write_all(req.as_bytes()).await?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut mine = Vec::with_capacity(chunks);
    let mut first = true;
    let needle = b"\"x_sent_ns\":";
    loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let at = now_ns();
        let data = &buf[..n];
        let mut from = 0;
        while let Some(i) = memchr::memmem::find(&data[from..], needle) {
            let start = from + i + needle.len();
            let digits = data[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if let Some(sent) = std::str::from_utf8(&data[start..start + digits])
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                if !first {
                    mine.push(at.saturating_sub(sent));
                }
                first = false;
            }
            from = start + digits;
        }
        if memchr::memmem::find(data, b"[DONE]").is_some() {
            break;
        }
    }
    lags.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8765);
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let chunks: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(120);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let lags = Arc::new(Mutex::new(Vec::new()));
    let (w0, c0) = (Instant::now(), cpu_seconds());
    let errors = rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| tokio::spawn(one(port, chunks, lags.clone())))
            .collect();
        let mut errors = 0;
        for t in tasks {
            if !matches!(t.await, Ok(Ok(()))) {
                errors += 1;
            }
        }
        errors
    });
    let (wall, cpu) = (w0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let mut lags = std::mem::take(&mut *lags.lock().unwrap_or_else(|e| e.into_inner()));
    lags.sort_unstable();
    let q = |p: f64| {
        lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1)))
            .map_or(f64::NAN, |&v| v as f64 / 1e6)
    };
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "floor client: {n} streams x {chunks} chunks, errors {errors}, CPU {:.0}%, {:.1} us/chunk, lag p50 {:.1} ms, p99 {:.1} ms",
        cpu / wall * 100.0,
        cpu / (lags.len().max(1) as f64) * 1e6,
        q(0.50),
        q(0.99)
    );
}
