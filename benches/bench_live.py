"""Reading a 200,000-chunk OpenAI chat stream over loopback HTTP, sserpent against its peers.

The stream comes from sserpent's embedded mock server (its own threads; `x-mock-chunks`),
and from nginx serving the same bytes as a static file when nginx is installed. Every reader
reads ``choices[0].delta.content`` of every chunk. Prints µs per chunk (wall), process CPU
seconds (all threads, the server's included) and ratios to sserpent sync. sserpent async is
measured through both ways tokio threads wake the loop (``SSERPENT_ASYNC_WAKE``): the socket
pair the loop watches (the default on unix) and ``loop.call_soon_threadsafe`` (the portable
path: Windows' Proactor loop, non-unix platforms). Back to back, the consumer seldom waits
(a few dozen wake-ups in 200,000 chunks), so a second table reads a stream paced 1 ms a chunk,
where every chunk pays a wake-up, and prints CPU per chunk.

    python benches/bench_live.py [--chunks 200000] [--sdk-chunks 20000] [--paced-chunks 3000]

The openai SDK spends ~100 µs a chunk, so it reads ``--sdk-chunks`` (per-chunk figures are
comparable; the stream is just shorter). A last table reads the mock server's Ollama
``/api/chat`` NDJSON stream: ``sserpent.ollama`` against the ``ollama`` package (``--sdk-chunks``
for the package).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sserpent  # noqa: E402
from _common import print_table  # noqa: E402
from sserpent.testing import MockServer  # noqa: E402

BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def headers(n: int, interval_ms: int = 0) -> dict[str, str]:
    h = {"x-mock-chunks": str(n)}
    if interval_ms:
        h["x-mock-interval-ms"] = str(interval_ms)
    return h


def sserpent_sync(base: str, n: int, interval_ms: int = 0) -> int:
    client = sserpent.Client(base_url=base)
    count = 0
    for chunk in client.stream("POST", "/chat/completions", json=BODY, headers=headers(n, interval_ms)):
        if chunk.choices:
            chunk.choices[0].delta.content
        count += 1
    return count


def sserpent_async(base: str, n: int, interval_ms: int = 0) -> int:
    async def run() -> int:
        client = sserpent.Client(base_url=base)
        count = 0
        async for chunk in client.stream("POST", "/chat/completions", json=BODY, headers=headers(n, interval_ms)):
            if chunk.choices:
                chunk.choices[0].delta.content
            count += 1
        return count

    return asyncio.run(run())


def provider_sync(base: str, n: int) -> int:
    """``sserpent.OpenAI``: the drop-in client (its end hook for the logger is set per request)."""
    client = sserpent.OpenAI(api_key="sk-bench", base_url=base)
    count = 0
    for chunk in client.chat.completions.create(**BODY, extra_headers=headers(n)):
        if chunk.choices:
            chunk.choices[0].delta.content
        count += 1
    return count


def provider_async(base: str, n: int) -> int:
    async def run() -> int:
        client = sserpent.AsyncOpenAI(api_key="sk-bench", base_url=base)
        count = 0
        async for chunk in await client.chat.completions.create(**BODY, extra_headers=headers(n)):
            if chunk.choices:
                chunk.choices[0].delta.content
            count += 1
        return count

    return asyncio.run(run())


HELPER_BODY = {k: v for k, v in BODY.items() if k != "stream"}


def provider_chat_stream(base: str, n: int) -> int:
    """``sserpent.OpenAI().chat.completions.stream()``: every event, ``delta`` of ``content.delta``."""
    client = sserpent.OpenAI(api_key="sk-bench", base_url=base)
    count = 0
    with client.chat.completions.stream(**HELPER_BODY, extra_headers=headers(n)) as stream:
        for event in stream:
            if event.type == "content.delta":
                event.delta
            elif event.type == "chunk":
                count += 1
    return count


def openai_chat_stream(base: str, n: int) -> int:
    """The openai SDK's ``chat.completions.stream()``, read the same way."""
    import openai

    client = openai.OpenAI(base_url=base, api_key="x", max_retries=0)
    count = 0
    with client.chat.completions.stream(**HELPER_BODY, extra_headers=headers(n)) as stream:
        for event in stream:
            if event.type == "content.delta":
                event.delta
            elif event.type == "chunk":
                count += 1
    return count


