"""Where one stream's time goes: one long OpenAI chat stream read back to back from the embedded
mock server, sync (``for``) and async (``async for``), ``choices[0].delta.content`` read from
every chunk. Prints µs per chunk of wall time, of the Python thread's CPU (``time.thread_time``:
the consumer's share) and of the process's CPU (every thread: the tokio worker reading,
decoding and parsing ahead, and the mock server's threads).

    python benches/bench_threads.py [--chunks 1000000] [--repeat 2]

A diagnostic for before/after comparisons of the two sides of the hand-off, run alternately
with the builds side by side (``PYTHONPATH=<build>``); the ratios against peers are
``bench_live.py``'s. Runs under any CPython sserpent supports (no peer packages needed), which
is how the per-version figures of docs/performance.md were taken.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, Callable, List, Tuple

import sserpent
from sserpent.testing import MockServer

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def _clocks() -> Tuple[float, float, float]:
    return time.perf_counter(), time.thread_time(), time.process_time()


def _per_chunk(start: Tuple[float, float, float], n: int) -> Tuple[float, float, float]:
    end = _clocks()
    return tuple((b - a) / n * 1e6 for a, b in zip(start, end))  # type: ignore[return-value]


def read_sync(client: sserpent.Client, chunks: int) -> Tuple[float, float, float]:
    stream = client.stream("POST", "/chat/completions", json=BODY, headers={"x-mock-chunks": str(chunks)})
    start, n = _clocks(), 0
    for chunk in stream:
        if chunk.choices:
            chunk.choices[0].delta.content
        n += 1
    return _per_chunk(start, n)


def read_async(client: sserpent.Client, chunks: int) -> Tuple[float, float, float]:
    async def run() -> Tuple[float, float, float]:
        stream = client.stream("POST", "/chat/completions", json=BODY, headers={"x-mock-chunks": str(chunks)})
        start, n = _clocks(), 0
        async for chunk in stream:
            if chunk.choices:
                chunk.choices[0].delta.content
            n += 1
        return _per_chunk(start, n)

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    readers: List[Tuple[str, Callable[[Any, int], Tuple[float, float, float]]]] = [
        ("sync (for)", read_sync),
        ("async (async for)", read_async),
    ]
    print(f"bench_threads: one stream of {args.chunks:,} chunks back to back, CPython "
          f"{sys.version.split()[0]}, best wall of {args.repeat}\n")
    print("| reader | wall µs/chunk | Python thread µs/chunk | process CPU µs/chunk |")
    print("|---|---:|---:|---:|")
    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url)
        for name, read in readers:
            runs = [read(client, args.chunks) for _ in range(args.repeat)]
            wall, thread, process = min(runs)
            print(f"| {name} | {wall:.3f} | {thread:.3f} | {process:.3f} |")


if __name__ == "__main__":
    main()
