"""What an ``await`` on a stream gets back: the awaitables (``_Ready``, ``_Pending``) end with
``StopIteration(value)`` set straight in the interpreter (``src/py/awaitable.rs``, ``stop_with``),
not through pyo3's lazy error. The value must arrive unchanged whatever it is and wherever the
``await`` runs: inside an ``except`` block (where the interpreter builds the exception at once
and chains it), through ``send(None)`` and ``__next__`` alike, ready at once or after a wait.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Iterator, List

import pytest
import sserpent
from sserpent.testing import MockServer

pytestmark = pytest.mark.async_io

CHAT = "/chat/completions"
BODY = {"model": "m", "stream": True, "messages": []}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as s:
        yield s


def _plain(chunk: Any) -> Any:
    """A chunk's data without what the mock server varies per request (its id and time)."""
    d = chunk.to_dict()
    d.pop("id", None)
    d.pop("created", None)
    return d


def _sync_dicts(server: MockServer, n: int) -> List[Any]:
    client = sserpent.Client(base_url=server.base_url)
    return [_plain(c) for c in client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": str(n)})]


def test_async_for_inside_an_except_block(server: MockServer) -> None:
    expected = _sync_dicts(server, 50)

    async def main() -> List[Any]:
        client = sserpent.Client(base_url=server.base_url)
        try:
            raise KeyError("being handled")
        except KeyError:
            out = [_plain(c) async for c in client.stream("POST", CHAT, json=BODY,
                                                             headers={"x-mock-chunks": "50"})]
            # The exception being handled is still the one in flight, untouched by the awaits.
            assert isinstance(sys.exc_info()[1], KeyError)
            return out

    assert asyncio.run(main()) == expected


def test_the_awaitable_protocol_by_hand(server: MockServer) -> None:
    """``__await__()`` then ``send(None)`` or ``next()``: StopIteration carries the chunk."""
    expected = _sync_dicts(server, 5)

    async def main() -> List[Any]:
        client = sserpent.Client(base_url=server.base_url)
        stream = client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "5"})
        # The first read decides the view (chunks) and may wait; the others are taken when
        # queued, so their awaitables are ready ones (`_Ready`).
        out = [_plain(await stream.__anext__())]
        for i in range(1, len(expected)):
            for _ in range(400):
                awaitable = stream.__anext__()
                if type(awaitable).__name__ == "_Ready":
                    break
                # Not queued yet: a waiting awaitable never polled takes nothing; try again.
                await asyncio.sleep(0.01)
            assert type(awaitable).__name__ == "_Ready"
            it = awaitable.__await__()
            with pytest.raises(StopIteration) as stop:
                if i % 2:
                    it.send(None)
                else:
                    next(it)
            out.append(_plain(stop.value.value))
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        return out

    assert asyncio.run(main()) == expected


def test_paced_chunks_arrive_through_the_pending_awaitable(server: MockServer) -> None:
    """Chunks 5 ms apart: most ``__anext__`` wait on the loop, then resolve with their chunk."""
    expected = _sync_dicts(server, 20)

    async def main() -> List[Any]:
        client = sserpent.Client(base_url=server.base_url)
        headers = {"x-mock-chunks": "20", "x-mock-interval-ms": "5"}
        return [_plain(c) async for c in client.stream("POST", CHAT, json=BODY, headers=headers)]

    assert asyncio.run(main()) == expected


def test_context_managers_and_aclose_resolve_to_their_values(server: MockServer) -> None:
    async def main() -> None:
        client = sserpent.Client(base_url=server.base_url)
        stream = client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "3"})
        async with stream as s:
            assert s is stream
            assert (await stream.__aexit__(None, None, None)) is False
        assert (await stream.aclose()) is None
        opened = client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "3"})
        assert (await opened.aopen()) is opened

    asyncio.run(main())


def test_a_ready_awaitable_keeps_the_coroutine_protocol(server: MockServer) -> None:
    """``_Ready`` (a type of its own, ``src/py/ready.rs``): ``throw`` raises what is thrown
    in, ``close`` does nothing, and a task wrapping it (``wait_for``, ``ensure_future``)
    gets its value."""
    client = sserpent.Client(base_url=server.base_url)
    stream = client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "3"})
    awaitable = stream.__aenter__()
    assert type(awaitable).__name__ == "_Ready"
    assert awaitable.close() is None
    with pytest.raises(ValueError, match="thrown in"):
        awaitable.throw(ValueError("thrown in"))
    with pytest.raises(KeyError):
        awaitable.throw(KeyError)
    with pytest.raises(TypeError):
        awaitable.throw()
    with pytest.raises(StopIteration) as stop:
        awaitable.send("anything")
    assert stop.value.value is stream
    with pytest.raises(TypeError, match="cannot create"):
        type(awaitable)()  # an instance without a value: refused, not a crash later
    if sys.version_info >= (3, 10):  # Py_TPFLAGS_IMMUTABLETYPE came with 3.10
        with pytest.raises(TypeError):
            type(awaitable).__next__ = lambda self: None  # immutable, as a pyo3 class

    async def main() -> Any:
        assert await asyncio.wait_for(stream.__aenter__(), 1) is stream
        assert await asyncio.ensure_future(stream.__aexit__(None, None, None)) is False
        # Each awaitable holds one reference to its value and gives it back.
        before = sys.getrefcount(stream)
        for _ in range(1000):
            assert await stream.__aenter__() is stream
        assert sys.getrefcount(stream) == before
        return await stream.__aexit__(None, None, None)

    assert asyncio.run(main()) is False


def test_ready_steps_on_this_interpreter(server: MockServer) -> None:
    """The check ``tests/wheel_smoke.py`` runs on every CPython of the machine (3.9-3.13 in
    scripts/test.sh), here on the one running pytest: ``StopIteration`` is one object raised
    again on 3.12 and 3.13 only; values arrive as themselves (also in ``args``, copies and pickles); a
    caught one keeps its value and its ``__context__``; steps run by a step's own frees keep
    theirs; no value outlives its step (on 3.12 and later, also a ``sys.monitoring`` tool keeping
    every one of them)."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import wheel_smoke
    finally:
        sys.path.pop(0)
    wheel_smoke.check_ready_steps(sserpent, server.base_url)
