"""HTTP/2 faults against the mock server's h2c, sync, on asyncio and on uvloop: cuts
(``RST_STREAM(INTERNAL_ERROR)`` after the bytes before the cut), error statuses, error events,
stalls and read timeouts, keep-alive comments, retries; then a stream read to its end, and
the mock's records of it.

Cuts are tested paced (``delay=``) and unpaced: h2 drops a reset stream's frames still
queued, so the mock lets the bytes before a cut leave first (a PING round trip) and never
resets a stream whose body it ended.
"""

from __future__ import annotations

from typing import Any, List

import http2_helpers
import pytest
import sserpent
from http2_helpers import H1, H2, closed_record, h2_client, peers, read, record_of
from live_helpers import (
    CHAT_BODY,
    CHAT_PATH,
    MODES,
    chat,
    content_chunk,
    expected_text,
    intact_chat,
    load_sample,
    mock_words,
    norm,
    reference_chunks,
    run_async,
    sample_path,
    to_dicts,
)
from sserpent.testing import MockServer

# The fixtures, under the names the tests take as parameters.
server, h1, h2 = http2_helpers.server, http2_helpers.h1, http2_helpers.h2

KEEPALIVE = b": keep-alive\n\n"  # the mock's keep-alive comment
# How hyper names an RST_STREAM(INTERNAL_ERROR) received from the server.
RST_INTERNAL = "stream error received: unexpected internal error encountered"
# Pacing for cuts: the frames before a cut leave the server before it resets the stream.
PACE = 0.05


def target(server: MockServer) -> str:
    """How an error message names the chat request."""
    return f"(POST {server.base_url}{CHAT_PATH})"


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reset", [False, True])
@pytest.mark.parametrize("mid_event", [False, True])
@pytest.mark.parametrize("n", [1, 3, 6])
def test_cut_after_n_chunks(server, h1, h2, n, mid_event, reset, mode):
    """The cut resets the stream (``RST_STREAM(INTERNAL_ERROR)``): the n intact chunks, then
    IncompleteStreamError naming n, as on HTTP/1.1 (where the connection is closed, or reset
    with ``reset=True``). The messages differ only in the transport's cause: HTTP/1.1 says
    "unexpected EOF during chunk size line" or "Connection reset by peer", HTTP/2 names the
    stream error; ``reset=True`` changes nothing over HTTP/2 (a cut is always a reset)."""
    intact = intact_chat(h2, 5)
    results = []
    for client in (h1, h2):
        server.enqueue(cut_after=n, cut_mid_event=mid_event, reset=reset, delay=PACE)
        results.append(read(lambda c=client: chat(c, 5), mode))
    (s1, got1, exc1), (s2, got2, exc2) = results
    assert norm(got1) == norm(got2) == intact[:n]
    assert type(exc1) is type(exc2) is sserpent.IncompleteStreamError
    assert isinstance(exc2, sserpent.APIConnectionError)
    prefix = f"the connection broke after {n} complete chunks: error reading the response body: "
    assert str(exc1).startswith(prefix) and str(exc2).startswith(prefix)
    assert RST_INTERNAL in str(exc2)
    assert RST_INTERNAL not in str(exc1)
    assert str(exc2).endswith(target(server))
    assert (s1.http_version, s2.http_version) == (H1, H2)
    if not mid_event:  # a half event: see test_mid_event_cut_delivers_the_half_event
        assert s2.metrics.bytes_received == s1.metrics.bytes_received
    assert len(server.requests) == 3  # never retried
    assert closed_record(server).closed_by == "server"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,n", [("openai_chat_usage", 3), ("azure_chat", 4), ("openai_chat_tool_call", 7)])
