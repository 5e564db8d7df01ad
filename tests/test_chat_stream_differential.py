"""``chat.completions.stream()`` against the openai SDK's, on the same bytes.

Every chat wire sample (``tests/fixtures/wire``, ``tests/fixtures/recorded``: content, a tool
call in fragments, three parallel tool calls, a refusal with refusal logprobs, content
logprobs, ``n=2`` interleaved, Azure's filter events and ``content_filter`` finish, structured
output) is served by the mock server to the SDK's client and to sserpent's, each calling
``chat.completions.stream(...)`` with the same arguments: plain, with strict tools (dicts and
``openai.pydantic_function_tool``) for the streams' functions, and with ``response_format`` a
pydantic model or a JSON-schema dict. The event sequences must agree, type by type and field
by field (each event's values read as it arrives: the SDK's snapshot objects change later), and
so must ``get_final_completion()`` (``model_dump()`` and every field), or the exception raised.
The error sample gives the same events, then the same error.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any, List, Optional, Tuple

import openai
import pydantic
import pytest
import sserpent
from sserpent.testing import MockServer

FIXTURES = Path(__file__).parent / "fixtures"
STREAMS = [
    "wire/openai_chat_usage", "wire/openai_chat_tool_call", "wire/openai_chat_keepalive_cr", "wire/azure_chat",
    "wire/openai_chat_structured",
] + [f"recorded/{p.name[:-4]}" for p in sorted((FIXTURES / "recorded").glob("*.sse"))]
assert len(STREAMS) == 11, STREAMS

FIELDS = {
    "chunk": ["chunk", "snapshot"],
    "content.delta": ["delta", "snapshot", "parsed"],
    "content.done": ["content", "parsed"],
    "refusal.delta": ["delta", "snapshot"],
    "refusal.done": ["refusal"],
    "tool_calls.function.arguments.delta": ["name", "index", "arguments", "parsed_arguments", "arguments_delta"],
    "tool_calls.function.arguments.done": ["name", "index", "arguments", "parsed_arguments"],
    "logprobs.content.delta": ["content", "snapshot"],
    "logprobs.content.done": ["content"],
    "logprobs.refusal.delta": ["refusal", "snapshot"],
    "logprobs.refusal.done": ["refusal"],
}
MESSAGES = [{"role": "user", "content": "Hello"}]


class GetWeather(pydantic.BaseModel):
    city: str
    unit: Optional[str] = None


class Weather(pydantic.BaseModel):
    city: str
    temp: float
    tags: List[str]


def strict_tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "strict": True, "parameters": {
        "type": "object", "properties": {}, "additionalProperties": True}}}


WEATHER_SCHEMA = {"type": "json_schema", "json_schema": {"name": "Weather", "strict": True,
                                                        "schema": Weather.model_json_schema()}}

# (name, the stream() arguments beyond model and messages)
MODES: List[Tuple[str, dict[str, Any]]] = [
    ("plain", {}),
    ("strict tools", {"tools": [strict_tool("get_weather"), strict_tool("get_time"), strict_tool("get_news")]}),
    ("pydantic tool", {"tools": [openai.pydantic_function_tool(GetWeather, name="get_weather"),
                                 {"type": "function", "function": {"name": "get_time"}}]}),
    ("pydantic format", {"response_format": Weather}),
    ("dict format", {"response_format": WEATHER_SCHEMA}),
]


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


def is_azure(stream: str) -> bool:
    return Path(stream).name.startswith("azure")


def clients(server: MockServer, azure: bool, is_async: bool = False) -> Tuple[Any, Any]:
    if azure:
        kw = dict(api_key="az-test", azure_endpoint=server.url, api_version="2024-10-21", max_retries=0)
        sdk_cls = openai.AsyncAzureOpenAI if is_async else openai.AzureOpenAI
        ss_cls = sserpent.AsyncAzureOpenAI if is_async else sserpent.AzureOpenAI
    else:
        kw = dict(api_key="sk-test", base_url=server.base_url, max_retries=0)
        sdk_cls = openai.AsyncOpenAI if is_async else openai.OpenAI
        ss_cls = sserpent.AsyncOpenAI if is_async else sserpent.OpenAI
    return sdk_cls(**kw), ss_cls(**kw)


def capture(event: Any, sdk: bool) -> dict[str, Any]:
    """The event's type and fields as they read when it arrives."""
    out: dict[str, Any] = {"type": event.type}
    for name in FIELDS[event.type]:
        value = getattr(event, name)
        out[name] = copy.deepcopy(value) if sdk else value
    return out


