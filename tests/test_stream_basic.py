"""Live streaming, the happy paths: every wire sample replayed by the mock server and read
sync, on asyncio and on uvloop, in one piece, event by event and in tiny pieces; the
views; the response fields and metrics; the request that reaches the server."""

from __future__ import annotations

import json

import pytest
import sserpent
from live_helpers import (
    ASYNC_MODES,
    CHAT_BODY,
    CHAT_PATH,
    ERROR_SAMPLES,
    MODES,
    OK_SAMPLES,
    SAMPLES,
    chat,
    drain,
    expected_text,
    expected_tokens,
    load_sample,
    mock_words,
    random_pieces,
    raw_http_server,
    reference_chunks,
    reference_events,
    run_async,
    sample_path,
    to_dicts,
)
from sserpent.testing import MockServer


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def client(server):
    return sserpent.Client(base_url=server.base_url, read_timeout=10)


PIECINGS = ("whole", "events", "pieces")


def enqueue_sample(server: MockServer, name: str, piecing: str) -> bytes:
    """Queue the sample's replay; returns its bytes.

    ``whole``: the file in one write; ``events``: one write per event, 1 ms apart;
    ``pieces``: writes of 1..23 bytes, 1 ms apart (splitting lines, CRLFs and UTF-8)."""
    raw, _ = load_sample(name)
    if piecing == "whole":
        server.enqueue(sse_file=str(sample_path(name)))
    elif piecing == "events":
        server.enqueue(sse_file=str(sample_path(name)), delay=0.001)
    else:
        server.enqueue(events=random_pieces(raw, seed=len(raw), max_len=23), delay=0.001)
    return raw


def same_error(got, want):
    assert want is not None and got is not None, (got, want)
    assert type(got) is type(want)
    assert str(got) == str(want)


# --- chunks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("piecing", PIECINGS)
@pytest.mark.parametrize("name", SAMPLES)
def test_chunks_equal_iter_chunks(server, client, name, piecing, mode):
    raw = enqueue_sample(server, name, piecing)
    want, want_exc = reference_chunks(raw)
    got, exc = drain(lambda: client.stream("POST", CHAT_PATH, json=CHAT_BODY), mode)
    assert to_dicts(got) == want
    if name in ERROR_SAMPLES:
        assert isinstance(exc, sserpent.StreamError)
        same_error(exc, want_exc)
    else:
        assert exc is None and want_exc is None
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", OK_SAMPLES)
def test_text_view_equals_expected_text(server, client, name, mode):
    _, expected = load_sample(name)
    enqueue_sample(server, name, "pieces")
    got, exc = drain(lambda: client.stream("POST", CHAT_PATH, json=CHAT_BODY).text(), mode)
    assert exc is None
    assert all(type(t) is str for t in got)
    assert "".join(got) == expected["text"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("piecing", ("whole", "pieces"))
@pytest.mark.parametrize("name", ERROR_SAMPLES)
def test_error_samples_raise_stream_error_after_the_text(server, client, name, piecing, mode):
    _, expected = load_sample(name)
    enqueue_sample(server, name, piecing)
    got, exc = drain(lambda: client.stream("POST", CHAT_PATH, json=CHAT_BODY).text(), mode)
    assert "".join(got) == expected["text_before_error"]
    assert isinstance(exc, sserpent.StreamError)
    assert exc.message == expected["error"]["message"]
    assert exc.type == expected["error"]["type"]
    assert str(exc) == expected["error"]["message"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", SAMPLES)
def test_events_view_gives_the_raw_events(server, client, name, mode):
    raw = enqueue_sample(server, name, "events")
    want, want_exc = reference_events(raw)
    got, exc = drain(lambda: client.stream("POST", CHAT_PATH, json=CHAT_BODY).events(), mode)
    assert all(type(e) is sserpent.Event for e in got)
    assert [(e.event, e.data, e.id) for e in got] == [(e.event, e.data, e.id) for e in want]
    if want_exc is None:
        assert exc is None
    else:
        same_error(exc, want_exc)


@pytest.mark.parametrize("mode", MODES)
def test_events_view_of_the_default_chat_stream(server, client, mode):
    got, exc = drain(lambda: chat(client, 3).events(), mode)
    assert exc is None
    assert [e.event for e in got] == ["message"] * 6
    assert got[-1].data == "[DONE]"
    bodies = [json.loads(e.data) for e in got[:-1]]
    assert [b["object"] for b in bodies] == ["chat.completion.chunk"] * 5
    assert got[0].json().choices[0].delta.role == "assistant"


# --- the mock's default answers on every provider path -----------------------------------------

DEFAULT_PATHS = {
    "openai_chat": ("/v1/chat/completions", CHAT_BODY),
    "openai_completions": ("/v1/completions", {"model": "m", "prompt": "Hi", "stream": True}),
    "openai_responses": ("/v1/responses", {"model": "m", "input": "Hi", "stream": True}),
    "anthropic": (
        "/v1/messages",
        {"model": "m", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "Hi"}]},
    ),
    "azure_chat": ("/openai/deployments/gpt/chat/completions", {"stream": True, "messages": []}),
    "oci_generate_text": (
        "/20231130/actions/generateText",
        {"inferenceRequest": {"runtimeType": "COHERE", "prompt": "Hi", "isStream": True}},
    ),
    "oci_chat_generic": (
        "/20231130/actions/chat",
        {"chatRequest": {"apiFormat": "GENERIC", "messages": [], "isStream": True}},
    ),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(DEFAULT_PATHS))
