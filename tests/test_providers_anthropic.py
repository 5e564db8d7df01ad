"""``sserpent.Anthropic`` / ``sserpent.AsyncAnthropic``: ``messages.create(..., stream=True)``
with ``x-api-key`` and ``anthropic-version``; every event type arrives as a chunk with ``.type``
(``ping`` skipped), ``event: error`` raises ``StreamError`` after the text before it, and a
stream that ends before ``message_stop`` raises ``IncompleteStreamError``.

Against the embedded mock server; the anthropic SDK, pointed at the same server, is the
reference for the request and for the events it yields.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any, List

import anthropic
import pytest
import sserpent
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
MESSAGES_SSE = WIRE / "anthropic_messages.sse"
ERROR_SSE = WIRE / "anthropic_error.sse"
WORDS = ["Hello!", " This", " is", " the", " sserpent", " mock", " server."]
MESSAGES = [{"role": "user", "content": "What's the weather in Paris?"}]
SECRET = "sk-ant-api03-TOPSECRET0123456789"

SAMPLE_TYPES = [
    "message_start",
    "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
    "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
    "content_block_stop",
    "message_delta", "message_stop",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Any:
    with MockServer() as s:
        yield s


def client(server: MockServer, cls: Any = sserpent.Anthropic, **kw: Any) -> Any:
    kw.setdefault("api_key", "sk-ant-test")
    kw.setdefault("base_url", server.url)
    return cls(**kw)


def create(c: Any, **kw: Any) -> Any:
    kw.setdefault("model", "claude-test-model")
    kw.setdefault("max_tokens", 1024)
    kw.setdefault("messages", MESSAGES)
    return c.messages.create(**kw)


def sample_json_events(path: Path) -> List[Any]:
    """The data of every event in a sample except ``ping``, as plain JSON."""
    out = []
    for block in path.read_bytes().replace(b"\r\n", b"\n").decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if line)
        if lines and lines["event"] != "ping":
            out.append(json.loads(lines["data"]))
    return out


# --- requests ------------------------------------------------------------------------------------


def test_headers_and_path(server: MockServer) -> None:
    s = create(client(server, api_key="sk-ant-1"), stream=True)
    assert isinstance(s, sserpent.Stream) and s.status == 200
    list(s)
    r = server.requests[-1]
    assert (r.method, r.path) == ("POST", "/v1/messages")
    assert r.headers["x-api-key"] == "sk-ant-1"
    assert r.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in r.headers
    assert r.json() == {"model": "claude-test-model", "max_tokens": 1024, "messages": MESSAGES,
                        "stream": True}


def test_request_equals_the_sdks(server: MockServer) -> None:
    params = dict(system="Be brief.", stop_sequences=["END"], metadata={"user_id": "u1"},
                  tools=[{"name": "get_weather", "description": "d",
                          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                  tool_choice={"type": "auto"}, stream=True,
                  extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"}, extra_body={"top_k": 5})
    list(create(anthropic.Anthropic(api_key="k", base_url=server.url), **params))
    sdk = server.requests[-1]
    list(create(client(server, api_key="k"), **params))
    ss = server.requests[-1]
    assert (ss.path, ss.query) == (sdk.path, sdk.query) == ("/v1/messages", "")
    assert ss.json() == sdk.json()
    for h in ("anthropic-beta", "content-type"):
        assert ss.headers[h] == sdk.headers[h], h
    # (how the key and version are sent is pinned by test_headers_and_path: x-api-key and
    # anthropic-version 2023-06-01, the Messages API's documented headers)


def test_api_key_and_base_url_from_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    assert list(create(sserpent.Anthropic(), stream=True).text()) == WORDS
    assert server.requests[-1].headers["x-api-key"] == "sk-ant-env"


def test_auth_token_is_a_bearer(server: MockServer) -> None:
    list(create(sserpent.Anthropic(auth_token="oauth-tok", base_url=server.url), stream=True))
    h = server.requests[-1].headers
    assert h["authorization"] == "Bearer oauth-tok"
    assert "x-api-key" not in h


def test_default_base_url() -> None:
    assert sserpent.Anthropic(api_key="k").base_url == "https://api.anthropic.com"


@pytest.mark.parametrize("cls", [sserpent.Anthropic, sserpent.AsyncAnthropic])
def test_missing_api_key_raises(cls: Any) -> None:
    with pytest.raises(sserpent.SserpentError, match="ANTHROPIC_API_KEY"):
        cls()


def test_default_headers_override_version(server: MockServer) -> None:
    c = client(server, default_headers={"anthropic-version": "2024-01-01", "anthropic-beta": "b1"})
    list(create(c, stream=True))
    h = server.requests[-1].headers
    assert (h["anthropic-version"], h["anthropic-beta"]) == ("2024-01-01", "b1")


# --- events --------------------------------------------------------------------------------------


def test_every_event_type_arrives_ping_skipped(server: MockServer) -> None:
    server.enqueue(sse_file=str(MESSAGES_SSE))
    chunks = list(create(client(server), stream=True))
    assert [c.type for c in chunks] == SAMPLE_TYPES
    assert [c.to_dict() for c in chunks] == sample_json_events(MESSAGES_SSE)
    start = chunks[0]
    assert (start.message.id, start.message.role, start.message.usage.input_tokens) == (
        "msg_019Q1hrJbZG26Fb9BQhrkHEr", "assistant", 377)
    assert chunks[1].content_block.type == "text"
    assert [c.delta.text for c in chunks[2:4]] == ["Let me check", " the weather."]
    assert (chunks[5].content_block.type, chunks[5].content_block.name, chunks[5].content_block.input.to_dict()) == (
        "tool_use", "get_weather", {})
    assert "".join(c.delta.partial_json for c in chunks[6:9]) == '{"location": "Paris"}'
    assert (chunks[10].delta.stop_reason, chunks[10].usage.output_tokens) == ("tool_use", 65)


def test_events_equal_the_sdks(server: MockServer) -> None:
    server.enqueue(sse_file=str(MESSAGES_SSE))
    sdk = list(create(anthropic.Anthropic(api_key="k", base_url=server.url), stream=True))
    server.enqueue(sse_file=str(MESSAGES_SSE))
    ss = list(create(client(server), stream=True))
    assert [e.type for e in sdk] == [c.type for c in ss] == SAMPLE_TYPES
    for a, b in zip(sdk, ss):
        assert b.to_dict() == a.model_dump(exclude_unset=True)


def test_text_view(server: MockServer) -> None:
    server.enqueue(sse_file=str(MESSAGES_SSE))
    assert list(create(client(server), stream=True).text()) == ["Let me check", " the weather."]
    assert list(create(client(server), stream=True).text()) == WORDS  # the mock's own answer


def test_async_events(server: MockServer) -> None:
    server.enqueue(sse_file=str(MESSAGES_SSE))

    async def main() -> List[str]:
        s = await create(client(server, cls=sserpent.AsyncAnthropic), stream=True)
        assert isinstance(s, sserpent.Stream) and s.status == 200
        return [c.type async for c in s]

    assert asyncio.run(main()) == SAMPLE_TYPES


def test_mock_default_stream_types(server: MockServer) -> None:
    chunks = list(create(client(server), stream=True))
    assert [c.type for c in chunks] == [
        "message_start", "content_block_start", *["content_block_delta"] * 7, "content_block_stop",
        "message_delta", "message_stop"]
    assert "".join(c.delta.text for c in chunks if c.type == "content_block_delta") == "".join(WORDS)


# --- errors --------------------------------------------------------------------------------------


def test_error_event_raises_stream_error_after_the_text(server: MockServer) -> None:
    server.enqueue(sse_file=str(ERROR_SSE))
    s = create(client(server), stream=True)
    got = []
    with pytest.raises(sserpent.StreamError) as e:
        for c in s:
            got.append(c)
    assert [c.type for c in got] == ["message_start", "content_block_start", "content_block_delta"]
    assert got[-1].delta.text == "Par"
    assert (e.value.type, e.value.message) == ("overloaded_error", "Overloaded")
    assert e.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert e.value.event.event == "error"
    assert isinstance(e.value, sserpent.APIError)


def test_error_event_text_view_and_sdk(server: MockServer) -> None:
    server.enqueue(sse_file=str(ERROR_SSE))
    texts = []
    with pytest.raises(sserpent.StreamError, match="Overloaded"):
        for t in create(client(server), stream=True).text():
            texts.append(t)
    assert texts == ["Par"]
    # the SDK, too, raises after the same three events
    server.enqueue(sse_file=str(ERROR_SSE))
    sdk_got = []
    with pytest.raises(anthropic.APIStatusError) as sdk_err:
        for ev in create(anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0), stream=True):
            sdk_got.append(ev.type)
    assert sdk_got == ["message_start", "content_block_start", "content_block_delta"]
    assert sdk_err.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_error_event_async(server: MockServer) -> None:
    server.enqueue(sse_file=str(ERROR_SSE))

    async def main() -> List[str]:
        s = await create(client(server, cls=sserpent.AsyncAnthropic), stream=True)
        got = []
        with pytest.raises(sserpent.StreamError) as e:
            async for c in s:
                got.append(c.type)
        assert e.value.type == "overloaded_error"
        return got

    assert asyncio.run(main()) == ["message_start", "content_block_start", "content_block_delta"]


@pytest.mark.parametrize("cut", [1, 3, 6, 11])
def test_cut_before_message_stop_raises_incomplete(server: MockServer, cut: int) -> None:
    """``cut_after=N`` events (``ping`` is the second event of the sample)."""
    server.enqueue(sse_file=str(MESSAGES_SSE), cut_after=cut)
    got = []
    with pytest.raises(sserpent.IncompleteStreamError):
        for c in create(client(server), stream=True):
            got.append(c.type)
    assert got == SAMPLE_TYPES[: cut - (1 if cut >= 2 else 0)]


def test_clean_end_before_message_stop_raises_incomplete(server: MockServer) -> None:
    events = [{"event": e["type"], "data": json.dumps(e)} for e in sample_json_events(MESSAGES_SSE)][:-1]
    server.enqueue(events=events)
    got = []
    with pytest.raises(sserpent.IncompleteStreamError):
        for c in create(client(server), stream=True):
            got.append(c.type)
    assert got == SAMPLE_TYPES[:-1]


def test_cut_async_and_final(server: MockServer) -> None:
    server.enqueue(sse_file=str(MESSAGES_SSE), cut_after=4)

    async def main() -> None:
        s = await create(client(server, cls=sserpent.AsyncAnthropic), stream=True)
        with pytest.raises(sserpent.IncompleteStreamError):
            await s.afinal()

    asyncio.run(main())
    server.enqueue(sse_file=str(MESSAGES_SSE), cut_after=4)
    with pytest.raises(sserpent.IncompleteStreamError):
        create(client(server), stream=True).final()


@pytest.mark.parametrize("status,exc", [(400, sserpent.BadRequestError), (401, sserpent.AuthenticationError),
                                        (429, sserpent.RateLimitError), (529, sserpent.InternalServerError)])
def test_http_errors_raise_at_create(server: MockServer, status: int, exc: type) -> None:
    body = {"type": "error", "error": {"type": "overloaded_error" if status == 529 else "invalid_request_error",
                                       "message": f"m{status}"}}
    server.enqueue(status=status, json=body)
    with pytest.raises(exc) as e:
        create(client(server, max_retries=0), stream=True)
    assert e.value.status_code == status
    assert e.value.body == body


def test_stream_false(server: MockServer) -> None:
    msg = create(client(server))
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].text == "".join(WORDS)
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 7
    assert "stream" not in server.requests[-1].json()

    async def main() -> Any:
        return await create(client(server, cls=sserpent.AsyncAnthropic))

    assert asyncio.run(main()).content[0].text == "".join(WORDS)


def test_final(server: MockServer) -> None:
    server.enqueue(sse_file=str(MESSAGES_SSE))
    f = create(client(server), stream=True).final()
    assert (f.text, f.role, f.finish_reason, f.refusal) == ("Let me check the weather.", "assistant", "tool_use", None)
    assert [(t.id, t.type, t.function.name, t.function.arguments) for t in f.tool_calls] == [
        ("toolu_01NRLabsLyVHZPKxbKvkfSMn", "function", "get_weather", '{"location": "Paris"}')]
    assert (f.usage.prompt_tokens, f.usage.completion_tokens, f.usage.total_tokens) == (377, 65, 442)


# --- secrets -------------------------------------------------------------------------------------


def test_api_key_not_in_reprs_or_errors(server: MockServer) -> None:
    c = client(server, api_key=SECRET, max_retries=0)
    s = create(c, stream=True)
    server.enqueue(status=401)
    with pytest.raises(sserpent.AuthenticationError) as e1:
        create(c, stream=True)
    server.enqueue(sse_file=str(ERROR_SSE))
    with pytest.raises(sserpent.StreamError) as e2:
        list(create(c, stream=True))
    for obj in (c, s, e1.value, e2.value):
        assert SECRET not in repr(obj) and SECRET not in str(obj)
    for err in (e1.value, e2.value):
        assert SECRET not in repr(err.__dict__)
        assert SECRET.encode() not in pickle.dumps(err)
