"""Differential tests against the openai SDK: the same recorded bytes, parsed by the SDK and by
sserpent, give the same chunks, and ``stream.final()`` equals the SDK's accumulated completion.

The streams: the OpenAI and Azure wire samples (``tests/fixtures/wire``) and the streams in
``tests/fixtures/recorded`` (parallel tool calls interleaved by index, ``n=2`` recorded from the
mock server and written by hand, a refusal with refusal logprobs, content logprobs with
``include_usage``, an Azure ``content_filter`` finish).

The SDK side is read two ways that must agree: the SDK's own client pointed at the mock server
replaying the bytes, and ``openai._streaming.SSEDecoder`` + ``openai._models.construct_type``
over the bytes. sserpent's side is read through ``sserpent.OpenAI`` / ``sserpent.AzureOpenAI``
against the same replay, and through ``sserpent.iter_chunks`` over the bytes.

Chunk comparison: ``chunk.to_dict() == sdk_chunk.model_dump(exclude_unset=True)``, and every
attribute the SDK object has for the JSON's keys (declared fields and extras, recursively) reads
the same value, with the same type, on the sserpent chunk; the optional fields people read
(``delta.content``/``role``/``refusal``/``tool_calls``/``function_call``, ``finish_reason``,
``logprobs``, ``usage`` ...) read the same (``None``) when absent.

Final comparison (per choice): text == SDK ``message.content`` (``""`` where the SDK has
``None``: sserpent's ``.text`` is always a string), ``role``, ``finish_reason``, ``refusal``,
tool calls (``id``, ``type``, ``function.name``, ``function.arguments``), ``usage``, ``id``,
``model``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import openai
import pydantic
import pytest
import sserpent
from openai._models import construct_type
from openai._streaming import SSEDecoder
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types import Completion
from openai.types.chat import ChatCompletionChunk
from sdk_helpers import sdk_decode
from sserpent.testing import MockServer

try:  # how the SDK's ChatCompletionStream skips Azure's filter-only events
    from openai.lib.streaming.chat._completions import _is_valid_chat_completion_chunk_weak
except ImportError:  # older SDKs: the same test, inline

    def _is_valid_chat_completion_chunk_weak(sse_event: Any) -> bool:
        return sse_event.object == "chat.completion.chunk"


FIXTURES = Path(__file__).parent / "fixtures"
WIRE = FIXTURES / "wire"
RECORDED = FIXTURES / "recorded"

WIRE_CHAT = ["openai_chat_usage", "openai_chat_tool_call", "openai_chat_keepalive_cr", "azure_chat"]
RECORDED_CHAT = sorted(p.name[: -len(".sse")] for p in RECORDED.glob("*.sse"))
assert len(RECORDED_CHAT) == 6, RECORDED_CHAT
CHAT_STREAMS = [f"wire/{n}" for n in WIRE_CHAT] + [f"recorded/{n}" for n in RECORDED_CHAT]

MESSAGES = [{"role": "user", "content": "Hello"}]

# Optional attributes that read None when absent, in the SDK and in sserpent.
READ_NONE_WHEN_ABSENT = {
    "chunk": ["usage", "service_tier", "system_fingerprint"],
    "choice": ["finish_reason", "logprobs"],
    "delta": ["content", "role", "refusal", "tool_calls", "function_call"],
    "tool_call": ["id", "type", "function"],
    "function": ["name", "arguments"],
}


def raw_bytes(stream: str) -> bytes:
    return (FIXTURES / f"{stream}.sse").read_bytes()


def is_azure(stream: str) -> bool:
    return Path(stream).name.startswith("azure")


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


# --- reading the stream both ways --------------------------------------------------------------


def sdk_client(server: MockServer, azure: bool) -> Any:
    if azure:
        return openai.AzureOpenAI(api_key="az-test", azure_endpoint=server.url, api_version="2024-10-21",
                                  max_retries=0)
    return openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)


def ss_client(server: MockServer, azure: bool) -> Any:
    if azure:
        return sserpent.AzureOpenAI(api_key="az-test", azure_endpoint=server.url, api_version="2024-10-21",
                                    max_retries=0)
    return sserpent.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)


def sdk_chat_chunks(server: MockServer, stream: str) -> List[Any]:
    server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
    client = sdk_client(server, is_azure(stream))
    return list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))


def ss_chat_stream(server: MockServer, stream: str) -> sserpent.Stream:
    server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
    client = ss_client(server, is_azure(stream))
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)


# --- comparing ---------------------------------------------------------------------------------

_MISSING = object()


def plain(value: Any) -> Any:
    return value.to_dict() if isinstance(value, sserpent.Chunk) else value


def assert_same(sdk: Any, ss: Any, path: str) -> None:
    """Every attribute of the SDK object set from the JSON (declared or extra, recursively)
    reads the same on the sserpent object."""
    if isinstance(sdk, pydantic.BaseModel):
        assert isinstance(ss, sserpent.Chunk), f"{path}: {type(ss).__name__} where the SDK has a model"
        assert ss.to_dict() == sdk.model_dump(exclude_unset=True), path
        for name in sorted(sdk.model_fields_set | set(sdk.model_extra or {})):
            assert_same(getattr(sdk, name), getattr(ss, name), f"{path}.{name}")
    elif isinstance(sdk, list):
        assert isinstance(ss, list), f"{path}: {type(ss).__name__} where the SDK has a list"
        assert len(ss) == len(sdk), path
        for i, (a, b) in enumerate(zip(sdk, ss)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        b = plain(ss)
        assert b == sdk, f"{path}: sserpent {b!r} != SDK {sdk!r}"
        if not (type(sdk) is float and type(b) is int):  # the SDK's model coerces a JSON int to float
            assert type(b) is type(sdk), f"{path}: sserpent {type(b).__name__} != SDK {type(sdk).__name__}"


def assert_optional_reads(sdk: Any, ss: Any, kind: str, path: str) -> None:
    for name in READ_NONE_WHEN_ABSENT[kind]:
        a, b = getattr(sdk, name), getattr(ss, name)
        if a is None:
            assert b is None, f"{path}.{name}: sserpent {b!r}, SDK None"


def assert_chat_chunk_equal(sdk: ChatCompletionChunk, ss: Any, path: str) -> None:
    assert_same(sdk, ss, path)
    assert_optional_reads(sdk, ss, "chunk", path)
    for i, (c_sdk, c_ss) in enumerate(zip(sdk.choices, ss.choices)):
        p = f"{path}.choices[{i}]"
        assert_optional_reads(c_sdk, c_ss, "choice", p)
        assert_optional_reads(c_sdk.delta, c_ss.delta, "delta", p + ".delta")
        # the reads everyone writes, spelled out
        assert c_ss.index == c_sdk.index
        assert c_ss.delta.content == c_sdk.delta.content
        assert c_ss.delta.role == c_sdk.delta.role
        assert c_ss.delta.refusal == c_sdk.delta.refusal
        assert c_ss.finish_reason == c_sdk.finish_reason
        assert plain(c_ss.logprobs) == (c_sdk.logprobs.model_dump(exclude_unset=True) if c_sdk.logprobs else None)
        if c_sdk.logprobs is not None and c_sdk.logprobs.content:
            for k, (e_sdk, e_ss) in enumerate(zip(c_sdk.logprobs.content, c_ss.logprobs.content)):
                assert (e_ss.token, e_ss.logprob, e_ss.bytes) == (e_sdk.token, e_sdk.logprob, e_sdk.bytes), k
                assert [(t.token, t.logprob, t.bytes) for t in e_ss.top_logprobs] == [
                    (t.token, t.logprob, t.bytes) for t in e_sdk.top_logprobs
                ]
        for j, (t_sdk, t_ss) in enumerate(zip(c_sdk.delta.tool_calls or [], c_ss.delta.tool_calls or [])):
            q = f"{p}.delta.tool_calls[{j}]"
            assert_optional_reads(t_sdk, t_ss, "tool_call", q)
            assert (t_ss.index, t_ss.id, t_ss.type) == (t_sdk.index, t_sdk.id, t_sdk.type), q
            if t_sdk.function is not None:
                assert_optional_reads(t_sdk.function, t_ss.function, "function", q + ".function")
                assert t_ss.function.name == t_sdk.function.name, q
                assert t_ss.function.arguments == t_sdk.function.arguments, q
    if sdk.usage is not None:
        u = ss.usage
        assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (
            sdk.usage.prompt_tokens, sdk.usage.completion_tokens, sdk.usage.total_tokens)
        assert u.to_dict() == sdk.usage.model_dump(exclude_unset=True)


# --- (a) every chunk equal ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_sdk_reads_the_replay_like_its_decoder(server: MockServer, stream: str) -> None:
    """Sanity of the SDK side: its client over HTTP and its decoder over the bytes agree."""
    via_client = sdk_chat_chunks(server, stream)
    via_decoder = sdk_decode(raw_bytes(stream))
    assert [c.model_dump(exclude_unset=True) for c in via_client] == [
        c.model_dump(exclude_unset=True) for c in via_decoder
    ]


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_chat_chunks_equal_sdk_chunks_over_http(server: MockServer, stream: str) -> None:
    sdk = sdk_chat_chunks(server, stream)
    ss = list(ss_chat_stream(server, stream))
    assert len(ss) == len(sdk) > 0
    for i, (a, b) in enumerate(zip(sdk, ss)):
        assert_chat_chunk_equal(a, b, f"{stream}#{i}")


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_chat_chunks_equal_sdk_chunks_from_bytes(stream: str) -> None:
    raw = raw_bytes(stream)
    sdk = sdk_decode(raw)
    ss = list(sserpent.iter_chunks([raw]))
    assert len(ss) == len(sdk) > 0
    for i, (a, b) in enumerate(zip(sdk, ss)):
        assert_chat_chunk_equal(a, b, f"{stream}#{i}")


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_chat_chunks_equal_sdk_chunks_async(server: MockServer, stream: str) -> None:
    sdk = sdk_chat_chunks(server, stream)

    async def read() -> List[Any]:
        server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
        client = (
            sserpent.AsyncAzureOpenAI(api_key="k", azure_endpoint=server.url, api_version="2024-10-21")
            if is_azure(stream)
            else sserpent.AsyncOpenAI(api_key="k", base_url=server.base_url)
        )
        s = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        return [c async for c in s]

    ss = asyncio.run(read())
    assert len(ss) == len(sdk)
    for i, (a, b) in enumerate(zip(sdk, ss)):
        assert_chat_chunk_equal(a, b, f"{stream}#{i}")


def test_every_declared_optional_field_reads_like_the_sdk() -> None:
    """Attributes the installed SDK declares on chunk models but the JSON lacks: where the SDK
    reads ``None``, a sserpent chunk must read ``None`` too (not raise AttributeError)."""
    gaps = set()

    def walk(sdk: Any, ss: Any, path: str) -> None:
        if isinstance(sdk, pydantic.BaseModel):
            for name in list(type(sdk).model_fields) + list(sdk.model_extra or {}):
                a = getattr(sdk, name, _MISSING)
                try:
                    b = getattr(ss, name)
                except AttributeError:
                    b = _MISSING
                if a is _MISSING:
                    continue  # a required field the JSON lacks: the SDK raises too
                if b is _MISSING:
                    gaps.add(f"{path}.{name}")
                    continue
                walk(a, b, f"{path}.{name}")
        elif isinstance(sdk, list):
            for a, b in zip(sdk, ss):
                walk(a, b, f"{path}[]")

    for stream in CHAT_STREAMS:
        raw = raw_bytes(stream)
        for a, b in zip(sdk_decode(raw), sserpent.iter_chunks([raw])):
            walk(a, b, "ChatCompletionChunk")
    assert sorted(gaps) == []


def test_error_midstream_same_chunks_then_an_error(server: MockServer) -> None:
    stream = "wire/openai_chat_error_midstream"
    server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
    sdk_got: List[Any] = []
    with pytest.raises(openai.APIError) as sdk_err:
        for c in sdk_client(server, False).chat.completions.create(model="m", messages=MESSAGES, stream=True):
            sdk_got.append(c)
    ss_got: List[Any] = []
    with pytest.raises(sserpent.StreamError) as ss_err:
        for c in ss_chat_stream(server, stream):
            ss_got.append(c)
    assert len(ss_got) == len(sdk_got) == 2
    for i, (a, b) in enumerate(zip(sdk_got, ss_got)):
        assert_chat_chunk_equal(a, b, f"#{i}")
    assert ss_err.value.message == sdk_err.value.message
    assert ss_err.value.type == sdk_err.value.type == "server_error"
    assert ss_err.value.body["error"] == sdk_err.value.body


def test_completions_chunks_equal_sdk_chunks(server: MockServer) -> None:
    path = WIRE / "openai_completions.sse"
    server.enqueue(sse_file=str(path))
    sdk = list(sdk_client(server, False).completions.create(model="m", prompt="p", stream=True))
    assert [c.model_dump(exclude_unset=True) for c in sdk] == [
        c.model_dump(exclude_unset=True) for c in sdk_decode(path.read_bytes(), Completion)
    ]
    server.enqueue(sse_file=str(path))
    ss = list(ss_client(server, False).completions.create(model="m", prompt="p", stream=True))
    assert len(ss) == len(sdk) == 6
    for i, (a, b) in enumerate(zip(sdk, ss)):
        assert_same(a, b, f"#{i}")
        assert b.choices[0].text == a.choices[0].text
        assert b.choices[0].logprobs is a.choices[0].logprobs is None
        assert b.usage is a.usage is None


def test_responses_events_equal_sdk_events(server: MockServer) -> None:
    path = WIRE / "openai_responses.sse"
    server.enqueue(sse_file=str(path))
    sdk = list(sdk_client(server, False).responses.create(model="m", input="hi", stream=True))
    server.enqueue(sse_file=str(path))
    ss = list(ss_client(server, False).responses.create(model="m", input="hi", stream=True))
    assert len(ss) == len(sdk) == 11
    for i, (a, b) in enumerate(zip(sdk, ss)):
        assert_same(a, b, f"#{i}")
        assert b.type == a.type
    deltas = [b.delta for a, b in zip(sdk, ss) if a.type == "response.output_text.delta"]
    assert deltas == [a.delta for a in sdk if a.type == "response.output_text.delta"] == ["Hello", " there", "!"]
    assert ss[-1].response.usage.total_tokens == sdk[-1].response.usage.total_tokens == 12


# --- (b) final() equals the SDK's accumulated completion ---------------------------------------


def sdk_final(chunks: List[ChatCompletionChunk]) -> Any:
    """ChatCompletionStreamState fed as the SDK's ChatCompletionStream feeds it (Azure's
    filter-only events skipped)."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for c in chunks:
        if _is_valid_chat_completion_chunk_weak(c):
            state.handle_chunk(c)
    return accumulated(state)


