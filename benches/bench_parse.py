"""Decoding cost per chunk of an in-memory OpenAI chat stream, sserpent against its peers;
then of an Ollama ``/api/chat`` NDJSON stream, sserpent against the ``ollama`` package's reading,
and of a Gemini stream, sserpent against google-genai's.

A second OpenAI table adds what api.openai.com puts in every chunk (``service_tier``, and an
``obfuscation`` pad of random length). Every reader gets the same bytes in 64 KiB pieces (as a
socket would hand them over) and reads ``choices[0].delta.content`` (Ollama: ``message.content``)
of every chunk. Prints
µs per chunk and each reader's ratio to sserpent, all measured in this one run. Use a release build:
``maturin develop --release``.

    python benches/bench_parse.py [--chunks 200000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sserpent  # noqa: E402
from _common import measure, ollama_chat_stream, openai_chat_stream, print_table, split  # noqa: E402


def read_sserpent(pieces: list[bytes]) -> int:
    n = 0
    for chunk in sserpent.iter_chunks(pieces):
        chunk.choices[0].delta.content
        n += 1
    return n


def read_openai_sdk(pieces: list[bytes]) -> int:
    from openai._models import construct_type
    from openai._streaming import SSEDecoder
    from openai.types.chat import ChatCompletionChunk

    n = 0
    for sse in SSEDecoder().iter_bytes(iter(pieces)):
        if sse.data.startswith("[DONE]"):
            break
        chunk = construct_type(type_=ChatCompletionChunk, value=json.loads(sse.data))
        chunk.choices[0].delta.content
        n += 1
    return n


def read_httpx_sse(pieces: list[bytes]) -> int:
    import httpx
    from httpx_sse import EventSource

    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(pieces))
    n = 0
    for sse in EventSource(response).iter_sse():
        if sse.data == "[DONE]":
            break
        json.loads(sse.data)["choices"][0]["delta"].get("content")
        n += 1
    return n


def read_orjson_lines(pieces: list[bytes]) -> int:
    import orjson

    n = 0
    buf = b""
    for piece in pieces:
        buf += piece
        lines = buf.split(b"\n")
        buf = lines.pop()
        for line in lines:
            if line.startswith(b"data: "):
                data = line[6:]
                if data == b"[DONE]":
                    return n
                orjson.loads(data)["choices"][0]["delta"].get("content")
                n += 1
    return n


def read_sserpent_eager_jiter(pieces: list[bytes]) -> int:
    """The eager design sserpent did not choose: its SSE decoder, then jiter into dicts."""
    import jiter

    n = 0
    for event in sserpent.iter_events(pieces):
        if event.data == "[DONE]":
            break
        jiter.from_json(event.data.encode())["choices"][0]["delta"].get("content")
        n += 1
    return n


def read_sserpent_ndjson(pieces: list[bytes]) -> int:
    n = 0
    for chunk in sserpent.iter_chunks(pieces, framing="ndjson"):
        chunk.message.content
        n += 1
    return n


def read_ollama_package(pieces: list[bytes]) -> int:
    """What ``ollama.Client.chat(stream=True)`` does per line: httpx's ``iter_lines()``,
    ``json.loads``, the error check, ``ChatResponse(**part)``."""
    import httpx
    from ollama import ChatResponse

    response = httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=iter(pieces))
    n = 0
    for line in response.iter_lines():
        part = json.loads(line)
        if part.get("error"):
            raise RuntimeError(part["error"])
        ChatResponse(**part).message.content
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=200_000)
    ap.add_argument("--piece", type=int, default=65536)
    ap.add_argument("--skip-openai", action="store_true", help="skip the (slow) openai SDK reader")
    ap.add_argument("--gemini-chunks", type=int, default=20_000,
                    help="responses of the Gemini stream (google-genai takes ~100 µs each); 0 skips it")
    args = ap.parse_args()

    data = openai_chat_stream(args.chunks)
    pieces = split(data, args.piece)
    warmup = split(openai_chat_stream(max(10, args.chunks // 10)), args.piece)
    print(f"stream: {args.chunks:,} chunks, {len(data) / 1e6:.1f} MB, {len(pieces):,} pieces of {args.piece} B")

    readers = [
        ("sserpent", read_sserpent),
        ("sserpent SSE + jiter eager dicts", read_sserpent_eager_jiter),
        ("python line loop + orjson", read_orjson_lines),
        ("httpx-sse + json.loads", read_httpx_sse),
    ]
    if not args.skip_openai:
        readers.append(("openai SDK SSEDecoder + ChatCompletionChunk", read_openai_sdk))
    rows = []
    for name, fn in readers:
        # Warm-up on a tenth of the stream (allocator and caches), the same for every reader.
        fn(warmup)
        wall, cpu, n = measure(lambda fn=fn: fn(pieces), repeat=1 if "openai" in name else 5)
        rows.append((name, wall, cpu, n))
        if n != args.chunks - 0:
            raise SystemExit(f"{name} read {n} chunks, expected {args.chunks}")
    print_table("bench_parse: in-memory OpenAI chat stream, read choices[0].delta.content", rows, "sserpent")
    # The same with what api.openai.com adds to every chunk: `service_tier`, and an
    # `obfuscation` pad of random length (a second token that changes every chunk).
    data = openai_chat_stream(args.chunks, obfuscation=True)
    pieces = split(data, args.piece)
    warmup = split(openai_chat_stream(max(10, args.chunks // 10), obfuscation=True), args.piece)
    rows = []
    for name, fn in readers[:4]:
        fn(warmup)
        wall, cpu, n = measure(lambda fn=fn: fn(pieces), repeat=5)
        rows.append((name, wall, cpu, n))
        if n != args.chunks:
            raise SystemExit(f"{name} read {n} chunks, expected {args.chunks}")
    print_table("bench_parse: the same with service_tier and a random obfuscation pad per chunk (as api.openai.com "
                "sends)", rows, "sserpent")
    data = ollama_chat_stream(args.chunks)
    pieces = split(data, args.piece)
    warmup = split(ollama_chat_stream(max(10, args.chunks // 10)), args.piece)
    rows = []
    for name, fn in [("sserpent NDJSON", read_sserpent_ndjson), ("ollama package (httpx lines + ChatResponse)",
                                                               read_ollama_package)]:
        fn(warmup)
        wall, cpu, n = measure(lambda fn=fn: fn(pieces), repeat=1 if "ollama" in name else 5)
        rows.append((name, wall, cpu, n))
        if n != args.chunks:
            raise SystemExit(f"{name} read {n} chunks, expected {args.chunks}")
    print_table("bench_parse: in-memory Ollama /api/chat NDJSON stream, read message.content", rows,
                "sserpent NDJSON")

    if args.gemini_chunks:
        gemini_table(args.gemini_chunks, args.piece)


def gemini_table(n: int, piece: int) -> None:
    """A Gemini stream read with ``chunk.text``: sserpent against google-genai's own reading."""
    import _gemini

    pieces = split(_gemini.gemini_stream(n), piece)
    warmup = split(_gemini.gemini_stream(max(10, n // 10)), piece)
    rows = []
    for name, fn in [("sserpent", _gemini.read_sserpent),
                     ("google-genai SDK segments + GenerateContentResponse", _gemini.read_genai_sdk)]:
        fn(warmup)
        wall, cpu, count = measure(lambda fn=fn: fn(pieces), repeat=1 if "SDK" in name else 5)
        if count != n:
            raise SystemExit(f"{name} read {count} chunks, expected {n}")
        rows.append((name, wall, cpu, count))
    print_table("bench_parse: in-memory Gemini streamGenerateContent stream, read chunk.text", rows, "sserpent")


if __name__ == "__main__":
    main()
