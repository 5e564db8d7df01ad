"""examples/fastapi_chat.py under uvicorn, its page loaded in headless Chromium (Debian's
``chromium``, driven over the DevTools protocol): after a click on Send, the reply appears in
at least three visible steps before the stream ends, and the final text is exact."""

from __future__ import annotations

import time
from typing import Iterator, List, Tuple

import openai
import pytest
from sserpent.testing import MockServer
from web_helpers import chromium_page, load_example, serve_app

CHUNKS = 24
INTERVAL_MS = 50  # the whole reply takes ~1.2 s
PACING = {"x-mock-chunks": str(CHUNKS), "x-mock-interval-ms": str(INTERVAL_MS)}

SAMPLE = """(() => {
  const reply = document.getElementById("reply");
  return [reply.innerText, document.getElementById("status").textContent,
          reply.checkVisibility({opacityProperty: true, visibilityProperty: true}),
          reply.getBoundingClientRect().height];
})()"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def expected_text(server: MockServer) -> str:
    """The reply, read from the mock directly with the openai SDK."""
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hello!"}],
        stream=True,
        extra_headers=PACING,
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_chat_page_streams_text_in_visible_steps(upstream: MockServer) -> None:
    expected = expected_text(upstream)
    assert len(expected) > 100
    app = load_example("fastapi_chat").create_app(base_url=upstream.base_url, upstream_headers=PACING)
    with serve_app(app) as url, chromium_page() as page:
        page.goto(url + "/")
        assert page.evaluate("document.title") == "sserpent chat"
        assert page.evaluate('document.getElementById("status").textContent') == "idle"
        page.click("#send")

        samples: List[Tuple[float, str, str, bool, float]] = []
        started = time.monotonic()
        while True:
            text, status, visible, height = page.evaluate(SAMPLE)
            samples.append((time.monotonic() - started, text, status, visible, height))
            if status not in ("idle", "streaming"):
                break
            assert time.monotonic() - started < 30, samples[-1]
            time.sleep(0.01)

        final = samples[-1]
        assert final[2] == "done", final
        assert final[1] == expected  # innerText: exactly what was rendered
        # While streaming: the reply grew in visible steps, each a prefix of the final text.
        during = [
            (t, text)
            for t, text, status, visible, height in samples
            if status == "streaming" and visible and height > 0
        ]
        steps = []
        for _, text in during:
            if text and (not steps or text != steps[-1]):
                steps.append(text)
        assert all(expected.startswith(s) for s in steps), steps
        assert [len(s) for s in steps] == sorted(len(s) for s in steps)
        partial = [s for s in steps if s != expected]
        assert len(partial) >= 3, f"only {len(partial)} visible steps before the end: {partial}"
        # The stream took its time (24 chunks 50 ms apart), and the page showed it as it went.
        first_streaming = next(t for t, _, status, _, _ in samples if status == "streaming")
        streamed_for = samples[-1][0] - first_streaming
        assert streamed_for > 0.8, streamed_for
        # The upstream request was the page's.
        assert upstream.requests[-1].json()["messages"] == [{"role": "user", "content": "Hello!"}]