def instrumented(fn):  # type: ignore[no-untyped-def]
    """``fn`` with ``sserpent.instrument()`` on: the opentelemetry SDK's TracerProvider (a
    SimpleSpanProcessor into an InMemorySpanExporter) and MeterProvider (an InMemoryMetricReader)."""

    def run(base: str, n: int) -> int:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        sserpent.instrument(tracer_provider=tracer_provider,
                            meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
        try:
            return fn(base, n)
        finally:
            sserpent.uninstrument()

    return run


def with_env(name: str, value: str, fn):  # type: ignore[no-untyped-def]
    """``fn`` with the environment variable ``name`` set to ``value`` while it runs."""

    def read(*args, **kwargs) -> int:  # type: ignore[no-untyped-def]
        before = os.environ.get(name)
        os.environ[name] = value
        try:
            return fn(*args, **kwargs)
        finally:
            if before is None:
                del os.environ[name]
            else:
                os.environ[name] = before

    return read


def sserpent_async_wake(wake: str):  # type: ignore[no-untyped-def]
    """sserpent async with ``SSERPENT_ASYNC_WAKE=wake`` (read when the new loop gets its bridge)."""
    return with_env("SSERPENT_ASYNC_WAKE", wake, sserpent_async)


def openai_sync(base: str, n: int) -> int:
    import openai

    client = openai.OpenAI(base_url=base, api_key="x", max_retries=0)
    count = 0
    for chunk in client.chat.completions.create(**BODY, extra_headers=headers(n)):
        if chunk.choices:
            chunk.choices[0].delta.content
        count += 1
    return count


def openai_async(base: str, n: int) -> int:
    import openai

    async def run() -> int:
        # Closed inside the loop: left to the garbage collector, the client's connections
        # would be closed after asyncio.run closed the loop, and print a traceback.
        async with openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0) as client:
            count = 0
            async for chunk in await client.chat.completions.create(**BODY, extra_headers=headers(n)):
                if chunk.choices:
                    chunk.choices[0].delta.content
                count += 1
            return count

    return asyncio.run(run())


def httpx_sse_sync(base: str, n: int) -> int:
    import httpx
    from httpx_sse import connect_sse

    count = 0
    with httpx.Client(timeout=600) as client:
        with connect_sse(client, "POST", base + "/chat/completions", json=BODY, headers=headers(n)) as es:
            for sse in es.iter_sse():
                if sse.data == "[DONE]":
                    break
                c = json.loads(sse.data)
                if c["choices"]:
                    c["choices"][0]["delta"].get("content")
                count += 1
    return count


def aiohttp_lines(base: str, n: int) -> int:
    import aiohttp

    async def run() -> int:
        count = 0
        async with aiohttp.ClientSession() as session:
            async with session.post(base + "/chat/completions", json=BODY, headers=headers(n)) as resp:
                buf = b""
                async for piece in resp.content.iter_any():
                    buf += piece
                    lines = buf.split(b"\n")
                    buf = lines.pop()
                    for line in lines:
                        if line.startswith(b"data: "):
                            data = line[6:]
                            if data == b"[DONE]":
                                return count
                            c = json.loads(data)
                            if c["choices"]:
                                c["choices"][0]["delta"].get("content")
                            count += 1
        return count

    return asyncio.run(run())


OLLAMA_MESSAGES = [{"role": "user", "content": "hi"}]


def sserpent_ollama(base: str, n: int) -> int:
    from sserpent import ollama

    count = 0
    for chunk in ollama.Client(host=base, headers=headers(n)).chat(model="llama3.2", messages=OLLAMA_MESSAGES,
                                                                    stream=True):
        chunk.message.content
        count += 1
    return count


def ollama_package(base: str, n: int) -> int:
    import ollama

    count = 0
    for chunk in ollama.Client(host=base, headers=headers(n)).chat(model="llama3.2", messages=OLLAMA_MESSAGES,
                                                                    stream=True):
        chunk.message.content
        count += 1
    return count


