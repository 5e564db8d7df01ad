"""Instructions per chunk of one live stream, counted by valgrind's callgrind: repeatable
where wall-clock figures are not (shared, noisy machines).

The whole process is counted (client, the embedded mock server and Python), for a stream of
``--short`` and one of ``--long`` chunks; the difference over the extra chunks cancels
start-up out. Every chunk's ``choices[0].delta.content`` is read.

    python benches/callgrind_live.py [--short 2000] [--long 22000]   # needs valgrind

Use a release build (``maturin develop --release``).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def read_stream(mode: str, n: int) -> int:
    import sserpent
    from sserpent.testing import MockServer

    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url)

        def stream(chunks: int) -> sserpent.Stream:
            return client.stream("POST", "/chat/completions", json=BODY, headers={"x-mock-chunks": str(chunks)})

        for _ in stream(10):  # connection and code paths warm
            pass
        if mode == "sync":
            count = 0
            for c in stream(n):
                c.choices[0].delta.content if c.choices else None
                count += 1
            return count

        async def main() -> int:
            count = 0
            async for c in stream(n):
                c.choices[0].delta.content if c.choices else None
                count += 1
            return count

        return asyncio.run(main())


def instructions(mode: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", sys.executable, __file__,
             "--child", mode, str(n)],
            capture_output=True, text=True, check=True,
        )
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(read_stream(sys.argv[2], int(sys.argv[3])))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", type=int, default=2000)
    p.add_argument("--long", type=int, default=22000)
    args = p.parse_args()
    print("| mode | instructions/chunk |\n|---|---:|")
    for mode in ("sync", "async"):
        per_chunk = (instructions(mode, args.long) - instructions(mode, args.short)) / (args.long - args.short)
        print(f"| {mode} | {per_chunk:,.0f} |")


if __name__ == "__main__":
    main()
