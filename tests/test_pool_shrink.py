"""Pools shrink after a burst: once the streams have ended and ``pool_idle_timeout`` has passed,
the client holds no idle connection (HTTP/1.1 and HTTP/2, whose extra pools are dropped too),
counted as this process's established sockets to the server."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest
import sserpent
from sserpent.testing import MockServer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts sockets through /proc")

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
IDLE = 0.3


def sockets_to(port: int) -> int:
    """This process's ESTABLISHED TCP sockets whose remote port is ``port`` (from /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if fields[3] == "01" and remote_port == port and fields[9] in inodes:
                    count += 1
    return count


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


async def burst(client: sserpent.Client, n: int) -> list[int]:
    """``n`` streams open at once (each holds its connection until all have started)."""
    streams = [client.stream("POST", "/chat/completions", json=BODY, headers={"x-mock-chunks": "3"}) for _ in range(n)]
    await asyncio.gather(*(s.aopen() for s in streams))
    counts = []
    for s in streams:
        counts.append(len([c async for c in s]))
    return counts


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_connections_and_pools_close_once_idle(http2: bool) -> None:
    with MockServer() as server:
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        kw = {"http1": False, "http2": True, "http2_max_streams": 10} if http2 else {}
        client = sserpent.Client(base_url=server.base_url, pool_idle_timeout=IDLE, max_retries=0, **kw)
        n = 60
        assert asyncio.run(burst(client, n)) == [5] * n
        during = sockets_to(port)
        # HTTP/1.1: one connection per concurrent stream; HTTP/2: one per 10 streams.
        assert during == (6 if http2 else n), during
        assert wait_for(lambda: sockets_to(port) == 0), f"{sockets_to(port)} connections left open"
        # The client still works, on one new connection.
        assert asyncio.run(burst(client, 1)) == [5]
        assert sockets_to(port) == 1
