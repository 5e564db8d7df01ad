"""Opens 100,000 streams against the embedded mock server in one process and prints how RSS,
open file descriptors, threads and live reader tasks evolve: streams consumed to the end,
closed early, abandoned mid-stream without close(), and cancelled in async tasks. Every
figure should return to its baseline.

    python benches/bench_leaks.py [--streams 100000] [--every 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os

import sserpent
from sserpent._sserpent import _live_tasks
from sserpent.testing import MockServer

BODY = {"model": "m", "stream": True}


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def snapshot() -> tuple[float, int, int, int]:
    gc.collect()
    return rss_mib(), fds(), len(os.listdir("/proc/self/task")), _live_tasks()


def one(client: sserpent.Client, kind: int) -> None:
    headers = {"x-mock-chunks": "20"}
    if kind in (1, 2):  # paced, so leaving after the first chunk really cuts the stream
        headers["x-mock-interval-ms"] = "2"
    if kind == 0:  # consumed to the end
        for _ in client.stream("POST", "/chat/completions", json=BODY, headers=headers):
            pass
    elif kind == 1:  # closed early
        with client.stream("POST", "/chat/completions", json=BODY, headers=headers) as s:
            next(s)
    elif kind == 2:  # abandoned mid-stream, never closed
        s = client.stream("POST", "/chat/completions", json=BODY, headers=headers)
        next(s)
        del s


async def cancelled(client: sserpent.Client) -> None:
    stream = client.stream("POST", "/chat/completions", json=BODY,
                           headers={"x-mock-chunks": "1000", "x-mock-interval-ms": "5"})

    async def consume() -> None:
        async for _ in stream:
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.001)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def run(streams: int, every: int) -> list[tuple[int, float, int, int, int]]:
    rows = []
    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url)
        for kind in range(3):  # warm up pools, runtime threads and caches
            one(client, kind)
        asyncio.run(cancelled(client))
        server.reset()
        rows.append((0, *snapshot()))
        loop = asyncio.new_event_loop()
        for i in range(1, streams + 1):
            kind = i % 4
            if kind == 3:
                loop.run_until_complete(cancelled(client))
            else:
                one(client, kind)
            if i % every == 0:
                # The mock server records every request and connection (test
                # instrumentation in this same process): drop those records first.
                server.reset()
                rows.append((i, *snapshot()))
        loop.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--streams", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=10_000)
    args = ap.parse_args()
    rows = run(args.streams, args.every)
    print("\nbench_leaks: streams consumed / closed early / abandoned / cancelled (a quarter each)\n")
    print("| streams | RSS MiB | open fds | OS threads | live reader tasks |")
    print("|---:|---:|---:|---:|---:|")
    for n, rss, fd, th, tasks in rows:
        print(f"| {n:,} | {rss:.1f} | {fd} | {th} | {tasks} |")


if __name__ == "__main__":
    main()
