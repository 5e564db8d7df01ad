"""Retries: connect errors, 408, 409, 429 and 5xx are retried (Retry-After, retry-after-ms or
exponential backoff), only before any body byte; other statuses and any failure after the
first byte never are."""

from __future__ import annotations

import time

import pytest
import sserpent
from live_helpers import (
    ASYNC_MODES,
    CHAT_BODY,
    MODES,
    chat,
    closed_port,
    drain,
    expected_text,
    mock_words,
    run_async,
)
from sserpent.testing import MockServer


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def make_client(server, **kwargs):
    kwargs.setdefault("read_timeout", 10)
    return sserpent.Client(base_url=server.base_url, **kwargs)


def read_text(make, mode):
    got, exc = drain(lambda: make().text(), mode)
    return "".join(got), exc


def chat_requests(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize("mode", MODES)
def test_429_retry_after_zero_then_success(server, mode):
    words = mock_words()
    client = make_client(server)
    server.enqueue(status=429, headers={"retry-after": "0"})
    stream = None

    def make():
        nonlocal stream
        stream = chat(client, 4, headers={"x-trace": "t1"})
        return stream

    text, exc = read_text(make, mode)
    assert exc is None
    assert text == expected_text(words, 4)
    assert len(server.requests) == 2
    assert stream.metrics.attempts == 2
    assert stream.status == 200
    assert stream.request_id == "req_mock_000002"
    first, second = server.requests
    assert first.json() == second.json() == CHAT_BODY
    assert first.headers["x-trace"] == second.headers["x-trace"] == "t1"
    assert first.path == second.path == "/v1/chat/completions"


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_ms(server, mode):
    client = make_client(server)
    server.enqueue(status=429, headers={"retry-after-ms": "20"})
    got, exc = drain(lambda: chat(client, 3), mode)
    assert exc is None and len(got) == 5
    assert len(server.requests) == 2


def test_retry_after_seconds_is_honoured(server):
    client = make_client(server)
    server.enqueue(status=503, headers={"retry-after": "1"})
    stream = chat(client, 3)
    assert len(list(stream)) == 5
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.9
    assert stream.metrics.attempts == 2


@pytest.mark.parametrize("mode", MODES)
def test_500_twice_then_success(server, mode):
    words = mock_words()
    client = make_client(server, max_retries=2)
    server.enqueue(status=500, times=2, headers={"retry-after": "0"})
    stream = None

    def make():
        nonlocal stream
        stream = chat(client, 3)
        return stream

    text, exc = read_text(make, mode)
    assert exc is None
    assert text == expected_text(words, 3)
    assert len(server.requests) == 3
    assert stream.metrics.attempts == 3


def test_exponential_backoff_without_retry_after(server):
    """No Retry-After: backoff from 0.5 s (with jitter), doubling."""
    client = make_client(server, max_retries=2)
    server.enqueue(status=502, times=2)
    stream = chat(client, 3)
    assert len(list(stream)) == 5
    r = server.requests
    assert len(r) == 3
    assert r[1].received_at - r[0].received_at >= 0.3
    assert r[2].received_at - r[1].received_at >= 0.6


@pytest.mark.parametrize("mode", MODES)
def test_retries_exhausted(server, mode):
    client = make_client(server, max_retries=2)
    server.enqueue(status=500, times=3, headers={"retry-after": "0"}, json={"error": {"message": "down"}})
    got, exc = drain(lambda: chat(client, 3), mode)
    assert got == []
    assert type(exc) is sserpent.InternalServerError
    assert exc.status_code == 500
    assert exc.body == {"error": {"message": "down"}}
    assert exc.request_id == "req_mock_000003"  # the last answer's
    assert len(server.requests) == 3


@pytest.mark.parametrize("mode", MODES)
def test_max_retries_zero(server, mode):
    client = make_client(server, max_retries=0)
    server.enqueue(status=429, headers={"retry-after": "0"})
    got, exc = drain(lambda: chat(client, 3), mode)
    assert got == []
    assert type(exc) is sserpent.RateLimitError
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses(server, status, mode):
    client = make_client(server, max_retries=1)
    server.enqueue(status=status, headers={"retry-after": "0"})
    got, exc = drain(lambda: chat(client, 2), mode)
    assert exc is None and len(got) == 4
    assert len(server.requests) == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "status,cls",
    [
        (400, sserpent.BadRequestError),
        (401, sserpent.AuthenticationError),
        (403, sserpent.PermissionDeniedError),
        (404, sserpent.NotFoundError),
        (422, sserpent.UnprocessableEntityError),
    ],
)
def test_client_errors_not_retried(server, status, cls, mode):
    client = make_client(server, max_retries=2)
    server.enqueue(status=status, headers={"retry-after": "0"})
    got, exc = drain(lambda: chat(client, 2), mode)
    assert got == []
    assert type(exc) is cls
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mid_event", [False, True])
def test_cut_after_the_first_chunk_is_not_retried(server, mode, mid_event):
    client = make_client(server, max_retries=2)
    server.enqueue(cut_after=1, cut_mid_event=mid_event)
    stream = None

    def make():
        nonlocal stream
        stream = chat(client, 5)
        return stream

    got, exc = drain(make, mode)
    assert len(got) == 1
    assert type(exc) is sserpent.IncompleteStreamError
    assert len(server.requests) == 1
    assert stream.metrics.attempts == 1


