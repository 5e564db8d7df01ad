//! Stream timings, taken in Rust when bytes arrive from the socket, so they
//! stay true however busy the Python thread is.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One (monotonic, wall-clock) pair taken once per process: every stamp is an
/// `Instant`, turned into Unix nanoseconds against this pair, so the times of
/// one stream keep their monotonic spacing (spans, TTFT) whatever the wall
/// clock does meanwhile.
fn anchor() -> &'static (Instant, u128) {
    static ANCHOR: OnceLock<(Instant, u128)> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        (Instant::now(), wall)
    })
}

/// `t` as nanoseconds since the Unix epoch (comparable with `time.time_ns()`).
pub fn wall_ns(t: Instant) -> u64 {
    let (at, wall) = *anchor();
    let ns = if t >= at {
        wall + t.duration_since(at).as_nanos()
    } else {
        wall.saturating_sub(at.duration_since(t).as_nanos())
    };
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Gaps kept for percentiles; past this, every other gap is dropped
/// (memory stays bounded on endless streams).
const MAX_GAPS: usize = 1 << 20;

#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub started: Option<Instant>,
    pub headers_at: Option<Instant>,
    pub first_event_at: Option<Instant>,
    pub first_text_at: Option<Instant>,
    pub last_chunk_at: Option<Instant>,
    pub ended_at: Option<Instant>,
    pub chunks: u64,
    pub bytes: u64,
    pub attempts: u32,
    /// Each retry: when it was sent, its attempt number (2, 3, ...) and why the
    /// attempt before it failed (a status code, or the error's class name).
    pub retries: Vec<(Instant, u32, String)>,
    gaps_ns: Vec<u64>,
    gap_stride: u64,
    gap_seen: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Snapshot>,
}

impl Metrics {
    pub fn with<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn snapshot(&self) -> Snapshot {
        self.with(|s| s.clone())
    }
}

impl Snapshot {
    pub fn start(&mut self, now: Instant) {
        self.started.get_or_insert(now);
    }

    /// A chunk arrived with bytes read at `at`.
    pub fn chunk(&mut self, at: Instant, has_text: bool) {
        if self.first_event_at.is_none() {
            self.first_event_at = Some(at);
        }
        if has_text && self.first_text_at.is_none() {
            self.first_text_at = Some(at);
        }
        if let Some(prev) = self.last_chunk_at {
            self.gap_seen += 1;
            if self.gap_stride == 0 {
                self.gap_stride = 1;
            }
            if self.gap_seen.is_multiple_of(self.gap_stride) {
                if self.gaps_ns.len() >= MAX_GAPS {
                    let kept: Vec<u64> = self.gaps_ns.iter().step_by(2).copied().collect();
                    self.gaps_ns = kept;
                    self.gap_stride *= 2;
                }
                self.gaps_ns.push(at.duration_since(prev).as_nanos() as u64);
            }
        }
        self.last_chunk_at = Some(at);
        self.chunks += 1;
    }

    /// Inter-chunk gaps of more than zero, in seconds (chunks of one socket read
    /// share its arrival time); the kept ones, when the stream was that long.
    pub fn arrival_gaps(&self) -> Vec<f64> {
        self.gaps_ns
            .iter()
            .filter(|&&g| g > 0)
            .map(|&g| g as f64 / 1e9)
            .collect()
    }

    pub fn since_start(&self, t: Option<Instant>) -> Option<Duration> {
        Some(t?.duration_since(self.started?))
    }

    /// Inter-chunk gap percentile (`q` in 0..=1).
    pub fn gap_percentile(&self, q: f64) -> Option<Duration> {
        if self.gaps_ns.is_empty() {
            return None;
        }
        let mut g = self.gaps_ns.clone();
        let rank = ((g.len() - 1) as f64 * q).round() as usize;
        let (_, v, _) = g.select_nth_unstable(rank);
        Some(Duration::from_nanos(*v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_first_times() {
        let t0 = Instant::now();
        let mut s = Snapshot::default();
        s.start(t0);
        for i in 0..101u64 {
            s.chunk(t0 + Duration::from_millis(i * i), i == 3);
        }
        assert_eq!(s.chunks, 101);
        assert_eq!(
            s.since_start(s.first_text_at),
            Some(Duration::from_millis(9))
        );
        // gaps are 2i-1 ms for i in 1..=100: median 99 ms, p99 197 ms
        assert_eq!(s.gap_percentile(0.5), Some(Duration::from_millis(101)));
        assert_eq!(s.gap_percentile(0.0), Some(Duration::from_millis(1)));
        assert_eq!(s.gap_percentile(1.0), Some(Duration::from_millis(199)));
        assert_eq!(s.arrival_gaps().len(), 100);
    }

    #[test]
    fn wall_clock_keeps_monotonic_spacing() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!(wall_ns(t1) - wall_ns(t0), 250_000_000);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        // the anchor was taken in this process: within a minute of now
        assert!(wall_ns(Instant::now()).abs_diff(now) < 60_000_000_000);
    }
}
