"""What a client costs to make, and a client made per request (as in a request handler that builds
one each time) plus one short stream, sserpent against the openai SDK, measured in this one run.

Construction is timed for each client class (the median and the 90th percentile of ``--repeat``
constructions, after one); the first client of a fresh process, which loads the system's root
certificates (sserpent does that once per process), is timed in a subprocess. The per-request
figure builds a client, streams ``--chunks`` chunks from the embedded mock server reading
``choices[0].delta.content`` and drops the client (the openai SDK's is closed, as its docs ask),
sync and async. Use a release build (``maturin develop --release``).

    python benches/bench_client.py [--repeat 200] [--requests 100] [--chunks 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, List

import sserpent
from sserpent.testing import MockServer

BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def timed(fn: Callable[[], Any], repeat: int) -> List[float]:
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def atimed(fn: Callable[[], Any], repeat: int) -> List[float]:
    async def run() -> List[float]:
        await fn()
        out = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            await fn()
            out.append(time.perf_counter() - t0)
        return out

    return asyncio.run(run())


def p90(xs: List[float]) -> float:
    return sorted(xs)[int(len(xs) * 0.9)]


FIRST = """
import time, sys
t0 = time.perf_counter()
{imp}
t1 = time.perf_counter()
{make}
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def first_in_process(imp: str, make: str) -> tuple[float, float]:
    """(import s, first construction s) in a fresh interpreter, best of three."""
    best = (float("inf"), float("inf"))
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", FIRST.format(imp=imp, make=make)], check=True,
                             capture_output=True, text=True).stdout.split()
        best = min(best, (float(out[0]), float(out[1])), key=lambda t: t[1])
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=200, help="constructions timed per client class")
    ap.add_argument("--requests", type=int, default=100, help="client-per-request streams timed per reader")
    ap.add_argument("--chunks", type=int, default=20, help="chunks of each per-request stream")
    args = ap.parse_args()
    import openai

    with MockServer() as server:
        base = server.base_url
        extra = {"x-mock-chunks": str(args.chunks)}

        makers = [
            ("sserpent.Client", lambda: sserpent.Client(base_url=base)),
            ("sserpent.OpenAI", lambda: sserpent.OpenAI(api_key="sk-bench", base_url=base)),
            ("sserpent.AsyncOpenAI", lambda: sserpent.AsyncOpenAI(api_key="sk-bench", base_url=base)),
            ("sserpent.OpenAI(http2=True)", lambda: sserpent.OpenAI(api_key="sk-bench", base_url=base, http2=True)),
            ("openai.OpenAI", lambda: openai.OpenAI(api_key="sk-bench", base_url=base)),
            ("openai.AsyncOpenAI", lambda: openai.AsyncOpenAI(api_key="sk-bench", base_url=base)),
        ]
        construction = [(name, timed(fn, args.repeat if "sserpent" in name else max(20, args.repeat // 10)))
                        for name, fn in makers]

        def sserpent_sync() -> None:
            client = sserpent.OpenAI(api_key="sk-bench", base_url=base, max_retries=0)
            for chunk in client.chat.completions.create(**BODY, extra_headers=extra):
                if chunk.choices:
                    chunk.choices[0].delta.content

        def openai_sync() -> None:
            with openai.OpenAI(api_key="sk-bench", base_url=base, max_retries=0) as client:
                for chunk in client.chat.completions.create(**BODY, extra_headers=extra):
                    if chunk.choices:
                        chunk.choices[0].delta.content

        async def sserpent_async() -> None:
            client = sserpent.AsyncOpenAI(api_key="sk-bench", base_url=base, max_retries=0)
            async for chunk in await client.chat.completions.create(**BODY, extra_headers=extra):
                if chunk.choices:
                    chunk.choices[0].delta.content

        async def openai_async() -> None:
            async with openai.AsyncOpenAI(api_key="sk-bench", base_url=base, max_retries=0) as client:
                async for chunk in await client.chat.completions.create(**BODY, extra_headers=extra):
                    if chunk.choices:
                        chunk.choices[0].delta.content

        per_request = [
            ("sserpent.OpenAI, sync", timed(sserpent_sync, args.requests)),
            ("openai.OpenAI, sync", timed(openai_sync, max(10, args.requests // 4))),
            ("sserpent.AsyncOpenAI", atimed(sserpent_async, args.requests)),
            ("openai.AsyncOpenAI", atimed(openai_async, max(10, args.requests // 4))),
        ]

    firsts = [
        ("sserpent.OpenAI", first_in_process("import sserpent", "sserpent.OpenAI(api_key='k')")),
        ("openai.OpenAI", first_in_process("import openai", "openai.OpenAI(api_key='k')")),
    ]

    print("\nbench_client: constructing a client (µs; median and p90 of the constructions after the first)\n")
    print("| client | median µs | p90 µs | × sserpent.OpenAI |")
    print("|---|---:|---:|---:|")
    base_us = statistics.median(dict(construction)["sserpent.OpenAI"]) * 1e6
    for name, ts in construction:
        med = statistics.median(ts) * 1e6
        print(f"| {name} | {med:,.1f} | {p90(ts) * 1e6:,.1f} | {med / base_us:,.1f}× |")
    print("\nthe first client in a fresh process (ms; best of three processes)\n")
    print("| client | import ms | first construction ms |")
    print("|---|---:|---:|")
    for name, (imp, first) in firsts:
        print(f"| {name} | {imp * 1e3:.1f} | {first * 1e3:.2f} |")
    print(f"\nbench_client: a client per request plus one {args.chunks}-chunk stream from the mock server "
          "(µs per request)\n")
    print("| reader | requests | median µs | p90 µs | × sserpent |")
    print("|---|---:|---:|---:|---:|")
    for i, (name, ts) in enumerate(per_request):
        ref = statistics.median(per_request[i - i % 2][1])
        med = statistics.median(ts)
        print(f"| {name} | {len(ts)} | {med * 1e6:,.0f} | {p90(ts) * 1e6:,.0f} | {med / ref:,.1f}× |")


if __name__ == "__main__":
    main()
