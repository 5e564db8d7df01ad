"""Ctrl-C: a process waiting for a stalled stream gets KeyboardInterrupt at once (SIGINT in a
subprocess), and the stream is closed; sync iteration also works inside a running event
loop (a Jupyter cell)."""

from __future__ import annotations

import asyncio
import queue
import signal
import subprocess
import sys
import textwrap
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


PRELUDE = textwrap.dedent(
    """
    import asyncio, sys
    import sserpent

    URL = sys.argv[1] + "/v1/chat/completions"
    BODY = {"model": "m", "stream": True, "messages": []}
    client = sserpent.Client(max_retries=int(sys.argv[2]) if len(sys.argv) > 2 else 0)

    def ready():
        print("READY", flush=True)

    def interrupted():
        # Tell the parent, then wait for its go-ahead so that it can look at the
        # connection while this process still lives.
        print("INTERRUPTED", flush=True)
        sys.stdin.readline()
    """
)

SYNC_LOOP = """
stream = client.stream("POST", URL, json=BODY)
n = 0
try:
    for chunk in stream:
        n += 1
        if n == 3:
            ready()
except KeyboardInterrupt:
    interrupted()
    raise
print("ENDED", flush=True)
"""

# A Jupyter kernel runs cells on its own event loop and keeps the default SIGINT handler
# (asyncio.run() would instead turn the first Ctrl-C into a task cancellation).
SYNC_IN_COROUTINE = """
async def cell():
    stream = client.stream("POST", URL, json=BODY)
    n = 0
    try:
        for chunk in stream:          # sync iteration inside a running loop
            n += 1
            if n == 3:
                ready()
    except KeyboardInterrupt:
        interrupted()
        raise

asyncio.new_event_loop().run_until_complete(cell())
print("ENDED", flush=True)
"""

ASYNC_LOOP = """
async def main():
    stream = client.stream("POST", URL, json=BODY)
    n = 0
    async for chunk in stream:
        n += 1
        if n == 3:
            ready()

try:
    asyncio.run(main())
except KeyboardInterrupt:
    interrupted()
    raise
print("ENDED", flush=True)
"""

OPEN_WAITING_FOR_HEADERS = """
stream = client.stream("POST", URL, json=BODY)
ready()
try:
    stream.open()
except KeyboardInterrupt:
    interrupted()
    raise
print("ENDED", flush=True)
"""


class Child:
    """A ``python -c`` subprocess whose stdout lines are read with a deadline, so that a
    child that never answers fails the test instead of hanging it."""

    def __init__(self, script, *args, stdin=True):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def line(self, timeout=10.0):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the child within {timeout} s") from None

    def finish(self, stdin_text=None, timeout=10.0):
        """Send ``stdin_text``, wait for the exit; returns stderr."""
        if stdin_text is not None:
            self.proc.stdin.write(stdin_text)
            self.proc.stdin.flush()
        self.proc.wait(timeout=timeout)
        return self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


def run_and_interrupt(server, body, *args):
    """Start the script, wait for READY, send SIGINT; returns (process, stderr) after the
    parent checked that the connection was closed by the client while the child lived."""
    child = Child(PRELUDE + textwrap.dedent(body), server.url, *args)
    try:
        line = child.line()
        assert line == "READY\n", (line, child.finish() if line == "" else "")
        time.sleep(0.2)  # let it block in the wait
        start = time.monotonic()
        child.proc.send_signal(signal.SIGINT)
        line = child.line()
        assert line == "INTERRUPTED\n", line
        assert time.monotonic() - start < 5
        # the stream was closed by sserpent, not by the process exit
        assert child.proc.poll() is None
        conn_id = server.requests[-1].connection_id
        assert server.wait_closed(conn_id, timeout=2)
        conn = next(c for c in server.connections if c.id == conn_id)
        assert conn.closed_by == "client"
        err = child.finish("go\n")
        assert child.line() == ""  # nothing after INTERRUPTED
    finally:
        child.kill()
    assert child.proc.returncode in (-signal.SIGINT, 1, 130)
    assert "KeyboardInterrupt" in err
    return child.proc, err


def test_sigint_while_iterating_a_stalled_stream(server):
    server.enqueue(stall_after=3)
    _, err = run_and_interrupt(server, SYNC_LOOP)
    assert "Traceback" in err


