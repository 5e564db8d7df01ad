"""examples/notebook.ipynb executed top to bottom by nbclient in a real ipykernel (whose asyncio
event loop is running), with its outputs asserted: the plain loop's and the ``async for`` loop's
text, one Markdown display updated in place (at most ~20 times a second) ending with the metrics
footer, the metrics cell. And a kernel interrupt during a stalled stream stops the cell with
``KeyboardInterrupt`` within a few seconds, after which the kernel runs the next cell."""

from __future__ import annotations

import ast
import asyncio
import functools
import re
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, Tuple

import nbformat
import openai
import pytest
from nbclient import NotebookClient
from sserpent.testing import MockServer
from web_helpers import EXAMPLES, ROOT

NOTEBOOK = EXAMPLES / "notebook.ipynb"
FOOTER = re.compile(
    r"\n\n---\n\*first token (?P<ttft>\d+) ms · (?P<chunks>\d+) chunks · (?P<rate>\d+\.\d) chunks/s · "
    r"(?P<total>\d+\.\d\d) s\*\Z"
)


class RecordingClient(NotebookClient):
    """Keeps every IOPub message of the cells it runs, with the time it was processed."""

    def __init__(self, nb: Any, **kw: Any) -> None:
        super().__init__(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}, **kw)
        self.messages: List[Tuple[int, float, Dict[str, Any]]] = []

    def process_message(self, msg: Dict[str, Any], cell: Any, cell_index: int) -> Any:
        self.messages.append((cell_index, time.monotonic(), msg))
        return super().process_message(msg, cell, cell_index)

    def of(self, cell_index: int, *types: str) -> List[Tuple[float, Dict[str, Any]]]:
        return [(t, m) for i, t, m in self.messages if i == cell_index and m["msg_type"] in types]


def stdout(cell: Any) -> str:
    return "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout")


def errors(cell: Any) -> List[Any]:
    return [o for o in cell.outputs if o["output_type"] == "error"]


def cell_index(nb: Any, needle: str) -> int:
    [i] = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and needle in c.source]
    return i


@functools.cache
def reference(chunks: int, interval_ms: int) -> Tuple[str, int]:
    """The text and the number of chunks of the mock's reply to the notebook's ``extra_headers``,
    read with the openai SDK."""
    headers = {"x-mock-chunks": str(chunks), "x-mock-interval-ms": str(interval_ms)}
    with MockServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Hello!"}],
                stream=True,
                extra_headers=headers,
            )
        )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), len(chunks)


@pytest.fixture(scope="module")
def executed() -> Iterator[Tuple[Any, RecordingClient, bool]]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = RecordingClient(nb)

    async def run() -> bool:
        async with client.async_setup_kernel():
            for index, cell in enumerate(nb.cells):
                await client.async_execute_cell(cell, index)
            # One more cell, not part of the notebook: the kernel's event loop was running.
            probe = nbformat.v4.new_code_cell("import asyncio; print(asyncio.get_event_loop().is_running())")
            nb.cells.append(probe)
            try:
                await client.async_execute_cell(probe, len(nb.cells) - 1)
            finally:
                nb.cells.pop()
            return stdout(probe) == "True\n"

    loop_running = asyncio.run(run())
    yield nb, client, loop_running


def test_notebook_runs_clean(executed: Any) -> None:
    nb, _, loop_running = executed
    assert loop_running
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 6
    for cell in code:
        assert cell.execution_count is not None
        assert errors(cell) == [], cell.source
        assert all(o["name"] == "stdout" for o in cell.outputs if o["output_type"] == "stream"), cell.source


def test_plain_loop_and_async_for(executed: Any) -> None:
    nb, client, _ = executed
    text, _ = reference(12, 20)
    assert text.startswith("Hello! This is the sserpent mock server.")
    for needle in ("\nfor chunk in stream:", "\nasync for chunk in stream:"):
        i = cell_index(nb, needle)
        assert stdout(nb.cells[i]) == text, needle
        # Printed as the chunks came (12 chunks, 20 ms apart), not all at the end.
        assert len(client.of(i, "stream")) >= 2


def test_display_is_one_markdown_display_updated_in_place(executed: Any) -> None:
    nb, client, _ = executed
    i = cell_index(nb, "stream.display()")
    text, chunks = reference(120, 10)

    # The notebook keeps one output: the final Markdown, text then footer.
    [out] = nb.cells[i].outputs
    assert out["output_type"] == "display_data"
    markdown = out["data"]["text/markdown"]
    assert markdown.startswith(text)
    footer = FOOTER.search(markdown[len(text) :])
    assert footer is not None, markdown[len(text) :]
    assert int(footer["chunks"]) == chunks == 122
    assert 1.0 <= float(footer["total"]) < 10  # 120 chunks 10 ms apart
    assert float(footer["rate"]) > 0

    # On the wire: one display, then updates of that same display id.
    [(_, created)] = client.of(i, "display_data")
    display_id = created["content"]["transient"]["display_id"]
    updates = client.of(i, "update_display_data")
    assert {m["content"]["transient"]["display_id"] for _, m in updates} == {display_id}
    bodies = [m["content"]["data"]["text/markdown"] for _, m in updates]
    assert bodies[-1] == markdown
    partial = bodies[:-1]
    # Growing prefixes of the text, shown while it streamed.
    assert all(text.startswith(b) for b in partial)
    assert [len(b) for b in partial] == sorted(len(b) for b in partial)
    assert len({b for b in partial if b and b != text}) >= 5
    # Throttled: 122 chunks over ~1.2 s give at most ~20 updates a second (+ the last two).
    # (timed by the kernel's own message timestamps)
    elapsed = (updates[-1][1]["header"]["date"] - created["header"]["date"]).total_seconds()
    assert len(updates) <= 20 * elapsed + 3, (len(updates), elapsed)
    assert len(updates) < chunks / 2


