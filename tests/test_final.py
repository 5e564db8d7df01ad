"""``stream.final()`` / ``await stream.afinal()``: the accumulated result, with the same names for
every provider, matches every ``*.expected.json``: the wire samples (``tests/fixtures/wire``) and
the recorded streams (``tests/fixtures/recorded``), read through the drop-in client of their
provider (OCI samples through ``sserpent.Client``) from the mock server replaying them.

Compared keys: ``text``, ``finish_reason`` (``None`` where the file has none), ``reasoning`` (likewise), ``tool_calls``
(``[]`` where none), ``usage`` (``None`` where none), and ``role``, ``refusal``, ``choices``
where the file gives them. Also: after partially iterating (chunks, text, async), twice, n>1,
and the error samples (final() raises what iteration raises).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import sserpent
from sserpent.testing import MockServer

FIXTURES = Path(__file__).parent / "fixtures"
WIRE_NAMES = sorted(p.name[: -len(".sse")] for p in (FIXTURES / "wire").glob("*.sse"))
RECORDED_NAMES = sorted(p.name[: -len(".sse")] for p in (FIXTURES / "recorded").glob("*.sse"))
assert len(WIRE_NAMES) == 21 and len(RECORDED_NAMES) == 6
ERROR_STREAMS = [f"wire/{n}" for n in WIRE_NAMES if "error" in n]
OK_STREAMS = [f"wire/{n}" for n in WIRE_NAMES if "error" not in n] + [f"recorded/{n}" for n in RECORDED_NAMES]

DEFAULT_TEXT = "Hello! This is the sserpent mock server."
MESSAGES = [{"role": "user", "content": "Hello"}]
RESULT_KEYS = {"text", "role", "finish_reason", "refusal", "reasoning", "tool_calls", "usage", "choices", "id", "model"}


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


def expected(stream: str) -> Dict[str, Any]:
    return json.loads((FIXTURES / f"{stream}.expected.json").read_text(encoding="utf-8"))


def open_stream(server: MockServer, stream: str, is_async: bool = False) -> Any:
    """The stream, through its provider's client, from the mock replaying the sample; for the
    async clients, an awaitable of it."""
    server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
    name = Path(stream).name
    if name.startswith("azure"):
        cls = sserpent.AsyncAzureOpenAI if is_async else sserpent.AzureOpenAI
        c = cls(api_key="k", azure_endpoint=server.url, api_version="2024-10-21")
        return c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    if name.startswith("anthropic"):
        cls = sserpent.AsyncAnthropic if is_async else sserpent.Anthropic
        c = cls(api_key="k", base_url=server.url)
        return c.messages.create(model="claude", max_tokens=100, messages=MESSAGES, stream=True)
    if name.startswith("gemini"):
        from sserpent import genai

        g = genai.Client(api_key="k", http_options={"base_url": server.url})
        models = g.aio.models if is_async else g.models
        return models.generate_content_stream(model="gemini-2.5-flash", contents="Hello")
    if name.startswith("oci"):
        path = "/20231130/actions/generateText" if "generate" in name else "/20231130/actions/chat"
        s = sserpent.Client(base_url=server.url).stream("POST", path, json={"compartmentId": "c"})
        return s.aopen() if is_async else s.open()
    cls = sserpent.AsyncOpenAI if is_async else sserpent.OpenAI
    c = cls(api_key="k", base_url=server.base_url)
    if name == "openai_completions":
        return c.completions.create(model="m", prompt="p", stream=True)
    if name == "openai_responses":
        return c.responses.create(model="m", input="p", stream=True)
    return c.chat.completions.create(model="m", messages=MESSAGES, stream=True)


def assert_matches(final: Any, exp: Dict[str, Any]) -> None:
    assert final.text == exp["text"]
    assert final.finish_reason == exp.get("finish_reason")
    assert [t.to_dict() for t in final.tool_calls] == exp.get("tool_calls", [])
    usage = exp.get("usage")
    if usage is None:
        assert final.usage is None
    else:
        assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (
            usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
        assert final.usage.to_dict() == usage
    assert final.reasoning == exp.get("reasoning")
    if "role" in exp:
        assert final.role == exp["role"]
    if "refusal" in exp:
        assert final.refusal == exp["refusal"]
    if "choices" in exp:
        assert [{"index": c.index, "text": c.text, "role": c.role, "finish_reason": c.finish_reason}
                for c in final.choices] == exp["choices"]
    else:
        assert len(final.choices) == 1
    # the top-level fields describe choice 0
    c0 = final.choices[0]
    assert (c0.text, c0.role, c0.finish_reason, c0.refusal) == (
        final.text, final.role, final.finish_reason, final.refusal)
    assert [t.to_dict() for t in c0.tool_calls] == [t.to_dict() for t in final.tool_calls]
    # attribute reads and to_dict() agree
    d = final.to_dict()
    # Gemini's blocked prompts add the block reason.
    assert set(d) == RESULT_KEYS | ({"block_reason"} if "block_reason" in exp else set())
    assert d.get("block_reason") == exp.get("block_reason")
    assert d["reasoning"] == exp.get("reasoning")
    assert d["text"] == final.text and d["finish_reason"] == final.finish_reason
    for t, td in zip(final.tool_calls, d["tool_calls"]):
        assert t.type == "function"
        assert td == {"id": t.id, "type": "function",
                      "function": {"name": t.function.name, "arguments": t.function.arguments}}
        json.loads(t.function.arguments)  # assembled into valid JSON text


@pytest.mark.parametrize("stream", OK_STREAMS)
def test_final_matches_expected(server: MockServer, stream: str) -> None:
    assert_matches(open_stream(server, stream).final(), expected(stream))


@pytest.mark.parametrize("stream", OK_STREAMS)
def test_afinal_matches_expected(server: MockServer, stream: str) -> None:
    async def main() -> Any:
        s = await open_stream(server, stream, is_async=True)
        return await s.afinal()

    assert_matches(asyncio.run(main()), expected(stream))


@pytest.mark.parametrize("stream", OK_STREAMS)
def test_final_after_partial_iteration(server: MockServer, stream: str) -> None:
    """final() takes the chunks already read into account, wherever the reader stopped."""
    total = len(list(open_stream(server, stream)))
    for k in sorted({1, total // 2, total - 1, total}):
        s = open_stream(server, stream)
        it = iter(s)
        for _ in range(k):
            next(it)
        assert_matches(s.final(), expected(stream))


@pytest.mark.parametrize("stream", OK_STREAMS)
def test_final_after_partial_text_view(server: MockServer, stream: str) -> None:
    s = open_stream(server, stream)
    texts = s.text()
    first = next(texts, "")  # "" for streams without text (tool calls, refusal)
    assert expected(stream)["text"].startswith(first)
    assert (first == "") == (expected(stream)["text"] == "")
    assert_matches(s.final(), expected(stream))


@pytest.mark.parametrize("stream", OK_STREAMS)
def test_afinal_after_partial_async_iteration(server: MockServer, stream: str) -> None:
    async def main() -> Any:
        s = await open_stream(server, stream, is_async=True)
        n = 0
        async for _ in s:
            n += 1
            if n == 2:
                break
        return await s.afinal()

    assert_matches(asyncio.run(main()), expected(stream))


@pytest.mark.parametrize("stream", OK_STREAMS)
def test_final_twice_and_after_the_end(server: MockServer, stream: str) -> None:
    s = open_stream(server, stream)
    list(s)
    first = s.final()
    assert_matches(first, expected(stream))
    assert s.final().to_dict() == first.to_dict()


@pytest.mark.parametrize("stream", ERROR_STREAMS)
def test_final_raises_the_stream_error(server: MockServer, stream: str) -> None:
    exp = expected(stream)
    with pytest.raises(sserpent.StreamError) as e:
        open_stream(server, stream).final()
    assert (e.value.type, e.value.message) == (exp["error"]["type"], exp["error"]["message"])

    async def main() -> None:
        s = await open_stream(server, stream, is_async=True)
        with pytest.raises(sserpent.StreamError) as e:
            await s.afinal()
        assert e.value.type == exp["error"]["type"]

    asyncio.run(main())


@pytest.mark.parametrize("stream", ERROR_STREAMS)
def test_text_before_the_error(server: MockServer, stream: str) -> None:
    texts: List[str] = []
    with pytest.raises(sserpent.StreamError):
        for t in open_stream(server, stream).text():
            texts.append(t)
    assert "".join(texts) == expected(stream)["text_before_error"]


# --- n > 1 and the mock's default answers ------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
def test_n_choices(server: MockServer, n: int) -> None:
    c = sserpent.OpenAI(api_key="k", base_url=server.base_url)
    s = c.chat.completions.create(model="m", messages=MESSAGES, stream=True, n=n,
                                  stream_options={"include_usage": True})
    f = s.final()
    assert [ch.index for ch in f.choices] == list(range(n))
    assert [ch.text for ch in f.choices] == [DEFAULT_TEXT] * n
    assert [ch.finish_reason for ch in f.choices] == ["stop"] * n
    assert [ch.role for ch in f.choices] == ["assistant"] * n
    assert f.text == DEFAULT_TEXT
    assert f.usage.completion_tokens == 7 * n
    assert f.usage.total_tokens == f.usage.prompt_tokens + 7 * n


def test_n2_async(server: MockServer) -> None:
    async def main() -> Any:
        c = sserpent.AsyncOpenAI(api_key="k", base_url=server.base_url)
        s = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True, n=2)
        return await s.afinal()

    f = asyncio.run(main())
    assert [(ch.index, ch.text) for ch in f.choices] == [(0, DEFAULT_TEXT), (1, DEFAULT_TEXT)]
    assert f.usage is None


def test_final_of_every_default_answer(server: MockServer) -> None:
    """The mock's own answer on every provider path: one result shape."""
    oa = sserpent.OpenAI(api_key="k", base_url=server.base_url)
    az = sserpent.AzureOpenAI(api_key="k", azure_endpoint=server.url, api_version="2024-10-21")
    an = sserpent.Anthropic(api_key="k", base_url=server.url)
    streams = {
        "chat": oa.chat.completions.create(model="m", messages=MESSAGES, stream=True,
                                           stream_options={"include_usage": True}),
        "completions": oa.completions.create(model="m", prompt="p", stream=True),
        "responses": oa.responses.create(model="m", input="p", stream=True),
        "azure": az.chat.completions.create(model="dep", messages=MESSAGES, stream=True),
        "anthropic": an.messages.create(model="claude", max_tokens=10, messages=MESSAGES, stream=True),
    }
    results = {k: s.final() for k, s in streams.items()}
    assert {k: r.text for k, r in results.items()} == dict.fromkeys(streams, DEFAULT_TEXT)
    assert {k: r.finish_reason for k, r in results.items()} == {
        "chat": "stop", "completions": "stop", "responses": "completed", "azure": "stop", "anthropic": "end_turn"}
    assert {k: r.usage is not None for k, r in results.items()} == {
        "chat": True, "completions": False, "responses": True, "azure": False, "anthropic": True}
    for k in ("chat", "responses", "anthropic"):
        u = results[k].usage
        assert u.completion_tokens == 7, k
        assert u.total_tokens == u.prompt_tokens + u.completion_tokens, k
    for r in results.values():
        assert set(r.to_dict()) == RESULT_KEYS
        assert r.tool_calls == [] and r.refusal is None


def test_to_dict_exact(server: MockServer) -> None:
    f = open_stream(server, "wire/openai_chat_tool_call").final()
    call = {"id": "call_4XzlGBLtUe9dy3GVNV4jhq7h", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"c"}'}}
    assert f.to_dict() == {
        "text": "", "role": "assistant", "finish_reason": "tool_calls", "refusal": None, "reasoning": None,
        "tool_calls": [call], "usage": {"prompt_tokens": 44, "completion_tokens": 16, "total_tokens": 60},
        "choices": [{"index": 0, "text": "", "role": "assistant", "finish_reason": "tool_calls", "refusal": None,
                     "reasoning": None, "tool_calls": [call]}],
        "id": "chatcmpl-ABfwERreu9s99xXsVuOWtIB2UOx62", "model": "gpt-4o-2024-08-06",
    }


def test_azure_final_id_is_the_completions(server: MockServer) -> None:
    """Azure's first chunk (prompt filter results) has ``"id": ""`` and ``"model": ""``; the
    result's id and model are the completion's."""
    f = open_stream(server, "wire/azure_chat").final()
    assert (f.id, f.model) == ("chatcmpl-DEJgnNRPyTQCzYVeB8duG7wiB4McG", "gpt-4o-2024-11-20")
