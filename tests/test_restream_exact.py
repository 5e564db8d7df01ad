"""``stream.sse()`` without a transform forwards the upstream bytes unchanged: every wire
sample, served by the mock server in pieces of every size, comes out byte for byte, but
for what is documented as dropped: a leading BOM and comment-only blocks (keep-alives;
``ping=`` sends sserpent's own)."""

from __future__ import annotations

import asyncio
import re

import pytest
import sserpent
from conftest import SAMPLE_NAMES, load_sample
from sserpent.testing import MockServer

BOM = b"\xef\xbb\xbf"


def without_keepalives(body: bytes) -> bytes:
    """The reference for what sse() forwards: ``body`` without a leading BOM, without
    blocks of comment lines only, and without an unfinished last block."""
    body = body[len(BOM) :] if body.startswith(BOM) else body
    # Lines with their terminators; a block ends with an empty line.
    lines = re.findall(rb"[^\r\n]*(?:\r\n|\r|\n)", body)
    out, block = [], []
    for line in lines:
        block.append(line)
        if line in (b"\r\n", b"\r", b"\n"):
            if not all(x.startswith(b":") for x in block[:-1]):
                out.extend(block)
            block = []
    return b"".join(out)


def test_the_reference_drops_only_keepalives():
    sample = b"\xef\xbb\xbf: keep-alive\r\rdata: a\r\n: note\r\ndata: b\r\n\r\n: ping\n\nretry: 5\n\ndata: c"
    assert without_keepalives(sample) == b"data: a\r\n: note\r\ndata: b\r\n\r\nretry: 5\n\n"


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


def test_samples_without_keepalives_are_forwarded_whole(server):
    """All but the keep-alive sample carry no comment-only block or BOM: their output is
    exactly the bytes the server sent, CRLF line endings included."""
    exact = [n for n in SAMPLE_NAMES if n != "openai_chat_keepalive_cr"]
    assert len(exact) == 11
    for name in exact:
        raw, _ = load_sample(name)
        assert restream(server, raw, 5, "sync") == raw, name


def test_events_read_before_sse_are_re_encoded(server):
    """Iteration fixes the view: a stream already read as chunks can't be re-streamed raw."""
    raw, _ = load_sample("anthropic_messages")
    client = sserpent.Client(base_url=server.base_url, max_retries=0)
    server.enqueue(events=[raw], headers={"content-type": "text/event-stream"})
    stream = client.stream("POST", "/chat/completions", json={"stream": True})
    next(iter(stream))
    with pytest.raises(ValueError, match="already being read as chunks"):
        next(iter(stream.sse()))