@pytest.mark.parametrize("mode", MODES)
def test_stall_after_the_first_chunk_is_not_retried(server, mode):
    client = make_client(server, max_retries=2, read_timeout=0.3)
    server.enqueue(stall_after=1)
    got, exc = drain(lambda: chat(client, 5), mode)
    assert len(got) == 1
    assert type(exc) is sserpent.APITimeoutError
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_error_event_is_not_retried(server, mode):
    client = make_client(server, max_retries=2)
    server.enqueue(
        events=[
            {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "a"}}]},
            {"error": {"message": "overloaded", "type": "server_error"}},
        ]
    )
    got, exc = drain(lambda: chat(client).text(), mode)
    assert got == ["a"]
    assert type(exc) is sserpent.StreamError
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_close_before_headers_is_retried(server, mode):
    client = make_client(server, max_retries=1)
    server.enqueue(close_before_headers=True, reset=True)
    got, exc = drain(lambda: chat(client, 2), mode)
    assert exc is None and len(got) == 4
    assert len(server.requests) == 2


def test_connect_errors_are_retried():
    client = sserpent.Client(max_retries=2)
    stream = client.stream("POST", f"http://127.0.0.1:{closed_port()}/v1/chat/completions", json=CHAT_BODY)
    with pytest.raises(sserpent.APIConnectionError) as info:
        stream.open()
    assert type(info.value) is sserpent.APIConnectionError
    assert stream.metrics.attempts == 3


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_aopen_retries(server, mode):
    client = make_client(server)
    server.enqueue(status=429, headers={"retry-after": "0"})

    async def main():
        stream = chat(client, 2)
        await stream.aopen()
        assert stream.status == 200
        return stream, [c async for c in stream]

    stream, got = run_async(main, mode)
    assert len(got) == 4
    assert stream.metrics.attempts == 2
    assert len(server.requests) == 2


def test_long_retry_after_respects_the_total_timeout(server):
    """A Retry-After beyond the deadline does not make the stream wait past it."""
    client = make_client(server, timeout=1.0)
    server.enqueue(status=429, headers={"retry-after": "30"})
    start = time.monotonic()
    with pytest.raises((sserpent.APITimeoutError, sserpent.RateLimitError)):
        chat(client, 2).open()
    assert time.monotonic() - start < 10
    assert len(server.requests) == 1


def test_retries_share_the_pool(server):
    """A retried request and later streams of the same client all succeed."""
    client = make_client(server)
    for _ in range(3):
        server.enqueue(status=503, headers={"retry-after": "0"})
        assert len(list(chat(client, 2))) == 4
    assert len(server.requests) == 6
