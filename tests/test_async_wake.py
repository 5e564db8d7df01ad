"""How tokio threads wake an asyncio loop: the unix socket pair (``add_reader``) or the portable
``loop.call_soon_threadsafe`` path, chosen per loop by ``SSERPENT_ASYNC_WAKE`` (unset: the
socket pair where the loop has a working ``add_reader``, else threadsafe).

Every other async test runs once more through the threadsafe path in scripts/test.sh
(``SSERPENT_ASYNC_WAKE=threadsafe pytest -m async_io``); here: the choice itself, the
error for a bad value, and 1,000 concurrent streams through the threadsafe path.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import warnings
import weakref
from typing import Any, Callable, Iterator, List

import pytest
import sserpent
from sserpent import _sserpent
from sserpent.testing import MockServer

ENV = "SSERPENT_ASYNC_WAKE"
CHAT = "/chat/completions"
BODY = {"model": "m", "stream": True, "messages": []}
UNIX = os.name == "posix"
# The paths this platform has (the socket pair needs unix).
PATHS = ["socketpair", "threadsafe"] if UNIX else ["threadsafe"]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as s:
        yield s


class NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop without ``add_reader``, as asyncio's ProactorEventLoop (Windows) is."""

    def add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        raise NotImplementedError


class CountingLoop(asyncio.SelectorEventLoop):
    """Counts the drains sserpent schedules through ``call_soon_threadsafe`` and how many are
    outstanding (scheduled, not run yet) at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.drains = 0
        self.outstanding = 0
        self.max_outstanding = 0

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
        if type(callback).__name__ != "_Drain":
            return super().call_soon_threadsafe(callback, *args, context=context)
        with self.lock:
            self.drains += 1
            self.outstanding += 1
            self.max_outstanding = max(self.max_outstanding, self.outstanding)

        def run() -> None:
            with self.lock:
                self.outstanding -= 1
            callback(*args)

        return super().call_soon_threadsafe(run, context=context)


class NoReaderCountingLoop(NoReaderLoop, CountingLoop):
    pass


def run_in(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def read_chunks(client: sserpent.Client, n: int, interval_ms: int = 0) -> int:
    headers = {"x-mock-chunks": str(n)}
    if interval_ms:
        headers["x-mock-interval-ms"] = str(interval_ms)
    count = 0
    async for chunk in client.stream("POST", CHAT, json=BODY, headers=headers):
        if chunk.choices and chunk.choices[0].delta.content is not None:
            count += 1
    return count


async def stream_and_report(server: MockServer, n: int = 20) -> tuple[int, Any]:
    client = sserpent.Client(base_url=server.base_url, read_timeout=30)
    got = await read_chunks(client, n, interval_ms=2)
    return got, _sserpent._async_wake(asyncio.get_running_loop())


def test_auto_uses_the_socket_pair_where_the_loop_has_add_reader(server: MockServer, monkeypatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    got, path = run_in(asyncio.SelectorEventLoop(), stream_and_report(server))
    assert got == 21  # the role chunk's empty content and 20 content chunks
    assert path == ("socketpair" if UNIX else "threadsafe")


def test_auto_falls_back_to_threadsafe_for_a_loop_without_add_reader(server: MockServer, monkeypatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    loop = NoReaderCountingLoop()
    got, path = run_in(loop, stream_and_report(server))
    assert (got, path) == (21, "threadsafe")
    assert loop.drains >= 1


@pytest.mark.parametrize("path", PATHS)
def test_the_variable_picks_the_path(server: MockServer, monkeypatch, path: str) -> None:
    monkeypatch.setenv(ENV, path)
    loop = CountingLoop()
    got, used = run_in(loop, stream_and_report(server))
    assert (got, used) == (21, path)
    assert (loop.drains > 0) == (path == "threadsafe")


def test_the_variable_is_read_per_loop(server: MockServer, monkeypatch) -> None:
    """Each new loop reads it when it gets its bridge; a loop keeps the path it got."""
    monkeypatch.setenv(ENV, "threadsafe")
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(stream_and_report(server)) == (21, "threadsafe")
        monkeypatch.setenv(ENV, "bogus")
        assert loop.run_until_complete(stream_and_report(server)) == (21, "threadsafe")
    finally:
        loop.close()
    with pytest.raises(ValueError):
        asyncio.run(stream_and_report(server))


@pytest.mark.parametrize("value", ["bogus", "SocketPair", "call_soon_threadsafe", "1"])
def test_an_invalid_value_names_the_variable_and_the_allowed_values(server: MockServer, monkeypatch,
                                                                    value: str) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ValueError) as info:
        asyncio.run(stream_and_report(server))
    message = str(info.value)
    assert f'{ENV}="{value}"' in message
    for allowed in ("socketpair", "threadsafe", "auto"):
        assert allowed in message
    # Nothing was left half-made: the next loop, with a valid value, works.
    monkeypatch.setenv(ENV, "threadsafe")
    assert asyncio.run(stream_and_report(server)) == (21, "threadsafe")


@pytest.mark.parametrize("value", ["", "auto", " threadsafe "])
def test_empty_auto_and_spaces_are_accepted(server: MockServer, monkeypatch, value: str) -> None:
    monkeypatch.setenv(ENV, value)
    got, path = asyncio.run(stream_and_report(server))
    assert got == 21
    assert path == ("threadsafe" if value.strip() == "threadsafe" or not UNIX else "socketpair")


@pytest.mark.skipif(not UNIX, reason="socket pairs need unix")
def test_forcing_the_socket_pair_on_a_loop_without_add_reader_says_why(server: MockServer, monkeypatch) -> None:
    monkeypatch.setenv(ENV, "socketpair")
    with pytest.raises(RuntimeError, match=f"{ENV}=socketpair.*add_reader.*{ENV}=threadsafe"):
        run_in(NoReaderLoop(), stream_and_report(server))


def test_no_bridge_before_the_first_async_wait() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert _sserpent._async_wake(loop) is None
    finally:
        loop.close()


@pytest.mark.parametrize("path", PATHS)
def test_a_closed_loop_is_freed_with_its_bridge(server: MockServer, monkeypatch, path: str) -> None:
    """The registry holds loops weakly, and a bridge must not hold its loop."""
    monkeypatch.setenv(ENV, path)
    loop = asyncio.new_event_loop()
    assert run_in(loop, stream_and_report(server)) == (21, path)
    ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("loop_class", [CountingLoop, NoReaderCountingLoop], ids=["forced", "no add_reader"])
def test_a_thousand_concurrent_streams_through_the_threadsafe_path(server: MockServer, monkeypatch,
                                                                   loop_class: type) -> None:
    """1,000 streams awaiting at once (5 chunks each, 5 ms apart) all complete, and there is
    never more than one drain scheduled at a time: wakes that come before it ran only queue."""
    if loop_class is CountingLoop:
        monkeypatch.setenv(ENV, "threadsafe")
    else:
        monkeypatch.delenv(ENV, raising=False)
    n, chunks = 1000, 5

    async def main() -> List[Any]:
        client = sserpent.Client(base_url=server.base_url, read_timeout=60, max_retries=0)
        results = await asyncio.gather(*(read_chunks(client, chunks, interval_ms=5) for _ in range(n)),
                                       return_exceptions=True)
        assert _sserpent._async_wake(asyncio.get_running_loop()) == "threadsafe"
        return results

    loop = loop_class()
    results = run_in(loop, main())
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert results == [chunks + 1] * n
    assert 1 <= loop.drains
    assert loop.max_outstanding == 1



AFTER_EXIT_HOOKS = """
import asyncio, atexit, os, sys
sys.path.insert(0, {tests!r})
os.environ["SSERPENT_ASYNC_WAKE"] = "threadsafe"
import sserpent
from sserpent.testing import MockServer
from test_async_wake import CountingLoop, read_chunks

