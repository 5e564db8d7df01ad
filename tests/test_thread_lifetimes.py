"""sserpent first imported in a thread that then exits, and objects made in one thread and
used, dropped or finalised in another, interpreter shutdown included.

Lazy imports in thread-pool workers (Starlette's sync endpoints, Flask, Django) do exactly
this. It used to kill the process: mimalloc 3's per-thread set-up dereferenced a half-made
heap in the next new thread once the importing thread had exited (now mimalloc 2, see
Cargo.toml). Each case runs in a child process, a few times over (the crash did not happen
on every run), so that a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Imports sserpent in a thread that exits before anything else runs, then starts the mock
# server in yet another thread (its runtime and sockets are made there).
PRELUDE = """
import asyncio, threading, sys
def run(target):
    errors = []
    def wrap():
        try:
            target()
        except BaseException as e:
            errors.append(e)
    t = threading.Thread(target=wrap)
    t.start()
    t.join(30)
    assert not t.is_alive(), "a thread is stuck"
    if errors:
        raise errors[0]
run(lambda: __import__("sserpent"))
import sserpent
from sserpent.testing import MockServer
box = {}
run(lambda: box.update(server=MockServer().__enter__()))
server = box["server"]
BASE = server.base_url
def chat(client):
    return client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True,
        extra_headers={"x-mock-chunks": "3"},
    )
def text_of(stream):
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
"""

CASES = {
    "construct in another thread": """
run(lambda: sserpent.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1"))
print("constructed")
""",
    "sync stream in another thread": """
def work():
    print(text_of(chat(sserpent.OpenAI(api_key="k", base_url=BASE))))
run(work)
""",
    "async stream in another thread": """
async def main():
    client = sserpent.AsyncOpenAI(api_key="k", base_url=BASE)
    stream = await chat(client)
    out = []
    async for c in stream:
        if c.choices:
            out.append(c.choices[0].delta.content or "")
    print("".join(out))
run(lambda: asyncio.run(main()))
""",
    "sync stream in the main thread": """
print(text_of(chat(sserpent.OpenAI(api_key="k", base_url=BASE))))
""",
    "made in one thread, read and dropped in another": """
run(lambda: box.update(stream=chat(sserpent.OpenAI(api_key="k", base_url=BASE))))
def read_and_drop():
    stream = box.pop("stream")
    print(text_of(stream))
    del stream
run(read_and_drop)
""",
    "open stream left to interpreter shutdown": """
run(lambda: box.update(stream=chat(sserpent.OpenAI(api_key="k", base_url=BASE))))
print(next(iter(box["stream"])).object)
sys.stdout.flush()
""",
}

EXPECTED = {
    "construct in another thread": "constructed",
    "open stream left to interpreter shutdown": "chat.completion.chunk",
}

RUNS = 4


def words3() -> str:
    from live_helpers import expected_text, mock_words

    return expected_text(mock_words(), 3)


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_in_an_exited_thread_then_use_elsewhere(case):
    script = PRELUDE + textwrap.dedent(CASES[case])
    expected = EXPECTED.get(case) or words3()
    for run in range(RUNS):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"run {run}: exit {done.returncode}\n{done.stderr[-2000:]}"
        assert done.stdout == expected + "\n", done.stderr[-2000:]