def measure_paced(base: str, n: int, repeat: int) -> list[tuple[str, float, float, int]]:
    """Each sserpent reader on a stream paced 1 ms a chunk: every chunk arrives alone, so every
    chunk pays a wake-up (a condition variable for sync; the loop bridge for async). Rows:
    (name, Python thread CPU s, process CPU s, chunks), the runs interleaved, best of each."""
    readers = [
        ("sserpent sync", sserpent_sync),
        ("sserpent async", sserpent_async_wake("socketpair") if os.name == "posix" else sserpent_async),
        ("sserpent async, threadsafe wake-up", sserpent_async_wake("threadsafe")),
        ("sserpent sync, hyper's HTTP/1.1 reader", with_env("SSERPENT_HTTP1", "hyper", sserpent_sync)),
        ("sserpent async, hyper's HTTP/1.1 reader",
         with_env("SSERPENT_HTTP1", "hyper", sserpent_async_wake("socketpair") if os.name == "posix"
                  else sserpent_async)),
    ]
    best = {name: (float("inf"), float("inf"), 0) for name, _ in readers}
    for _ in range(repeat):
        for name, fn in readers:
            t0, c0 = time.thread_time(), time.process_time()
            count = fn(base, n, 1)
            t1, c1 = time.thread_time(), time.process_time()
            b = best[name]
            best[name] = (min(b[0], t1 - t0), min(b[1], c1 - c0), count)
    return [(name, *best[name]) for name, _ in readers]


def gemini_rows(url: str, n: int, repeat: int) -> list[tuple[str, float, float, int]]:
    """sserpent.genai and google-genai reading the mock's Gemini stream (n responses plus the
    one with finishReason), sync and async: (name, wall s, CPU s, chunks), best of the runs."""
    import _gemini

    rows = []
    for name, fn in [("sserpent.genai sync", _gemini.live_sserpent_sync),
                     ("sserpent.genai aio", _gemini.live_sserpent_async),
                     ("google-genai SDK sync", _gemini.live_sdk_sync),
                     ("google-genai SDK aio", _gemini.live_sdk_async)]:
        best = (float("inf"), 0.0, 0)
        for _ in range(repeat if "SDK" not in name else 1):
            w0, c0 = time.perf_counter(), time.process_time()
            count = fn(url, n)
            w1, c1 = time.perf_counter(), time.process_time()
            if count != n + 1:
                raise SystemExit(f"{name} read {count} chunks, expected {n + 1}")
            if w1 - w0 < best[0]:
                best = (w1 - w0, c1 - c0, count)
        rows.append((name, *best))
    return rows


def start_nginx(body: bytes, workdir: Path) -> tuple[str, object] | None:
    """nginx serving the stream as a static file (POST answered via error_page 405 trick)."""
    nginx = shutil.which("nginx") or (Path("/usr/sbin/nginx") if Path("/usr/sbin/nginx").exists() else None)
    if not nginx:
        return None
    import socket
    import subprocess

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "v1").mkdir(exist_ok=True)
    (workdir / "v1" / "chat").mkdir(exist_ok=True)
    (workdir / "v1" / "chat" / "completions").write_bytes(body)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
