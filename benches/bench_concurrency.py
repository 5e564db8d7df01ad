"""N concurrent streams in one asyncio process, each paced at 20 chunks/s by the mock server.

The mock server runs in a separate process (``python -m sserpent mock-server``) and stamps
every content chunk with its send time (``x-mock-timestamps: 1`` → ``x_sent_ns``, wall clock
ns). All N streams are started at once. For each N this prints the client process's CPU %
and CPU µs per chunk (all threads, and the Python thread alone), the mock server's CPU % (it
shares the same cores), peak RSS growth per stream, and the lag between the server's send
and Python's receipt of each chunk (p50/p99; each stream's first chunk, which includes
connecting, is left out). "steady" is the same lag measured only while all N streams are
open: after the last stream's first chunk and before the first stream's end, so without the
connection storm of the start. "runnable threads" is the average number of client and server
threads that were on a CPU or waiting for one (``/proc/*/task/*/schedstat``): above the core
count the machine is oversubscribed and lag is queueing for CPU; "client run-queue wait %" is
the client's threads' time spent runnable but not running, summed, per second of wall time.
sserpent runs over HTTP/1.1 (a connection per stream) and over cleartext HTTP/2 with prior
knowledge (``Client(http1=False, http2=True)``: 100 streams per connection). The openai
SDK's AsyncOpenAI is measured the same way at the N it sustains (HTTP/1.1 by default;
``--sdk-protocols HTTP/2`` needs ``httpx[http2]``). sserpent runs once per wake-up path
(``--async-wake``, set as ``SSERPENT_ASYNC_WAKE`` for each run's new loop): the socket pair the
loop watches (the unix default) and ``loop.call_soon_threadsafe`` (the portable path); and over
HTTP/1.1 once per body reader (``--http1-reader``, set as ``SSERPENT_HTTP1`` before each run's
client is made): read straight from the socket (``direct``, the default for ``http://``) and
through hyper (``hyper``, what ``https://`` and proxies use), interleaved at each N.

    python benches/bench_concurrency.py [--n 100 1000 5000] [--protocols HTTP/1.1 HTTP/2]
                                        [--async-wake socketpair threadsafe]
                                        [--http1-reader direct hyper]
                                        [--sdk-n 100 1000] [--chunks 120]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import os
import resource
import statistics
import time

import sserpent
from _common import mock_server_process

INTERVAL_NS = 50_000_000  # 20 chunks/s
BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sched_ns(pid: int) -> tuple[int, int]:
    """Time on a CPU and time runnable but waiting for one (run-queue wait), summed over the
    threads of ``pid`` alive now, ns (``/proc/PID/task/TID/schedstat``)."""
    on = wait = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                a, b, _ = f.read().split()
        except (OSError, ValueError):
            continue
        on += int(a)
        wait += int(b)
    return on, wait


def main_thread_ns() -> int:
    """Time the Python (event loop) thread has spent on a CPU, ns."""
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat") as f:
        return int(f.read().split()[0])


def lateness(sents: array.array, interval_ns: int, out: array.array) -> None:
    """How late the server sent each chunk of one stream against its schedule.

    The mock server paces chunk k at ``start + k * interval``; a server that falls behind
    stamps later than that, and the client's lag (measured from the stamp) would not show
    it. ``start`` is the earliest start the stamps imply."""
    if not sents:
        return
    start = min(t - k * interval_ns for k, t in enumerate(sents))
    out.extend(t - k * interval_ns - start for k, t in enumerate(sents))


def quantile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(p * len(sorted_ms)))] if sorted_ms else float("nan")


async def run(kind: str, protocol: str, n: int, base: str, chunks: int, server_pid: int) -> dict:
    headers = {"x-mock-chunks": str(chunks), "x-mock-interval-ms": str(INTERVAL_NS // 1_000_000),
               "x-mock-timestamps": "1"}
    # Per-chunk bookkeeping in flat int64 arrays (8 bytes a value, not a list slot plus an
    # int object), so the benchmark's own memory adds little to "RSS per stream".
    lags = array.array("q")
    received = array.array("q")  # receipt time of each lag, ns
    firsts: list[int] = []  # each stream's first chunk, ns
    ends: list[int] = []  # each stream's end, ns
    late = array.array("q")  # the server's lateness against its own schedule, ns
    done = 0
    peak = base_rss = rss_bytes()
    stop = False

    async def sample() -> None:
        nonlocal peak
        while not stop:
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.05)

    if kind == "sserpent":
        # HTTP/2: cleartext with prior knowledge, 100 streams multiplexed on each connection.
        h2 = protocol == "HTTP/2"
        client = sserpent.Client(base_url=base, max_retries=0, read_timeout=60, http1=not h2, http2=h2)

        async def one() -> None:
            nonlocal done
            first = True
            sents = array.array("q")
            async for chunk in client.stream("POST", "/chat/completions", json=BODY, headers=headers):
                sent = chunk.get("x_sent_ns")
                if sent is not None:
                    now = time.time_ns()
                    sents.append(sent)
                    if first:
                        firsts.append(now)
                        first = False
                    else:
                        lags.append(now - sent)
                        received.append(now)
            ends.append(time.time_ns())
            lateness(sents, INTERVAL_NS, late)
            done += 1
    else:
        import httpx
        import openai

        h2 = protocol == "HTTP/2"  # needs the h2 package (httpx[http2])
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
                                 timeout=60, http1=not h2, http2=h2)
        client = openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0, http_client=http)

        async def one() -> None:
            nonlocal done
            first = True
            sents = array.array("q")
            stream = await client.chat.completions.create(**BODY, extra_headers=headers)
            async for chunk in stream:
                sent = (chunk.model_extra or {}).get("x_sent_ns")
                if sent is not None:
                    now = time.time_ns()
                    sents.append(sent)
                    if first:
                        firsts.append(now)
                        first = False
                    else:
                        lags.append(now - sent)
                        received.append(now)
            ends.append(time.time_ns())
            lateness(sents, INTERVAL_NS, late)
            done += 1

    # The wake-up path this loop got (None for the SDK, which awaits no sserpent stream).
    wake = None
    sampler = asyncio.create_task(sample())
    w0, c0, s0 = time.perf_counter(), time.process_time(), cpu_seconds(server_pid)
    q0, sq0, m0 = sched_ns(os.getpid()), sched_ns(server_pid), main_thread_ns()
    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    if kind == "sserpent":
        wake = sserpent._sserpent._async_wake(asyncio.get_running_loop())
    w1, c1, s1 = time.perf_counter(), time.process_time(), cpu_seconds(server_pid)
    q1, sq1, m1 = sched_ns(os.getpid()), sched_ns(server_pid), main_thread_ns()
    stop = True
    await sampler
    errors = [r for r in results if isinstance(r, BaseException)]
    all_ms = sorted(lag / 1e6 for lag in lags)
    steady_from = max(firsts) if len(firsts) == n else None
    steady_to = min(ends) if ends else None
    steady_ms = sorted(
        lag / 1e6
        for lag, at in zip(lags, received)
        if steady_from is not None and steady_to is not None and steady_from <= at <= steady_to
    )
    total_chunks = len(lags) + len(firsts)
    return {
        "kind": kind,
        "wake": wake or "",
        "protocol": protocol,
        "n": n,
        "ok": done,
        "errors": len(errors),
        "first_error": repr(errors[0])[:400] if errors else "",
        "wall": w1 - w0,
        "cpu_pct": (c1 - c0) / (w1 - w0) * 100,
        "cpu_us_per_chunk": (c1 - c0) / max(1, total_chunks) * 1e6,
        "py_us_per_chunk": (m1 - m0) / 1e3 / max(1, total_chunks),
        "server_cpu_pct": (s1 - s0) / (w1 - w0) * 100,
        # Average number of threads (client and server) that were runnable: on a CPU or
        # waiting for one. Above the core count, the machine is oversubscribed and every
        # thread queues for CPU, the client's included.
        "runnable": (q1[0] - q0[0] + q1[1] - q0[1] + sq1[0] - sq0[0] + sq1[1] - sq0[1]) / ((w1 - w0) * 1e9),
        # Share of the wall time the client's threads (summed) spent runnable but not running.
        "client_wait_pct": (q1[1] - q0[1]) / ((w1 - w0) * 1e9) * 100,
        "rss_per_stream_kib": (peak - base_rss) / n / 1024,
        "p50": quantile(all_ms, 0.50),
        "p99": quantile(all_ms, 0.99),
        "steady_p50": quantile(steady_ms, 0.50),
        "steady_p99": quantile(steady_ms, 0.99),
        "steady_s": ((steady_to - steady_from) / 1e9) if steady_ms else 0.0,
        "chunks": len(lags),
        "mean_lag": statistics.fmean(all_ms) if all_ms else float("nan"),
        "late_p99": quantile(sorted(x / 1e6 for x in late), 0.99),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, nargs="*", default=[100, 1000, 5000])
    ap.add_argument("--sdk-n", type=int, nargs="*", default=[100, 1000])
    ap.add_argument("--chunks", type=int, default=120, help="content chunks per stream (20/s)")
    ap.add_argument("--protocols", nargs="*", default=["HTTP/1.1", "HTTP/2"], choices=["HTTP/1.1", "HTTP/2"],
                    help="sserpent's protocols (HTTP/2: cleartext, prior knowledge, 100 streams a connection)")
    ap.add_argument("--sdk-protocols", nargs="*", default=["HTTP/1.1"], choices=["HTTP/1.1", "HTTP/2"],
                    help="the SDK's (HTTP/2 needs httpx[http2])")
    ap.add_argument("--async-wake", nargs="*", default=["socketpair", "threadsafe"] if os.name == "posix"
                    else ["threadsafe"], choices=["socketpair", "threadsafe", "auto"],
                    help="sserpent's wake-up paths (SSERPENT_ASYNC_WAKE), each measured at every N and protocol")
    ap.add_argument("--http1-reader", nargs="*", default=["direct", "hyper"], choices=["direct", "hyper"],
                    help="sserpent's HTTP/1.1 body readers (SSERPENT_HTTP1), each measured at every N")
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    raise_fd_limit()
    with mock_server_process() as (port, server):
        base = f"http://127.0.0.1:{port}/v1"
        runner = asyncio.run
        if args.uvloop:
            import uvloop

            runner = uvloop.run
        rows = []
        for kind, ns, protocols, wakes in (("sserpent", args.n, args.protocols, args.async_wake),
                                           ("openai", args.sdk_n, args.sdk_protocols, [None])):
            for protocol in protocols:
                for n in ns:
                    # The paths side by side at each N (and interleaved, so drift on a shared
                    # machine hits both alike).
                    readers = args.http1_reader if kind == "sserpent" and protocol == "HTTP/1.1" else [None]
                    for wake in wakes:
                        for reader in readers:
                            if wake is not None:
                                os.environ["SSERPENT_ASYNC_WAKE"] = wake  # read when the run's new loop gets its bridge
                            if reader is not None:
                                os.environ["SSERPENT_HTTP1"] = reader  # read when the run's client is made
                            row = runner(run(kind, protocol, n, base, args.chunks, server.pid))
                            if reader is not None:
                                row["protocol"] = f"{protocol} ({reader})"
                            rows.append(row)
        print(f"\nbench_concurrency: N streams × {args.chunks} chunks at 20 chunks/s, one "
              f"{'uvloop' if args.uvloop else 'asyncio'} process, {os.cpu_count()} cores\n")
        print("| client | wake-up | protocol | N | completed | errors | client CPU % | µs/chunk "
              "| Python thread µs/chunk | server CPU % | server late p99 | peak RSS / stream "
              "| runnable threads | client run-queue wait % | lag p50 | lag p99 | steady p50 | steady p99 (window) |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['kind']} | {r['wake']} | {r['protocol']} | {r['n']:,} | {r['ok']:,} | {r['errors']} | "
                  f"{r['cpu_pct']:.0f} | "
                  f"{r['cpu_us_per_chunk']:.1f} | {r['py_us_per_chunk']:.1f} | {r['server_cpu_pct']:.0f} | "
                  f"{r['late_p99']:.1f} ms | "
                  f"{r['rss_per_stream_kib']:.1f} KiB | "
                  f"{r['runnable']:.2f} | {r['client_wait_pct']:.0f} | "
                  f"{r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['steady_p50']:.1f} ms | "
                  f"{r['steady_p99']:.1f} ms ({r['steady_s']:.1f} s) |")
        for r in rows:
            if r["errors"]:
                print(f"{r['kind']} {r['wake']} {r['protocol']} N={r['n']}: first error {r['first_error']}")


if __name__ == "__main__":
    main()