def test_cut_mid_event_in_a_wire_sample(server, h1, h2, name, n, mode):
    """The cut splits an event (and a multi-byte character where it has one): the chunks
    before it arrive whole, the half event is never delivered."""
    raw, _ = load_sample(name)
    ref, _ = reference_chunks(raw)
    results = []
    for client in (h1, h2):
        server.enqueue(sse_file=str(sample_path(name)), cut_after=n, cut_mid_event=True, delay=PACE)
        results.append(read(lambda c=client: c.stream("POST", CHAT_PATH, json=CHAT_BODY), mode))
    (s1, got1, exc1), (s2, got2, exc2) = results
    assert to_dicts(got2) == to_dicts(got1) == ref[:n]
    assert type(exc2) is type(exc1) is sserpent.IncompleteStreamError
    assert f"after {n} complete chunks" in str(exc2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,n", [("openai_chat_usage", 3), ("azure_chat", 4)])
def test_mid_event_cut_delivers_the_half_event(server, h1, h2, name, n, mode):
    """The bytes before the cut are all sent, the half event included, as on HTTP/1.1
    (``bytes_received`` counts it; it is never delivered as a chunk)."""
    results = []
    for client in (h1, h2):
        server.enqueue(sse_file=str(sample_path(name)), cut_after=n, cut_mid_event=True, delay=PACE)
        results.append(read(lambda c=client: c.stream("POST", CHAT_PATH, json=CHAT_BODY), mode))
    (s1, got1, _), (s2, got2, exc2) = results
    assert len(got2) == len(got1) == n
    assert type(exc2) is sserpent.IncompleteStreamError
    assert s2.metrics.bytes_received == s1.metrics.bytes_received


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [0, 3])
def test_unpaced_cut_delivers_the_chunks_before_it(server, h2, n, mode):
    """As on HTTP/1.1: the response opens (200) and the n chunks before the cut arrive, then
    IncompleteStreamError (not an APIConnectionError while sending, which a client with
    retries would even retry)."""
    intact = intact_chat(h2, 5)
    server.enqueue(cut_after=n)
    stream, got, exc = read(lambda: chat(h2, 5), mode)
    assert norm(got) == intact[:n]
    assert type(exc) is sserpent.IncompleteStreamError
    assert f"the connection broke after {n} complete chunks" in str(exc)
    assert stream.status == 200


@pytest.mark.parametrize("mode", ["sync", "asyncio"])
def test_reset_after_a_whole_fixed_body_delivers_it(server, h1, h2, mode):
    """``reset=True`` without a cut: the whole body is sent before the reset, so a
    non-streaming request gets it, as over HTTP/1.1."""
    results: List[Any] = []
    for client in (h1, h2):
        server.enqueue(json={"object": "chat.completion", "n": 1}, reset=True)

        async def go(c: sserpent.Client = client) -> Any:
            return await c.arequest("POST", "/chat/completions", json={})

        try:
            got = client.request("POST", "/chat/completions", json={}) if mode == "sync" else run_async(go, mode)
        except sserpent.APIConnectionError as e:
            results.append(e)  # HTTP/2 now: only the RST_STREAM arrives
        else:
            results.append(got.to_dict())
    assert results == [{"object": "chat.completion", "n": 1}] * 2


@pytest.mark.parametrize("mode", MODES)
def test_close_before_headers(server, h2, mode):
    """The stream is reset before its headers: an APIConnectionError while sending."""
    server.enqueue(close_before_headers=True)
    stream, got, exc = read(lambda: chat(h2, 3), mode)
    assert got == []
    assert type(exc) is sserpent.APIConnectionError
    assert str(exc).startswith("error sending the request: ")
    assert RST_INTERNAL in str(exc)
    assert str(exc).endswith(target(server))
    assert stream.status is None
    assert len(server.requests) == 1
    assert closed_record(server).closed_by == "server"


@pytest.mark.parametrize("mode", MODES)
def test_close_before_headers_is_retried_on_the_same_connection(server, mode):
    words = mock_words()
    client = h2_client(server, max_retries=1)
    server.enqueue(close_before_headers=True, reset=True)
    stream, text, exc = read(lambda: chat(client, 3), mode, "text")
    assert exc is None
    assert "".join(text) == expected_text(words, 3)
    assert stream.metrics.attempts == 2
    assert len(server.requests) == 2
    assert len(set(peers(server))) == 1


@pytest.mark.parametrize("mode", MODES)
def test_429_with_a_json_body(server, h2, mode):
    body = {"error": {"message": "slow down", "type": "rate_limit_exceeded", "code": "rate_limit"}}
    server.enqueue(status=429, json=body, headers={"retry-after": "0"})
    stream, got, exc = read(lambda: chat(h2, 3), mode)
    assert got == []
    assert type(exc) is sserpent.RateLimitError
    assert isinstance(exc, sserpent.APIStatusError)
    assert exc.status_code == 429
    assert exc.body == body
    assert exc.request_id == "req_mock_000001"
    assert exc.headers["x-request-id"] == "req_mock_000001"
    assert exc.headers["content-type"] == "application/json"
    assert str(exc) == f"HTTP 429 from POST {server.base_url}{CHAT_PATH}: slow down"
    assert len(server.requests) == 1  # max_retries=0
    assert closed_record(server).http_version == H2


