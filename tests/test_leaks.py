"""Streams consumed, closed early, abandoned and cancelled leave nothing behind: open file
descriptors, threads and live reader tasks return to their baseline (a small version of
benches/bench_leaks.py, in a fresh interpreter so other tests' state does not count)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, json, os, sys, threading, time
    sys.path.insert(0, "benches")
    from bench_leaks import cancelled, one, rss_mib
    import sserpent
    from sserpent._sserpent import _live_tasks
    from sserpent.testing import MockServer

    def settle():
        for _ in range(100):
            gc.collect()
            if _live_tasks() == 0:
                break
            time.sleep(0.02)
        return len(os.listdir("/proc/self/fd")), len(os.listdir("/proc/self/task")), _live_tasks(), rss_mib()

    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url)
        for kind in range(3):
            one(client, kind)
        asyncio.run(cancelled(client))
        before = settle()
        loop = asyncio.new_event_loop()
        for i in range(1, 801):
            if i % 4 == 3:
                loop.run_until_complete(cancelled(client))
            else:
                one(client, i % 4)
        loop.close()
        time.sleep(0.5)
        cut = sum(1 for c in server.connections if c.closed_by == "client")
        still_open = sum(1 for c in server.connections if c.open)
        total = len(server.connections)
        server.reset()  # the mock's request records live in this process too
        after = settle()
    print(json.dumps({"before": before, "after": after, "open": still_open, "total": total, "cut": cut}))
    """
)


def test_streams_leave_nothing_behind():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180, cwd=".")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    (fds0, threads0, tasks0, rss0), (fds1, threads1, tasks1, rss1) = result["before"], result["after"]
    assert tasks0 == 0 and tasks1 == 0
    # The pool may keep a few idle keep-alive connections; nothing grows with the stream count.
    assert fds1 <= fds0 + 4
    assert threads1 == threads0
    assert rss1 - rss0 < 32, f"RSS grew {rss1 - rss0:.1f} MiB over 800 streams"
    # Streams that finished reading return their connection to the pool; closed early,
    # abandoned or cancelled ones close it: only idle keep-alive connections stay open.
    assert result["open"] <= 4, result
    # the 400 streams left mid-stream (closed early or abandoned) each closed their connection
    assert result["cut"] >= 400, result