def test_default_mock_paths_stream(server, kind, mode):
    path, body = DEFAULT_PATHS[kind]
    words = mock_words()
    client = sserpent.Client(base_url=server.url)
    got, exc = drain(lambda: client.stream("POST", path, json=body, headers={"x-mock-chunks": "9"}).text(), mode)
    assert exc is None
    assert got == expected_tokens(words, 9)


@pytest.mark.parametrize("mode", MODES)
def test_default_chat_stream_chunk_count_and_text(server, client, mode):
    words = mock_words()
    got, exc = drain(lambda: chat(client, 50), mode)
    assert exc is None
    assert len(got) == 52
    assert got[0].choices[0].delta.role == "assistant"
    assert got[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in got) == expected_text(words, 50)


# --- response fields and metrics ---------------------------------------------------------------


def check_metrics(stream, raw_len, chunks):
    # duration and chunks_per_second are checked by test_metrics_final_when_iteration_ends
    m = stream.metrics
    assert m.chunks == chunks
    assert m.bytes_received == raw_len
    assert m.attempts == 1
    end = m.duration if m.duration is not None else float("inf")
    assert 0 < m.time_to_headers <= m.time_to_first_event <= end
    if m.time_to_first_token is not None:
        assert m.time_to_first_event <= m.time_to_first_token <= end
    if chunks > 1:
        assert 0 <= m.gap_p50 <= m.gap_p99 <= end
    else:  # no gap between chunks (Gemini's blocked prompt is one response)
        assert m.gap_p50 is None and m.gap_p99 is None
    d = m.to_dict()
    for key in METRIC_KEYS:
        assert d[key] == getattr(m, key), key


METRIC_KEYS = (
    "time_to_headers",
    "time_to_first_event",
    "time_to_first_token",
    "chunks",
    "bytes_received",
    "duration",
    "gap_p50",
    "gap_p99",
    "attempts",
)


@pytest.mark.parametrize("piecing", PIECINGS)
@pytest.mark.parametrize("name", OK_SAMPLES)
def test_metrics_exact_counts(server, client, name, piecing):
    raw = enqueue_sample(server, name, piecing)
    want, _ = reference_chunks(raw)
    stream = client.stream("POST", CHAT_PATH, json=CHAT_BODY)
    assert len(list(stream)) == len(want)
    check_metrics(stream, len(raw), len(want))


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_metrics_async(server, client, mode):
    raw = enqueue_sample(server, "openai_chat_usage", "events")

    async def main():
        stream = client.stream("POST", CHAT_PATH, json=CHAT_BODY)
        n = 0
        async for _ in stream:
            n += 1
        return stream, n

    stream, n = run_async(main, mode)
    assert n == 5
    check_metrics(stream, len(raw), 5)


@pytest.mark.parametrize("mode", MODES)
def test_metrics_final_when_iteration_ends(server, client, mode):
    """Once the iteration ended (StopIteration), the metrics are complete: the duration and
    the rate are set, every time."""
    unfinished = []
    for i in range(40):
        server.enqueue(sse_file=str(sample_path("openai_chat_usage")))
        stream = client.stream("POST", CHAT_PATH, json=CHAT_BODY)
        got, exc = drain(lambda s=stream: s, mode)
        assert exc is None and len(got) == 5
        m = stream.metrics
        if m.duration is None or m.chunks_per_second is None:
            unfinished.append(i)
            continue
        assert m.time_to_first_token <= m.duration
        assert m.chunks_per_second == pytest.approx(5 / m.duration, rel=0.01)
    assert unfinished == []


