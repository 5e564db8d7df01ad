"""The chunk objects read from one document share one reference to it and count themselves
under the GIL (``src/py/doc_ref.rs``): these tests follow that count and the reference through
every way a chunk is made and dropped, in any order, from several threads at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import sserpent
from sserpent._sserpent import _doc_refs

CHUNK = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi",'
    b'"tool_calls":[{"index":0,"function":{"name":"a"}},{"index":1,"function":{"name":"b"}}]}}]}\n\n'
)


def one_chunk() -> sserpent.Chunk:
    (chunk,) = list(sserpent.iter_chunks([CHUNK + b"data: [DONE]\n\n"]))
    return chunk


def test_nested_chunks_join_the_roots_one_reference_and_outlive_it() -> None:
    root = one_chunk()
    assert _doc_refs(root) == (1, 1)
    choice = root.choices[0]
    assert _doc_refs(root) == (2, 1)
    assert root.choices[0] is choice  # kept by the root: no new one on a second read
    delta = choice.delta
    assert _doc_refs(root) == (3, 1)
    del root
    assert _doc_refs(choice) == (2, 1)
    assert (choice.index, delta.content) == (0, "Hi")
    del choice
    assert _doc_refs(delta) == (1, 1)
    assert delta.content == "Hi"
    assert [c.function.name for c in delta.tool_calls] == ["a", "b"]


def test_item_access_and_lists_count_as_holders_while_they_live() -> None:
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
    # Threads switch only between bytecodes, never inside the extension's code: this holds
    # as long as nothing between a count's load and its store calls back into Python.
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


RELEASE_SCRIPT = textwrap.dedent(
    """
    import gc, json, time
    import sserpent
    from sserpent._sserpent import _doc_refs, _live_tasks, _released_waiting
    from sserpent.testing import MockServer

    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url)
        body = {"model": "m", "stream": True, "messages": []}
        chunks = list(client.stream("POST", "/chat/completions", json=body, headers={"x-mock-chunks": "5"}))
        first = chunks[1]
        delta = first.choices[0].delta
        assert delta.content
        steps = {"refs": _doc_refs(first)}
        del chunks
        for _ in range(200):  # the reader task ends after handing over the end
            if _live_tasks() == 0:
                break
            time.sleep(0.01)
        gc.collect()
        steps["tasks"] = _live_tasks()
        steps["before"] = _released_waiting()
        del first
        steps["after_root"] = _released_waiting()
        steps["refs_left"] = _doc_refs(delta)
        del delta
        steps["after_last"] = _released_waiting()
    print(json.dumps(steps))
    """
)


def test_the_last_holder_of_a_stream_document_releases_it_off_thread() -> None:
    # A fresh interpreter: the release list is the process's, and this one has few enough
    # documents waiting that no read or task takes them in the middle (256 make a batch due).
    out = subprocess.run([sys.executable, "-c", RELEASE_SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    steps = json.loads(out.stdout.strip().splitlines()[-1])
    assert steps["refs"] == [3, 1]  # root, choices[0], delta; nothing else (channel, fold) holds it
    assert steps["tasks"] == 0
    assert steps["before"] + 1 < 256
    assert steps["after_root"] == steps["before"]  # `delta` still holds the document
    assert steps["refs_left"] == [1, 1]  # `choices[0]` went with the root that kept it
    assert steps["after_last"] == steps["before"] + 1  # the last holder handed it over
