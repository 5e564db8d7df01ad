"""os.fork(): a child process streams with a client (or the default client) its parent
already used, gets a fresh runtime and its own connections, and leaves the parent's
connections and streams alone (gunicorn --preload)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
import traceback

import pytest
import sserpent
from live_helpers import chat, expected_text, mock_words
from sserpent.testing import MockServer


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def in_child(fn, timeout=8.0):
    """Run ``fn()`` in a forked child; the child exits 0 when it returns True. Returns the
    child's exit code (the parent kills it after ``timeout`` seconds: -SIGKILL)."""
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            signal.alarm(int(timeout) + 5)  # never outlive the test
            code = 0 if fn() is True else 3
        except BaseException:
            traceback.print_exc()
            code = 2
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.01)


def make_client(server):
    # A total deadline, so that a child that cannot stream fails in seconds.
    return sserpent.Client(base_url=server.base_url, timeout=3)


def text(stream):
    return "".join(stream.text())


def test_child_streams_with_a_client_the_parent_used(server):
    words = mock_words()
    client = make_client(server)
    assert text(chat(client, 4)) == expected_text(words, 4)  # leaves a pooled connection
    time.sleep(0.2)

    assert in_child(lambda: text(chat(client, 9)) == expected_text(words, 9)) == 0
    assert text(chat(client, 5)) == expected_text(words, 5)
    assert len(server.requests) == 3


def test_child_streams_with_a_client_never_used_before(server):
    words = mock_words()
    client = make_client(server)
    assert in_child(lambda: text(chat(client, 7)) == expected_text(words, 7)) == 0
    assert text(chat(client, 3)) == expected_text(words, 3)


def test_child_with_a_new_client(server):
    words = mock_words()
    client = make_client(server)
    assert text(chat(client, 2)) == expected_text(words, 2)

    def child():
        fresh = make_client(server)
        return text(chat(fresh, 6)) == expected_text(words, 6)

    assert in_child(child) == 0
    assert text(chat(client, 2)) == expected_text(words, 2)


def test_child_streams_async(server):
    words = mock_words()
    client = make_client(server)

    async def parent_stream(n):
        return "".join([t async for t in chat(client, n).text()])

    assert asyncio.run(parent_stream(3)) == expected_text(words, 3)
    time.sleep(0.2)

    def child():
        return asyncio.run(parent_stream(8)) == expected_text(words, 8)

    assert in_child(child) == 0
    assert asyncio.run(parent_stream(4)) == expected_text(words, 4)


def test_child_drops_chunks_read_by_its_parent(server):
    """Released chunks' documents wait for the next stream read to free them
    (transport/release.rs). A child inherits a due list and the parent's chunks, with no
    runtime and so no read to come: it frees them itself (at most 255 left waiting), then
    streams with its own runtime; the parent's next stream frees what waits there."""
    from sserpent._sserpent import _live_tasks, _released_waiting

    words = mock_words()
    client = make_client(server)
    chunks = list(chat(client, 1000))
    contents = [c.choices[0].delta.content for c in chunks]
    assert "".join(c or "" for c in contents) == expected_text(words, 1000)
    # No reader task left in this process (an earlier test's) to read and free the list.
    for _ in range(250):
        if _live_tasks() == 0:
            break
        time.sleep(0.02)
    assert _live_tasks() == 0
    kept, dropped = chunks[:700], chunks[700:]
    del chunks, dropped
    gc.collect()
    assert _released_waiting() >= 256  # due, and no stream read since

    def child():
        nonlocal kept
        assert [c.choices[0].delta.content for c in kept] == contents[:700]
        kept = None
        gc.collect()
        assert _released_waiting() < 256, _released_waiting()
        return text(chat(client, 9)) == expected_text(words, 9)

    assert in_child(child) == 0
    assert [c.choices[0].delta.content for c in kept] == contents[:700]
    del kept
    gc.collect()
    assert _released_waiting() >= 256
    assert text(chat(client, 5)) == expected_text(words, 5)
    assert _released_waiting() < 256


def test_child_uses_the_default_client(server):
    words = mock_words()
    url = server.base_url + "/chat/completions"
    body = {"model": "m", "stream": True, "messages": []}

    def go(n):
        return "".join(sserpent.stream("POST", url, json=body, headers={"x-mock-chunks": str(n)}).text())

    assert go(3) == expected_text(words, 3)
    time.sleep(0.2)
    assert in_child(lambda: go(5) == expected_text(words, 5)) == 0
    assert go(6) == expected_text(words, 6)


def test_several_children(server):
    words = mock_words()
    client = make_client(server)
    assert text(chat(client, 2)) == expected_text(words, 2)
    time.sleep(0.2)
    for n in (3, 4, 5):
        assert in_child(lambda n=n: text(chat(client, n)) == expected_text(words, n)) == 0
    assert text(chat(client, 2)) == expected_text(words, 2)


def test_grandchild(server):
    words = mock_words()
    client = make_client(server)
    assert text(chat(client, 2)) == expected_text(words, 2)
    time.sleep(0.2)

    def child():
        if text(chat(client, 3)) != expected_text(words, 3):
            return False
        time.sleep(0.2)
        return in_child(lambda: text(chat(client, 4)) == expected_text(words, 4), timeout=5) == 0

    assert in_child(child) == 0


def test_parent_stream_open_across_the_fork(server):
    """A stream the parent is reading when it forks goes on in the parent; the child
    closing its copy of the object does not close the parent's connection."""
    words = mock_words()
    client = make_client(server)
    stream = chat(client, 40, headers={"x-mock-interval-ms": "10"})
    view = iter(stream.text())
    first = [next(view) for _ in range(3)]

    def child():
        stream.close()
        gc.collect()
        return text(chat(client, 2)) == expected_text(words, 2)

    assert in_child(child) == 0
    rest = list(view)
    assert "".join(first + rest) == expected_text(words, 40)
    assert stream.metrics.chunks == 42
