"""Jupyter: render a stream live as Markdown in the output cell.

.. code-block:: python

    stream = client.chat.completions.create(..., stream=True)
    sserpent.notebook.display(stream)      # or stream.display()

One display is updated in place at most ``max_updates_per_second`` times however fast the
chunks come, and a one-line footer ends it: time to first token, chunks, chunks per second,
total time. Plain ``print(..., end="")`` loops keep working too.
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["display", "footer"]


def footer(metrics: Any) -> str:
    """``first token 212 ms · 48 chunks · 39.1 chunks/s · 1.23 s``"""

    def ms(v: Any) -> str:
        return "–" if v is None else f"{v * 1e3:.0f} ms"

    rate = metrics.chunks_per_second
    total = metrics.duration
    return (
        f"first token {ms(metrics.time_to_first_token)} · {metrics.chunks} chunks · "
        f"{'–' if rate is None else f'{rate:.1f}'} chunks/s · {'–' if total is None else f'{total:.2f} s'}"
    )


def _in_kernel() -> bool:
    """True in a Jupyter kernel (a shell with a ``kernel``); not in a script or terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def _print_live(stream: Any) -> str:
    """Outside a kernel: the text printed as it comes, then the footer on its own line."""
    text = ""
    for delta in stream.text():
        text += delta
        print(delta, end="", flush=True)
    print(f"\n{footer(stream.metrics)}", flush=True)
    return text


def display(stream: Any, *, max_updates_per_second: float = 20.0) -> str:
    """Streams the text of ``stream`` into one live Markdown display; returns the text.

    Outside a Jupyter kernel (a script, a terminal) it prints the text as it comes instead."""
    if not _in_kernel():
        return _print_live(stream)
    from IPython.display import Markdown
    from IPython.display import display as ipy_display

    handle = ipy_display(Markdown(""), display_id=True)
    interval = 1.0 / max_updates_per_second
    state = {"text": "", "shown": "", "last": 0.0}
    lock = threading.Lock()
    done = threading.Event()

    def show(now: float) -> None:
        # Caller holds the lock.
        if state["text"] != state["shown"]:
            handle.update(Markdown(state["text"]))
            state["shown"] = state["text"]
            state["last"] = now

    def flush_when_stalled() -> None:
        # Text held back by the rate limit still appears if the stream then stalls.
        while not done.wait(interval):
            with lock:
                now = time.monotonic()
                if now - state["last"] >= interval:
                    show(now)

    flusher = threading.Thread(target=flush_when_stalled, name="sserpent-display", daemon=True)
    flusher.start()
    try:
        for delta in stream.text():
            with lock:
                state["text"] += delta
                now = time.monotonic()
                if now - state["last"] >= interval:
                    show(now)
    finally:
        done.set()
        flusher.join()
        with lock:
            show(time.monotonic())
    text = state["text"]
    handle.update(Markdown(f"{text}\n\n---\n*{footer(stream.metrics)}*"))
    return text
