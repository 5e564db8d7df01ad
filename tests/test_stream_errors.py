"""Live streaming, the failures: HTTP error statuses, connection failures, cuts, stalls,
timeouts and broken bodies, each giving its typed exception after every intact chunk,
sync, on asyncio and on uvloop."""

from __future__ import annotations

import json

import pytest
import sserpent
from live_helpers import (
    CHAT_BODY,
    CHAT_PATH,
    MODES,
    chat,
    closed_port,
    content_chunk,
    drain,
    intact_chat,
    load_sample,
    norm,
    reference_chunks,
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
    return sserpent.Client(base_url=server.base_url, max_retries=0, read_timeout=10)





def opened(make, mode):
    """Send the request with open() / aopen(); the exception it raised, or None."""
    if mode == "sync":
        try:
            make().open()
        except Exception as e:
            return e
        return None

    async def main():
        try:
            await make().aopen()
        except Exception as e:
            return e
        return None

    return run_async(main, mode)


# --- HTTP statuses -----------------------------------------------------------------------------

STATUS_CLASSES = [
    (400, sserpent.BadRequestError),
    (401, sserpent.AuthenticationError),
    (403, sserpent.PermissionDeniedError),
    (404, sserpent.NotFoundError),
    (409, sserpent.ConflictError),
    (418, sserpent.APIStatusError),
    (422, sserpent.UnprocessableEntityError),
    (429, sserpent.RateLimitError),
    (500, sserpent.InternalServerError),
    (502, sserpent.InternalServerError),
    (503, sserpent.InternalServerError),
    (504, sserpent.InternalServerError),
]


def check_status_error(exc, status, cls):
    assert type(exc) is cls
    assert isinstance(exc, sserpent.APIStatusError)
    assert isinstance(exc, sserpent.APIError) and isinstance(exc, sserpent.SserpentError)
    assert exc.status_code == status
    assert exc.request_id == "req_mock_000001"
    assert exc.headers["x-request-id"] == "req_mock_000001"
    assert str(status) in str(exc)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status,cls", STATUS_CLASSES)
def test_status_error_with_json_body_on_iteration(server, client, status, cls, mode):
    server.enqueue(status=status)
    got, exc = drain(lambda: chat(client, 3), mode)
    assert got == []
    check_status_error(exc, status, cls)
    assert exc.headers["content-type"] == "application/json"
    assert isinstance(exc.body, dict)
    assert set(exc.body["error"]) >= {"message", "type", "code"}
    assert exc.body["error"]["message"] in str(exc)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status,cls", STATUS_CLASSES)
def test_status_error_on_open(server, client, status, cls, mode):
    body = {"error": {"message": f"custom {status}", "type": "t", "code": "c"}}
    server.enqueue(status=status, json=body)
    exc = opened(lambda: chat(client, 3), mode)
    check_status_error(exc, status, cls)
    assert exc.body == body
    assert f"custom {status}" in str(exc)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status,cls", [(400, sserpent.BadRequestError), (502, sserpent.InternalServerError)])
def test_status_error_with_html_body(server, client, status, cls, mode):
    html = "<html><body><h1>Bad gateway</h1> é</body></html>"
    server.enqueue(status=status, body=html.encode(), headers={"content-type": "text/html; charset=utf-8"})
    got, exc = drain(lambda: chat(client, 3), mode)
    assert got == []
    check_status_error(exc, status, cls)
    assert exc.body == html
    assert exc.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("mode", MODES)
def test_status_error_with_plain_text_body(server, client, mode):
    server.enqueue(status=401, body=b"Unauthorized")
    exc = opened(lambda: chat(client, 3), mode)
    check_status_error(exc, 401, sserpent.AuthenticationError)
    assert exc.body == "Unauthorized"


def test_status_error_with_empty_body(server, client):
    server.enqueue(status=503, body=b"")
    exc = opened(lambda: chat(client, 3), "sync")
    check_status_error(exc, 503, sserpent.InternalServerError)
    assert exc.body in ("", None)


def test_status_error_with_event_stream_content_type(server, client):
    """An error status with an SSE body is still an HTTP error, not a stream."""
    server.enqueue(status=500, sse_file=str(sample_path("openai_chat_usage")))
    got, exc = drain(lambda: chat(client, 3), "sync")
    assert got == []
    check_status_error(exc, 500, sserpent.InternalServerError)


# --- connection failures -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused(mode):
    client = sserpent.Client(max_retries=0, connect_timeout=5)
    url = f"http://127.0.0.1:{closed_port()}/v1/chat/completions"
    got, exc = drain(lambda: client.stream("POST", url, json=CHAT_BODY), mode)
    assert got == []
    assert type(exc) is sserpent.APIConnectionError
    assert isinstance(exc, sserpent.APIError)
    exc = opened(lambda: client.stream("POST", url, json=CHAT_BODY), mode)
    assert type(exc) is sserpent.APIConnectionError


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reset", [False, True])
def test_close_before_headers(server, client, reset, mode):
    server.enqueue(close_before_headers=True, reset=reset)
    got, exc = drain(lambda: chat(client, 3), mode)
    assert got == []
    assert type(exc) is sserpent.APIConnectionError
    assert len(server.requests) == 1


# --- cuts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mid_event", [False, True])
@pytest.mark.parametrize("n", [0, 1, 3, 6])
def test_cut_after_n_chunks(server, client, n, mid_event, mode):
    intact = intact_chat(client, 5)
    server.enqueue(cut_after=n, cut_mid_event=mid_event)
    got, exc = drain(lambda: chat(client, 5), mode)
    assert norm(got) == intact[:n]
    assert type(exc) is sserpent.IncompleteStreamError
    assert isinstance(exc, sserpent.APIConnectionError)
    assert len(server.requests) == 2  # never retried


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mid_event", [False, True])
def test_cut_with_reset(server, client, mid_event, mode):
    intact = intact_chat(client, 5)
    server.enqueue(cut_after=2, cut_mid_event=mid_event, reset=True)
    got, exc = drain(lambda: chat(client, 5), mode)
    assert norm(got) == intact[:2]
    assert type(exc) is sserpent.IncompleteStreamError


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,n", [("openai_chat_usage", 3), ("azure_chat", 4), ("openai_chat_tool_call", 7)])
def test_cut_mid_event_in_a_wire_sample(server, client, name, n, mode):
    """The cut splits an event (and a multi-byte character where it has one): the chunks
    before it arrive whole, the half event is never delivered."""
    raw, _ = load_sample(name)
    ref, _ = reference_chunks(raw)
    server.enqueue(sse_file=str(sample_path(name)), cut_after=n, cut_mid_event=True, delay=0.001)
    got, exc = drain(lambda: client.stream("POST", CHAT_PATH, json=CHAT_BODY), mode)
    assert to_dicts(got) == ref[:n]
    assert type(exc) is sserpent.IncompleteStreamError


@pytest.mark.parametrize("mode", MODES)
def test_cut_text_view(server, client, mode):
    events = [content_chunk("a"), content_chunk("b"), content_chunk("c"), "[DONE]"]
    server.enqueue(events=events, cut_after=2, cut_mid_event=True)
    got, exc = drain(lambda: chat(client).text(), mode)
    assert got == ["a", "b"]
    assert type(exc) is sserpent.IncompleteStreamError


@pytest.mark.parametrize("mode", MODES)
def test_cut_events_view(server, client, mode):
    events = [content_chunk("a"), content_chunk("b"), content_chunk("c"), "[DONE]"]
    server.enqueue(events=events, cut_after=2, cut_mid_event=True)
    got, exc = drain(lambda: chat(client).events(), mode)
    assert [json.loads(e.data) for e in got] == [content_chunk("a"), content_chunk("b")]
    assert type(exc) is sserpent.IncompleteStreamError


@pytest.mark.parametrize("mode", MODES)
def test_error_repeats_after_the_end(server, client, mode):
    """Iterating again after the error raises StopIteration, not more chunks."""
    server.enqueue(events=[content_chunk("a"), content_chunk("b")], cut_after=1)
    stream = chat(client)
    got, exc = drain(lambda: stream, "sync")
    assert type(exc) is sserpent.IncompleteStreamError and len(got) == 1
    with pytest.raises(StopIteration):
        next(stream)


# --- missing terminators ----------------------------------------------------------------------


def without_terminator(name: str) -> bytes:
    raw, _ = load_sample(name)
    marks = {
        "openai_chat_usage": b"data: [DONE]",
        "openai_completions": b"data: [DONE]",
        "azure_chat": b"data: [DONE]",
        "openai_responses": b"event: response.completed",
        "anthropic_messages": b"event: message_stop",
    }
    return raw[: raw.index(marks[name])]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "name",
    ["openai_chat_usage", "openai_completions", "azure_chat", "openai_responses", "anthropic_messages"],
)
def test_missing_terminator(server, client, name, mode):
    body = without_terminator(name)
    ref, ref_exc = reference_chunks(body)
    assert type(ref_exc) is sserpent.IncompleteStreamError
    server.enqueue(sse=body)
    got, exc = drain(lambda: client.stream("POST", CHAT_PATH, json=CHAT_BODY), mode)
    assert to_dicts(got) == ref
    assert type(exc) is sserpent.IncompleteStreamError
    assert str(exc) == str(ref_exc)


