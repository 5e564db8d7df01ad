"""The per-chunk objects (``Chunk``, ``_Ready``, ``_Pending``, ``_Waiter``) are made by
``src/py/alloc.rs`` straight through ``PyType_GenericAlloc``, not pyo3's constructor. That path
relies on pyo3's instance layout, measured on each class's first instance: these tests fail if
a pyo3 upgrade changes it (every chunk would silently take the slower path), and check that
objects made this way are whole Python objects: the right type, counted and tracked like any
other, and gone once released."""

from __future__ import annotations

import asyncio
import gc
import sys
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


def live(type_name: str) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o).__name__ == type_name)


def test_every_class_takes_the_direct_path_after_its_first_instance(server: MockServer) -> None:
    async def read(headers: dict) -> int:
        client = sserpent.Client(base_url=server.base_url)
        return len([c async for c in client.stream("POST", CHAT, json=BODY, headers=headers)])

    assert len(list(sserpent.iter_chunks([STREAM]))) == 50
    # Paced: every `__anext__` waits (`_Pending`, `_Waiter`); back to back: most find their
    # chunk ready (`_Ready`).
    assert asyncio.run(read({"x-mock-chunks": "5", "x-mock-interval-ms": "2"})) >= 5
    assert asyncio.run(read({"x-mock-chunks": "500"})) >= 500
    assert dict(_fast_alloc()) == {"Chunk": True, "_Ready": True, "_Pending": True, "_Waiter": True}


def test_chunks_made_directly_are_ordinary_objects() -> None:
    chunks = list(sserpent.iter_chunks([STREAM]))
    assert len(chunks) == 50
    c = chunks[0]
    assert type(c) is Chunk and isinstance(c, Chunk)
    assert c.choices[0].delta.content == "Hi"
    # The nested chunk is made once and kept: the same object again, one more reference.
    choice = c.choices[0]
    assert type(choice) is Chunk and c.choices[0] is choice
    assert sys.getrefcount(c.choices[0].delta) >= 2
    # A chunk nobody read from holds no extra reference: counted as a plain object in a list is.
    plain = [object(), object()]
    assert sys.getrefcount(chunks[1]) == sys.getrefcount(plain[1])
    # The garbage collector tracks them (pyo3 classes are GC types) and lets them go.
    assert gc.is_tracked(c) and gc.is_tracked(choice)
    assert live("Chunk") >= 51
    del c, choice, chunks
    assert live("Chunk") == 0


def test_chunk_repr_pickle_and_equality_after_direct_allocation() -> None:
    import pickle

    (first, *_) = sserpent.iter_chunks([STREAM])
    again = pickle.loads(pickle.dumps(first))
    assert again.to_dict() == first.to_dict()
    assert "Hi" in repr(first.choices[0].delta)


@pytest.mark.async_io
def test_async_objects_made_directly_are_released(server: MockServer) -> None:
    """Every ``_Ready`` (a chunk that was ready), ``_Pending`` and ``_Waiter`` (a wait) of a
    paced async stream is released by the time the stream ends: none is left for the
    collector."""

    async def main() -> List[Any]:
        client = sserpent.Client(base_url=server.base_url)
        out = []
        async for c in client.stream("POST", CHAT, json=BODY,
                                     headers={"x-mock-chunks": "20", "x-mock-interval-ms": "5"}):
            out.append(c.choices[0].delta.content)
        return out

    headers = {"x-mock-chunks": "20"}
    expected = [c.choices[0].delta.content for c in
                sserpent.Client(base_url=server.base_url).stream("POST", CHAT, json=BODY, headers=headers)]
    before = (live("_Ready"), live("_Pending"), live("_Waiter"))
    texts = asyncio.run(main())
    assert texts == expected and len(texts) >= 20
    assert (live("_Ready"), live("_Pending"), live("_Waiter")) == before == (0, 0, 0)
