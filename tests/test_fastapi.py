"""FastAPI re-streaming under a real uvicorn server, with sserpent's mock server upstream.

- examples/fastapi_proxy.py: the openai SDK pointed at the proxy receives exactly the upstream
  chunks (compared with the SDK reading the upstream directly), non-streamed answers too;
  upstream HTTP errors come back with their status and body before any streaming;
- a downstream client that goes away mid-stream (raw socket, or an httpx stream closed early)
  gets the upstream connection closed within one second, also while the upstream is stalled;
  at the ASGI level, by ``http.disconnect`` alone and by the response task's cancellation;
- the seed's handler shape (``StreamingResponse`` over a generator of an AzureOpenAI stream, and
  over ``stream.text()``);
- ``EventSourceResponse``: headers, ``ping=`` comments while the upstream is idle, ``transform=``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any, Dict, Iterator, List, Optional

import httpx
import openai
import pytest
import sserpent
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from live_helpers import WIRE, load_sample
from sserpent import Event
from sserpent.fastapi import EventSourceResponse
from sserpent.testing import MockServer
from web_helpers import load_example, raw_post, read_until, serve_app

BODY: Dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
CLOSE_WITHIN = 1.0  # seconds: the upstream connection must be closed this soon after the client left


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_queue(upstream: MockServer) -> Iterator[None]:
    yield
    assert upstream.pending == 0, "a scripted response was left unused"


@pytest.fixture(scope="module")
def proxy(upstream: MockServer) -> Iterator[str]:
    """examples/fastapi_proxy.py under uvicorn, in front of the mock server."""
    app = load_example("fastapi_proxy").create_app(base_url=upstream.base_url, api_key="sk-proxy")
    with serve_app(app) as url:
        yield url


def sdk(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-client", max_retries=0, timeout=10)


def dumps(chunks: List[Any]) -> List[Dict[str, Any]]:
    return [c.model_dump() for c in chunks]


def connection(server: MockServer, conn_id: int) -> Any:
    [conn] = [c for c in server.connections if c.id == conn_id]
    return conn


# --- the proxy: exactly the upstream chunks --------------------------------------------------


@pytest.mark.parametrize("sample", ["openai_chat_usage", "openai_chat_tool_call", "azure_chat"])
def test_openai_sdk_through_proxy_gets_exactly_the_upstream_chunks(
    upstream: MockServer, proxy: str, sample: str
) -> None:
    upstream.enqueue(sse_file=str(WIRE / f"{sample}.sse"), times=2)
    direct = dumps(list(sdk(upstream.base_url).chat.completions.create(**BODY, stream=True)))
    via_proxy = dumps(list(sdk(proxy + "/v1").chat.completions.create(**BODY, stream=True)))
    assert via_proxy == direct
    raw, expected = load_sample(sample)
    assert len(via_proxy) == raw.count(b"data: {")
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in via_proxy if c["choices"])
    assert text == expected["text"]
    # The upstream got the SDK's body unchanged, with the proxy's own credentials.
    sent = upstream.requests[-1]
    assert sent.json() == {**BODY, "stream": True}
    assert sent.headers["authorization"] == "Bearer sk-proxy"
    assert sent.path == "/v1/chat/completions"


def test_proxy_body_is_the_upstream_bytes(upstream: MockServer, proxy: str) -> None:
    raw, _ = load_sample("openai_chat_tool_call")
    upstream.enqueue(sse_file=str(WIRE / "openai_chat_tool_call.sse"))
    with httpx.stream("POST", proxy + "/v1/chat/completions", json={**BODY, "stream": True}, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-accel-buffering"] == "no"
        body = b"".join(r.iter_bytes())
    assert body == raw


def test_default_mock_stream_through_proxy(upstream: MockServer, proxy: str) -> None:
    """The mock's own generated answer (fresh ids): the same content and shape as direct."""
    direct = dumps(list(sdk(upstream.base_url).chat.completions.create(**BODY, stream=True)))
    via_proxy = dumps(list(sdk(proxy + "/v1").chat.completions.create(**BODY, stream=True)))
    strip = [{k: v for k, v in c.items() if k not in ("id", "created")} for c in direct]
    assert [{k: v for k, v in c.items() if k not in ("id", "created")} for c in via_proxy] == strip
    assert len({c["id"] for c in via_proxy}) == 1