@pytest.mark.parametrize("mode", MODES)
def test_missing_done_on_the_default_stream(server, client, mode):
    server.enqueue(events=[content_chunk("a"), content_chunk("b")])
    got, exc = drain(lambda: chat(client).text(), mode)
    assert got == ["a", "b"]
    assert type(exc) is sserpent.IncompleteStreamError


@pytest.mark.parametrize("mode", MODES)
def test_empty_body(server, client, mode):
    server.enqueue(events=[])
    got, exc = drain(lambda: chat(client), mode)
    assert got == []
    assert type(exc) is sserpent.IncompleteStreamError


# --- stalls and timeouts ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_stall_past_read_timeout(server, mode):
    client = sserpent.Client(base_url=server.base_url, max_retries=0, read_timeout=0.5)
    intact = intact_chat(client, 5)
    server.enqueue(stall_after=3)
    got, exc = drain(lambda: chat(client, 5), mode)
    assert norm(got) == intact[:3]
    assert type(exc) is sserpent.APITimeoutError
    assert isinstance(exc, sserpent.APIConnectionError)
    assert not isinstance(exc, sserpent.IncompleteStreamError)
    assert "read_timeout" in str(exc)
    assert len(server.requests) == 2  # a timeout after the first byte is never retried
    conn = server.requests[-1].connection_id
    assert server.wait_closed(conn, timeout=2)


