"""100 concurrent requests to FastAPI ``StreamingResponse`` endpoints: over a sync generator
(seed 001's shape) and over an async generator, under uvicorn, the mock server upstream.

The app and the upstream loads are tests/test_fastapi_sync_generator.py's (``create_app``,
``LOADS``): every upstream stream is 10 chunks 20 ms apart; ``stalled``: the first 40 fall
silent for 1 s after their first chunk; ``slow_head``: every response head comes after 20 ms.
uvicorn runs in a child process (so that the load generator, httpx in this process, does
not share its GIL); the mock server runs here, on its own Rust threads. "sync, 100 threads"
is the sync endpoint with anyio's default thread limiter raised from 40 to 100 at startup.

For each load and form: the median over ``--repeat`` batches of the time until all requests
had finished and until the first 60 had, each also as a ratio to the async form's.

    python benches/bench_fastapi_sync_vs_async.py [--repeat 3] [--loads paced stalled slow_head]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sserpent.testing import MockServer  # noqa: E402
from test_fastapi_sync_generator import (  # noqa: E402
    INTERVAL_MS,
    LOADS,
    N_CHUNKS,
    N_REQUESTS,
    ROUTES,
    STALLED,
    create_app,
    fire,
    script,
)

FIRST = N_REQUESTS - STALLED  # "the first 60 done"
FORMS: Dict[str, Tuple[str, Optional[int]]] = {  # form: (endpoint, thread limiter tokens)
    "sync": ("sync", None),
    "sync, 100 threads": ("sync", 100),
    "async": ("async", None),
}


def serve(upstream: str, port: int, thread_tokens: Optional[int]) -> None:
    """The child: the app under uvicorn on 127.0.0.1:port."""
    import uvicorn

    uvicorn.run(create_app(upstream, thread_tokens), host="127.0.0.1", port=port, log_level="warning")


def start_server(upstream: str, thread_tokens: Optional[int]) -> Tuple[subprocess.Popen, str]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    args = [sys.executable, __file__, "--serve", upstream, "--port", str(port)]
    if thread_tokens is not None:
        args += ["--thread-tokens", str(thread_tokens)]
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("uvicorn did not start") from None
            time.sleep(0.05)


def batch(mock: MockServer, url: str, load: str) -> Tuple[float, float]:
    """One batch of concurrent requests: seconds until all were done, and until FIRST were."""
    script(mock, load)
    results, ends = asyncio.run(fire(url))
    assert mock.pending == 0
    bad = [r for r in results if r[0] != 200]
    assert not bad, bad[:3]
    ends.sort()
    return ends[-1], ends[FIRST - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loads", nargs="+", default=list(LOADS), choices=list(LOADS))
    parser.add_argument("--serve", metavar="UPSTREAM_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--thread-tokens", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.thread_tokens)
        return

    rows: List[Tuple[str, str, float, float]] = []
    with MockServer() as mock:
        for form, (endpoint, tokens) in FORMS.items():
            proc, base = start_server(mock.base_url, tokens)
            try:
                url = base + ROUTES[endpoint]
                batch(mock, url, "paced")  # warm-up
                for load in args.loads:
                    runs = [batch(mock, url, load) for _ in range(args.repeat)]
                    rows.append(
                        (load, form, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
                    )
            finally:
                proc.terminate()
                proc.wait(10)

    print(
        f"\n{N_REQUESTS} concurrent requests, upstream streams of {N_CHUNKS} chunks {INTERVAL_MS} ms apart,"
        f" median of {args.repeat}\n"
    )
    print(f"| load | form | requests | all done, s | × async | first {FIRST} done, s | × async |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for load in args.loads:
        base_all, base_first = next((a, b) for ld, f, a, b in rows if ld == load and f == "async")
        for ld, form, all_s, first_s in rows:
            if ld == load:
                print(
                    f"| {load} | {form} | {N_REQUESTS} | {all_s:.2f} | {all_s / base_all:.1f}× |"
                    f" {first_s:.2f} | {first_s / base_first:.1f}× |"
                )


if __name__ == "__main__":
    main()
