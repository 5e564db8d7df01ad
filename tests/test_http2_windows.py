"""HTTP/2 flow control with many small DATA frames buffered at once.

LLM servers send each token in a DATA frame of its own, and every stream of a client shares
one connection and its flow-control window. With hyper's adaptive windows (64 KiB to start)
two things broke: streams whose consumers lag hold the connection's window until nothing
more can be sent on any stream (here the server cannot send what the test waits for, and
reading would hang: the stream read first waits for bytes the window no longer admits), and
the h2 crate, which budgets the small frames held unread to half the connection window, tore
the connection down past it (GOAWAY ENHANCE_YOUR_CALM, "too_many_data_frames": 2,657 of 5,000
paced streams failed in bench_concurrency). sserpent's fixed windows (4 MiB a stream, 1 GiB
the connection, as Go's net/http) keep them whole.
"""

from __future__ import annotations

import asyncio
import time

import sserpent
from sserpent.testing import MockServer

STREAMS = 12
CHUNKS = 2_000
BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
LOAD = {"x-mock-chunks": str(CHUNKS), "x-mock-interval-ms": "0.25"}


def reference() -> tuple[str, int]:
    """The text of one such stream and its body's size in bytes (HTTP/2 counts DATA bytes)."""
    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url, http1=False, http2=True, max_retries=0)
        with client.stream("POST", "/chat/completions", json=BODY, headers=LOAD) as stream:
            text = "".join(stream.text())
        assert server.wait_closed(server.requests[0].connection_id)
        return text, server.connections[0].bytes_sent


def test_streams_whose_consumers_lag_keep_their_small_frames() -> None:
    want, body_bytes = reference()
    assert len(want) > CHUNKS and body_bytes > 100 * CHUNKS  # text in every ~150-byte chunk
    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url, http1=False, http2=True, max_retries=0)

        async def main() -> list[str]:
            streams = [client.stream("POST", "/chat/completions", json=BODY, headers=LOAD)
                       for _ in range(STREAMS)]
            for s in streams:
                await s.aopen()
            # Nobody reads while the server sends everything, one small DATA frame per chunk:
            # each stream's channel fills (1,024 chunks) and the rest waits in HTTP/2 buffers.
            # With windows too small the server cannot send it all: the test fails here.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                sent = sum(c.bytes_sent for c in server.connections)
                if sent >= STREAMS * body_bytes:
                    break
                await asyncio.sleep(0.05)
            assert sent == STREAMS * body_bytes
            texts = []
            for s in streams:
                assert s.http_version == "HTTP/2"
                texts.append("".join([t async for t in s.text()]))
            return texts

        # Bounded, so that a window deadlock fails the test instead of hanging it.
        texts = asyncio.run(asyncio.wait_for(main(), 60))
        assert texts == [want] * STREAMS
        peers = {c.peer for c in server.connections}
        assert len(server.connections) == STREAMS and len(peers) == 1  # one TCP connection
        assert all(c.closed_by == "server" for c in server.connections)
