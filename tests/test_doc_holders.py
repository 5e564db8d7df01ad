"""The chunk objects read from one document share one reference to it and count themselves
under the GIL (``src/py/doc_ref.rs``): these tests follow that count and the reference through
every way a chunk is made and dropped, in any order, from several threads at once."""

from __future__ import annotations

import sys
import threading
from typing import Iterator

import pytest
import sserpent
from sserpent._sserpent import _doc_refs, _released_waiting
from sserpent.testing import MockServer

CHUNK = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi",'
    b'"tool_calls":[{"index":0,"function":{"name":"a"}},{"index":1,"function":{"name":"b"}}]}}]}\n\n'
)


def one_chunk() -> sserpent.Chunk:
    (chunk,) = list(sserpent.iter_chunks([CHUNK + b"data: [DONE]\n\n"]))
    return chunk


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as s:
        yield s


def test_nested_chunks_join_the_roots_one_reference_and_outlive_it() -> None:
    root = one_chunk()
    assert _doc_refs(root) == (1, 1)
    choice = root.choices[0]
    assert _doc_refs(root) == (2, 1)  # `choice` is kept by the root: no new one on a second read
    assert root.choices[0] is choice
    delta = choice.delta
    assert _doc_refs(root) == (3, 1)
    del root
    assert _doc_refs(choice) == (2, 1)
    assert (choice.index, delta.content) == (0, "Hi")
    del choice
    assert _doc_refs(delta) == (1, 1)
    assert delta.content == "Hi"
    assert [c.function.name for c in delta.tool_calls] == ["a", "b"]


def test_items_lists_and_copies_count_as_holders_while_they_live() -> None:
    root = one_chunk()
    by_item = root["choices"][0]["delta"]  # item access makes new chunks each time
    assert by_item is not root["choices"][0]["delta"]
    assert _doc_refs(root) == (2, 1)  # root and delta: the path's list and choices[0] went
    calls = by_item.tool_calls  # a two-element array: a new list of two chunks
    assert _doc_refs(root) == (4, 1)
    del calls
    assert _doc_refs(root) == (2, 1)
    del by_item
    assert _doc_refs(root) == (1, 1)
    assert root.get("choices")[0].get("delta").get("content") == "Hi"
    assert _doc_refs(root) == (1, 1)


def test_chunks_made_and_dropped_from_many_threads_keep_an_exact_count() -> None:
    root = one_chunk()
    kept = root.choices[0].delta  # root, choices[0] and delta: three holders from here on
    assert _doc_refs(root) == (3, 1)
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(3000):
                d = root["choices"][0]["delta"]
                calls = d.tool_calls
                assert d.content == "Hi" and calls[1].function.name == "b"
                del d, calls
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    assert _doc_refs(root) == (3, 1)
    assert kept.content == "Hi"


def test_the_last_holder_of_a_stream_document_releases_it_off_thread(server: MockServer) -> None:
    client = sserpent.Client(base_url=server.base_url)
    chunks = list(client.stream("POST", "/chat/completions", json={"model": "m", "stream": True, "messages": []},
                                headers={"x-mock-chunks": "5"}))
    first = chunks[1]
    delta = first.choices[0].delta
    assert delta.content
    assert _doc_refs(first) == (3, 1)  # nothing else (the channel, the accumulator) holds it
    del chunks
    before = _released_waiting()
    assert before < 2000  # far from the bound at which a task frees the list at once
    del first
    assert _released_waiting() == before  # `delta` still holds the document
    assert _doc_refs(delta) == (1, 1)  # `choices[0]` went with the root that kept it
    del delta  # the last holder: the document goes to the release list
    assert _released_waiting() == before + 1
