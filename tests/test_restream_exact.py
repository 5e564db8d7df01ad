"""``stream.sse()`` without a transform forwards the upstream bytes unchanged however the
network cuts them: every wire sample, sent by the mock server in pieces of 1, 2, 7 and 64
bytes, comes out as test_sse_encode.py's whole replay does (byte for byte but for a
leading BOM and comment-only blocks, keep-alives)."""

from __future__ import annotations

import asyncio

import pytest
import sserpent
from conftest import SAMPLE_NAMES, load_sample
from sserpent.testing import MockServer
from test_sse_encode import without_keepalives


@pytest.fixture(scope="module")
def server():
    with MockServer() as s:
        yield s


def restream(server, raw: bytes, piece: int, mode: str) -> bytes:
    client = sserpent.Client(base_url=server.base_url, max_retries=0)
    frames = [raw[i : i + piece] for i in range(0, len(raw), piece)]
    server.enqueue(events=frames, headers={"content-type": "text/event-stream"})
    stream = client.stream("POST", "/chat/completions", json={"stream": True})
    if mode == "sync":
        return b"".join(stream.sse())

    async def collect():
        return b"".join([b async for b in stream.sse()])

    return asyncio.run(collect())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_wire_sample_restreams_byte_for_byte(server, name, mode):
    raw, _ = load_sample(name)
    want = without_keepalives(raw)
    for piece in (len(raw), 1, 2, 7, 64):
        got = restream(server, raw, piece, mode)
        assert got == want, f"{name} in pieces of {piece}"


def test_events_read_before_sse_are_re_encoded(server):
    """Iteration fixes the view: a stream already read as chunks can't be re-streamed raw."""
    raw, _ = load_sample("anthropic_messages")
    client = sserpent.Client(base_url=server.base_url, max_retries=0)
    server.enqueue(events=[raw], headers={"content-type": "text/event-stream"})
    stream = client.stream("POST", "/chat/completions", json={"stream": True})
    next(iter(stream))
    with pytest.raises(ValueError, match="already being read as chunks"):
        next(iter(stream.sse()))