def read(client: Any, server: MockServer, stream: str, mode: dict[str, Any]) -> Tuple[List[dict], Any]:
    """The events, and the final completion or the exception raised."""
    server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
    events: List[dict] = []
    sdk = isinstance(client, openai.OpenAI)
    try:
        with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, **mode) as s:
            for event in s:
                events.append(capture(event, sdk))
            final: Any = s.get_final_completion()
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError, ValueError) as e:
        final = e
    return events, final


async def aread(client: Any, server: MockServer, stream: str, mode: dict[str, Any]) -> Tuple[List[dict], Any]:
    server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
    events: List[dict] = []
    sdk = isinstance(client, openai.AsyncOpenAI)
    try:
        async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, **mode) as s:
            async for event in s:
                events.append(capture(event, sdk))
            final: Any = await s.get_final_completion()
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError, ValueError) as e:
        final = e
    if sdk:
        await client.close()
    return events, final


_MISSING = object()


def assert_same(sdk: Any, ss: Any, path: str) -> None:
    """The SDK's value and sserpent's read the same: every field of an SDK model (declared and
    extra; a field the SDK has as None may be absent on the sserpent object), lists and dicts
    item by item, scalars equal and of the same type."""
    if isinstance(sdk, pydantic.BaseModel):
        if isinstance(ss, dict):  # a snapshot's `parsed` after content.done (see the README)
            assert ss == sdk.model_dump(), path
            return
        names = set(type(sdk).model_fields) | set(sdk.model_extra or {})
        for name in sorted(names):
            a, b = getattr(sdk, name), getattr(ss, name, _MISSING)
            if b is _MISSING:
                assert a is None, f"{path}.{name}: absent on sserpent's, SDK {a!r}"
                continue
            assert_same(a, b, f"{path}.{name}")
    elif isinstance(sdk, list):
        assert isinstance(ss, list), f"{path}: {type(ss).__name__} where the SDK has a list"
        assert len(ss) == len(sdk), f"{path}: {len(ss)} items, SDK {len(sdk)}"
        for i, (a, b) in enumerate(zip(sdk, ss)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(sdk, dict):
        b = ss.to_dict() if isinstance(ss, sserpent.Chunk) else ss
        assert isinstance(b, dict) and set(b) == set(sdk), f"{path}: {b!r} != SDK {sdk!r}"
        for k in sdk:
            assert_same(sdk[k], b[k], f"{path}[{k!r}]")
    else:
        assert ss == sdk, f"{path}: sserpent {ss!r} != SDK {sdk!r}"
        if not (type(sdk) is float and type(ss) is int):
            assert type(ss) is type(sdk), f"{path}: sserpent {type(ss).__name__} != SDK {type(sdk).__name__}"


def assert_events_equal(sdk_events: List[dict], ss_events: List[dict]) -> None:
    assert [e["type"] for e in ss_events] == [e["type"] for e in sdk_events]
    for i, (a, b) in enumerate(zip(sdk_events, ss_events)):
        for name in FIELDS[a["type"]]:
            if a["type"] == "chunk" and name == "chunk":
                assert b["chunk"].to_dict() == a["chunk"].model_dump(exclude_unset=True), f"event {i}"
                continue
            assert_same(a[name], b[name], f"event {i} {a['type']}.{name}")


def assert_final_equal(sdk_final: Any, ss_final: Any) -> None:
    if isinstance(sdk_final, Exception):
        assert type(ss_final) is type(sdk_final), f"sserpent {ss_final!r}, SDK {sdk_final!r}"
        if type(sdk_final) is ValueError:  # partial JSON that is not JSON: jiter's message, or sserpent's
            return
        assert str(ss_final) == str(sdk_final)
        if not hasattr(sdk_final, "completion"):
            return
        assert_same(sdk_final.completion, ss_final.completion, "error.completion")
        return
    assert type(ss_final) is type(sdk_final)
    assert ss_final.model_dump() == sdk_final.model_dump()
    assert_same(sdk_final, ss_final, "final")


def applies(stream: str, mode: str) -> bool:
    """Each mode over the streams it says something about (plain: all of them)."""
    if mode in ("strict tools", "pydantic tool"):
        return "tool" in stream or "content_filter" in stream
    if mode in ("pydantic format", "dict format"):
        return "structured" in stream or "refusal" in stream or "content_filter" in stream
    return True


CASES = [(s, m) for s in STREAMS for m, _ in MODES if applies(s, m)]


@pytest.mark.parametrize("stream,mode", CASES)
def test_same_events_and_final_as_the_sdk(server: MockServer, stream: str, mode: str) -> None:
    args = dict(MODES)[mode]
    sdk_client, ss_client = clients(server, is_azure(stream))
    sdk_events, sdk_final = read(sdk_client, server, stream, args)
    ss_events, ss_final = read(ss_client, server, stream, args)
    assert sdk_events, "the SDK fired no events"
    assert_events_equal(sdk_events, ss_events)
    assert_final_equal(sdk_final, ss_final)


@pytest.mark.parametrize("stream", ["wire/openai_chat_tool_call", "recorded/openai_chat_parallel_tools",
                                    "recorded/openai_chat_refusal", "recorded/openai_chat_logprobs",
                                    "wire/openai_chat_structured"])
def test_async_same_events_and_final_as_the_sdk(server: MockServer, stream: str) -> None:
    mode = dict(MODES)["strict tools" if "tool" in stream else "pydantic format"]

    async def both() -> Tuple[Any, Any]:
        sdk_client, ss_client = clients(server, is_azure(stream), is_async=True)
        return await aread(sdk_client, server, stream, mode), await aread(ss_client, server, stream, mode)

    (sdk_events, sdk_final), (ss_events, ss_final) = asyncio.run(both())
    assert_events_equal(sdk_events, ss_events)
    assert_final_equal(sdk_final, ss_final)


def test_every_event_type_is_exercised() -> None:
    """The samples reach every event type the SDK defines (so no kind goes untested)."""
    with MockServer() as s:
        seen = set()
        for stream, mode in CASES:
            events, _ = read(clients(s, is_azure(stream))[1], s, stream, dict(MODES)[mode])
            seen.update(e["type"] for e in events)
    assert seen == set(FIELDS)


def test_an_error_midstream_after_the_same_events(server: MockServer) -> None:
    """The error sample: the same events, then the SDK's APIError and sserpent's StreamError
    with the same message, type and body."""
    stream = "wire/openai_chat_error_midstream"
    sdk_client, ss_client = clients(server, False)
    got: dict[str, List[dict]] = {"sdk": [], "ss": []}
    errors: dict[str, Any] = {}
    for side, client, exc in (("sdk", sdk_client, openai.APIError), ("ss", ss_client, sserpent.StreamError)):
        server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
        with pytest.raises(exc) as e:
            with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as s:
                for event in s:
                    got[side].append(capture(event, side == "sdk"))
        errors[side] = e.value
    assert [e["type"] for e in got["ss"]] == ["chunk", "content.delta", "chunk", "content.delta"]
    assert_events_equal(got["sdk"], got["ss"])
    assert errors["ss"].message == errors["sdk"].message
    assert errors["ss"].type == errors["sdk"].type == "server_error"
    assert errors["ss"].body["error"] == errors["sdk"].body
