"""FastAPI / Starlette integration: re-stream an upstream LLM stream in one line.

.. code-block:: python

    from sserpent.fastapi import EventSourceResponse

    @app.post("/v1/chat/completions")
    async def proxy(body: dict):
        stream = client.stream("POST", "/chat/completions", json=body)
        try:
            await stream.aopen()          # upstream HTTP errors surface before the response starts
        except sserpent.APIStatusError as e:
            return JSONResponse(e.body, status_code=e.status_code)
        return EventSourceResponse(stream)

When the downstream client goes away, the upstream connection is closed at once.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterable, Callable, Mapping, Optional, Union

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ._sserpent import SseIterator, Stream

__all__ = ["EventSourceResponse"]

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class EventSourceResponse(StreamingResponse):
    """A ``text/event-stream`` response from a :class:`sserpent.Stream` (re-encoded by
    ``stream.sse(transform, ping=...)``) or any async iterable of SSE bytes.

    Sets ``Cache-Control: no-store`` and ``X-Accel-Buffering: no`` (proxies must not buffer
    it). It also watches for the client's disconnect and closes the upstream stream the
    moment it happens, even while the upstream sends nothing.
    """

    def __init__(
        self,
        content: Union[Stream, SseIterator, AsyncIterable[bytes]],
        *,
        transform: Optional[Callable[[Any], Any]] = None,
        ping: Optional[float] = None,
        status_code: int = 200,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        if isinstance(content, Stream):
            content = content.sse(transform, ping=ping)
        elif transform is not None or ping is not None:
            raise TypeError("transform= and ping= need a sserpent.Stream")
        self._source = content
        merged = dict(SSE_HEADERS)
        merged.update(headers or {})
        super().__init__(content, status_code=status_code, headers=merged, media_type="text/event-stream")

    def _close_source(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self._close_source()
                    return

        watcher = asyncio.ensure_future(watch_disconnect())
        try:
            await super().__call__(scope, receive, send)
        finally:
            watcher.cancel()
            self._close_source()