def test_metrics_to_dict_has_chunks_per_second(server, client):
    stream = chat(client, 5)
    list(stream)
    d = stream.metrics.to_dict()
    assert d["chunks_per_second"] == stream.metrics.chunks_per_second


def test_metrics_before_the_request(client):
    stream = chat(client, 3)
    m = stream.metrics
    assert (m.chunks, m.bytes_received, m.attempts) == (0, 0, 0)
    assert m.time_to_headers is None and m.duration is None
    assert stream.status is None and stream.headers is None and stream.request_id is None


def test_status_headers_request_id_url(server, client):
    stream = client.stream(
        "POST", CHAT_PATH, json=CHAT_BODY, headers={"x-mock-chunks": "2"}, params={"api-version": "1"}
    )
    assert stream.url == server.base_url + CHAT_PATH
    for _ in stream:
        pass
    assert stream.status == 200
    h = stream.headers
    assert isinstance(h, sserpent.Headers)
    assert h["content-type"] == "text/event-stream; charset=utf-8"
    assert h["Content-Type"] == h["CONTENT-TYPE"] == h.get("content-TYPE")
    assert "Cache-Control" in h and "x-nope" not in h
    assert h.get("x-nope") is None and h.get("x-nope", "d") == "d"
    assert h.get_list("cache-control") == ["no-cache"]
    assert "x-request-id" in h.keys() and len(h) == len(h.keys()) == len(list(h))
    assert dict(h.items())["x-request-id"] == "req_mock_000001"
    assert stream.request_id == "req_mock_000001"
    assert stream.url == server.base_url + CHAT_PATH
    assert server.requests[0].query == "api-version=1"
    with pytest.raises(KeyError):
        h["x-nope"]


@pytest.mark.parametrize("header", ["x-request-id", "apim-request-id", "opc-request-id"])
def test_request_id_headers(header):
    body = b'data: {"object":"chat.completion.chunk","choices":[]}\n\ndata: [DONE]\n\n'
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        + header.encode()
        + b": rid-42\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        + body
    )
    with raw_http_server(response) as url:
        stream = sserpent.Client(max_retries=0).stream("GET", url + "/sse")
        assert len(list(stream)) == 1
        assert stream.request_id == "rid-42"
        assert stream.headers[header.upper()] == "rid-42"


def test_header_names_repeated_values():
    body = b"data: [DONE]\n\n"
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-multi: a\r\nX-Multi: b\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
    )
    with raw_http_server(response) as url:
        stream = sserpent.Client(max_retries=0).stream("GET", url + "/sse")
        assert list(stream) == []
        assert stream.headers.get_list("X-MULTI") == ["a", "b"]
        assert stream.headers["x-multi"] in ("a", "b", "a, b")


# --- opening, context managers ----------------------------------------------------------------


def test_open_before_iterating(server, client):
    stream = chat(client, 4)
    assert stream.open() is stream
    assert stream.status == 200
    assert stream.request_id == "req_mock_000001"
    assert stream.metrics.attempts == 1
    assert len(server.requests) == 1
    assert len(list(stream)) == 6
    assert len(server.requests) == 1


@pytest.mark.parametrize("view", ["text", "events"])
def test_open_then_a_view(server, client, view):
    words = mock_words()
    stream = chat(client, 4)
    stream.open()
    items = list(getattr(stream, view)())
    if view == "text":
        assert "".join(items) == expected_text(words, 4)
    else:
        assert len(items) == 7 and items[-1].data == "[DONE]"


def test_open_twice_sends_one_request(server, client):
    stream = chat(client, 2)
    stream.open()
    stream.open()
    assert len(list(stream)) == 4
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_aopen_before_iterating(server, client, mode):
    async def main():
        stream = chat(client, 4)
        opened = await stream.aopen()
        assert opened is stream
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.request_id == "req_mock_000001"
        return [c async for c in stream]

    assert len(run_async(main, mode)) == 6
    assert len(server.requests) == 1


def test_view_choice_after_reading_started(client):
    stream = chat(client, 3)
    next(stream)
    with pytest.raises(ValueError, match="already being read"):
        iter(stream.text()).__next__()
    with pytest.raises(ValueError, match="already being read"):
        next(stream.events())
    assert len(list(stream)) == 4  # the stream itself still reads on


