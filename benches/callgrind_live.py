"""Instructions per chunk of one live stream, counted by valgrind's callgrind: repeatable
where wall-clock figures are not (shared, noisy machines).

The whole process is counted (client, the embedded mock server and Python), for a stream of
``--short`` and one of ``--long`` chunks; the difference over the extra chunks cancels
start-up out. Every chunk's ``choices[0].delta.content`` is read.

    python benches/callgrind_live.py [--short 2000] [--long 22000] [--openai [--instrument]]
    python benches/callgrind_live.py --paced [--streams 10]

needs valgrind. ``--openai`` reads through ``sserpent.OpenAI(...).chat.completions.create``
instead of ``Client.stream``; ``--instrument`` adds ``sserpent.instrument()`` with the
opentelemetry SDK's providers (in-memory exporter and reader).

``--paced`` counts the path of bench_concurrency.py instead, where every chunk arrives alone:
``--streams`` concurrent ``async for`` loops in one asyncio process, their chunks 20 ms apart,
from a mock server in a process of its own (not counted). The client's instructions for 20
and for 80 chunks a stream are subtracted, per thread: the Python thread's and the tokio
threads'. Each chunk then pays a socket read, a task wake-up and an asyncio task step, and the
Python thread's count moves with how many streams one turn of the event loop serves (±6%
between runs seen here); the tokio threads' count repeats within about 1%.

Use a release build (``maturin develop --release``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def instrument() -> None:
    import sserpent
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    sserpent.instrument(tracer_provider=tracer_provider, meter_provider=MeterProvider([InMemoryMetricReader()]))


def read_stream(mode: str, n: int, how: str) -> int:
    import sserpent
    from sserpent.testing import MockServer

    if how == "instrumented":
        instrument()
    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url)
        openai = sserpent.AsyncOpenAI if mode == "async" else sserpent.OpenAI
        provider = openai(api_key="k", base_url=server.base_url)

        def stream(chunks: int) -> sserpent.Stream:
            headers = {"x-mock-chunks": str(chunks)}
            if how == "client":
                return client.stream("POST", "/chat/completions", json=BODY, headers=headers)
            return provider.chat.completions.create(**BODY, extra_headers=headers)

        if mode == "sync":
            for _ in stream(10):  # connection and code paths warm
                pass
        if mode == "sync":
            count = 0
            for c in stream(n):
                c.choices[0].delta.content if c.choices else None
                count += 1
            return count

        async def main() -> int:
            count = 0
            s = stream(n)
            async for c in s if how == "client" else await s:
                c.choices[0].delta.content if c.choices else None
                count += 1
            return count

        return asyncio.run(main())


def read_paced(port: int, streams: int, chunks: int) -> int:
    import sserpent

    client = sserpent.Client(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    headers = {"x-mock-chunks": str(chunks), "x-mock-interval-ms": "20"}

    async def one() -> int:
        count = 0
        async for c in client.stream("POST", "/chat/completions", json=BODY, headers=headers):
            c.choices[0].delta.content if c.choices else None
            count += 1
        return count

    async def main() -> int:
        return sum(await asyncio.gather(*(one() for _ in range(streams))))

    return asyncio.run(main())


def paced(streams: int) -> None:
    import glob

    from _common import mock_server_process

    with mock_server_process() as (port, _):
        counts = {}
        for chunks in (20, 80):
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run(
                    ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={tmp}/out",
                     sys.executable, __file__, "--paced-child", str(port), str(streams), str(chunks)],
                    capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
                )
                python = tokio = 0
                for path in glob.glob(f"{tmp}/out-*"):  # one file per thread; -01 is the main one
                    with open(path) as f:
                        total = int(re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M).group(1))
                    if path.endswith("-01"):
                        python += total
                    else:
                        tokio += total
                counts[chunks] = (python, tokio)
    n = streams * 60
    print("| path | Python thread instr/chunk | tokio threads instr/chunk |\n|---|---:|---:|")
    print(f"| async, {streams} streams, a chunk every 20 ms each | {(counts[80][0] - counts[20][0]) / n:,.0f} "
          f"| {(counts[80][1] - counts[20][1]) / n:,.0f} |")


def instructions(mode: str, n: int, how: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", sys.executable, __file__,
             "--child", mode, str(n), how],
            capture_output=True, text=True, check=True,
        )
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(read_stream(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--paced-child":
        print(read_paced(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", type=int, default=2000)
    p.add_argument("--long", type=int, default=22000)
    p.add_argument("--openai", action="store_true")
    p.add_argument("--instrument", action="store_true")
    p.add_argument("--paced", action="store_true", help="the paced many-stream path (see above)")
    p.add_argument("--streams", type=int, default=10, help="with --paced: concurrent streams")
    args = p.parse_args()
    if args.paced:
        return paced(args.streams)
    how = "instrumented" if args.instrument else "openai" if args.openai else "client"
    print("| mode | instructions/chunk |\n|---|---:|")
    for mode in ("sync", "async"):
        long, short = instructions(mode, args.long, how), instructions(mode, args.short, how)
        per_chunk = (long - short) / (args.long - args.short)
        print(f"| {mode} | {per_chunk:,.0f} |")


if __name__ == "__main__":
    main()