def test_midstream_error_reaches_the_sdk(upstream: MockServer, proxy: str) -> None:
    upstream.enqueue(sse_file=str(WIRE / "openai_chat_error_midstream.sse"), times=2)
    results = []
    for base in (upstream.base_url, proxy + "/v1"):
        got: List[Any] = []
        with pytest.raises(openai.APIError) as info:
            for chunk in sdk(base).chat.completions.create(**BODY, stream=True):
                got.append(chunk.model_dump())
        results.append((got, info.value.message))
    assert results[1] == results[0]
    assert results[1][1] == "The server experienced an error while processing your request."


def test_non_streaming_through_proxy(upstream: MockServer, proxy: str) -> None:
    completion = {
        "id": "chatcmpl-fixed",
        "object": "chat.completion",
        "created": 1721075653,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Bonjour \u2603\nline two", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }
    upstream.enqueue(json=completion, times=2)
    direct = sdk(upstream.base_url).chat.completions.create(**BODY)
    via_proxy = sdk(proxy + "/v1").chat.completions.create(**BODY)
    assert via_proxy.model_dump() == direct.model_dump()
    assert via_proxy.choices[0].message.content == "Bonjour \u2603\nline two"
    assert upstream.requests[-1].json() == BODY


# --- the proxy: upstream errors before the response starts -----------------------------------


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_upstream_error_status_and_body(upstream: MockServer, proxy: str, status: int, stream: bool) -> None:
    headers = {"retry-after": "7"} if status == 429 else {}
    upstream.enqueue(status=status, headers=headers, times=2)
    direct = httpx.post(upstream.base_url + "/chat/completions", json={**BODY, "stream": stream}, timeout=10)
    r = httpx.post(proxy + "/v1/chat/completions", json={**BODY, "stream": stream}, timeout=10)
    assert direct.status_code == status
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json() == direct.json()
    assert r.json()["error"]["message"] == direct.json()["error"]["message"]
    if status == 429:
        assert r.headers["retry-after"] == "7"


def test_upstream_429_becomes_rate_limit_error_in_the_sdk(upstream: MockServer, proxy: str) -> None:
    body = {
        "error": {
            "message": "Rate limit reached for gpt-4o-mini",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
    }
    upstream.enqueue(status=429, json=body, headers={"retry-after": "1"})
    with pytest.raises(openai.RateLimitError) as info:
        sdk(proxy + "/v1").chat.completions.create(**BODY, stream=True)
    assert info.value.status_code == 429
    assert info.value.body == body["error"]
    assert info.value.response.json() == body


def test_upstream_unreachable_is_502() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    app = load_example("fastapi_proxy").create_app(base_url=f"http://127.0.0.1:{port}/v1", api_key="k")
    with serve_app(app) as url:
        r = httpx.post(url + "/v1/chat/completions", json={**BODY, "stream": True}, timeout=20)
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "upstream_error"


# --- disconnects -----------------------------------------------------------------------------


CHUNK = {"id": "c", "object": "chat.completion.chunk"}


def _chunks(n: int) -> List[Any]:
    """``n`` chat chunks with content ``w0 ``, ``w1 ``, ..., then ``[DONE]``."""
    return [{**CHUNK, "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]} for i in range(n)] + [
        "[DONE]"
    ]


def _wire(events: List[Any]) -> bytes:
    """The bytes the mock sends for scripted ``events`` (dicts as compact JSON, str as is)."""
    return b"".join(
        sserpent.sse_encode(e if isinstance(e, str) else json.dumps(e, separators=(",", ":"))) for e in events
    )


UPSTREAMS = {
    # 200 chunks, 50 ms apart: still going long after the client leaves
    "paced": dict(events=_chunks(200), delay=0.05),
    # two chunks, then silence
    "stalled": dict(stall_after=2),
    # two chunks, then only keep-alive comments (which the proxy does not forward)
    "stalled_keepalive": dict(stall_after=2, keepalive=0.1),
}


def _leave_raw(url: str) -> Any:
    sock = raw_post(url, "/v1/chat/completions", {**BODY, "stream": True})
    head = read_until(sock, b"data: ", timeout=5)
    assert head.startswith(b"HTTP/1.1 200")
    return sock.close


def _leave_httpx(url: str) -> Any:
    client = httpx.Client(timeout=10)
    cm = client.stream("POST", url + "/v1/chat/completions", json={**BODY, "stream": True})
    r = cm.__enter__()
    assert r.status_code == 200
    pieces = r.iter_raw()  # kept referenced: dropping a half-read iterator closes the response
    assert next(pieces).startswith(b"data: ")

    def leave() -> None:
        pieces.close()
        cm.__exit__(None, None, None)
        client.close()

    return leave


@pytest.mark.parametrize("how", ["raw_socket", "httpx"])
@pytest.mark.parametrize("kind", list(UPSTREAMS))
def test_client_disconnect_closes_upstream(upstream: MockServer, proxy: str, kind: str, how: str) -> None:
    upstream.enqueue(**UPSTREAMS[kind])
    leave = {"raw_socket": _leave_raw, "httpx": _leave_httpx}[how](proxy)
    conn_id = upstream.requests[-1].connection_id
    time.sleep(0.2)  # mid-stream
    assert connection(upstream, conn_id).open
    left_at = time.monotonic()
    leave()
    assert upstream.wait_closed(conn_id, timeout=CLOSE_WITHIN), f"upstream still open {CLOSE_WITHIN} s after"
    assert time.monotonic() - left_at < CLOSE_WITHIN + 0.1
    assert connection(upstream, conn_id).closed_by == "client"
    # The proxy is fine afterwards.
    r = httpx.post(proxy + "/v1/chat/completions", json=BODY, timeout=10)
    assert r.status_code == 200


def test_disconnect_from_the_chat_example(upstream: MockServer) -> None:
    """``EventSourceResponse(stream, transform=...)``: the same, through the transform path."""
    app = load_example("fastapi_chat").create_app(
        base_url=upstream.base_url, upstream_headers={"x-mock-chunks": "100", "x-mock-interval-ms": "50"}
    )
    with serve_app(app) as url:
        sock = raw_post(url, "/chat", {"message": "hi"})
        assert b'data: {"text":"Hello!"}' in read_until(sock, b'data: {"text"', timeout=5)
        conn_id = upstream.requests[-1].connection_id
        sock.close()
        assert upstream.wait_closed(conn_id, timeout=CLOSE_WITHIN)


# At the ASGI level: EventSourceResponse itself, without uvicorn.


async def _asgi_call(
    response: Any, spec_version: str, disconnect: asyncio.Event, sent: List[Dict[str, Any]]
) -> None:
    async def receive() -> Dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": spec_version}, "method": "POST"}
    await response(scope, receive, send)


def _stalled_stream(upstream: MockServer) -> sserpent.Stream:
    upstream.enqueue(stall_after=2)
    client = sserpent.Client(base_url=upstream.base_url, max_retries=0)
    return client.stream("POST", "/chat/completions", json={**BODY, "stream": True})


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
def test_asgi_http_disconnect_closes_stalled_upstream(upstream: MockServer, spec_version: str) -> None:
    """Spec 2.4 servers are not listened to by Starlette itself: the response's own watcher acts."""

    async def main() -> None:
        stream = _stalled_stream(upstream)
        await stream.aopen()
        conn_id = upstream.requests[-1].connection_id
        disconnect = asyncio.Event()
        sent: List[Dict[str, Any]] = []
        task = asyncio.ensure_future(_asgi_call(EventSourceResponse(stream), spec_version, disconnect, sent))
        for _ in range(200):
            if sum(1 for m in sent if m.get("body", b"").startswith(b"data: ")) == 2:
                break
            await asyncio.sleep(0.01)
        assert [m["type"] for m in sent] == [
            "http.response.start",
            "http.response.body",
            "http.response.body",
        ]
        disconnect.set()
        closed = await asyncio.get_running_loop().run_in_executor(
            None, upstream.wait_closed, conn_id, CLOSE_WITHIN
        )
        assert closed
        await asyncio.wait_for(task, 5)

    asyncio.run(main())


@pytest.mark.parametrize("content", ["EventSourceResponse", "StreamingResponse(text)"])
def test_asgi_task_cancellation_closes_stalled_upstream(upstream: MockServer, content: str) -> None:
    """A server that just cancels the response task (no disconnect message at all)."""

    async def main() -> None:
        stream = _stalled_stream(upstream)
        await stream.aopen()
        conn_id = upstream.requests[-1].connection_id
        if content == "EventSourceResponse":
            response: Any = EventSourceResponse(stream)
        else:
            response = StreamingResponse(stream.text(), media_type="text/event-stream")
        sent: List[Dict[str, Any]] = []
        task = asyncio.ensure_future(_asgi_call(response, "2.4", asyncio.Event(), sent))
        for _ in range(200):
            if len(sent) >= 2 and sent[-1].get("body"):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert connection(upstream, conn_id).open
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        closed = await asyncio.get_running_loop().run_in_executor(
            None, upstream.wait_closed, conn_id, CLOSE_WITHIN
        )
        assert closed

    asyncio.run(main())


# --- the seed's handler shape: StreamingResponse over text -----------------------------------


def seed_app(endpoint: str) -> FastAPI:
    """The handler of ../shared/seeds/001 with sserpent's AzureOpenAI, and two shorter forms."""
    app = FastAPI()

    @app.post("/chat")
    async def chat_handler(chat_request: Dict[str, Any]) -> StreamingResponse:
        client = sserpent.AzureOpenAI(api_version="2024-02-01", azure_endpoint=endpoint, api_key="azure-key")
        messages = [{"role": "system", "content": "You are helpful."}] + chat_request["messages"]
        response = client.chat.completions.create(
            model="gpt-4o-deploy", messages=messages, temperature=0, stream=True, max_tokens=800
        )

        def get_gpt_streaming(chat_coroutine: Any) -> Iterator[str]:
            collected_messages = []
            for chunk in chat_coroutine:
                if len(chunk.choices) != 0 and chunk.choices[0].delta.content is not None:
                    chunk_message = chunk.choices[0].delta.content
                    collected_messages.append(chunk_message)
                    yield chunk_message

        return StreamingResponse(get_gpt_streaming(response), media_type="text/event-stream")

    @app.post("/chat-text")
    async def chat_text(chat_request: Dict[str, Any]) -> StreamingResponse:
        client = sserpent.AzureOpenAI(api_version="2024-02-01", azure_endpoint=endpoint, api_key="azure-key")
        response = client.chat.completions.create(
            model="gpt-4o-deploy", messages=chat_request["messages"], stream=True
        )
        return StreamingResponse(response.text(), media_type="text/event-stream")

    @app.post("/chat-async")
    async def chat_async(chat_request: Dict[str, Any]) -> StreamingResponse:
        client = sserpent.AsyncAzureOpenAI(
            api_version="2024-02-01", azure_endpoint=endpoint, api_key="azure-key"
        )
        response = await client.chat.completions.create(
            model="gpt-4o-deploy", messages=chat_request["messages"], stream=True
        )
        return StreamingResponse(response.text(), media_type="text/event-stream")

    return app


def test_seed_handler_shape(upstream: MockServer) -> None:
    _, expected = load_sample("azure_chat")
    with serve_app(seed_app(upstream.url)) as url:
        for route in ("/chat", "/chat-text", "/chat-async"):
            upstream.enqueue(sse_file=str(WIRE / "azure_chat.sse"), delay=0.005)
            pieces = []
            with httpx.stream(
                "POST", url + route, json={"messages": [{"role": "user", "content": "hi"}]}
            ) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                for piece in r.iter_text():
                    pieces.append(piece)
            assert "".join(pieces) == expected["text"], route
            sent = upstream.requests[-1]
            assert sent.path == "/openai/deployments/gpt-4o-deploy/chat/completions"
            assert sent.query == "api-version=2024-02-01"
            assert sent.headers["api-key"] == "azure-key"


# --- EventSourceResponse: headers, pings, transforms -----------------------------------------


def sse_app(upstream: MockServer) -> FastAPI:
    """``/sse?mode=...``: EventSourceResponse over the mock's stream with various options."""
    app = FastAPI()
    client = sserpent.Client(base_url=upstream.base_url, max_retries=0)

    def transform(mode: str) -> Any:
        def text_only(chunk: Any) -> Any:
            if not chunk.choices or not chunk.choices[0].delta.content:
                return None  # dropped
            return {"text": chunk.choices[0].delta.content}

        def kinds(chunk: Any) -> Any:
            if not chunk.choices:
                return None
            delta = chunk.choices[0].delta
            if delta.role:
                return Event(data=delta.role, event="role", id="r")
            if delta.content:
                return delta.content.upper()  # a str is the data as is
            return b": finished\n\n"  # bytes go out as they are

        return {"text_only": text_only, "kinds": kinds}[mode]

    @app.post("/sse")
    async def sse(request: Request) -> Any:
        q = request.query_params
        stream = client.stream("POST", "/chat/completions", json={**BODY, "stream": True})
        try:
            await stream.aopen()
        except sserpent.APIStatusError as e:
            return JSONResponse(e.body, status_code=e.status_code)
        kwargs: Dict[str, Any] = {}
        if "ping" in q:
            kwargs["ping"] = float(q["ping"])
        if "transform" in q:
            kwargs["transform"] = transform(q["transform"])
        if q.get("terminator") == "none":
            return EventSourceResponse(stream.sse(kwargs.pop("transform"), terminator=None, **kwargs))
        return EventSourceResponse(
            stream, status_code=int(q.get("status", 200)), headers={"X-Custom": "1"}, **kwargs
        )

    @app.get("/iterable")
    async def iterable() -> Any:
        async def gen() -> Any:
            yield sserpent.sse_encode("one")
            yield sserpent.sse_encode("two", event="end")

        return EventSourceResponse(gen(), headers={"Cache-Control": "no-cache, no-transform"})

    return app


@pytest.fixture(scope="module")
def sse_url(upstream: MockServer) -> Iterator[str]:
    with serve_app(sse_app(upstream)) as url:
        yield url


def test_event_source_response_headers(upstream: MockServer, sse_url: str) -> None:
    upstream.enqueue(events=_chunks(2))
    r = httpx.post(sse_url + "/sse?status=201", timeout=10)
    assert r.status_code == 201
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-accel-buffering"] == "no"
    assert r.headers["x-custom"] == "1"
    assert "content-length" not in r.headers
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.content == _wire(_chunks(2))

    r = httpx.get(sse_url + "/iterable", timeout=10)
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache, no-transform"  # the caller's value wins
    assert r.headers["x-accel-buffering"] == "no"
    assert r.content == b"data: one\n\nevent: end\ndata: two\n\n"


def test_transform_needs_a_stream() -> None:
    async def gen() -> Any:
        yield b""

    with pytest.raises(TypeError):
        EventSourceResponse(gen(), transform=lambda c: c)
    with pytest.raises(TypeError):
        EventSourceResponse(gen(), ping=5)


def _read_for(url: str, seconds: float) -> bytes:
    """The raw response body received within ``seconds`` (then the client leaves)."""
    sock = raw_post(url, "/sse?ping=0.2", {})
    deadline = time.monotonic() + seconds
    buf = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            piece = sock.recv(65536)
        except socket.timeout:
            break
        if not piece:
            break
        buf += piece
    sock.close()
    return buf


def _dechunk(raw: bytes) -> bytes:
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    out = b""
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0 or len(rest) < size + 2:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return out


def test_ping_comments_while_upstream_idle(upstream: MockServer, sse_url: str) -> None:
    upstream.enqueue(events=_chunks(5), stall_after=2)
    conn_before = len(upstream.requests)
    body = _dechunk(_read_for(sse_url, 1.3))
    events = _wire(_chunks(5)[:2])
    assert body.startswith(events)
    pings = body[len(events) :]
    n = pings.count(b": ping\n\n")
    assert pings == b": ping\n\n" * n
    assert 3 <= n <= 7, n  # one every 0.2 s of silence over ~1.2 s
    conn_id = upstream.requests[conn_before].connection_id
    assert upstream.wait_closed(conn_id, timeout=CLOSE_WITHIN)


def test_no_pings_while_upstream_is_busy(upstream: MockServer, sse_url: str) -> None:
    upstream.enqueue(events=_chunks(12), delay=0.1)  # a chunk every 0.1 s, ping after 0.2 s idle
    r = httpx.post(sse_url + "/sse?ping=0.2", timeout=10)
    assert b": ping" not in r.content
    assert r.content == _wire(_chunks(12))


def test_transform_drops_and_re_encodes(upstream: MockServer, sse_url: str) -> None:
    raw, expected = load_sample("openai_chat_usage")
    upstream.enqueue(sse_file=str(WIRE / "openai_chat_usage.sse"))
    r = httpx.post(sse_url + "/sse?transform=text_only", timeout=10)
    events = sserpent.Decoder().feed(r.content)
    assert events[-1].data == "[DONE]"
    texts = [json.loads(e.data)["text"] for e in events[:-1]]
    assert "".join(texts) == expected["text"]
    assert r.content == b"".join(sserpent.sse_encode({"text": t}) for t in texts) + b"data: [DONE]\n\n"
    # The role chunk, the finish chunk and the usage chunk were dropped.
    assert len(texts) == raw.count(b'"content":"') - raw.count(b'"content":""')


def test_transform_kinds_of_results(upstream: MockServer, sse_url: str) -> None:
    upstream.enqueue(
        events=[
            {**CHUNK, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
            {**CHUNK, "choices": [{"index": 0, "delta": {"content": "ab"}}]},
            {**CHUNK, "choices": [{"index": 0, "delta": {"content": "c\nd"}}]},
            {**CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {**CHUNK, "choices": [], "usage": {"total_tokens": 3}},
            "[DONE]",
        ]
    )
    r = httpx.post(sse_url + "/sse?transform=kinds", timeout=10)
    assert r.content == (
        b"event: role\nid: r\ndata: assistant\n\n"
        b"data: AB\n\n"
        b"data: C\ndata: D\n\n"
        b": finished\n\n"
        b"data: [DONE]\n\n"
    )


def test_transform_without_terminator(upstream: MockServer, sse_url: str) -> None:
    upstream.enqueue(events=_chunks(3))
    r = httpx.post(sse_url + "/sse?transform=text_only&terminator=none", timeout=10)
    assert r.content == b'data: {"text":"w0 "}\n\ndata: {"text":"w1 "}\n\ndata: {"text":"w2 "}\n\n'


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sse_transform_outside_a_server(upstream: MockServer, mode: str) -> None:
    upstream.enqueue(events=_chunks(4))
    client = sserpent.Client(base_url=upstream.base_url, max_retries=0)
    stream = client.stream("POST", "/chat/completions", json={**BODY, "stream": True})

    def fn(chunk: Any) -> Optional[Dict[str, str]]:
        text = chunk.choices[0].delta.content
        return None if text == "w1 " else {"t": text}

    it = stream.sse(fn, terminator="[END]")
    if mode == "sync":
        pieces = list(it)
    else:

        async def consume() -> List[bytes]:
            return [p async for p in it]

        pieces = asyncio.run(consume())
    assert pieces == [
        b'data: {"t":"w0 "}\n\n',
        b'data: {"t":"w2 "}\n\n',
        b'data: {"t":"w3 "}\n\n',
        b"data: [END]\n\n",
    ]