@pytest.mark.parametrize("mode", MODES)
def test_per_request_read_timeout(server, mode):
    """``stream(..., read_timeout=)`` replaces the client's read timeout for that request."""
    client = sserpent.Client(base_url=server.base_url, max_retries=0, read_timeout=60)
    intact = intact_chat(client, 5)
    server.enqueue(stall_after=3, stall_for=5)  # ends: a missing override fails, never hangs
    got, exc = drain(
        lambda: client.stream("POST", CHAT_PATH, json=CHAT_BODY, headers={"x-mock-chunks": "5"}, read_timeout=0.3),
        mode,
    )
    assert norm(got) == intact[:3]
    assert type(exc) is sserpent.APITimeoutError
    assert "no data received for 0.300s (read_timeout)" in str(exc)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_per_request_read_timeout_must_be_positive(client, bad):
    with pytest.raises(ValueError, match="read_timeout must be a positive number"):
        client.stream("POST", CHAT_PATH, json=CHAT_BODY, read_timeout=bad)
    with pytest.raises(ValueError, match="read_timeout must be a positive number"):
        client.request("POST", CHAT_PATH, json=CHAT_BODY, read_timeout=bad)


@pytest.mark.parametrize("mode", MODES)
def test_stall_before_the_first_event(server, mode):
    client = sserpent.Client(base_url=server.base_url, max_retries=0, read_timeout=0.5)
    server.enqueue(stall_after=0)
    got, exc = drain(lambda: chat(client, 5), mode)
    assert got == []
    assert type(exc) is sserpent.APITimeoutError