@pytest.mark.parametrize("mode", MODES)
def test_429_retry_after_zero_then_success(server, mode):
    words = mock_words()
    client = h2_client(server, max_retries=2)
    server.enqueue(status=429, headers={"retry-after": "0"})
    stream, text, exc = read(lambda: chat(client, 4, headers={"x-trace": "t1"}), mode, "text")
    assert exc is None
    assert "".join(text) == expected_text(words, 4)
    assert (stream.status, stream.request_id, stream.http_version) == (200, "req_mock_000002", H2)
    assert stream.metrics.attempts == 2
    assert len(server.requests) == 2
    first, second = server.requests
    assert first.json() == second.json() == CHAT_BODY
    assert first.headers["x-trace"] == second.headers["x-trace"] == "t1"
    assert first.connection_id != second.connection_id  # a stream each
    assert len(set(peers(server))) == 1  # on one connection
    assert [closed_record(server, i).http_version for i in (0, 1)] == [H2, H2]


@pytest.mark.parametrize("mode", MODES)
def test_error_event_mid_stream(server, h2, mode):
    """An error event: StreamError after the chunks before it, and the stream reset at once
    although the server keeps it open."""
    err = {"error": {"message": "boom", "type": "server_error", "code": None}}
    server.enqueue(events=[content_chunk("a"), content_chunk("b"), err], stall_after=3)
    stream, got, exc = read(lambda: chat(h2), mode)
    assert to_dicts(got) == [content_chunk("a"), content_chunk("b")]
    assert type(exc) is sserpent.StreamError
    assert (exc.message, exc.type, exc.code) == ("boom", "server_error", None)
    assert exc.body == err
    assert stream.http_version == H2
    assert closed_record(server).closed_by == "client"


@pytest.mark.parametrize("mode", MODES)
def test_stall_past_the_per_request_read_timeout(server, mode):
    client = h2_client(server, read_timeout=60)
    intact = intact_chat(client, 5)
    server.enqueue(stall_after=3, stall_for=5)  # ends: a missing timeout fails, never hangs
    stream, got, exc = read(
        lambda: client.stream("POST", CHAT_PATH, json=CHAT_BODY, headers={"x-mock-chunks": "5"}, read_timeout=0.3),
        mode,
    )
    assert norm(got) == intact[:3]
    assert type(exc) is sserpent.APITimeoutError
    assert not isinstance(exc, sserpent.IncompleteStreamError)
    assert str(exc) == f"no data received for 0.300s (read_timeout) after 3 chunks {target(server)}"
    assert len(server.requests) == 2  # never retried
    record = closed_record(server)
    assert (record.http_version, record.closed_by) == (H2, "client")


@pytest.mark.parametrize("mode", MODES)
def test_stall_with_keepalive_then_the_rest(server, mode):
    """Keep-alive comments every 0.1 s through a 1.5 s stall keep a 1 s read timeout from
    firing; then the rest of the body arrives: the complete text."""
    words = mock_words()
    client = h2_client(server, read_timeout=1.0)
    plain = chat(client, 5)
    assert "".join(plain.text()) == expected_text(words, 5)
    server.enqueue(stall_after=2, keepalive=0.1, stall_for=1.5)
    stream, text, exc = read(lambda: chat(client, 5), mode, "text")
    assert exc is None
    assert "".join(text) == expected_text(words, 5)
    assert stream.metrics.chunks == 7
    # The comments (one every 0.1 s strictly before the stall's end) came on top of the body.
    assert stream.metrics.bytes_received - plain.metrics.bytes_received == 14 * len(KEEPALIVE)
    assert closed_record(server).closed_by == "server"


# --- ends of a stream ---------------------------------------------------------------------------
# Leaving a stream early (break, close, with, gc, task cancellation, aclose) is tested over both
# protocols in tests/test_stream_cancellation.py.


def assert_connection_still_usable(server: MockServer, client: sserpent.Client) -> None:
    """A next stream on the same client completes over the same TCP connection."""
    words = mock_words()
    assert "".join(chat(client, 4).text()) == expected_text(words, 4)
    assert closed_record(server).closed_by == "server"
    assert peers(server)[-1] == peers(server)[0]


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_read_to_its_end_is_closed_by_the_server(server, h2, mode):
    words = mock_words()
    stream, text, exc = read(lambda: chat(h2, 6), mode, "text")
    assert exc is None and "".join(text) == expected_text(words, 6)
    assert stream.is_closed
    record = closed_record(server)
    assert (record.http_version, record.closed_by, record.requests) == (H2, "server", 1)
    assert_connection_still_usable(server, h2)


def test_the_authority_is_recorded_as_the_host_header(server, h1, h2):
    """HTTP/2 sends ``:authority`` where HTTP/1.1 sends ``host``; the records read the same."""
    for client in (h1, h2):
        with client.stream("POST", CHAT_PATH, json=CHAT_BODY) as s:
            list(s)
    want = f"127.0.0.1:{server.port}"
    assert [r.headers.get("host") for r in server.requests] == [want, want]
    assert [record_of(server, r).http_version for r in server.requests] == ["HTTP/1.1", "HTTP/2"]
