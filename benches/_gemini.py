"""The Gemini rows of bench_parse.py and bench_live.py: a ``streamGenerateContent`` stream
read with ``chunk.text`` by sserpent's ``genai`` client and by the google-genai SDK."""

from __future__ import annotations

import asyncio
import json
from typing import Any

MODEL = "gemini-2.5-flash"
WORDS = ["Hello", " world", ",", " this", " is", " a", " streamed", " answer", " from", " the", " model", "."]


def gemini_stream(n_chunks: int) -> bytes:
    """A Gemini API stream (CRLF, as Google sends it) of ``n_chunks`` responses, the last with
    ``finishReason``."""
    parts = []
    for i in range(n_chunks):
        cand: dict[str, Any] = {"content": {"parts": [{"text": WORDS[i % len(WORDS)]}], "role": "model"}}
        if i == n_chunks - 1:
            cand["finishReason"] = "STOP"
        cand["index"] = 0
        usage = {"promptTokenCount": 7, "totalTokenCount": 7 + i, "candidatesTokenCount": i}
        r = {"candidates": [cand], "usageMetadata": usage, "modelVersion": MODEL,
             "responseId": "Zx8waPq1NZ2-nvgP7o6xsQg"}
        parts.append(b"data: " + json.dumps(r, separators=(",", ": ")).encode() + b"\r\n\r\n")
    return b"".join(parts)


def read_sserpent(pieces: list[bytes]) -> int:
    import sserpent

    n = 0
    for chunk in sserpent.iter_chunks(pieces):
        chunk.text
        n += 1
    return n


def read_genai_sdk(pieces: list[bytes]) -> int:
    """What ``models.generate_content_stream`` does per chunk: the SDK's SSE line reader, its
    wire-to-model converter and ``GenerateContentResponse._from_response``, then ``.text``."""
    import httpx
    from google.genai import _api_client, models, types

    response = httpx.Response(200, content=iter(pieces))
    n = 0
    for segment in _api_client.HttpResponse(headers={}, response_stream=response).segments():
        d = models._GenerateContentResponse_from_mldev(segment)
        types.GenerateContentResponse._from_response(response=d, kwargs={}).text
        n += 1
    return n


def live_sserpent_sync(base: str, n: int) -> int:
    from sserpent import genai

    client = genai.Client(api_key="bench", http_options={"base_url": base, "headers": {"x-mock-chunks": str(n)}})
    count = 0
    for chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
        chunk.text
        count += 1
    return count


def live_sserpent_async(base: str, n: int) -> int:
    from sserpent import genai

    async def run() -> int:
        client = genai.Client(api_key="bench", http_options={"base_url": base, "headers": {"x-mock-chunks": str(n)}})
        count = 0
        async for chunk in await client.aio.models.generate_content_stream(model=MODEL, contents="hi"):
            chunk.text
            count += 1
        return count

    return asyncio.run(run())


def live_sdk_sync(base: str, n: int) -> int:
    from google import genai

    client = genai.Client(api_key="bench", http_options={"base_url": base, "headers": {"x-mock-chunks": str(n)}})
    count = 0
    for chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
        chunk.text
        count += 1
    return count


def live_sdk_async(base: str, n: int) -> int:
    from google import genai

    async def run() -> int:
        client = genai.Client(api_key="bench", http_options={"base_url": base, "headers": {"x-mock-chunks": str(n)}})
        count = 0
        async for chunk in await client.aio.models.generate_content_stream(model=MODEL, contents="hi"):
            chunk.text
            count += 1
        return count

    return asyncio.run(run())