@pytest.mark.parametrize("mode", MODES)
def test_keepalive_comments_restart_the_read_timeout(server, mode):
    """Data chunks 0.4 s apart with comments every 0.05 s between them: a 0.25 s read
    timeout never fires."""
    client = sserpent.Client(base_url=server.base_url, max_retries=0, read_timeout=0.25)
    ka = [b": keep-alive\n\n"] * 7
    server.enqueue(events=[content_chunk("a"), *ka, content_chunk("b"), *ka, content_chunk("c"), "[DONE]"], delay=0.05)
    got, exc = drain(lambda: chat(client).text(), mode)
    assert exc is None
    assert got == ["a", "b", "c"]


@pytest.mark.parametrize("mode", MODES)
def test_stall_with_keepalive_is_not_a_read_timeout(server, mode):
    """A stall that sends keep-alive comments more often than read_timeout stays open until
    the total deadline ends it."""
    client = sserpent.Client(base_url=server.base_url, max_retries=0, read_timeout=0.25, timeout=0.9)
    intact = intact_chat(client, 5)
    server.enqueue(stall_after=3, keepalive=0.05)
    got, exc = drain(lambda: chat(client, 5), mode)
    assert norm(got) == intact[:3]
    assert type(exc) is sserpent.APITimeoutError
    assert "total timeout" in str(exc)
    assert "read_timeout" not in str(exc)


@pytest.mark.parametrize("mode", MODES)
def test_total_timeout_mid_stream(server, mode):
    client = sserpent.Client(base_url=server.base_url, max_retries=0, timeout=0.5)
    intact = intact_chat(client, 5)
    server.enqueue(stall_after=2)
    got, exc = drain(lambda: chat(client, 5), mode)
    assert norm(got) == intact[:2]
    assert type(exc) is sserpent.APITimeoutError
    assert "total timeout" in str(exc)


@pytest.mark.parametrize("mode", MODES)
def test_total_timeout_of_a_slow_stream(server, mode):
    """A stream that keeps sending (never idle) still ends at the total deadline."""
    client = sserpent.Client(base_url=server.base_url, max_retries=0, read_timeout=5, timeout=0.5)
    got, exc = drain(lambda: chat(client, 1000, headers={"x-mock-interval-ms": "20"}), mode)
    assert 1 <= len(got) < 1002
    assert type(exc) is sserpent.APITimeoutError


@pytest.mark.parametrize("mode", MODES)
def test_total_timeout_before_headers(server, mode):
    client = sserpent.Client(base_url=server.base_url, max_retries=0, timeout=0.5)
    server.enqueue(headers_delay=5)
    exc = opened(lambda: chat(client, 3), mode)
    assert type(exc) is sserpent.APITimeoutError


# --- broken bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_invalid_json(server, client, mode):
    server.enqueue(events=[content_chunk("a"), content_chunk("b"), "not json {", content_chunk("c"), "[DONE]"])
    got, exc = drain(lambda: chat(client), mode)
    assert to_dicts(got) == [content_chunk("a"), content_chunk("b")]
    assert type(exc) is sserpent.ChunkDecodeError
    assert isinstance(exc, ValueError)
    assert exc.data == "not json {"
    assert "not json" in str(exc)


