"""Concurrency: one Client shared by many threads, several event loops in several threads, many
streams in one loop; each stream gets exactly its own chunks."""

from __future__ import annotations

import asyncio
import threading

import pytest
import sserpent
from live_helpers import chat, expected_tokens, mock_words, run_async
from sserpent.testing import MockServer


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def run_threads(target, args_list, timeout=30):
    """Run ``target(*args)`` in one thread per args, started together; returns the results
    (raising the first exception a thread raised)."""
    barrier = threading.Barrier(len(args_list))
    results = [None] * len(args_list)
    errors = []

    def wrap(i, args):
        try:
            barrier.wait(10)
            results[i] = target(*args)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    if errors:
        raise errors[0]
    return results


def test_one_client_sixteen_threads(server):
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)
    counts = [1, 7, 20, 55, 100, 333, 1000, 2500, 2, 9, 31, 64, 150, 500, 1200, 3000]

    def work(n):
        out = []
        for _ in range(3):
            stream = chat(client, n, headers={"x-mock-interval-ms": "0"})
            chunks = list(stream)
            texts = [c.choices[0].delta.content for c in chunks[1:-1]]
            out.append((len(chunks), texts, stream.metrics.chunks, stream.status))
        return out

    results = run_threads(work, [(n,) for n in counts])
    for n, rounds in zip(counts, results):
        for length, texts, metric_chunks, status in rounds:
            assert status == 200
            assert length == metric_chunks == n + 2
            assert texts == expected_tokens(words, n)
    assert len(server.requests) == 3 * len(counts)


def test_threads_use_the_text_view_and_the_default_client(server):
    words = mock_words()
    url = server.base_url + "/chat/completions"
    body = {"model": "m", "stream": True, "messages": []}
    counts = [3, 4, 5, 6, 30, 40, 50, 60]

    def work(n):
        return list(sserpent.stream("POST", url, json=body, headers={"x-mock-chunks": str(n)}).text())

    for n, got in zip(counts, run_threads(work, [(n,) for n in counts])):
        assert got == expected_tokens(words, n)


def test_threads_with_paced_streams(server):
    """Threads that all wait at once (GIL released) each get their own paced chunks."""
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)
    counts = list(range(10, 18))

    def work(n):
        return list(chat(client, n, headers={"x-mock-interval-ms": "5"}).text())

    for n, got in zip(counts, run_threads(work, [(n,) for n in counts])):
        assert got == expected_tokens(words, n)


def test_event_loops_in_several_threads(server):
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)
    plans = [("asyncio", [2, 9, 40]), ("uvloop", [3, 10, 41]), ("asyncio", [4, 11, 42]), ("uvloop", [5, 12, 43])]

    def work(mode, counts):
        async def one(n):
            stream = chat(client, n, headers={"x-mock-interval-ms": "1"})
            texts = [t async for t in stream.text()]
            return texts, stream.metrics.chunks

        async def main():
            return await asyncio.gather(*(one(n) for n in counts))

        return run_async(main, mode)

    results = run_threads(work, plans)
    for (_, counts), got in zip(plans, results):
        for n, (texts, chunks) in zip(counts, got):
            assert texts == expected_tokens(words, n)
            assert chunks == n + 2


def test_sync_and_async_consumers_at_once(server):
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)

    def sync_work(n):
        return list(chat(client, n, headers={"x-mock-interval-ms": "2"}).text())

    def async_work(n):
        async def main():
            return [t async for t in chat(client, n, headers={"x-mock-interval-ms": "2"}).text()]

        return asyncio.run(main())

    def work(kind, n):
        return sync_work(n) if kind == "sync" else async_work(n)

    plans = [("sync", 21), ("async", 22), ("sync", 23), ("async", 24), ("sync", 25), ("async", 26)]
    for (_, n), got in zip(plans, run_threads(work, plans)):
        assert got == expected_tokens(words, n)


@pytest.mark.parametrize("mode", ["asyncio", "uvloop"])
def test_many_streams_in_one_loop(server, mode):
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)
    counts = [1 + (i * 7) % 60 for i in range(100)]

    async def one(n):
        chunks = [c async for c in chat(client, n, headers={"x-mock-interval-ms": "1"})]
        return [c.choices[0].delta.content for c in chunks[1:-1]], len(chunks)

    async def main():
        return await asyncio.gather(*(one(n) for n in counts))

    for n, (texts, length) in zip(counts, run_async(main, mode)):
        assert texts == expected_tokens(words, n)
        assert length == n + 2


def test_clients_created_in_threads(server):
    words = mock_words()

    def work(n):
        client = sserpent.Client(base_url=server.base_url)
        return list(chat(client, n).text())

    counts = [8, 9, 10, 11]
    for n, got in zip(counts, run_threads(work, [(n,) for n in counts])):
        assert got == expected_tokens(words, n)


def test_streams_handed_between_threads(server):
    """A stream opened in one thread and read to its end in another (one at a time)."""
    words = mock_words()
    client = sserpent.Client(base_url=server.base_url)
    stream = chat(client, 30)
    view = iter(stream.text())
    head = [next(view) for _ in range(5)]
    tail = run_threads(lambda: list(view), [()])[0]
    assert head + tail == expected_tokens(words, 30)
