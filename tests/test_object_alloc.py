"""The per-chunk objects (``Chunk``, ``_Pending``, ``_Waiter``) are made by
``src/py/alloc.rs`` straight through ``PyType_GenericAlloc``, not pyo3's constructor (``_Ready``,
the awaitable of a chunk already there, is a type of its own: ``src/py/ready.rs``). That path
relies on pyo3's instance layout, measured on each class's first instance: these tests fail if
a pyo3 upgrade changes it (every chunk would silently take the slower path), and check that
objects made this way are whole Python objects: the right type and reference counts, untracked by
the collector (they hold nothing it could follow), and freed once released."""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from typing import Any, Iterator, List

import pytest
import sserpent
from sserpent import Chunk
from sserpent._sserpent import _fast_alloc
from sserpent.testing import MockServer

CHAT = "/chat/completions"
BODY = {"model": "m", "stream": True, "messages": []}
STREAM = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    * 50
    + b"data: [DONE]\n\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as s:
        yield s


def allocated_here(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes still allocated from this file's lines: the chunk objects and awaitables its
    reads made (objects made directly come from CPython's allocator, which tracemalloc sees,
    and are charged to the line whose call made them)."""
    return sum(s.size for s in snapshot.filter_traces([tracemalloc.Filter(True, __file__)]).statistics("filename"))


def test_every_class_takes_the_direct_path_after_its_first_instance(server: MockServer) -> None:
    async def read(headers: dict) -> int:
        client = sserpent.Client(base_url=server.base_url)
        return len([c async for c in client.stream("POST", CHAT, json=BODY, headers=headers)])

    assert len(list(sserpent.iter_chunks([STREAM]))) == 50
    # Paced: every `__anext__` waits (`_Pending`, `_Waiter`); back to back: most find their
    # chunk ready (`_Ready`).
    assert asyncio.run(read({"x-mock-chunks": "5", "x-mock-interval-ms": "2"})) >= 5
    assert asyncio.run(read({"x-mock-chunks": "500"})) >= 500
    assert dict(_fast_alloc()) == {"Chunk": True, "_Pending": True, "_Waiter": True}


def test_chunks_made_directly_are_ordinary_objects() -> None:
    chunks = list(sserpent.iter_chunks([STREAM]))
    assert len(chunks) == 50
    c = chunks[-1]
    assert type(c) is Chunk and isinstance(c, Chunk)
    assert c.choices[0].delta.content == "Hi"
    # The nested chunk is made once and kept: the same object again.
    choice = c.choices[0]
    assert type(choice) is Chunk and c.choices[0] is choice
    # A chunk nobody read from holds no extra reference: counted as a plain object in a list is.
    plain = [object(), object()]
    assert sys.getrefcount(chunks[1]) == sys.getrefcount(plain[1])
    # Not tracked by the collector (they hold nothing it could follow; see alloc.rs).
    assert not gc.is_tracked(c) and not gc.is_tracked(choice)


def test_chunks_made_directly_are_freed() -> None:
    tracemalloc.start()
    try:
        def read(rounds: int) -> None:
            for _ in range(rounds):
                for c in sserpent.iter_chunks([STREAM]):
                    assert c.choices[0].delta.content == "Hi"

        read(2)
        before = allocated_here(tracemalloc.take_snapshot())
        read(200)  # 10,000 chunks, 30,000 chunk objects
        after = allocated_here(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert after - before < 1024, f"{after - before} bytes still held after 10,000 chunks"


def test_chunk_repr_pickle_and_equality_after_direct_allocation() -> None:
    import pickle

    (first, *_) = sserpent.iter_chunks([STREAM])
    again = pickle.loads(pickle.dumps(first))
    assert again.to_dict() == first.to_dict()
    assert "Hi" in repr(first.choices[0].delta)


@pytest.mark.async_io
def test_async_objects_made_directly_are_released(server: MockServer) -> None:
    """Every ``_Ready`` (a chunk that was ready; ``src/py/ready.rs``), ``_Pending`` and
    ``_Waiter`` (a wait) of an async stream, paced or back to back, is freed once done with:
    nothing made per chunk stays allocated."""

    async def main(headers: dict) -> List[Any]:
        client = sserpent.Client(base_url=server.base_url)
        return [c.choices[0].delta.content async for c in client.stream("POST", CHAT, json=BODY, headers=headers)]

    paced, burst = {"x-mock-chunks": "100", "x-mock-interval-ms": "1"}, {"x-mock-chunks": "300"}
    expected = [c.choices[0].delta.content for c in
                sserpent.Client(base_url=server.base_url).stream("POST", CHAT, json=BODY, headers=burst)]
    tracemalloc.start()
    try:
        for _ in range(2):
            asyncio.run(main(paced))
            assert asyncio.run(main(burst)) == expected
        gc.collect()
        before = allocated_here(tracemalloc.take_snapshot())
        for _ in range(4):  # 1,600 chunks, 400 of them waited for
            asyncio.run(main(paced))
            assert asyncio.run(main(burst)) == expected
        gc.collect()
        after = allocated_here(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert after - before < 1024, f"{after - before} bytes still held after 1,600 chunks"


@pytest.mark.async_io
def test_a_waiting_streams_awaitable_and_waiter_are_direct_and_untracked(server: MockServer) -> None:
    """While a task awaits a paced stream, what it awaits (``_Pending``) and the future it
    yielded to asyncio (``_Waiter``) are the objects made directly: untracked by the
    collector, and the waiter is woken (the stream completes)."""

    async def main() -> None:
        client = sserpent.Client(base_url=server.base_url)

        async def read() -> int:
            stream = client.stream("POST", CHAT, json=BODY, headers={"x-mock-chunks": "3", "x-mock-interval-ms": "200"})
            return len([c async for c in stream])

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.1)  # the reader is waiting for its next chunk now
        waiter = reader._fut_waiter  # type: ignore[attr-defined]
        awaited = reader.get_coro()
        while type(awaited).__name__ == "coroutine":  # through the comprehension's own frame
            awaited = awaited.cr_await
        assert type(waiter).__name__ == "_Waiter" and not gc.is_tracked(waiter)
        assert type(awaited).__name__ == "_Pending" and not gc.is_tracked(awaited)
        assert await reader >= 3

    asyncio.run(main())
    assert dict(_fast_alloc())["_Waiter"] is True