@pytest.mark.parametrize("mode", MODES)
def test_invalid_json_text_view(server, client, mode):
    server.enqueue(events=[content_chunk("a"), '{"choices": [', "[DONE]"])
    got, exc = drain(lambda: chat(client).text(), mode)
    assert got == ["a"]
    assert type(exc) is sserpent.ChunkDecodeError


@pytest.mark.parametrize("mode", MODES)
def test_garbage_lines_without_a_data_field_are_ignored(server, client, mode):
    """Bytes that are no SSE field (binary junk, a stray HTML line) dispatch no event
    (WHATWG): the chunks around them arrive intact."""
    garbage = b"\x00\x01\xff\xfe junk \x89PNG\r\n<html>oops</html>\n\n"
    server.enqueue(events=[content_chunk("a"), garbage, content_chunk("b"), garbage, "[DONE]"])
    got, exc = drain(lambda: chat(client), mode)
    assert exc is None
    assert to_dicts(got) == [content_chunk("a"), content_chunk("b")]


@pytest.mark.parametrize("mode", MODES)
def test_garbage_bytes_in_a_data_field(server, client, mode):
    server.enqueue(events=[content_chunk("a"), b"data: \x00\x01\xff\xfe{garbage\n\n", content_chunk("b"), "[DONE]"])
    got, exc = drain(lambda: chat(client), mode)
    assert to_dicts(got) == [content_chunk("a")]
    assert type(exc) is sserpent.ChunkDecodeError
    assert exc.data.startswith("\x00\x01\ufffd\ufffd{garbage")


@pytest.mark.parametrize("mode", MODES)
def test_a_non_sse_body(server, client, mode):
    """A 200 answer that is no event stream at all (an HTML page) ends incomplete."""
    server.enqueue(body=b"<html><body>Hello</body></html>", headers={"content-type": "text/html"})
    got, exc = drain(lambda: chat(client), mode)
    assert got == []
    assert isinstance(exc, sserpent.SserpentError)


@pytest.mark.parametrize("mode", MODES)
def test_oversized_line(server, client, mode):
    big = b"data: " + b'"' + b"x" * 5000 + b'"\n\n'
    server.enqueue(events=[content_chunk("a"), big, content_chunk("b"), "[DONE]"])
    got, exc = drain(lambda: chat(client, max_event_size=1024), mode)
    assert to_dicts(got) == [content_chunk("a")]
    assert type(exc) is sserpent.SSEError
    assert isinstance(exc, ValueError)
    assert exc.limit == 1024


@pytest.mark.parametrize("mode", MODES)
def test_oversized_event_of_short_lines(server, client, mode):
    big = b"data: x\n" * 600 + b"\n"
    server.enqueue(events=[content_chunk("a"), big, content_chunk("b"), "[DONE]"])
    got, exc = drain(lambda: chat(client, max_event_size=1024), mode)
    assert to_dicts(got) == [content_chunk("a")]
    assert type(exc) is sserpent.SSEError
    assert exc.limit == 1024


@pytest.mark.parametrize("mode", MODES)
def test_event_under_the_limit_passes(server, client, mode):
    text = "y" * 900
    server.enqueue(events=[content_chunk(text), "[DONE]"])
    got, exc = drain(lambda: chat(client, max_event_size=2048).text(), mode)
    assert exc is None and got == [text]


@pytest.mark.parametrize("mode", MODES)
def test_connection_closed_after_a_terminal_error(server, client, mode):
    """After an error event the reader stops and the connection is closed at once, even
    while the server keeps it open."""
    err = {"error": {"message": "boom", "type": "server_error", "code": None}}
    server.enqueue(events=[content_chunk("a"), err], stall_after=2)
    got, exc = drain(lambda: chat(client), mode)
    assert to_dicts(got) == [content_chunk("a")]
    assert type(exc) is sserpent.StreamError
    assert exc.message == "boom" and exc.type == "server_error"
    assert server.wait_closed(server.requests[-1].connection_id, timeout=2)