def accumulated(state: Any) -> Any:
    """``get_final_completion()``; for a ``length`` or ``content_filter`` finish, which the SDK
    refuses to parse, the accumulated snapshot it would have parsed."""
    try:
        return state.get_final_completion()
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError):
        return state.current_completion_snapshot


def summary_sdk(completion: Any) -> Tuple[Any, ...]:
    choices = []
    for c in completion.choices:
        m = c.message
        calls = [(t.id, t.type, t.function.name, t.function.arguments) for t in (m.tool_calls or [])]
        choices.append((c.index, m.content or "", m.role, c.finish_reason, m.refusal, calls))
    u = completion.usage
    usage = None if u is None else (u.prompt_tokens, u.completion_tokens, u.total_tokens)
    return choices, usage


def summary_ss(final: Any) -> Tuple[Any, ...]:
    choices = []
    for c in final.choices:
        calls = [(t.id, t.type, t.function.name, t.function.arguments) for t in c.tool_calls]
        choices.append((c.index, c.text, c.role, c.finish_reason, c.refusal, calls))
    u = final.usage
    usage = None if u is None else (u.prompt_tokens, u.completion_tokens, u.total_tokens)
    return choices, usage


def assert_choice0_is_top_level(final: Any) -> None:
    c0 = final.choices[0]
    assert (final.text, final.role, final.finish_reason, final.refusal) == (
        c0.text, c0.role, c0.finish_reason, c0.refusal)
    assert [t.to_dict() for t in final.tool_calls] == [t.to_dict() for t in c0.tool_calls]


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_final_equals_sdk_accumulated_completion(server: MockServer, stream: str) -> None:
    expected = summary_sdk(sdk_final(sdk_decode(raw_bytes(stream))))
    # the SDK's own streaming helper over HTTP accumulates the same
    server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
    with sdk_client(server, is_azure(stream)).chat.completions.stream(model="gpt-4o", messages=MESSAGES) as s:
        assert summary_sdk(accumulated(s)) == expected

    final = ss_chat_stream(server, stream).final()
    assert summary_ss(final) == expected
    assert_choice0_is_top_level(final)
    assert all(t.type == "function" for t in final.tool_calls)


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_final_id_and_model_equal_sdk(server: MockServer, stream: str) -> None:
    """The completion's id and model, as the SDK accumulates them (Azure's prompt-filter
    chunk, with ``"id": ""`` and ``"model": ""``, is not part of the completion)."""
    completion = sdk_final(sdk_decode(raw_bytes(stream)))
    final = ss_chat_stream(server, stream).final()
    assert (final.id, final.model) == (completion.id, completion.model)
    assert final.id != ""


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_afinal_equals_sdk_accumulated_completion(server: MockServer, stream: str) -> None:
    expected = summary_sdk(sdk_final(sdk_decode(raw_bytes(stream))))

    async def read() -> Any:
        server.enqueue(sse_file=str(FIXTURES / f"{stream}.sse"))
        client = (
            sserpent.AsyncAzureOpenAI(api_key="k", azure_endpoint=server.url, api_version="2024-10-21")
            if is_azure(stream)
            else sserpent.AsyncOpenAI(api_key="k", base_url=server.base_url)
        )
        s = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        return await s.afinal()

    assert summary_ss(asyncio.run(read())) == expected


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_final_after_partial_iteration_equals_sdk(server: MockServer, stream: str) -> None:
    """Chunks already read still count: the SDK state gets every chunk, sserpent's consumer
    reads half of them before final()."""
    sdk = sdk_decode(raw_bytes(stream))
    expected = summary_sdk(sdk_final(sdk))
    s = ss_chat_stream(server, stream)
    it = iter(s)
    for _ in range(len(sdk) // 2):
        next(it)
    assert summary_ss(s.final()) == expected


@pytest.mark.parametrize("stream", CHAT_STREAMS)
def test_final_of_every_prefix_equals_sdk_snapshot(server: MockServer, stream: str) -> None:
    """After every chunk, the SDK's snapshot equals final() of the stream ended there."""
    data = [sse.data for sse in SSEDecoder().iter_bytes(iter([raw_bytes(stream)])) if sse.data != "[DONE]"]
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    fed = 0
    for k, text in enumerate(data, 1):
        chunk = construct_type(type_=ChatCompletionChunk, value=json.loads(text))
        if not _is_valid_chat_completion_chunk_weak(chunk):
            continue
        state.handle_chunk(chunk)
        fed += 1
        server.enqueue(events=[*data[:k], "[DONE]"])
        final = sserpent.Client(base_url=server.url).stream("POST", "/v1/chat/completions", json={}).final()
        assert summary_ss(final) == summary_sdk(state.current_completion_snapshot), f"{stream}: after chunk {k}"
    assert fed > 0


def test_recorded_streams_cover_what_the_brief_asks() -> None:
    """The recorded set covers: several tool calls interleaved by index, n=2, refusal,
    logprobs, include_usage, content_filter."""
    chunks = {name: sdk_decode((RECORDED / f"{name}.sse").read_bytes()) for name in RECORDED_CHAT}
    tools = [t.index for c in chunks["openai_chat_parallel_tools"] for ch in c.choices
             for t in (ch.delta.tool_calls or [])]
    assert len(set(tools)) == 3 and tools != sorted(tools)  # interleaved
    assert {ch.index for c in chunks["openai_chat_n2_usage"] for ch in c.choices} == {0, 1}
    assert {ch.index for c in chunks["openai_chat_n2_interleaved"] for ch in c.choices} == {0, 1}
    assert any(ch.delta.refusal for c in chunks["openai_chat_refusal"] for ch in c.choices)
    assert any(ch.logprobs and ch.logprobs.content for c in chunks["openai_chat_logprobs"] for ch in c.choices)
    assert chunks["openai_chat_logprobs"][-1].usage is not None
    assert chunks["openai_chat_n2_usage"][-1].usage is not None
    assert chunks["azure_chat_content_filter"][-1].choices[0].finish_reason == "content_filter"


def _expected(stream: str) -> Dict[str, Any]:
    return json.loads((FIXTURES / f"{stream}.expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("stream", [f"recorded/{n}" for n in RECORDED_CHAT])
def test_recorded_expected_json_agrees_with_sdk(stream: str) -> None:
    """The hand-written expected results are what the SDK accumulates (so test_final's use of
    them is anchored in the SDK, not in sserpent)."""
    completion = sdk_final(sdk_decode(raw_bytes(stream)))
    exp = _expected(stream)
    m = completion.choices[0].message
    assert (m.content or "") == exp["text"]
    assert m.role == exp["role"]
    assert completion.choices[0].finish_reason == exp["finish_reason"]
    assert m.refusal == exp["refusal"]
    assert [
        {"id": t.id, "type": t.type, "function": {"name": t.function.name, "arguments": t.function.arguments}}
        for t in (m.tool_calls or [])
    ] == exp["tool_calls"]
    if "usage" in exp:
        u = completion.usage
        assert {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens} == exp["usage"]
    else:
        assert completion.usage is None
    if "choices" in exp:
        assert [
            {"index": c.index, "text": c.message.content or "", "role": c.message.role,
             "finish_reason": c.finish_reason}
            for c in completion.choices
        ] == exp["choices"]