with MockServer() as server:
    atexit._run_exitfuncs()  # what the interpreter runs before it finalizes
    loop = CountingLoop()
    client = sserpent.Client(base_url=server.base_url)
    try:
        loop.run_until_complete(asyncio.wait_for(read_chunks(client, 3, interval_ms=50), 2))
        print("woken", loop.drains)
    except asyncio.TimeoutError:
        print("not woken", loop.drains)
"""


def test_threadsafe_wakes_stop_before_the_interpreter_finalizes() -> None:
    """A tokio thread inside Python while the interpreter finalizes can abort the process
    ("PyGILState_Release: thread state ... must be current"; seen when the main thread exits
    while a loop in a daemon thread awaits streams). sserpent's atexit hook stops the
    threadsafe path's kicks first: after it, a waiting stream is no longer woken."""
    import subprocess
    import sys
    from pathlib import Path

    script = AFTER_EXIT_HOOKS.format(tests=str(Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == "not woken 0\n"


@pytest.mark.async_io
@pytest.mark.parametrize("path", PATHS)
def test_the_waiter_runs_its_done_callbacks_in_order_and_removes_them_by_equality(
        server: MockServer, monkeypatch, path: str) -> None:
    """The future a waiting task yields keeps asyncio's callback protocol: callbacks added
    while it waits run once, in the order added, with the waiter as argument, after the task's
    own wake-up; ``remove_done_callback`` removes every equal one and says how many; a
    callback added after the wake-up is scheduled with ``call_soon``."""
    monkeypatch.setenv(ENV, path)
    calls: List[Any] = []
    tasks: List[Any] = []

    def make(name: str) -> Callable[[Any], None]:
        # The task's own wake-up ran first: it has stepped past this waiter.
        return lambda fut: calls.append((name, fut, tasks[0]._fut_waiter is not fut))

    async def main() -> None:
        client = sserpent.Client(base_url=server.base_url)

        async def read() -> List[str]:
            stream = client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "3", "x-mock-interval-ms": "200"})
            return [c.choices[0].delta.content async for c in stream if c.choices]

        reader = asyncio.create_task(read())
        tasks.append(reader)
        await asyncio.sleep(0.1)  # the reader waits for its next chunk
        waiter = reader._fut_waiter  # type: ignore[attr-defined]
        assert type(waiter).__name__ == "_Waiter" and not waiter.done()
        first, second, third = make("first"), make("second"), make("third")
        for callback in (first, second, first, third):
            waiter.add_done_callback(callback)
        assert waiter.remove_done_callback(first) == 2
        assert waiter.remove_done_callback(first) == 0
        while not waiter.done():
            await asyncio.sleep(0.01)
        assert calls == [("second", waiter, True), ("third", waiter, True)]
        late = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(lambda fut: late.set_result(fut))
        assert len(calls) == 2  # not run inline
        assert await asyncio.wait_for(late, 5) is waiter
        assert await reader == ["", "Hello!", " This", " is", None]

    asyncio.run(main())


