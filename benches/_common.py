"""Shared helpers for the benchmark scripts: synthetic streams, the mock server in a process of
its own, and table printing."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

WORDS = ["Hello", " world", ",", " this", " is", " a", " streamed", " answer", " from", " the", " model", "."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mock_server_process() -> Iterator[tuple[int, subprocess.Popen]]:
    """``python -m sserpent mock-server`` in a process of its own (so its CPU is not the
    client's), on a free loopback port: yields ``(port, process)`` once it accepts
    connections, and stops it on exit."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sserpent", "mock-server", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(10)


def openai_chat_stream(n_chunks: int, obfuscation: bool = False) -> bytes:
    """An OpenAI chat completion stream (with `[DONE]`) of ``n_chunks`` content chunks.
    ``obfuscation``: with ``service_tier`` and the random-length ``obfuscation`` pad that
    api.openai.com adds to every chunk (since 2025; a fixed pseudo-random sequence)."""
    head = {
        "id": "chatcmpl-9lMgfRSWPHcw51s6wxKT1YEO2CKpd",
        "object": "chat.completion.chunk",
        "created": 1721075653,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_e9b8ed65d2",
    }
    if obfuscation:
        head = dict(head, service_tier="default")
    pad = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    def padded(chunk: dict) -> dict:
        if obfuscation:
            chunk["obfuscation"] = "".join(pad.choices(alphabet, k=pad.randint(1, 12)))
        return chunk

    parts = []
    first = dict(head, choices=[{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                                 "logprobs": None, "finish_reason": None}])
    parts.append(b"data: " + json.dumps(padded(first), separators=(",", ":")).encode() + b"\n\n")
    for i in range(n_chunks - 2):
        c = dict(head, choices=[{"index": 0, "delta": {"content": WORDS[i % len(WORDS)]},
                                 "logprobs": None, "finish_reason": None}])
        parts.append(b"data: " + json.dumps(padded(c), separators=(",", ":")).encode() + b"\n\n")
    last = dict(head, choices=[{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}])
    parts.append(b"data: " + json.dumps(padded(last), separators=(",", ":")).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def ollama_chat_stream(n_chunks: int) -> bytes:
    """An Ollama ``/api/chat`` NDJSON stream: ``n_chunks - 1`` content lines and the
    ``"done": true`` line."""
    parts = []
    for i in range(n_chunks - 1):
        line = {"model": "llama3.2", "created_at": "2025-06-01T10:20:30.123456789Z",
                "message": {"role": "assistant", "content": WORDS[i % len(WORDS)]}, "done": False}
        parts.append(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    last = {"model": "llama3.2", "created_at": "2025-06-01T10:20:31.0Z",
            "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
            "total_duration": 4883583458, "load_duration": 1334875, "prompt_eval_count": 26,
            "prompt_eval_duration": 342546000, "eval_count": n_chunks - 1, "eval_duration": 4535599000}
    parts.append(json.dumps(last, separators=(",", ":")).encode() + b"\n")
    return b"".join(parts)


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def measure(fn: Callable[[], int], repeat: int = 3) -> tuple[float, float, int]:
    """Best wall and CPU seconds over ``repeat`` runs, and the chunk count fn returned."""
    best_wall = best_cpu = float("inf")
    count = 0
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        count = fn()
        w1, c1 = time.perf_counter(), time.process_time()
        best_wall, best_cpu = min(best_wall, w1 - w0), min(best_cpu, c1 - c0)
    return best_wall, best_cpu, count


def print_table(title: str, rows: list[tuple[str, float, float, int]], base: str) -> None:
    """rows: (name, wall s, cpu s, chunks). Ratios are against the row named ``base``."""
    base_us = next(w / n * 1e6 for name, w, _, n in rows if name == base)
    print(f"\n{title}\n")
    print("| reader | chunks | µs/chunk | CPU s | × sserpent |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, cpu, n in rows:
        us = wall / n * 1e6
        print(f"| {name} | {n:,} | {us:.3f} | {cpu:.2f} | {us / base_us:.1f}× |")
