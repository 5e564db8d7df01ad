"""Shared helpers for the live streaming tests (tests/test_stream_*.py, tests/test_threads.py).

- Wire samples: ``SAMPLES``, ``ERROR_SAMPLES``, ``OK_SAMPLES``, ``load_sample(name)``.
- ``MODES``: how a stream is consumed, ``"sync"``, ``"asyncio"`` or ``"uvloop"``;
  ``run_async(coro_fn, mode)`` runs a coroutine function on that event loop and
  ``drain(make_iterable, mode)`` reads a stream (or one of its views) to its end in that mode.
- ``chat(client, n)``: a streaming chat completion of ``n`` content chunks from the mock,
  ``mock_words()`` and ``expected_text(words, n)``: the text it must give.
- ``raw_http_server(response)``: a one-shot loopback server that answers every request with
  the given raw bytes (for response heads the mock server cannot produce).
- ``rss_bytes()``: this process's resident set size.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Tuple

import sserpent

WIRE = Path(__file__).parent / "fixtures" / "wire"
SAMPLES: List[str] = sorted(p.name[: -len(".sse")] for p in WIRE.glob("*.sse"))
ERROR_SAMPLES: List[str] = [n for n in SAMPLES if "error" in n]
OK_SAMPLES: List[str] = [n for n in SAMPLES if n not in ERROR_SAMPLES]
assert len(SAMPLES) == 21, SAMPLES

MODES = ("sync", "asyncio", "uvloop")
ASYNC_MODES = ("asyncio", "uvloop")

CHAT_PATH = "/chat/completions"
CHAT_BODY: Dict[str, Any] = {
    "model": "gpt-4o-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "Hello"}],
}


def sample_path(name: str) -> Path:
    return WIRE / f"{name}.sse"


def load_sample(name: str) -> Tuple[bytes, Dict[str, Any]]:
    """The raw bytes of ``NAME.sse`` and the parsed ``NAME.expected.json``."""
    raw = sample_path(name).read_bytes()
    expected = json.loads((WIRE / f"{name}.expected.json").read_text(encoding="utf-8"))
    return raw, expected


def random_pieces(data: bytes, seed: int, max_len: int) -> List[bytes]:
    """``data`` cut into non-empty pieces of random length 1..max_len (seeded)."""
    rng = random.Random(seed)
    pieces = []
    i = 0
    while i < len(data):
        n = rng.randint(1, max_len)
        pieces.append(data[i : i + n])
        i += n
    assert b"".join(pieces) == data
    return pieces


# --- running a consumer sync or on an event loop ----------------------------------------------


def run_async(coro_fn: Callable[[], Awaitable[Any]], mode: str) -> Any:
    """Run ``coro_fn()`` to completion on a fresh asyncio or uvloop event loop."""
    if mode == "asyncio":
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    if mode == "uvloop":
        import uvloop

        return uvloop.run(coro_fn())  # type: ignore[arg-type]
    raise ValueError(mode)


def drain(make: Callable[[], Any], mode: str) -> Tuple[List[Any], BaseException | None]:
    """Read ``make()`` (a stream or a view, created inside the loop for async modes) to its
    end: the items read and the exception that ended it (``None`` for a clean end)."""
    items: List[Any] = []
    if mode == "sync":
        try:
            for item in make():
                items.append(item)
        except Exception as e:
            return items, e
        return items, None

    async def consume() -> BaseException | None:
        try:
            async for item in make():
                items.append(item)
        except Exception as e:
            return e
        return None

    return items, run_async(consume, mode)


def to_dicts(chunks: List[Any]) -> List[Any]:
    return [c.to_dict() for c in chunks]


def reference_chunks(raw: bytes) -> Tuple[List[Any], BaseException | None]:
    """What ``sserpent.iter_chunks`` makes of the whole bytes (as dicts) and how it ends."""
    out: List[Any] = []
    try:
        for chunk in sserpent.iter_chunks([raw]):
            out.append(chunk.to_dict())
    except Exception as e:
        return out, e
    return out, None


def reference_events(raw: bytes) -> Tuple[List[Any], BaseException | None]:
    out: List[Any] = []
    try:
        for ev in sserpent.iter_events([raw]):
            out.append(ev)
    except Exception as e:
        return out, e
    return out, None


# --- the mock server's default chat stream ----------------------------------------------------


def chat(
    client: sserpent.Client, n: int | None = None, *, headers: Dict[str, str] | None = None, **kwargs: Any
) -> sserpent.Stream:
    """A streaming chat completion with ``n`` content chunks (the mock's default without n).

    The mock sends a role chunk, the ``n`` content chunks, a ``finish_reason`` chunk and
    ``[DONE]``: ``n + 2`` chunks."""
    h = dict(headers or {})
    if n is not None:
        h["x-mock-chunks"] = str(n)
    return client.stream("POST", CHAT_PATH, json=CHAT_BODY, headers=h, **kwargs)


def content_chunk(text: str) -> Dict[str, Any]:
    """A chat completion chunk carrying ``text``, as a dict to script the mock with."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def norm(chunks: Any) -> List[Dict[str, Any]]:
    """Chunks (objects or dicts) as dicts without the per-response fields (the mock numbers
    its responses)."""
    out = []
    for c in chunks:
        d = c if isinstance(c, dict) else c.to_dict()
        out.append({k: v for k, v in d.items() if k not in ("id", "created")})
    return out


def intact_chat(client: sserpent.Client, n: int = 5) -> List[Dict[str, Any]]:
    """The mock's intact chat stream of ``n`` content chunks, normalized (``n + 2`` of them)."""
    got = norm(chat(client, n))
    assert len(got) == n + 2
    return got


_words_cache: Dict[str, List[str]] = {}


def mock_words() -> List[str]:
    """The words of the mock's default reply (its content chunks cycle through them); asked
    once, of a private mock server, so that no test's records change."""
    if "words" not in _words_cache:
        from sserpent.testing import MockServer

        with MockServer() as server:
            client = sserpent.Client(base_url=server.base_url)
            text = "".join(client.stream("POST", CHAT_PATH, json=CHAT_BODY).text())
        _words_cache["words"] = text.split(" ")
    return _words_cache["words"]


def expected_tokens(words: List[str], n: int) -> List[str]:
    """The text deltas of a mock stream of ``n`` content chunks."""
    return [words[i % len(words)] if i == 0 else " " + words[i % len(words)] for i in range(n)]


def expected_text(words: List[str], n: int) -> str:
    return "".join(expected_tokens(words, n))


def wait_request_closed(server: Any, request_index: int = -1, timeout: float = 2.0) -> Any:
    """Wait until the connection that carried ``server.requests[request_index]`` is closed;
    returns that connection's record."""
    conn_id = server.requests[request_index].connection_id
    server.wait_closed(conn_id, timeout=timeout)
    return next(c for c in server.connections if c.id == conn_id)


# --- a raw one-response HTTP server ------------------------------------------------------------


@contextmanager
def raw_http_server(response: bytes | List[bytes], gap: float = 0.0) -> Iterator[str]:
    """A loopback server answering every request with ``response`` (then closing the
    connection); yields its ``http://127.0.0.1:PORT`` URL. A list is sent one piece a write,
    each after ``gap`` seconds."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(body) < length:
                    more = conn.recv(65536)
                    if not more:
                        return
                    body += more
                for piece in [response] if isinstance(response, bytes) else response:
                    time.sleep(gap)
                    conn.sendall(piece)
            except OSError:
                pass

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_bytes() -> int:
    """The resident set size of this process (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
