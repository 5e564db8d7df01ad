"""sserpent's two cleartext HTTP/1.1 readers side by side on one stream: straight from the
socket in the stream's task (``direct``, the default for ``http://``) and through hyper's
connection task (``SSERPENT_HTTP1=hyper``, what ``https://`` and proxies use).

The mock server's OpenAI chat stream, ``choices[0].delta.content`` of every chunk, sync and
async (socket-pair wake-up), the four readers interleaved for ``--rounds`` rounds so drift on
a shared machine hits all alike: back to back (``--chunks``) and paced 1 ms a chunk
(``--paced-chunks``, every chunk its own read and wake-up). Prints wall µs/chunk and process
CPU µs/chunk (the embedded server's threads included), best and median, and each hyper row's
ratio to the direct one. Many concurrent streams: ``bench_concurrency.py --http1-reader``.

    python benches/bench_http1_readers.py [--chunks 200000] [--paced-chunks 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_live as live  # noqa: E402
from sserpent.testing import MockServer  # noqa: E402

READERS = {
    "direct, sync": live.sserpent_sync,
    "hyper, sync": live.with_env("SSERPENT_HTTP1", "hyper", live.sserpent_sync),
    "direct, async": live.sserpent_async_wake("socketpair"),
    "hyper, async": live.with_env("SSERPENT_HTTP1", "hyper", live.sserpent_async_wake("socketpair")),
}


def measure(base: str, n: int, interval_ms: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in READERS}
    for _ in range(rounds):
        for name, read in READERS.items():
            w0, c0 = time.perf_counter(), time.process_time()
            count = read(base, n, interval_ms)
            w1, c1 = time.perf_counter(), time.process_time()
            out[name].append(((w1 - w0) / count * 1e6, (c1 - c0) / count * 1e6))
    return out


def table(title: str, rows: dict[str, list[tuple[float, float]]]) -> None:
    print(f"\n{title}\n")
    print("| reader | wall µs/chunk best | median | CPU µs/chunk best | median | hyper / direct (median CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in rows.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        ratio = ""
        if name.startswith("hyper"):
            direct = rows["direct" + name[len("hyper"):]]
            ratio = f"{statistics.median(cpus) / statistics.median(c for _, c in direct):.2f}×"
        print(f"| {name} | {min(walls):.3f} | {statistics.median(walls):.3f} | {min(cpus):.3f} | "
              f"{statistics.median(cpus):.3f} | {ratio} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=200_000)
    ap.add_argument("--paced-chunks", type=int, default=2_000, help="0 skips the paced stream")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with MockServer() as server:
        bulk = measure(server.base_url, args.chunks, 0, args.rounds)
        paced = measure(server.base_url, args.paced_chunks, 1, args.rounds) if args.paced_chunks else None
    table(f"bench_http1_readers: {args.chunks:,} chunks back to back, {args.rounds} rounds", bulk)
    if paced:
        table(f"bench_http1_readers: {args.paced_chunks:,} chunks 1 ms apart, {args.rounds} rounds", paced)


if __name__ == "__main__":
    main()
