"""``chat.completions.stream()`` on its own: the event objects, bad input refused before
anything is sent, the snapshot, closing, and what happens without the openai SDK (the
differential tests against the SDK are in ``test_chat_stream_differential.py``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import sserpent
from sserpent._providers import _chat_stream
from sserpent.testing import MockServer

FIXTURES = Path(__file__).parent / "fixtures"
MESSAGES = [{"role": "user", "content": "Hello"}]
STRUCTURED = str(FIXTURES / "wire" / "openai_chat_structured.sse")
TOOL_CALL = str(FIXTURES / "wire" / "openai_chat_tool_call.sse")
SCHEMA = {"type": "json_schema", "json_schema": {"name": "Weather", "strict": True, "schema": {"type": "object"}}}
WEATHER = {"city": "Paris", "temp": 21.5, "tags": ["mild", "dry"]}


@pytest.fixture()
def server() -> Any:
    with MockServer() as s:
        yield s


@pytest.fixture()
def client(server: MockServer) -> sserpent.OpenAI:
    return sserpent.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)


def test_events_read_their_fields_and_only_theirs(server: MockServer, client: sserpent.OpenAI) -> None:
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        events = list(stream)
    assert all(isinstance(e, sserpent.ChatCompletionStreamEvent) for e in events)
    deltas = [e for e in events if e.type == "content.delta"]
    text = "Hello! This is the sserpent mock server."
    assert "".join(e.delta for e in deltas) == text
    assert deltas[-1].snapshot == text and deltas[0].snapshot == deltas[0].delta
    assert deltas[0].parsed is None  # no response_format: nothing is parsed
    assert deltas[0].to_dict() == {"type": "content.delta", "delta": deltas[0].delta,
                                   "snapshot": deltas[0].delta, "parsed": None}
    with pytest.raises(AttributeError, match="'content.delta' event has no attribute 'chunk'"):
        deltas[0].chunk  # noqa: B018
    done = [e for e in events if e.type == "content.done"]
    assert len(done) == 1 and done[0].content == text and done[0].parsed is None
    assert not hasattr(done[0], "delta")
    chunk_events = [e for e in events if e.type == "chunk"]
    assert all(isinstance(e.chunk, sserpent.Chunk) for e in chunk_events)
    assert [e.type for e in events][:2] == ["chunk", "content.delta"]
    assert repr(deltas[0]).startswith("ChatCompletionStreamEvent(type='content.delta', delta=")
    final = stream.get_final_completion()
    assert final.choices[0].message.content == text
    assert final.choices[0].message.role == "assistant"
    assert server.requests[0].json()["stream"] is True


def test_parsed_grows_with_a_json_schema(server: MockServer, client: sserpent.OpenAI,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the openai SDK, a JSON-schema dict gives `parsed` as the decoded JSON."""
    monkeypatch.setattr(_chat_stream, "_openai_parsing", lambda: None)
    server.enqueue(sse_file=STRUCTURED)
    with client.chat.completions.stream(model="m", messages=MESSAGES, response_format=SCHEMA) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    parsed = [e.parsed for e in events if e.type == "content.delta"]
    # The first chunk is not parsed (as in the SDK); then jiter's partial mode, prefix by prefix.
    assert parsed[1:5] == [{}, {}, {}, {}]
    assert {"city": "Paris"} in parsed and {"city": "Paris", "temp": 21.5, "tags": ["mild"]} in parsed
    assert parsed[-1] == WEATHER
    done = next(e for e in events if e.type == "content.done")
    assert done.parsed == WEATHER
    assert isinstance(final, sserpent.Chunk)
    assert final.choices[0].message.parsed.to_dict() == WEATHER
    assert json.loads(final.choices[0].message.content) == WEATHER
    assert server.requests[0].json()["response_format"] == SCHEMA