def _content(chunks: List[Any]) -> List[Any]:
    return [c.choices[0].delta.content for c in chunks if c.choices]


async def _take(stream: Any, n: int) -> List[Any]:
    """The next ``n`` chunks of ``stream`` (fewer at its end), awaited in this loop."""
    out: List[Any] = []
    while len(out) < n:
        try:
            out.append(await stream.__anext__())
        except StopAsyncIteration:
            break
    return out


@pytest.mark.async_io
@pytest.mark.parametrize("path", PATHS)
def test_one_stream_read_by_loops_in_turn_on_one_thread_and_on_another(
        server: MockServer, monkeypatch, path: str) -> None:
    """A stream's waits bind to the loop that runs them: read in turn by three loops (two
    ``asyncio.run`` on this thread, one on another thread), each waiting for chunks, it gives
    every chunk once, in order. A loop of an earlier wait is reused only while it runs on the
    waiting thread (else the task would get a future of a closed loop: RuntimeError)."""
    monkeypatch.setenv(ENV, path)
    client = sserpent.Client(base_url=server.base_url)
    headers = {"x-mock-chunks": "7", "x-mock-interval-ms": "30"}
    expected = _content(list(client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "7"})))
    stream = client.stream("POST", CHAT, json=BODY, headers=headers)
    got = asyncio.run(_take(stream, 3))
    got += asyncio.run(_take(stream, 3))
    box: List[Any] = []
    worker = threading.Thread(target=lambda: box.append(asyncio.run(_take(stream, 100))))
    worker.start()
    worker.join(30)
    got += box[0]
    assert _content(got) == expected and len(expected) == 9