def test_metrics_cell(executed: Any) -> None:
    nb, _, _ = executed
    i = cell_index(nb, "m = stream.metrics")
    text, chunks = reference(120, 10)
    lines = stdout(nb.cells[i]).splitlines()
    assert lines[0] == f"{len(text)} characters in {chunks} chunks"
    assert re.fullmatch(r"first token after \d+\.\d ms, \d+ chunks/s, \d+\.\d\d s in all", lines[1]), lines[1]
    [result] = [o for o in nb.cells[i].outputs if o["output_type"] == "execute_result"]
    shown = ast.literal_eval(result["data"]["text/plain"])
    assert sorted(shown) == [
        "attempts",
        "bytes_received",
        "chunks",
        "chunks_per_second",
        "duration",
        "gap_p50",
        "gap_p99",
        "time_to_first_event",
        "time_to_first_token",
        "time_to_headers",
    ]
    assert shown["chunks"] == chunks
    assert shown["attempts"] == 1
    assert 1.0 <= shown["duration"] < 10
    assert 0 < shown["time_to_headers"] <= shown["time_to_first_event"] <= shown["time_to_first_token"]


# --- interrupting a stalled stream -----------------------------------------------------------

INTERRUPTED_WITHIN = 5.0


def test_kernel_interrupt_stops_a_stalled_stream() -> None:
    with MockServer() as server:
        server.enqueue(stall_after=3)  # role chunk, "Hello!", " This", then silence
        server.enqueue(stall_after=3)
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_code_cell(
                "import sserpent\n"
                f"client = sserpent.OpenAI(base_url={server.base_url!r}, api_key='x', max_retries=0)\n"
                "def ask():\n"
                "    return client.chat.completions.create(model='m', messages=[], stream=True)"
            ),
            nbformat.v4.new_code_cell(
                "stream = ask()\n"
                "for chunk in stream:\n"
                "    print(chunk.choices[0].delta.content or '', end='', flush=True)"
            ),
            nbformat.v4.new_code_cell("print('alive', 6 * 7)"),
            nbformat.v4.new_code_cell("stream = ask()\ntext = stream.display()"),
            nbformat.v4.new_code_cell("print('still alive', 6 * 7)"),
        ]
        client = RecordingClient(nb, allow_errors=True)

        async def interrupt_when(index: int, shown: Any) -> float:
            """Runs cell ``index``, interrupts the kernel once ``shown()`` holds; returns how long
            the cell took to stop after the interrupt."""
            task = asyncio.ensure_future(client.async_execute_cell(nb.cells[index], index))
            deadline = time.monotonic() + 10
            while not shown():
                assert not task.done(), nb.cells[index].outputs
                assert time.monotonic() < deadline, "the stalled cell showed nothing"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # now it waits on the silent upstream
            assert not task.done()
            interrupted_at = time.monotonic()
            await client.km.interrupt_kernel()
            await asyncio.wait_for(task, 30)
            return time.monotonic() - interrupted_at

        async def run() -> None:
            async with client.async_setup_kernel():
                await client.async_execute_cell(nb.cells[0], 0)
                assert errors(nb.cells[0]) == []

                took = await interrupt_when(1, lambda: "Hello! This" in stdout(nb.cells[1]))
                assert took < INTERRUPTED_WITHIN
                assert stdout(nb.cells[1]) == "Hello! This"
                [error] = errors(nb.cells[1])
                assert error["ename"] == "KeyboardInterrupt"
                await client.async_execute_cell(nb.cells[2], 2)
                assert stdout(nb.cells[2]) == "alive 42\n"

                def displayed() -> bool:
                    return any(m["content"]["data"]["text/markdown"] for _, m in client.of(3, "update_display_data"))

                took = await interrupt_when(3, displayed)
                assert took < INTERRUPTED_WITHIN
                [error] = errors(nb.cells[3])
                assert error["ename"] == "KeyboardInterrupt"
                [shown] = [o for o in nb.cells[3].outputs if o["output_type"] == "display_data"]
                assert shown["data"]["text/markdown"] == "Hello! This"  # the text so far stays
                await client.async_execute_cell(nb.cells[4], 4)
                assert stdout(nb.cells[4]) == "still alive 42\n"
                assert errors(nb.cells[4]) == []

        asyncio.run(run())


def test_display_outside_a_kernel_prints_the_text() -> None:
    """In a plain script ``stream.display()`` prints the text as it comes, then the footer."""
    text, chunks = reference(12, 20)
    with MockServer() as server:
        script = (
            "import sserpent\n"
            f"client = sserpent.OpenAI(base_url={server.base_url!r}, api_key='x')\n"
            "stream = client.chat.completions.create(model='gpt-4o-mini', stream=True,\n"
            "    messages=[{'role': 'user', 'content': 'Hello!'}],\n"
            "    extra_headers={'x-mock-chunks': '12', 'x-mock-interval-ms': '20'})\n"
            "returned = stream.display()\n"
            "print(repr(returned))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    printed, footer_line, returned, empty = out.split("\n")
    assert printed == text
    assert re.fullmatch(rf"first token \d+ ms · {chunks} chunks · \d+\.\d chunks/s · \d+\.\d\d s", footer_line)
    assert returned == repr(text)
    assert empty == ""