def test_without_the_sdk_pydantic_models_still_parse(server: MockServer, client: sserpent.OpenAI,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import pydantic

    class Weather(pydantic.BaseModel):
        city: str
        temp: float
        tags: list[str]

    monkeypatch.setattr(_chat_stream, "_openai_parsing", lambda: None)
    server.enqueue(sse_file=STRUCTURED)
    with client.chat.completions.stream(model="m", messages=MESSAGES, response_format=Weather) as stream:
        done = next(e for e in stream if e.type == "content.done")
    assert done.parsed == Weather(**WEATHER)
    sent = server.requests[0].json()["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Weather"
    assert sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["required"] == ["city", "temp", "tags"]
    assert sent["json_schema"]["schema"]["additionalProperties"] is False


def test_without_the_sdk_length_raises_sserpents_error(server: MockServer, client: sserpent.OpenAI,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_chat_stream, "_openai_parsing", lambda: None)
    raw = Path(STRUCTURED).read_bytes().replace(b'"finish_reason":"stop"', b'"finish_reason":"length"')
    server.enqueue(body=raw, headers={"content-type": "text/event-stream"})
    tools = [{"type": "function", "function": {"name": "f", "strict": True, "parameters": {}}}]
    with client.chat.completions.stream(model="m", messages=MESSAGES, tools=tools) as stream:
        seen = []
        with pytest.raises(_chat_stream.LengthFinishReasonError) as e:
            for event in stream:
                seen.append(event.type)
    assert "content.done" not in seen  # raised before the finishing chunk's events
    assert isinstance(e.value, sserpent.SserpentError)
    assert e.value.completion["choices"][0]["finish_reason"] == "length"


def test_strict_tool_arguments_parse_as_they_grow(server: MockServer, client: sserpent.OpenAI) -> None:
    server.enqueue(sse_file=TOOL_CALL)
    tools = [{"type": "function", "function": {"name": "get_weather", "strict": True, "parameters": {}}}]
    with client.chat.completions.stream(model="m", messages=MESSAGES, tools=tools) as stream:
        events = [e for e in stream if e.type.startswith("tool_calls")]
    deltas, done = events[:-1], events[-1]
    assert "".join(e.arguments_delta for e in deltas) == '{"city":"Paris","unit":"c"}'
    assert deltas[-1].arguments == done.arguments == '{"city":"Paris","unit":"c"}'
    assert deltas[-1].parsed_arguments == {"city": "Paris", "unit": "c"}
    assert all(e.name == "get_weather" and e.index == 0 for e in events)
    assert done.type == "tool_calls.function.arguments.done"
    assert done.parsed_arguments == {"city": "Paris", "unit": "c"}
    snapshot = stream.current_completion_snapshot
    assert snapshot.choices[0].message.tool_calls[0].function.arguments == done.arguments


@pytest.mark.parametrize("kwargs,message", [
    ({"response_format": 5}, "response_format must be a dict or a pydantic model class, not int"),
    ({"tools": "get_weather"}, "tools must be a list of tool dicts, not str"),
    ({"tools": [5]}, r"tools\[0\] must be a dict with a 'type', not int"),
    ({"stream": True}, "unexpected keyword argument 'stream'"),
])
def test_bad_input_is_refused_before_anything_is_sent(server: MockServer, client: sserpent.OpenAI,
                                                      kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        client.chat.completions.stream(model="m", messages=MESSAGES, **kwargs)
    with pytest.raises(TypeError, match="Missing required argument: 'model'"):
        client.chat.completions.stream(messages=MESSAGES)
    assert server.requests == []


def test_snapshot_before_the_first_chunk_and_close(server: MockServer, client: sserpent.OpenAI) -> None:
    server.enqueue(sse_file=STRUCTURED, delay=0.01)
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        with pytest.raises(RuntimeError, match="no chunk has arrived yet"):
            stream.current_completion_snapshot  # noqa: B018
        first = next(stream)
        assert first.type == "chunk" and first.snapshot.choices[0].message.role == "assistant"
        stream.close()
        # What the chunk already read fired is still served (as in the SDK); nothing after it.
        assert [e.type for e in stream] == ["content.delta"]
    assert stream.response.status_code == 200


def test_async_stream(server: MockServer) -> None:
    async def run() -> tuple[list[str], Any]:
        client = sserpent.AsyncOpenAI(api_key="sk-test", base_url=server.base_url)
        async with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
            texts = [e.delta async for e in stream if e.type == "content.delta"]
            return texts, await stream.get_final_completion()

    texts, final = asyncio.run(run())
    assert "".join(texts) == final.choices[0].message.content == "Hello! This is the sserpent mock server."


def test_azure_stream_skips_filter_events(server: MockServer) -> None:
    server.enqueue(sse_file=str(FIXTURES / "wire" / "azure_chat.sse"))
    client = sserpent.AzureOpenAI(api_key="k", azure_endpoint=server.url, api_version="2024-10-21")
    with client.chat.completions.stream(model="dep", messages=MESSAGES) as stream:
        chunks = [e.chunk for e in stream if e.type == "chunk"]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert server.requests[0].path == "/openai/deployments/dep/chat/completions"
