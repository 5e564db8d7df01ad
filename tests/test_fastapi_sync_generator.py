"""100 concurrent streams through a FastAPI ``StreamingResponse`` over a *sync* generator, as
seed 001 writes it, and over an async generator, under a real uvicorn with the mock server
upstream.

Starlette runs each ``next()`` of a sync generator in anyio's thread pool, 40 threads by
default (``current_default_thread_limiter().total_tokens``), and a thread is held for as long
as that ``next()`` waits for the upstream. Two upstream loads:

- ``paced``: every upstream sends 10 chunks 20 ms apart, so the 100 streams overlap;
- ``stalled``: the same, but the first 40 upstreams to be asked fall silent for 1 s after
  their first chunk: 40 ``next()`` calls hold every thread of the pool meanwhile, and the
  other 60 sync streams wait for one;
- ``slow_head``: every upstream sends its response head after 20 ms: seed 001 calls the sync
  ``create()`` inside its ``async def`` handler, which blocks the event loop until the head
  arrives, once per request.

Under both, every request must finish with exactly the mock's text, and every upstream
connection must be released: once the app has stopped (its clients dropped), the mock records
each connection that carried one of the 100 requests as closed. Wall times are printed
(``pytest -s``), never asserted: benches/bench_fastapi_sync_vs_async.py measures them.
"""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
import sserpent
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from live_helpers import expected_text, mock_words
from sserpent.testing import MockServer
from web_helpers import serve_app

N_REQUESTS = 100
N_CHUNKS = 10  # content chunks per upstream stream
INTERVAL_MS = 20  # between the upstream's frames: a request takes about 12 × 20 ms
PACING = {"x-mock-chunks": str(N_CHUNKS), "x-mock-interval-ms": str(INTERVAL_MS)}
MODEL = "gpt-4o-mini"
ROUTES = {"sync": "/chat-sync", "async": "/chat-async"}


def create_app(base_url: str, thread_tokens: Optional[int] = None) -> FastAPI:
    """``POST /chat-sync``: seed 001's shape (a sync ``create`` and a sync generator);
    ``POST /chat-async``: the async form. The clients live from startup to shutdown, so that
    dropping them at shutdown closes their pooled connections. ``thread_tokens`` sets anyio's
    default thread limiter at startup (None: its default, 40)."""
    state: Dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if thread_tokens is not None:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = thread_tokens
        kw: Dict[str, Any] = dict(base_url=base_url, api_key="k", default_headers=PACING, max_retries=0)
        state["client"] = sserpent.OpenAI(**kw)
        state["aclient"] = sserpent.AsyncOpenAI(**kw)
        try:
            yield
        finally:
            state.clear()

    app = FastAPI(lifespan=lifespan)

    @app.post(ROUTES["sync"])
    async def chat_sync(chat_request: Dict[str, Any]) -> StreamingResponse:
        stream = state["client"].chat.completions.create(model=MODEL, messages=chat_request["messages"], stream=True)

        def gen() -> Iterator[str]:
            for chunk in stream:
                yield chunk.choices[0].delta.content or ""

        return StreamingResponse(gen(), media_type="text/plain")

    @app.post(ROUTES["async"])
    async def chat_async(chat_request: Dict[str, Any]) -> StreamingResponse:
        stream = await state["aclient"].chat.completions.create(
            model=MODEL, messages=chat_request["messages"], stream=True
        )

        async def agen() -> AsyncIterator[str]:
            async for chunk in stream:
                yield chunk.choices[0].delta.content or ""

        return StreamingResponse(agen(), media_type="text/plain")

    return app


# The upstream loads: what to enqueue on the mock before the batch (the unscripted requests
# get the default answer, paced by the clients' PACING headers).
STALLED = 40  # as many as anyio's default thread limiter has threads
STALL_S = 1.0
LOADS: Dict[str, List[Dict[str, Any]]] = {
    "paced": [],
    "stalled": [dict(stall_after=1, stall_for=STALL_S, times=STALLED)],
    # every upstream takes 20 ms to send its response head: the sync create() (which waits for
    # it) blocks the event loop that long, once per request
    "slow_head": [dict(headers_delay=0.02, times=N_REQUESTS)],
}


def script(server: MockServer, load: str) -> None:
    for scripted in LOADS[load]:
        server.enqueue(**scripted)


async def fire(url: str, n: int = N_REQUESTS) -> Tuple[List[Tuple[int, str]], List[float]]:
    """``n`` concurrent POSTs to ``url``, all started at once: their (status, text), and when
    each ended, in seconds from the start."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120, connect=30)) as client:
        t0 = time.perf_counter()
        ends = [0.0] * n

        async def one(i: int) -> Tuple[int, str]:
            body = {"messages": [{"role": "user", "content": f"hello {i}"}]}
            r = await client.post(url, json=body)
            ends[i] = time.perf_counter() - t0
            return r.status_code, r.text

        results = await asyncio.gather(*(one(i) for i in range(n)))
        return list(results), ends


@pytest.fixture
def upstream() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server
        assert server.pending == 0, "a scripted response was left unused"


@pytest.mark.parametrize("load", list(LOADS))
@pytest.mark.parametrize("form", ["sync", "async"])
def test_100_concurrent_streams_all_finish(upstream: MockServer, form: str, load: str) -> None:
    expected = expected_text(mock_words(), N_CHUNKS)
    script(upstream, load)
    with serve_app(create_app(upstream.base_url)) as url:
        results, ends = asyncio.run(fire(url + ROUTES[form]))
    ends.sort()
    print(
        f"\n{form} generator, {load}: {N_REQUESTS} concurrent streams of {N_CHUNKS} chunks × {INTERVAL_MS} ms:"
        f" all done in {ends[-1]:.2f} s, the first {N_REQUESTS - STALLED} in {ends[N_REQUESTS - STALLED - 1]:.2f} s"
    )

    assert [status for status, _ in results] == [200] * N_REQUESTS
    wrong = [(i, text) for i, (_, text) in enumerate(results) if text != expected]
    assert not wrong, f"{len(wrong)} of {N_REQUESTS} responses differ from {expected!r}: {wrong[:3]}"

    # The upstream saw exactly the 100 requests, each with its own prompt and the pacing headers.
    requests = upstream.requests
    assert len(requests) == N_REQUESTS
    assert all(r.method == "POST" and r.path == "/v1/chat/completions" for r in requests)
    assert sorted(r.json()["messages"][0]["content"] for r in requests) == sorted(
        f"hello {i}" for i in range(N_REQUESTS)
    )
    assert all(r.json()["stream"] is True and r.headers["x-mock-chunks"] == str(N_CHUNKS) for r in requests)

    # The app has stopped and dropped its clients: every upstream connection is closed, and
    # between them they carried the 100 requests (a pooled connection may carry several).
    gc.collect()
    conn_ids = {r.connection_id for r in requests}
    still_open = [c for c in conn_ids if not upstream.wait_closed(c, timeout=5)]
    assert not still_open, f"{len(still_open)} upstream connections still open"
    conns = [c for c in upstream.connections if c.id in conn_ids]
    assert sum(c.requests for c in conns) == N_REQUESTS
    assert len(upstream.connections) == len(conn_ids)  # no connection without a request
