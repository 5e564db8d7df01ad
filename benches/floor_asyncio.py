"""A floor for bench_concurrency.py on the Python side: N paced streams read by the leanest
per-stream asyncio code possible, one task per stream on ``asyncio.open_connection`` with
no HTTP parsing, no SSE framing and no JSON: each read is searched for ``"x_sent_ns":`` and
the lag recorded. It shows what one asyncio thread can carry; sserpent's Python thread does
less per chunk than this (docs/performance.md).

    python -m sserpent mock-server --port 8765 &
    python benches/floor_asyncio.py 8765 5000 120
"""

import asyncio
import sys
import time

port, n, chunks = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
body = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
req = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
       f"x-mock-chunks: {chunks}\r\nx-mock-interval-ms: 50\r\nx-mock-timestamps: 1\r\n"
       f"content-length: {len(body)}\r\n\r\n").encode() + body
lags: list[int] = []
NEEDLE = b'"x_sent_ns":'


async def one() -> None:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(req)
    first = True
    while True:
        data = await r.read(65536)
        if not data:
            break
        now = time.time_ns()
        i = data.find(NEEDLE)
        while i >= 0:
            j = i + len(NEEDLE)
            k = j
            while data[k:k + 1].isdigit():
                k += 1
            if first:
                first = False
            else:
                lags.append(now - int(data[j:k]))
            i = data.find(NEEDLE, k)
        if b"[DONE]" in data:
            break
    w.close()


async def main() -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    t1, c1 = time.perf_counter(), time.process_time()
    lags.sort()

    def q(p: float) -> float:
        return lags[min(len(lags) - 1, int(p * len(lags)))] / 1e6

    print(f"asyncio floor: {n} streams, CPU {(c1 - c0) / (t1 - t0) * 100:.0f}%, "
          f"{(c1 - c0) / len(lags) * 1e6:.1f} us/chunk, p50 {q(.5):.1f} ms, p99 {q(.99):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
