"""OpenAI-compatible servers' reasoning: DeepSeek and vLLM stream ``delta.reasoning_content``,
newer vLLM, OpenRouter and Ollama's ``/v1`` stream ``delta.reasoning``
(``tests/fixtures/wire/openai_compat_reasoning*.sse``).

The openai SDK reading the same bytes from the mock server gives the same per-chunk values (its
``model_extra``); ``final().reasoning`` holds the reasoning joined, ``stream.text()`` the answer
only, ``stream.reasoning_text()`` the reasoning only. And ``OpenAI(require_done=False)``: a stream
may end without ``data: [DONE]`` (servers known to omit it), nothing else is forgiven.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, List

import openai
import pytest
import sserpent
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
SAMPLES = {"openai_compat_reasoning_content": "reasoning_content", "openai_compat_reasoning": "reasoning"}
MESSAGES = [{"role": "user", "content": "Hello"}]
MISSING = object()


def frames(name: str) -> List[bytes]:
    return [f + b"\n\n" for f in (WIRE / f"{name}.sse").read_bytes().split(b"\n\n") if f]


def expected(name: str) -> Any:
    return json.loads((WIRE / f"{name}.expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def server() -> Any:
    with MockServer() as s:
        yield s


def create(client: Any) -> Any:
    return client.chat.completions.create(model="m", messages=MESSAGES, stream=True)


@pytest.mark.parametrize("name", SAMPLES)
def test_same_reasoning_per_chunk_as_the_openai_sdk(server: MockServer, name: str) -> None:
    field = SAMPLES[name]
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    ours = list(create(sserpent.OpenAI(api_key="k", base_url=server.url + "/v1")))
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    theirs = list(create(openai.OpenAI(api_key="k", base_url=server.url + "/v1")))
    assert len(ours) == len(theirs) == expected(name)["chunks"]
    seen = []
    for o, t in zip(ours, theirs):
        od, td = o.choices[0].delta, t.choices[0].delta
        for f in ("reasoning_content", "reasoning"):
            assert getattr(od, f, MISSING) == getattr(td, f, MISSING), f
            assert (f in od) == (f in (td.model_extra or {})), f
        assert od.content == td.content
        seen.append((td.model_extra or {}).get(field))
    assert "".join(s for s in seen if s) == expected(name)["reasoning"]


@pytest.mark.parametrize("name", SAMPLES)
def test_final_text_and_reasoning_text(server: MockServer, name: str) -> None:
    exp = expected(name)
    client = sserpent.OpenAI(api_key="k", base_url=server.url + "/v1")
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    f = create(client).final()
    assert (f.text, f.reasoning, f.finish_reason, f.role) == (exp["text"], exp["reasoning"], "stop", "assistant")
    assert f.choices[0].reasoning == exp["reasoning"]
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    assert "".join(create(client).text()) == exp["text"]
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    assert list(create(client).reasoning_text()) == [
        r for r in (json.loads(x[6:])["choices"][0]["delta"].get(SAMPLES[name]) for x in frames(name)[:-1]) if r]


def test_async_reasoning_text(server: MockServer) -> None:
    name = "openai_compat_reasoning"

    async def read() -> str:
        client = sserpent.AsyncOpenAI(api_key="k", base_url=server.url + "/v1")
        s = await create(client)
        return "".join([t async for t in s.reasoning_text()])

    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    assert asyncio.run(read()) == expected(name)["reasoning"]


def test_no_reasoning_reads_none(server: MockServer) -> None:
    server.enqueue(sse_file=str(WIRE / "openai_chat_usage.sse"))
    client = sserpent.OpenAI(api_key="k", base_url=server.url + "/v1")
    assert create(client).final().reasoning is None
    server.enqueue(sse_file=str(WIRE / "openai_chat_usage.sse"))
    assert list(create(client).reasoning_text()) == []


def test_a_view_is_chosen_once(server: MockServer) -> None:
    server.enqueue(sse_file=str(WIRE / "openai_compat_reasoning.sse"))
    s = create(sserpent.OpenAI(api_key="k", base_url=server.url + "/v1"))
    next(iter(s.reasoning_text()))
    with pytest.raises(ValueError, match=r"already being read as reasoning_text\(\)"):
        s.text()


# --- require_done --------------------------------------------------------------------------


def test_require_done(server: MockServer) -> None:
    name = "openai_compat_reasoning"
    body = frames(name)[:-1]  # no [DONE]
    assert all(b"[DONE]" not in f for f in body)
    server.enqueue(events=body)
    with pytest.raises(sserpent.IncompleteStreamError) as info:
        list(create(sserpent.OpenAI(api_key="k", base_url=server.url + "/v1")))
    assert str(info.value) == f"the stream ended without data: [DONE], after {len(body)} complete chunks"
    lenient = sserpent.OpenAI(api_key="k", base_url=server.url + "/v1", require_done=False)
    server.enqueue(events=body)
    s = create(lenient)
    assert [c.to_dict() for c in s] == [json.loads(f[6:]) for f in body]
    server.enqueue(events=body)
    assert create(lenient).final().text == expected(name)["text"]
    # A cut event and an empty body are still incomplete.
    server.enqueue(events=[*body[:2], body[2][:40]])
    with pytest.raises(sserpent.IncompleteStreamError, match="in the middle of an event, after 2 complete chunks"):
        list(create(lenient))
    server.enqueue(body=b"")
    with pytest.raises(sserpent.IncompleteStreamError, match="before its first event"):
        list(create(lenient))
    # Sent as an ordinary request (the switch is the client's, not a body field).
    assert "require_done" not in json.loads(server.requests[-1].body)


def test_require_done_on_the_core_client(server: MockServer) -> None:
    body = frames("openai_compat_reasoning_content")[:-1]
    c = sserpent.Client(base_url=server.url)
    server.enqueue(events=body)
    assert len(list(c.stream("POST", "/v1/chat/completions", json={}, require_done=False))) == len(body)
    with pytest.raises(TypeError, match="require_done"):
        c.stream("POST", "/v1/chat/completions", require_done="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="require_done must be a bool, not int"):
        sserpent.OpenAI(api_key="k", base_url=server.url, require_done=0)  # type: ignore[arg-type]
    assert len(server.requests) == 1
