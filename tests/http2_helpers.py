"""What the HTTP/2 tests (tests/test_http2*.py) share: h2c and HTTP/1.1 clients of the mock
server and their fixtures, the mock's connection records of requests, reading a stream in a mode."""

from __future__ import annotations

from typing import Any, Callable, List, Tuple

import pytest
import sserpent
from live_helpers import drain
from sserpent.testing import MockConnection, MockRequest, MockServer

H2 = "HTTP/2"
H1 = "HTTP/1.1"


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def h2_client(server: MockServer, **kwargs: Any) -> sserpent.Client:
    """HTTP/2 only: h2c with prior knowledge on the mock's ``http://`` URL."""
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("read_timeout", 10)
    return sserpent.Client(base_url=server.base_url, http1=False, http2=True, **kwargs)


def h1_client(server: MockServer, **kwargs: Any) -> sserpent.Client:
    """The default client: HTTP/1.1 only."""
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("read_timeout", 10)
    return sserpent.Client(base_url=server.base_url, **kwargs)


@pytest.fixture
def h2(server):
    return h2_client(server)


@pytest.fixture
def h1(server):
    return h1_client(server)


def record_of(server: MockServer, request: MockRequest) -> MockConnection:
    """The connection record (over HTTP/2: the stream record) that carried ``request``."""
    return next(c for c in server.connections if c.id == request.connection_id)


def closed_record(server: MockServer, request_index: int = -1) -> MockConnection:
    """The record of ``server.requests[request_index]``, once it is closed."""
    request = server.requests[request_index]
    assert server.wait_closed(request.connection_id, timeout=5), "the stream is still open after 5 s"
    record = record_of(server, request)
    assert not record.open
    return record


def peers(server: MockServer) -> List[str]:
    """The peer address of every request's record, in request order."""
    return [record_of(server, r).peer for r in server.requests]


def read(make: Callable[[], Any], mode: str, view: str = "chunks") -> Tuple[Any, List[Any], Any]:
    """Read ``make()`` (a stream; with ``view`` its ``text()`` or ``events()``) to its end
    in ``mode``: the stream, the items and the exception that ended it (or None)."""
    box: List[Any] = []

    def make_view() -> Any:
        stream = make()
        box.append(stream)
        return stream if view == "chunks" else getattr(stream, view)()

    items, exc = drain(make_view, mode)
    return box[0], items, exc