def test_sigint_while_iterating_a_stalled_stream_with_keepalives(server):
    server.enqueue(stall_after=3, keepalive=0.02)
    run_and_interrupt(server, SYNC_LOOP)


def test_sigint_in_sync_iteration_inside_a_running_loop(server):
    server.enqueue(stall_after=3)
    run_and_interrupt(server, SYNC_IN_COROUTINE)


def test_sigint_in_async_iteration(server):
    server.enqueue(stall_after=3)
    run_and_interrupt(server, ASYNC_LOOP)


def test_sigint_while_waiting_for_headers(server):
    server.enqueue(headers_delay=30)
    run_and_interrupt(server, OPEN_WAITING_FOR_HEADERS)


def test_sigint_during_a_retry_backoff(server):
    server.enqueue(status=429, headers={"retry-after": "30"})
    child = Child(PRELUDE + OPEN_WAITING_FOR_HEADERS, server.url, "2")
    try:
        assert child.line() == "READY\n"
        deadline = time.monotonic() + 5
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(server.requests) == 1
        time.sleep(0.2)  # now in the 30 s Retry-After wait
        child.proc.send_signal(signal.SIGINT)
        assert child.line() == "INTERRUPTED\n"
        err = child.finish("go\n")
    finally:
        child.kill()
    assert "KeyboardInterrupt" in err
    assert len(server.requests) == 1


def test_plain_script_dies_with_keyboard_interrupt(server):
    """Without any handler: the traceback ends in KeyboardInterrupt, the exit is by SIGINT."""
    server.enqueue(stall_after=2)
    script = textwrap.dedent(
        """
        import sys, sserpent
        s = sserpent.stream("POST", sys.argv[1] + "/v1/chat/completions",
                            json={"model": "m", "stream": True, "messages": []})
        for i, chunk in enumerate(s):
            if i == 1:
                print("READY", flush=True)
        """
    )
    child = Child(script, server.url, stdin=False)
    try:
        assert child.line() == "READY\n"
        time.sleep(0.2)
        start = time.monotonic()
        child.proc.send_signal(signal.SIGINT)
        err = child.finish()
        assert time.monotonic() - start < 5
    finally:
        child.kill()
    proc = child.proc
    assert err.rstrip().endswith("KeyboardInterrupt")
    assert proc.returncode == -signal.SIGINT
    assert server.wait_closed(server.requests[-1].connection_id, timeout=2)


# --- sync iteration inside a running event loop (Jupyter) --------------------------------------


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_sync_iteration_inside_a_coroutine(server, mode):
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)

    async def cell():
        assert asyncio.get_running_loop() is not None
        texts = list(chat(client, 12).text())
        stream = chat(client, 5)
        stream.open()
        chunks = list(stream)
        with chat(client, 3) as s:
            first = next(s)
        return texts, chunks, first

    texts, chunks, first = run_async(cell, mode)
    assert texts == expected_tokens(words, 12)
    assert len(chunks) == 7
    assert first.choices[0].delta.role == "assistant"


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_sync_iteration_of_a_slow_stream_inside_a_coroutine(server, mode):
    """The sync wait does not need the loop to run: a paced stream completes."""
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)

    async def cell():
        return list(chat(client, 5, headers={"x-mock-interval-ms": "20"}).text())

    assert run_async(cell, mode) == expected_tokens(words, 5)


@pytest.mark.parametrize("mode", ASYNC_MODES)
def test_sync_and_async_streams_in_one_loop(server, mode):
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)

    async def cell():
        a = [t async for t in chat(client, 4).text()]
        b = list(chat(client, 4).text())
        c = [t async for t in chat(client, 4).text()]
        return a, b, c

    a, b, c = run_async(cell, mode)
    assert a == b == c == expected_tokens(words, 4)


def test_interrupt_main_is_seen_by_a_sync_wait(server):
    """_thread.interrupt_main() (what IPython's kernel does on an interrupt request without a
    real signal on some platforms) also ends a blocked next()."""
    import _thread

    server.enqueue(stall_after=1)
    client = sserpent.Client(base_url=server.base_url)
    stream = chat(client, 5)
    next(stream)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(stream)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 5
    assert server.wait_closed(server.requests[-1].connection_id, timeout=2)
