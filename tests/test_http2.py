"""HTTP/2: ``sserpent.Client(http1=False, http2=True)`` against the mock server's cleartext
HTTP/2 with prior knowledge (h2c), sync, on asyncio and on uvloop.

- Protocol choice: the httpx-style ``http1``/``http2`` flags, ``Stream.http_version`` and the
  mock's ``MockConnection.http_version`` (over HTTP/2 one record per *stream*).
- The default chat stream and every wire sample in tests/fixtures/wire replayed over h2c:
  the same chunks, text and errors as over HTTP/1.1 and as the samples' expectations.
- Multiplexing: concurrent streams of one client share one TCP connection (one peer
  address), where HTTP/1.1 needs a connection per open stream.
- Faults over h2c, and the ends of a stream: tests/test_http2_faults.py.
- Cancellation (leaving a stream early resets its HTTP/2 stream, the shared connection goes
  on) is tested over both protocols in tests/test_stream_cancellation.py.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, List, Tuple

import http2_helpers
import pytest
import sserpent
from http2_helpers import H1, H2, closed_record, h1_client, h2_client, peers, read, record_of
from live_helpers import (
    ASYNC_MODES,
    CHAT_BODY,
    CHAT_PATH,
    ERROR_SAMPLES,
    MODES,
    OK_SAMPLES,
    SAMPLES,
    chat,
    expected_text,
    expected_tokens,
    load_sample,
    mock_words,
    norm,
    random_pieces,
    reference_chunks,
    reference_events,
    run_async,
    sample_path,
    to_dicts,
)
from test_wire_samples import assemble, check_against_expected

# The fixtures, under the names the tests take as parameters.
server, h1, h2 = http2_helpers.server, http2_helpers.h1, http2_helpers.h2


async def _join(view: Any) -> str:
    return "".join([t async for t in view])


# --- choosing the protocol ----------------------------------------------------------------------


def test_http1_and_http2_both_false_is_a_value_error(server):
    with pytest.raises(ValueError) as info:
        sserpent.Client(http1=False, http2=False)
    assert str(info.value) == "http1 and http2 cannot both be False"
    with pytest.raises(ValueError, match="^http1 and http2 cannot both be False$"):
        sserpent.Client(base_url=server.base_url, http1=False, http2=False, max_retries=0)
    assert server.requests == [] and server.connections == []


@pytest.mark.parametrize("mode", MODES)
def test_default_client_speaks_http1(server, h1, mode):
    words = mock_words()
    stream, got, exc = read(lambda: chat(h1, 4), mode, "text")
    assert exc is None
    assert "".join(got) == expected_text(words, 4)
    assert stream.http_version == H1
    record = record_of(server, server.requests[0])
    assert record.http_version == H1
    assert H1 in repr(record)


@pytest.mark.parametrize("mode", MODES)
def test_http2_true_alone_uses_http1_on_an_http_url(server, mode):
    """``http2=True`` with ``http1`` left on: HTTP/2 only where TLS ALPN offers it, so a
    cleartext URL still gets HTTP/1.1 (no h2c upgrade, no prior knowledge)."""
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url, http2=True, max_retries=0, read_timeout=10)
    stream, got, exc = read(lambda: chat(client, 4), mode, "text")
    assert exc is None
    assert "".join(got) == expected_text(words, 4)
    assert stream.http_version == H1
    assert [c.http_version for c in server.connections] == [H1]
    assert record_of(server, server.requests[0]).http_version == H1


def test_http_version_is_known_once_the_headers_arrived(server, h2):
    stream = chat(h2, 3)
    assert stream.http_version is None  # nothing sent yet
    stream.open()
    assert stream.http_version == H2
    assert stream.status == 200
    assert len(list(stream)) == 5
    assert stream.http_version == H2 and stream.is_closed


def test_mock_connection_repr_names_the_version(server, h1, h2):
    assert len(list(chat(h1, 2))) == 4
    assert len(list(chat(h2, 2))) == 4
    one = record_of(server, server.requests[0])  # kept alive in the client's pool
    two = closed_record(server, 1)
    assert (one.http_version, two.http_version) == (H1, H2)
    assert repr(two) == f"<MockConnection id={two.id} HTTP/2 closed by server requests=1 bytes_sent={two.bytes_sent}>"
    assert repr(one).startswith(f"<MockConnection id={one.id} HTTP/1.1 ")
    assert "HTTP/2" not in repr(one)


# --- the default chat stream over h2c -----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_chat_over_h2c_gives_the_text_of_http1(server, h1, h2, mode):
    words = mock_words()
    headers = {"x-mock-chunks": "12", "x-trace": "t-1"}
    s1, text1, exc1 = read(lambda: h1.stream("POST", CHAT_PATH, json=CHAT_BODY, headers=headers), mode, "text")
    s2, text2, exc2 = read(lambda: h2.stream("POST", CHAT_PATH, json=CHAT_BODY, headers=headers), mode, "text")
    assert exc1 is None and exc2 is None
    assert text2 == text1 == expected_tokens(words, 12)
    assert "".join(text2) == expected_text(words, 12)
    assert (s1.http_version, s2.http_version) == (H1, H2)
    assert (s2.status, s2.request_id) == (200, "req_mock_000002")
    assert s2.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert s2.metrics.chunks == s1.metrics.chunks == 14
    # The same request reached the server both ways.
    r1, r2 = server.requests
    for r in (r1, r2):
        assert (r.method, r.path) == ("POST", "/v1/chat/completions")
        assert r.json() == CHAT_BODY
        assert r.headers["x-trace"] == "t-1"
        assert r.headers["accept"] == "text/event-stream"
        assert r.headers["content-type"] == "application/json"
    rec1, rec2 = record_of(server, r1), closed_record(server, 1)
    assert (rec1.http_version, rec2.http_version) == (H1, H2)
    assert rec2.requests == 1
    assert rec2.closed_by == "server"


@pytest.mark.parametrize("mode", MODES)
def test_chat_chunks_over_h2c(server, h1, h2, mode):
    _, want, exc1 = read(lambda: chat(h1, 30), mode)
    _, got, exc2 = read(lambda: chat(h2, 30), mode)
    assert exc1 is None and exc2 is None
    assert len(got) == 32
    assert norm(got) == norm(want)
    assert got[0].choices[0].delta.role == "assistant"
    assert got[-1].choices[0].finish_reason == "stop"


def test_large_fast_stream_over_h2c(server, h2):
    """More than the default 64 KiB HTTP/2 flow-control window, unpaced: every chunk arrives."""
    words = mock_words()
    n = 20_000
    text = "".join(chat(h2, n).text())
    assert text == expected_text(words, n)
    assert closed_record(server).bytes_sent > 1 << 20


def test_request_and_send_over_h2c(server, h2):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    result = h2.request("POST", "/chat/completions", json=body)
    assert result.choices[0].message.content == "Hello! This is the sserpent mock server."
    s = h2.send("POST", "/chat/completions", json=body)
    assert s.open() is s
    assert (s.status, s.http_version) == (200, H2)
    assert s.read().object == "chat.completion"

    async def go():
        return (await h2.arequest("POST", "/completions", json={"model": "m", "prompt": "x"})).object

    assert asyncio.run(go()) == "text_completion"
    assert [r.json() for r in server.requests[:2]] == [body, body]
    assert [record_of(server, r).http_version for r in server.requests] == [H2, H2, H2]


# --- every wire sample over h2c ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", SAMPLES)
def test_wire_sample_over_h2c(server, h2, name, mode):
    """Each sample replayed over h2c gives the chunks ``iter_chunks`` makes of its bytes and
    adds up to ``NAME.expected.json``, as tests/test_wire_samples.py checks."""
    raw, expected = load_sample(name)
    want, want_exc = reference_chunks(raw)
    server.enqueue(sse_file=str(sample_path(name)))
    stream, got, exc = read(lambda: h2.stream("POST", CHAT_PATH, json=CHAT_BODY), mode)
    assert stream.http_version == H2
    assert to_dicts(got) == want
    if name in ERROR_SAMPLES:
        assert type(exc) is sserpent.StreamError
        assert type(want_exc) is sserpent.StreamError
        assert exc.message == str(exc) == expected["error"]["message"]
        assert exc.type == expected["error"]["type"]
        assert exc.body == want_exc.body
        assert assemble(name, got)["text"] == expected["text_before_error"]
    else:
        assert exc is None and want_exc is None
        check_against_expected(name, got, expected)
        assert stream.metrics.bytes_received == len(raw)
    assert record_of(server, server.requests[0]).http_version == H2


@pytest.mark.parametrize("mode", ["sync", "asyncio"])
@pytest.mark.parametrize("name", SAMPLES)
def test_wire_sample_in_small_pieces_h2c_equals_http1(server, h1, h2, name, mode):
    """The sample in writes of 1..23 bytes, 1 ms apart (DATA frames that split lines, CRLFs
    and UTF-8 sequences): h2c gives exactly what HTTP/1.1 gives, chunks, text and error."""
    raw, _ = load_sample(name)
    pieces = random_pieces(raw, seed=len(raw), max_len=23)
    results = []
    for client in (h1, h2):
        server.enqueue(events=pieces, delay=0.001)
        stream, got, exc = read(lambda c=client: c.stream("POST", CHAT_PATH, json=CHAT_BODY), mode)
        results.append((stream, to_dicts(got), exc))
    (s1, got1, exc1), (s2, got2, exc2) = results
    assert (s1.http_version, s2.http_version) == (H1, H2)
    assert got2 == got1 == reference_chunks(raw)[0]
    assert type(exc2) is type(exc1)
    assert str(exc2) == str(exc1)
    if name in OK_SAMPLES:  # the reader stops at an error event, wherever its last read ended
        assert s2.metrics.bytes_received == s1.metrics.bytes_received == len(raw)


@pytest.mark.parametrize("name", OK_SAMPLES)
def test_wire_sample_text_and_events_over_h2c(server, h2, name):
    raw, expected = load_sample(name)
    server.enqueue(sse_file=str(sample_path(name)), delay=0.001)
    assert "".join(h2.stream("POST", CHAT_PATH, json=CHAT_BODY).text()) == expected["text"]
    server.enqueue(sse_file=str(sample_path(name)))
    events = list(h2.stream("POST", CHAT_PATH, json=CHAT_BODY).events())
    want, want_exc = reference_events(raw)
    assert want_exc is None
    assert [(e.event, e.data, e.id) for e in events] == [(e.event, e.data, e.id) for e in want]


# --- multiplexing -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_twenty_concurrent_streams_share_one_connection(server, mode):
    words = mock_words()
    client = h2_client(server)

    async def one(i: int) -> str:
        stream = chat(client, 5 + i, headers={"x-mock-interval-ms": "10"})
        text = "".join([t async for t in stream.text()])
        assert stream.http_version == H2
        return text

    async def main() -> List[str]:
        return await asyncio.gather(*(one(i) for i in range(20)))

    texts = run_async(main, mode)
    assert texts == [expected_text(words, 5 + i) for i in range(20)]
    assert len(server.requests) == 20
    assert len({r.connection_id for r in server.requests}) == 20  # a record per stream
    assert len(set(peers(server))) == 1  # one TCP connection
    for i in range(20):
        record = closed_record(server, i)
        assert (record.http_version, record.closed_by, record.requests) == (H2, "server", 1)


def test_twenty_threads_share_one_connection(server):
    words = mock_words()
    client = h2_client(server)
    start = threading.Barrier(20)

    def one(i: int) -> Tuple[str, str]:
        start.wait(10)
        stream = chat(client, 5 + i, headers={"x-mock-interval-ms": "10"})
        return "".join(stream.text()), stream.http_version

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    assert results == [(expected_text(words, 5 + i), H2) for i in range(20)]
    assert len(server.requests) == 20
    assert len(set(peers(server))) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("protocol", ["http1", "h2c"])
def test_streams_open_at_once_share_a_connection_only_over_http2(server, protocol, mode):
    """Twenty streams, each read to its first chunk and all still open (the server stalls
    them): over h2c they are twenty streams of one connection, over HTTP/1.1 twenty
    connections. Then all are closed, each stream's record by the client; over h2c the
    connection still serves the next stream."""
    n = 20
    client = h2_client(server) if protocol == "h2c" else h1_client(server)
    version = H2 if protocol == "h2c" else H1
    server.enqueue(stall_after=1, times=n)
    streams = [chat(client, 5) for _ in range(n)]
    if mode == "sync":
        firsts = [next(s) for s in streams]
    else:

        async def first_chunks() -> List[Any]:
            return await asyncio.gather(*(s.__anext__() for s in streams))

        firsts = run_async(first_chunks, mode)
    assert [f.choices[0].delta.role for f in firsts] == ["assistant"] * n
    assert len(server.requests) == n
    records = [record_of(server, r) for r in server.requests]
    assert all(r.open for r in records), "a stalled stream closed before its client left"
    assert [r.http_version for r in records] == [version] * n
    assert len({r.id for r in records}) == n
    assert len({r.peer for r in records}) == (1 if protocol == "h2c" else n)

    if mode == "sync":
        for s in streams:
            s.close()
    else:

        async def close_all() -> None:
            await asyncio.gather(*(s.aclose() for s in streams))

        run_async(close_all, mode)
    assert [closed_record(server, i).closed_by for i in range(n)] == ["client"] * n

    words = mock_words()
    stream, text, exc = read(lambda: chat(client, 3), mode, "text")
    assert exc is None and "".join(text) == expected_text(words, 3)
    if protocol == "h2c":
        assert peers(server)[-1] == peers(server)[0]  # the connection outlived twenty resets


@pytest.mark.parametrize("mode", MODES)
def test_closing_one_stream_leaves_the_others_on_the_connection_running(server, h2, mode):
    """Three streams open at once on one connection; the middle one (stalled) is closed
    after its first chunk: its stream is reset, the other two read on to their end."""
    words = mock_words()
    paced = {"x-mock-interval-ms": "20"}
    first, middle, third = chat(h2, 8, headers=paced), chat(h2, 8), chat(h2, 8, headers=paced)

    if mode == "sync":
        first.open()
        server.enqueue(stall_after=2)  # for the middle stream's request
        middle.open()
        third.open()
        views = [iter(s.text()) for s in (first, middle, third)]
        heads = [next(v) for v in views]
        middle.close()
        texts = [heads[0] + "".join(views[0]), heads[2] + "".join(views[2])]
    else:

        async def main() -> List[str]:
            await first.aopen()
            server.enqueue(stall_after=2)
            await middle.aopen()
            await third.aopen()
            views = [s.text() for s in (first, middle, third)]
            heads = [await v.__anext__() for v in views]
            await middle.aclose()
            rest = await asyncio.gather(*(_join(views[i]) for i in (0, 2)))
            return [heads[0] + rest[0], heads[2] + rest[1]]

        texts = run_async(main, mode)
    assert texts == [expected_text(words, 8)] * 2
    assert [closed_record(server, i).closed_by for i in range(3)] == ["server", "client", "server"]
    assert len(set(peers(server))) == 1