def test_sync_context_manager(server, client):
    with chat(client, 3) as stream:
        assert stream.status is None
        chunks = list(stream)
    assert len(chunks) == 5
    assert stream.status == 200


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_async_context_manager(server, client, mode):
    async def main():
        async with chat(client, 3) as stream:
            chunks = [c async for c in stream]
        return stream, chunks

    stream, chunks = run_async(main, mode)
    assert len(chunks) == 5
    assert stream.status == 200


def test_exception_inside_with_propagates(client):
    with pytest.raises(ZeroDivisionError):
        with chat(client, 3) as stream:
            next(stream)
            raise ZeroDivisionError


# --- module-level stream, URLs, the request that reaches the server ---------------------------


@pytest.mark.parametrize("mode", MODES)
def test_module_level_stream(server, mode):
    words = mock_words()
    got, exc = drain(
        lambda: sserpent.stream(
            "POST", server.base_url + CHAT_PATH, json=CHAT_BODY, headers={"x-mock-chunks": "6"}
        ).text(),
        mode,
    )
    assert exc is None
    assert "".join(got) == expected_text(words, 6)


def test_relative_url_without_base_url():
    with pytest.raises(ValueError, match="base_url"):
        sserpent.Client().stream("POST", "/chat/completions", json=CHAT_BODY)
    with pytest.raises(ValueError, match="base_url"):
        sserpent.stream("POST", "/chat/completions", json=CHAT_BODY)


@pytest.mark.parametrize("url", ["chat/completions", "/chat/completions"])
def test_relative_url_joins_base_url(server, url):
    client = sserpent.Client(base_url=server.base_url)
    stream = client.stream("POST", url, json=CHAT_BODY)
    assert stream.url == server.base_url + "/chat/completions"
    assert len(list(stream)) > 2
    assert server.requests[-1].path == "/v1/chat/completions"


def test_absolute_url_ignores_base_url(server):
    client = sserpent.Client(base_url="http://127.0.0.1:9/v1")
    stream = client.stream("POST", server.url + "/v2/chat/completions", json=CHAT_BODY)
    assert len(list(stream)) > 2
    assert server.requests[-1].path == "/v2/chat/completions"


@pytest.mark.parametrize("mode", MODES)
def test_json_body_and_headers_reach_the_server(server, mode):
    client = sserpent.Client(base_url=server.base_url, headers={"Authorization": "Bearer sk-test", "X-Default": "d"})
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "héllo ✓"}], "n": 1}
    got, exc = drain(
        lambda: client.stream("POST", CHAT_PATH, json=body, headers={"X-Trace-Id": "T-1", "x-mock-chunks": "2"}),
        mode,
    )
    assert exc is None and len(got) == 4
    req = server.requests[-1]
    assert req.method == "POST"
    assert req.path == "/v1/chat/completions"
    assert req.json() == body
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req.headers["x-default"] == "d"
    assert req.headers["x-trace-id"] == "T-1"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["accept"] == "text/event-stream"


def test_per_request_headers_override_client_headers(server):
    client = sserpent.Client(base_url=server.base_url, headers={"X-Default": "client"})
    list(client.stream("POST", CHAT_PATH, json=CHAT_BODY, headers={"x-default": "request"}))
    assert server.requests[-1].headers["x-default"] == "request"


def test_content_body(server):
    client = sserpent.Client(base_url=server.base_url)
    raw = json.dumps(CHAT_BODY).encode()
    list(client.stream("POST", CHAT_PATH, content=raw, headers={"content-type": "application/json"}))
    assert server.requests[-1].body == raw
    list(client.stream("POST", CHAT_PATH, content=raw.decode()))
    assert server.requests[-1].body == raw


def test_params_appended_to_the_query(server):
    client = sserpent.Client(base_url=server.base_url)
    params = {"api-version": "2024-06-01", "q": "a&b c"}
    stream = client.stream("POST", CHAT_PATH, json=CHAT_BODY, params=params)
    list(stream)
    assert server.requests[-1].path == "/v1/chat/completions"
    assert server.requests[-1].query == "api-version=2024-06-01&q=a%26b+c"
    assert stream.url == server.base_url + CHAT_PATH


def test_params_added_to_an_existing_query(server):
    client = sserpent.Client(base_url=server.base_url)
    list(client.stream("POST", CHAT_PATH + "?a=1", json=CHAT_BODY, params={"b": 2}))
    assert server.requests[-1].query == "a=1&b=2"


