"""An OpenAI-compatible ``/v1/chat/completions`` proxy that re-streams its upstream through sserpent.

Point the openai SDK at it (``OpenAI(base_url="http://127.0.0.1:8000/v1")``): streamed requests get
the upstream's events unchanged, non-streamed ones the upstream's JSON, and an upstream HTTP error
(429, 500, ...) comes back with the upstream's status and body, before any streaming starts. When
the downstream client goes away, the upstream connection is closed at once.

Upstream: ``UPSTREAM_BASE_URL`` (or ``OPENAI_BASE_URL``) with ``OPENAI_API_KEY``; with neither URL
set, sserpent's embedded mock server is started and used.

    python examples/fastapi_proxy.py            # or: uvicorn examples.fastapi_proxy:app
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

import sserpent
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sserpent.fastapi import EventSourceResponse


def _body(value: Any) -> Any:
    """A JSON-serialisable form of an upstream body (chunk objects become dicts)."""
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def _error_response(e: sserpent.APIStatusError) -> Response:
    """The upstream's error, status and body, for the downstream client."""
    headers = {}
    for name in ("retry-after", "x-request-id"):
        value = e.headers.get(name) if e.headers is not None else None
        if value is not None:
            headers[name] = value
    body = _body(e.body)
    if isinstance(body, (str, bytes)):
        return Response(body, status_code=e.status_code, headers=headers)
    return JSONResponse(body, status_code=e.status_code, headers=headers)


def create_app(base_url: Optional[str] = None, api_key: Optional[str] = None) -> FastAPI:
    """The proxy app. ``base_url``/``api_key`` default to the environment (see the module doc)."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = base_url or os.environ.get("UPSTREAM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        mock = None
        if not url:
            from sserpent.testing import MockServer

            mock = MockServer()
            url = mock.base_url
            print(f"fastapi_proxy: no UPSTREAM_BASE_URL, using the embedded mock server at {url}")
        key = api_key or os.environ.get("OPENAI_API_KEY") or "mock"
        # No retries here: the downstream client has its own retry policy, and sees our statuses.
        state["client"] = sserpent.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, max_retries=0
        )
        try:
            yield
        finally:
            if mock is not None:
                mock.close()

    app = FastAPI(title="sserpent proxy", lifespan=lifespan)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        client: sserpent.Client = state["client"]
        try:
            if not body.get("stream"):
                return JSONResponse(_body(await client.arequest("POST", "/chat/completions", json=body)))
            stream = client.stream("POST", "/chat/completions", json=body)
            await stream.aopen()  # upstream HTTP errors raise here, before our response starts
        except sserpent.APIStatusError as e:
            return _error_response(e)
        except sserpent.APIConnectionError as e:
            return JSONResponse(
                {"error": {"message": f"upstream unreachable: {e}", "type": "upstream_error"}},
                status_code=502,
            )
        return EventSourceResponse(stream)  # the upstream events, unchanged, as they arrive

    return app


app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
