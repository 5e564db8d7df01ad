"""Leaving a stream early closes the upstream connection at once, as the mock server records
it (``closed_by == "client"``): break + del, close(), with-exit, garbage collection, task
cancellation, aclose(), async with exit. One consumer at a time. Every test runs over
HTTP/1.1 and over HTTP/2, where the stream is reset and its connection stays."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest
import sserpent
from live_helpers import ASYNC_MODES, chat, expected_tokens, mock_words, run_async
from sserpent.testing import MockServer


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture(params=["HTTP/1.1", "HTTP/2"])
def protocol(request):
    return request.param


@pytest.fixture
def client(server, protocol):
    """Over HTTP/2 (cleartext, prior knowledge) closing a stream resets it; the mock records
    each HTTP/2 stream as a connection of its own, so the assertions read the same."""
    h2 = protocol == "HTTP/2"
    return sserpent.Client(base_url=server.base_url, max_retries=0, http1=not h2, http2=h2)


def assert_one_connection_if_http2(server, protocol):
    """Every request went over ``protocol``; over HTTP/2 all of them on the one TCP connection,
    which outlived the streams reset before."""
    records = {c.id: c for c in server.connections}
    used = [records[r.connection_id] for r in server.requests]
    assert {c.http_version for c in used} == {protocol}
    if protocol == "HTTP/2":
        assert len({c.peer for c in used}) == 1


def assert_closed_by_client(server, request_index=-1):
    conn_id = server.requests[request_index].connection_id
    assert server.wait_closed(conn_id, timeout=2), "the connection is still open after 2 s"
    conn = next(c for c in server.connections if c.id == conn_id)
    assert conn.closed_by == "client"
    assert not conn.open


def stalled(server, client, after=3):
    """A stream that sends ``after`` chunks and then nothing, keeping the connection open."""
    server.enqueue(stall_after=after)
    return chat(client, 10)


def still_open(server, request_index=-1):
    conn_id = server.requests[request_index].connection_id
    return not server.wait_closed(conn_id, timeout=0.2)


# --- sync --------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["stalled", "fast"])
def test_break_then_del(server, client, source):
    stream = stalled(server, client) if source == "stalled" else chat(client, 200_000)
    n = 0
    for _ in stream:
        n += 1
        if n == 2:
            break
    if source == "stalled":
        assert still_open(server)
    del stream
    assert_closed_by_client(server)


def test_break_out_of_a_for_loop_in_a_function(server, client):
    """The usual notebook pattern: the stream only lives in the function's frame."""

    def first_two():
        out = []
        for chunk in stalled(server, client):
            out.append(chunk)
            if len(out) == 2:
                break
        return out

    assert len(first_two()) == 2
    assert_closed_by_client(server)


def test_close_mid_stream(server, client):
    stream = stalled(server, client)
    next(stream)
    next(stream)
    stream.close()
    assert_closed_by_client(server)
    with pytest.raises(StopIteration):
        next(stream)
    stream.close()  # idempotent
    assert list(stream) == []


def test_close_a_fast_stream(server, client):
    stream = chat(client, 200_000)
    for _ in range(1000):
        next(stream)
    stream.close()
    assert_closed_by_client(server)


@pytest.mark.parametrize("then", ["iterate", "text", "open", "async"])
def test_close_before_the_request_sends_nothing(server, client, then):
    """A stream closed before it was sent never sends its request (a POST to an LLM API
    costs money), whatever is done with it afterwards."""
    stream = chat(client, 3)
    stream.close()
    if then == "iterate":
        assert list(stream) == []
    elif then == "text":
        assert list(stream.text()) == []
    elif then == "async":

        async def main():
            return [c async for c in stream]

        assert run_async(main, "asyncio") == []
    else:
        try:
            stream.open()
        except sserpent.SserpentError:
            pass
    time.sleep(0.3)
    assert server.requests == []
    assert server.connections == []


def test_close_after_open(server, client):
    stream = stalled(server, client)
    stream.open()
    stream.close()
    assert_closed_by_client(server)
    assert list(stream) == []


def test_with_exit_mid_stream(server, client):
    with stalled(server, client) as stream:
        next(stream)
    assert_closed_by_client(server)


def test_with_exit_on_an_exception(server, client):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with stalled(server, client) as stream:
            next(stream)
            raise Boom
    assert_closed_by_client(server)


def test_gc_of_a_partly_read_stream(server, client):
    stream = stalled(server, client)
    next(stream)
    stream = None
    gc.collect()
    assert_closed_by_client(server)


def test_gc_of_an_opened_stream(server, client):
    stream = stalled(server, client)
    stream.open()
    del stream
    gc.collect()
    assert_closed_by_client(server)


def test_gc_of_a_partly_read_view(server, client):
    stream = stalled(server, client)
    view = iter(stream.text())
    next(view)
    del stream
    assert still_open(server)  # the view keeps the stream alive
    del view
    gc.collect()
    assert_closed_by_client(server)


