"""The wait for response headers is ``read_timeout`` from the connect, whatever
``connect_timeout`` is: a server that accepts and then sends nothing, or dribbles header
bytes, fails the request after ``read_timeout`` (it used to take ``connect_timeout +
read_timeout``), and the client closes the connection."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest
import sserpent

READ_TIMEOUT = 0.5
# Far above READ_TIMEOUT: a wait bounded by connect_timeout + read_timeout shows as a
# test that takes 30 s instead of failing fast.
CONNECT_TIMEOUT = 30.0


class SlowHeadServer:
    """Accepts connections, reads each request head, then sends nothing (``dribble=None``)
    or one byte of a response head every ``dribble`` seconds. Records when each connection
    was closed by the client."""

    def __init__(self, dribble: float | None = None):
        self.dribble = dribble
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.closed = threading.Event()
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            conn.settimeout(self.dribble or 0.05)
            for i in range(10_000):
                if self.stop.is_set():
                    return
                if self.dribble is not None:
                    conn.sendall(head[i % len(head) : i % len(head) + 1])
                try:
                    if conn.recv(1) == b"":
                        self.closed.set()
                        return
                except socket.timeout:
                    continue
                except OSError:
                    self.closed.set()
                    return

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture(params=[None, 0.1], ids=["silent", "dribbling"])
def slow_server(request):
    server = SlowHeadServer(request.param)
    yield server
    server.close()


def client_for(server: SlowHeadServer, cls=sserpent.Client):
    return cls(
        base_url=f"http://127.0.0.1:{server.port}/v1",
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_retries=0,
    )


def check(exc: BaseException, elapsed: float, server: SlowHeadServer):
    assert type(exc) is sserpent.APITimeoutError
    assert f"no response headers within {READ_TIMEOUT:.3f}s of connecting (read_timeout)" in str(exc)
    assert elapsed < CONNECT_TIMEOUT / 3, elapsed
    assert server.connections == 1
    assert server.closed.wait(5), "the client kept the connection open"


def test_sync_stream(slow_server):
    client = client_for(slow_server)
    start = time.monotonic()
    with pytest.raises(sserpent.APITimeoutError) as info:
        next(iter(client.stream("POST", "/chat/completions", json={"stream": True})))
    check(info.value, time.monotonic() - start, slow_server)


def test_async_stream(slow_server):
    async def main():
        client = client_for(slow_server)
        start = time.monotonic()
        with pytest.raises(sserpent.APITimeoutError) as info:
            stream = client.stream("POST", "/chat/completions", json={"stream": True})
            async for _ in stream:
                break
        return info.value, time.monotonic() - start

    exc, elapsed = asyncio.run(main())
    check(exc, elapsed, slow_server)


def test_provider_client_create(slow_server):
    client = sserpent.OpenAI(
        api_key="k",
        base_url=f"http://127.0.0.1:{slow_server.port}/v1",
        timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        max_retries=0,
    )
    start = time.monotonic()
    with pytest.raises(sserpent.APITimeoutError) as info:
        list(client.chat.completions.create(model="m", messages=[], stream=True))
    check(info.value, time.monotonic() - start, slow_server)


def test_a_reachable_server_that_answers_is_unaffected():
    from sserpent.testing import MockServer

    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
        stream = client.stream("POST", "/chat/completions", json={"stream": True}, headers={"x-mock-chunks": "2"})
        assert len(list(stream)) == 4
