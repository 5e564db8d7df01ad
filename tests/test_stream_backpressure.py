"""Bounded memory: while the consumer sleeps, the reader task fills its bounded channel and
stops reading the socket, so the process does not grow with a large, fast stream; then
every chunk arrives, in order."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
import sserpent
from live_helpers import ASYNC_MODES, chat, expected_tokens, mock_words, rss_bytes, run_async
from sserpent.testing import MockServer

N = 200_000
MiB = 2**20
# Holding the whole stream ready takes about 200 MiB; the bound is generous but far below.
MAX_GROWTH = 64 * MiB


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def check_tail(words, first, rest):
    """All N text deltas, in the mock's order."""
    got = first + rest
    assert len(got) == N
    assert got == expected_tokens(words, N)


def test_sync_consumer_that_sleeps(server):
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)
    stream = chat(client, N)
    view = iter(stream.text())
    first = [next(view) for _ in range(10)]
    gc.collect()
    base = rss_bytes()
    peak = base
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        time.sleep(0.1)
        peak = max(peak, rss_bytes())
    received_while_stalled = stream.metrics.bytes_received
    sent_while_stalled = server.connections[-1].bytes_sent
    assert peak - base < MAX_GROWTH, f"grew {(peak - base) / MiB:.1f} MiB while the consumer slept"

    rest = list(view)
    check_tail(words, first, rest)
    total = stream.metrics.bytes_received
    assert stream.metrics.chunks == N + 2
    # The reader stopped: it had read a small part of the body, the server could not send more
    # than the socket buffers hold.
    assert received_while_stalled < total / 10
    assert sent_while_stalled < total / 2


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_async_consumer_that_sleeps(server, mode):
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)

    async def main():
        stream = chat(client, N)
        view = stream.text()
        first = [await view.__anext__() for _ in range(10)]
        gc.collect()
        base = rss_bytes()
        peak = base
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            await asyncio.sleep(0.1)
            peak = max(peak, rss_bytes())
        received_while_stalled = stream.metrics.bytes_received
        rest = [t async for t in view]
        return stream, first, rest, peak - base, received_while_stalled

    stream, first, rest, growth, received_while_stalled = run_async(main, mode)
    assert growth < MAX_GROWTH, f"grew {growth / MiB:.1f} MiB while the consumer slept"
    check_tail(words, first, rest)
    assert stream.metrics.chunks == N + 2
    assert received_while_stalled < stream.metrics.bytes_received / 10


def test_many_slow_consumers(server):
    """Ten streams open at once, none read past its first chunk: memory stays bounded for
    all of them, and each then reads to its end."""
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)
    n = 50_000
    streams = [chat(client, n) for _ in range(10)]
    views = [iter(s.text()) for s in streams]
    firsts = [next(v) for v in views]
    gc.collect()
    base = rss_bytes()
    time.sleep(1.0)
    assert rss_bytes() - base < MAX_GROWTH
    want = expected_tokens(words, n)
    for first, view in zip(firsts, views):
        assert [first, *view] == want