def test_gc_of_a_stream_in_a_reference_cycle(server, client):
    class Holder:
        pass

    holder = Holder()
    holder.me = holder
    holder.stream = stalled(server, client)
    next(holder.stream)
    del holder
    gc.collect()
    assert_closed_by_client(server)


def test_client_still_works_after_closed_streams(server, client, protocol):
    words = mock_words()
    for _ in range(3):
        stream = stalled(server, client)
        next(stream)
        stream.close()
        assert_closed_by_client(server)
    assert list(chat(client, 5).text()) == expected_tokens(words, 5)
    assert_one_connection_if_http2(server, protocol)


# --- async -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_task_cancel_while_awaiting(server, client, mode):
    async def main():
        stream = stalled(server, client)
        got = []

        async def consume():
            async for chunk in stream:
                got.append(chunk)

        task = asyncio.ensure_future(consume())
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(got) == 3:
                break
        assert len(got) == 3
        assert still_open(server)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert_closed_by_client(server)
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_wait_for_timeout_closes(server, client, mode):
    async def main():
        stream = stalled(server, client, after=1)
        await stream.__anext__()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.__anext__(), 0.2)
        assert_closed_by_client(server)

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_aclose_mid_stream(server, client, mode):
    async def main():
        stream = stalled(server, client)
        await stream.__anext__()
        await stream.aclose()
        assert_closed_by_client(server)
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        await stream.aclose()  # idempotent

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_aclose_of_a_fast_stream(server, client, mode):
    async def main():
        stream = chat(client, 200_000)
        n = 0
        async for _ in stream:
            n += 1
            if n == 1000:
                break
        await stream.aclose()
        assert_closed_by_client(server)

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_async_with_exit_mid_stream(server, client, mode):
    async def main():
        async with stalled(server, client) as stream:
            async for _ in stream:
                break
        assert_closed_by_client(server)

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_async_with_exit_on_an_exception(server, client, mode):
    async def main():
        with pytest.raises(KeyError):
            async with stalled(server, client) as stream:
                await stream.__anext__()
                raise KeyError("x")
        assert_closed_by_client(server)

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_async_break_then_del(server, client, mode):
    async def main():
        stream = stalled(server, client)
        async for _ in stream:
            break
        del stream
        gc.collect()
        assert_closed_by_client(server)

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_async_text_view_cancel(server, client, mode):
    async def main():
        stream = stalled(server, client, after=2)
        view = stream.text()
        assert (await view.__anext__()) == mock_words()[0]
        task = asyncio.ensure_future(view.__anext__())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert_closed_by_client(server)

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_aclose_from_another_task_ends_the_waiting_consumer(server, client, mode):
    """A consumer awaiting the next chunk when another task closes the stream (a client
    disconnect handler) finishes instead of waiting forever."""

    async def main():
        stream = stalled(server, client)
        await stream.__anext__()

        async def consume():
            async for _ in stream:
                pass
            return "ended"

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.1)
        await stream.aclose()
        assert_closed_by_client(server)
        done, _ = await asyncio.wait([task], timeout=2)
        if not done:
            task.cancel()
        assert done, "the consumer still waits 2 s after aclose()"
        assert task.result() == "ended"

    run_async(main, mode)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_client_still_works_after_cancellations(server, client, protocol, mode):
    words = mock_words()

    async def main():
        for _ in range(3):
            stream = stalled(server, client, after=1)
            await stream.__anext__()
            task = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert_closed_by_client(server)
        return [t async for t in chat(client, 4).text()]

    assert run_async(main, mode) == expected_tokens(words, 4)
    assert_one_connection_if_http2(server, protocol)


# --- one consumer at a time ---------------------------------------------------------------------


def test_two_threads_iterating_one_stream(server, client):
    words = mock_words()
    stream = chat(client, 6, headers={"x-mock-interval-ms": "150"})
    first = next(stream)  # the role chunk
    got, errors = [], []
    started = threading.Event()

    def worker():
        started.set()
        try:
            for chunk in stream:
                got.append(chunk.choices[0].delta.content)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait()
    # The worker waits (without the GIL) for the next chunk, 150 ms away.
    for _ in range(50):
        if got:
            break
        threading.Event().wait(0.01)
    with pytest.raises(RuntimeError, match="another thread or task"):
        next(stream)
    thread.join(10)
    assert not thread.is_alive()
    assert errors == []
    assert first.choices[0].delta.role == "assistant"
    # every chunk went to the worker, in order; the failed next() took none
    assert got == expected_tokens(words, 6) + [None]


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_two_tasks_iterating_one_stream(server, client, mode):
    async def main():
        stream = chat(client, 6, headers={"x-mock-interval-ms": "100"})
        await stream.__anext__()

        async def consume():
            out = []
            async for chunk in stream:
                out.append(chunk)
            return out

        first = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(consume())
        done, pending = await asyncio.wait([first, second], timeout=3)
        for t in pending:
            t.cancel()
        assert not pending, "concurrent consumers hang"
        assert isinstance(second.exception(), RuntimeError)
        assert "another thread or task" in str(second.exception())
        assert len(first.result()) == 7

    run_async(main, mode)