daemon off; worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {workdir}; proxy_temp_path {workdir}; fastcgi_temp_path {workdir};
  uwsgi_temp_path {workdir}; scgi_temp_path {workdir};
  server {{
    listen 127.0.0.1:{port};
    root {workdir};
    default_type text/event-stream;
    error_page 405 =200 $uri;
  }}
}}
""")
    proc = subprocess.Popen([str(nginx), "-c", str(conf), "-p", str(workdir)])
    time.sleep(0.5)
    return f"http://127.0.0.1:{port}/v1", proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=200_000)
    ap.add_argument("--sdk-chunks", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", action="append", default=[],
                    help="run the readers whose name contains this (repeatable: any of them)")
    ap.add_argument("--gemini-chunks", type=int, default=20_000,
                    help="responses of the Gemini stream (sserpent.genai against google-genai); 0 skips it")
    ap.add_argument("--paced-chunks", type=int, default=3_000,
                    help="chunks of the paced stream (1 ms apart: a wake-up per chunk); 0 skips it")
    args = ap.parse_args()

    readers = [
        ("sserpent sync", sserpent_sync, args.chunks),
        # Pinned to the socket pair (the unix default): an SSERPENT_ASYNC_WAKE set outside changes nothing.
        ("sserpent async", sserpent_async_wake("socketpair") if os.name == "posix" else sserpent_async, args.chunks),
        ("sserpent async, threadsafe wake-up", sserpent_async_wake("threadsafe"), args.chunks),
        # Cleartext HTTP/1.1 through hyper instead of straight from the socket (what https:// takes).
        ("sserpent sync, hyper's HTTP/1.1 reader", with_env("SSERPENT_HTTP1", "hyper", sserpent_sync), args.chunks),
        ("sserpent async, hyper's HTTP/1.1 reader",
         with_env("SSERPENT_HTTP1", "hyper", sserpent_async_wake("socketpair") if os.name == "posix"
                  else sserpent_async), args.chunks),
        ("sserpent.OpenAI sync, instrumentation off", provider_sync, args.chunks),
        ("sserpent.OpenAI sync, instrument() on (SDK)", instrumented(provider_sync), args.chunks),
        ("sserpent.OpenAI chat.completions.stream(), content.delta", provider_chat_stream, args.chunks),
        ("sserpent.AsyncOpenAI, instrumentation off", provider_async, args.chunks),
        ("sserpent.AsyncOpenAI, instrument() on (SDK)", instrumented(provider_async), args.chunks),
        ("httpx-sse + json.loads", httpx_sse_sync, args.chunks),
        ("aiohttp + json.loads line loop", aiohttp_lines, args.chunks),
        ("openai SDK sync", openai_sync, args.sdk_chunks),
        ("openai SDK async", openai_async, args.sdk_chunks),
        ("openai SDK chat.completions.stream(), content.delta", openai_chat_stream, args.sdk_chunks),
    ]
    readers = [r for r in readers if not args.only or any(o in r[0] for o in args.only)]
    with MockServer() as server:
        gemini = gemini_rows(server.url, args.gemini_chunks, args.repeat) if args.gemini_chunks else []
        paced = measure_paced(server.base_url, args.paced_chunks, args.repeat) if args.paced_chunks else []
        sources = [("mock server", server.base_url)]
        # Expected chunk count: role chunk + content chunks + finish chunk.
        rows_by_source = {}
        nginx = None
        try:
            import httpx

            body = httpx.post(server.base_url + "/chat/completions", json=BODY, headers=headers(args.chunks),
                              timeout=600).content
            nginx = start_nginx(body, Path("/tmp/sserpent-bench-nginx"))
            if nginx:
                sources.append(("nginx static file", nginx[0]))
            for label, base in sources:
                rows = []
                for name, fn, n in readers:
                    best = (float("inf"), 0.0, 0)
                    for _ in range(args.repeat if "openai" not in name else 1):
                        w0, c0 = time.perf_counter(), time.process_time()
                        count = fn(base, n)
                        w1, c1 = time.perf_counter(), time.process_time()
                        if w1 - w0 < best[0]:
                            best = (w1 - w0, c1 - c0, count)
                    rows.append((name, *best))
                rows_by_source[label] = rows
        finally:
            if nginx:
                nginx[1].terminate()  # type: ignore[attr-defined]
    for label, rows in rows_by_source.items():
        if not any(name == "sserpent sync" for name, *_ in rows):
            continue  # --only left out the baseline
        print_table(f"bench_live: OpenAI chat stream over loopback from the {label}", rows, "sserpent sync")
    if not args.only or any("ollama" in o for o in args.only):
        with MockServer() as server:
            rows = []
            for name, fn, n in [("sserpent.ollama", sserpent_ollama, args.chunks),
                                ("ollama package", ollama_package, args.sdk_chunks)]:
                best = (float("inf"), 0.0, 0)
                for _ in range(args.repeat if name.startswith("sserpent") else 1):
                    w0, c0 = time.perf_counter(), time.process_time()
                    count = fn(server.url, n)
                    w1, c1 = time.perf_counter(), time.process_time()
                    if w1 - w0 < best[0]:
                        best = (w1 - w0, c1 - c0, count)
                rows.append((name, *best))
        print_table("bench_live: Ollama /api/chat NDJSON stream over loopback from the mock server", rows,
                    "sserpent.ollama")
    if gemini:
        print_table("bench_live: Gemini streamGenerateContent over loopback from the mock server, read chunk.text",
                    gemini, "sserpent.genai sync")
    if paced:
        print(f"\nbench_live: {args.paced_chunks:,} chunks 1 ms apart from the mock server (a wake-up per chunk); "
              "CPU per chunk, best of the runs\n")
        print("| reader | chunks | Python thread µs/chunk | process CPU µs/chunk (server incl.) | × sserpent async |")
        print("|---|---:|---:|---:|---:|")
        base_cpu = next(cpu for name, _, cpu, _ in paced if name == "sserpent async")
        for name, thread_cpu, cpu, n in paced:
            print(f"| {name} | {n:,} | {thread_cpu / n * 1e6:.1f} | {cpu / n * 1e6:.1f} | {cpu / base_cpu:.2f}× |")


if __name__ == "__main__":
    main()