def test_params_and_headers_as_pairs(server):
    client = sserpent.Client(base_url=server.base_url, headers=[("X-A", "1")])
    params = [("q", "1"), ("q", "2")]
    list(client.stream("POST", CHAT_PATH, json=CHAT_BODY, params=params, headers=[("X-B", "2")]))
    req = server.requests[-1]
    assert req.query == "q=1&q=2"
    assert req.headers["x-a"] == "1" and req.headers["x-b"] == "2"


def test_get_without_body(server):
    server.enqueue(sse_file=str(sample_path("openai_chat_usage")))
    client = sserpent.Client(base_url=server.base_url)
    assert len(list(client.stream("GET", "/anything"))) == 5
    req = server.requests[-1]
    assert req.method == "GET" and req.body == b""


def test_send_gives_status_and_headers_before_the_body(server):
    client = sserpent.Client(base_url=server.base_url)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    s = client.send("POST", "/chat/completions", json=body, headers={"x-test": "1"})
    assert s.status is None and not server.requests  # nothing sent yet
    assert s.open() is s
    assert (s.status, s.headers["Content-Type"]) == (200, "application/json")
    assert s.request_id is not None and s.request_id.startswith("req_mock_")
    result = s.read()
    assert result.object == "chat.completion"
    assert result.choices[0].message.content == "Hello! This is the sserpent mock server."
    r = server.requests[-1]
    assert (r.method, r.path, r.json(), r.headers["accept"], r.headers["x-test"]) == (
        "POST", "/v1/chat/completions", body, "application/json", "1")
    with pytest.raises(RuntimeError, match="the response ended without a body"):
        s.read()


def test_send_read_without_open_and_errors(server):
    client = sserpent.Client(base_url=server.base_url, max_retries=0)
    assert client.send("POST", "/completions", json={"model": "m", "prompt": "x"}).read().object == "text_completion"
    server.enqueue(status=404, json={"error": {"message": "no such model"}})
    with pytest.raises(sserpent.NotFoundError) as e:
        client.send("POST", "/chat/completions", json={}).open()
    assert e.value.body == {"error": {"message": "no such model"}}
    s = client.stream("POST", "/chat/completions", json={"model": "m", "stream": True, "messages": []})
    next(iter(s))
    with pytest.raises(ValueError, match="already being read as chunks"):
        s.read()


def test_async_send(server):
    import asyncio

    client = sserpent.Client(base_url=server.base_url)

    async def go():
        s = client.send("POST", "/chat/completions", json={"model": "m", "messages": []})
        assert await s.aopen() is s
        return s.status, (await s.aread()).object

    assert asyncio.run(go()) == (200, "chat.completion")


THREE_WORDS = [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in ("a", "b", "c")] + ["[DONE]"]


def test_http_version_and_is_closed_through_a_stream(server, client):
    server.enqueue(events=THREE_WORDS, delay=0.05)
    s = client.stream("POST", "/chat/completions", json={"stream": True})
    assert (s.http_version, s.is_closed) == (None, False)  # nothing sent yet
    it = iter(s)
    next(it)
    assert (s.http_version, s.is_closed) == ("HTTP/1.1", False)  # the body is still coming
    assert [c.choices[0].delta.content for c in it] == ["b", "c"]
    assert s.is_closed


def test_is_closed_after_close_and_after_a_failure(server, client):
    server.enqueue(events=THREE_WORDS, delay=0.2)
    s = client.stream("POST", "/chat/completions", json={"stream": True})
    next(iter(s))
    assert not s.is_closed
    s.close()
    assert s.is_closed
    server.enqueue(events=[{"choices": []}], cut_after=1)
    s = client.stream("POST", "/chat/completions", json={"stream": True})
    with pytest.raises(sserpent.IncompleteStreamError):
        list(s)
    assert s.is_closed


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_body_read_whole_is_closed_when_it_is_returned(server, mode):
    import asyncio

    client = sserpent.Client(base_url=server.base_url)
    s = client.send("POST", "/chat/completions", json={"model": "m", "messages": []})
    if mode == "sync":
        s.read()
    else:
        async def go():
            await s.aread()

        asyncio.run(go())
    assert (s.http_version, s.is_closed) == ("HTTP/1.1", True)
    assert s.metrics.duration is not None


def test_a_large_body_read_whole_has_its_first_event_before_its_end(server):
    server.enqueue(json={"object": "chat.completion", "data": [{"i": i, "s": "x" * 50} for i in range(60000)]})
    s = sserpent.Client(base_url=server.base_url).send("POST", "/chat/completions", json={})
    s.read()
    m = s.metrics
    assert 0 < m.time_to_first_event <= m.duration