@pytest.mark.async_io
def test_a_loop_run_inside_another_on_the_same_thread_gets_that_loops_waits(server: MockServer) -> None:
    """A loop run inside a task of another on the same thread (asyncio's running loop cleared
    for it, as some notebook code does): the stream's waits there bind to the inner loop,
    though the outer one, where it waited before, still runs on this thread."""
    client = sserpent.Client(base_url=server.base_url)
    expected = _content(list(client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "6"})))
    stream = client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "6", "x-mock-interval-ms": "30"})

    async def outer() -> List[Any]:
        got = await _take(stream, 2)  # waits in the outer loop
        outer_loop = asyncio.get_running_loop()
        asyncio.events._set_running_loop(None)
        inner = asyncio.new_event_loop()
        try:
            got += inner.run_until_complete(_take(stream, 100))
        finally:
            inner.close()
            asyncio.events._set_running_loop(outer_loop)
        return got

    assert _content(asyncio.run(outer())) == expected


@pytest.mark.async_io
@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork: POSIX only")
def test_a_forked_child_awaiting_the_parents_stream_gets_runtime_error_not_a_hang(server: MockServer) -> None:
    """Forked inside a coroutine after a wait, the child has no running loop (asyncio's rule)
    and none of the parent's tokio threads: its next wait raises ``RuntimeError`` at once
    instead of waiting on the parent's loop. The parent's stream goes on."""
    client = sserpent.Client(base_url=server.base_url)
    expected = _content(list(client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "5"})))
    headers = {"x-mock-chunks": "5", "x-mock-interval-ms": "300"}
    stream = client.stream("POST", CHAT, json=BODY, headers=headers)

    async def main() -> int:
        first = await _take(stream, 2)  # the second one waited for
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads (3.12+)
            pid = os.fork()
        if pid == 0:
            signal.alarm(10)  # a hang ends the child with SIGALRM
            try:
                await _take(stream, 1)
            except RuntimeError:
                os._exit(0)
            except BaseException:
                os._exit(2)
            os._exit(3)
        # Bounded waits: a child waiting on the parent's loop would share its epoll
        # instance and could take the parent's events (the failure this test guards).
        for _ in range(150):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            await asyncio.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child hung")
        rest = await asyncio.wait_for(_take(stream, 100), 20)
        assert _content(first + rest) == expected
        return status

    status = asyncio.run(main())
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


class LoopMisreportingItsThread(asyncio.SelectorEventLoop):
    """A loop whose ``_thread_id`` never names the thread it runs on."""

    @property  # type: ignore[override]
    def _thread_id(self) -> Any:
        return None if self._real_thread_id is None else self._real_thread_id + 1

    @_thread_id.setter
    def _thread_id(self, value: Any) -> None:
        self._real_thread_id = value

    def is_running(self) -> bool:
        return self._real_thread_id is not None


@pytest.mark.async_io
def test_a_loop_that_misreports_its_thread_still_gets_its_waits(server: MockServer) -> None:
    client = sserpent.Client(base_url=server.base_url)
    headers = {"x-mock-chunks": "4", "x-mock-interval-ms": "20"}
    expected = _content(list(client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "4"})))
    stream = client.stream("POST", CHAT, json=BODY, headers=headers)
    got = run_in(LoopMisreportingItsThread(), _take(stream, 100))
    assert _content(got) == expected


@pytest.mark.async_io
def test_only_the_tasks_own_wake_up_is_untracked_not_a_callers_builtin(server: MockServer) -> None:
    """The waiter takes the task's per-wait wake-up method out of the collector's lists (3.10+),
    and nothing else: a built-in method a caller adds stays tracked."""

    async def main() -> None:
        client = sserpent.Client(base_url=server.base_url)
        stream = client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "2", "x-mock-interval-ms": "200"})
        reader = asyncio.create_task(_take(stream, 100))
        await asyncio.sleep(0.1)
        waiter = reader._fut_waiter  # type: ignore[attr-defined]
        seen: List[Any] = []
        callback = seen.append  # a built-in method, tracked
        assert gc.is_tracked(callback)
        waiter.add_done_callback(callback)
        assert gc.is_tracked(callback)
        await reader
        assert seen == [waiter]

    asyncio.run(main())
