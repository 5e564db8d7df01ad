"""Shared fixtures and helpers for the Python acceptance tests.

- Wire samples: ``SAMPLE_NAMES``, ``load_sample(name) -> (bytes, expected dict)``.
- Splitting helpers: ``random_pieces``, ``byte_pieces``, ``split_at``.
- ``sse_server``: a tiny threaded HTTP/1.1 server on 127.0.0.1 that answers ``GET`` of a
  registered path with given bytes, sent as chunked transfer encoding in given pieces,
  each written and flushed on its own (``TCP_NODELAY``), so that real HTTP clients
  (requests, httpx, aiohttp) are tested on genuinely fragmented bodies.

Test modules import the plain helpers with ``from conftest import ...`` (the tests
directory is on ``sys.path`` under pytest's default import mode).
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import pytest

# Tests that need Chromium, /proc, fork, POSIX signals or uvloop skip (with the reason) where
# those are missing, except under scripts/test.sh (SSERPENT_TEST_STRICT=1).
pytest_plugins = ["platform_skips"]

WIRE = Path(__file__).parent / "fixtures" / "wire"
SAMPLE_NAMES: List[str] = sorted(p.name[: -len(".sse")] for p in WIRE.glob("*.sse"))
ERROR_SAMPLES: List[str] = [n for n in SAMPLE_NAMES if "error" in n]
OK_SAMPLES: List[str] = [n for n in SAMPLE_NAMES if n not in ERROR_SAMPLES]

assert len(SAMPLE_NAMES) == 21, SAMPLE_NAMES  # the fixtures are all there


def load_sample(name: str) -> Tuple[bytes, Dict[str, Any]]:
    """The raw bytes of ``NAME.sse`` and the parsed ``NAME.expected.json``."""
    raw = (WIRE / f"{name}.sse").read_bytes()
    expected = json.loads((WIRE / f"{name}.expected.json").read_text(encoding="utf-8"))
    return raw, expected


# --- splitting -------------------------------------------------------------------------------


def split_at(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    """``data`` cut at the given offsets (sorted, clamped, duplicates give empty pieces)."""
    points = sorted(min(max(c, 0), len(data)) for c in cuts)
    pieces = []
    prev = 0
    for p in points:
        pieces.append(data[prev:p])
        prev = p
    pieces.append(data[prev:])
    return pieces


def byte_pieces(data: bytes) -> List[bytes]:
    """One piece per byte."""
    return [data[i : i + 1] for i in range(len(data))]


def random_pieces(data: bytes, seed: int, max_len: int = 17, empty: bool = False) -> List[bytes]:
    """``data`` in pieces of random length 1..max_len (seeded); with ``empty``, some
    zero-length pieces are mixed in."""
    rng = random.Random(seed)
    pieces = []
    i = 0
    while i < len(data):
        if empty and rng.random() < 0.1:
            pieces.append(b"")
        n = rng.randint(1, max_len)
        pieces.append(data[i : i + n])
        i += n
    assert b"".join(pieces) == data
    return pieces


def piecings(data: bytes) -> Dict[str, List[bytes]]:
    """The standard ways every wire sample is fed: whole, byte by byte, random pieces."""
    return {
        "whole": [data],
        "bytewise": byte_pieces(data),
        "random3": random_pieces(data, seed=3, max_len=7, empty=True),
        "random11": random_pieces(data, seed=11, max_len=64),
        "random2024": random_pieces(data, seed=2024, max_len=300),
    }


def as_types(pieces: Sequence[bytes], seed: int = 0) -> List[Any]:
    """The same pieces as a seeded mix of bytes, bytearray and memoryview objects."""
    rng = random.Random(seed)
    kinds = [bytes, bytearray, memoryview]
    return [rng.choice(kinds)(p) for p in pieces]


async def agen(items: Sequence[Any]) -> Any:
    """An async generator over ``items``."""
    for item in items:
        yield item


# --- a tiny local HTTP server ----------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        pieces, content_type = route
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        try:
            for piece in pieces:
                if not piece:
                    continue  # a zero-length chunk would end the body
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading early (e.g. after [DONE])
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class SSEServer:
    """Serves registered byte streams; ``serve(pieces)`` returns the URL to GET."""

    def __init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.routes = {}  # type: ignore[attr-defined]
        self._ids = itertools.count()
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def serve(self, pieces: Sequence[bytes], content_type: str = "text/event-stream") -> str:
        path = f"/stream/{next(self._ids)}"
        self._httpd.routes[path] = (list(pieces), content_type)  # type: ignore[attr-defined]
        return self.base_url + path

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def sse_server() -> Iterator[SSEServer]:
    server = SSEServer()
    try:
        yield server
    finally:
        server.close()


# --- the async wake-up path ------------------------------------------------------------------

_ASYNC_WORDS = ("async", "await", "uvloop")
# Modules whose async code runs where a test's own source does not show it: an ASGI app, a
# notebook kernel, a subprocess script. Check that the marker misses nothing: with a bad value
# every async wait raises, so `SSERPENT_ASYNC_WAKE=bogus pytest -m "not async_io"` must pass.
_ASYNC_MODULES = ("test_fastapi.py", "test_notebook.py", "test_leaks.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "async_io: streams read by an asyncio (or uvloop) loop; set on every test whose id or "
        "function source mentions async, await or uvloop, and on every test of "
        + ", ".join(_ASYNC_MODULES)
        + " (scripts/test.sh runs these once more with SSERPENT_ASYNC_WAKE=threadsafe)",
    )


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    import inspect

    for item in items:
        fn = getattr(item, "function", None)
        try:
            source = inspect.getsource(fn) if fn is not None else ""
        except (OSError, TypeError):
            source = ""
        if item.path.name in _ASYNC_MODULES or any(w in item.name or w in source for w in _ASYNC_WORDS):
            item.add_marker(pytest.mark.async_io)
