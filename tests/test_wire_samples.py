"""Every wire sample in tests/fixtures/wire/ fed whole, byte by byte and in random pieces
through Decoder, iter_events, aiter_events, iter_chunks and aiter_chunks: the same events
and chunks every time, and the result each provider's stream must add up to
(``NAME.expected.json``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Tuple

import pytest
import sserpent
from conftest import ERROR_SAMPLES, OK_SAMPLES, SAMPLE_NAMES, agen, as_types, load_sample, piecings
from sserpent import Event, StreamError

PIECINGS = ["whole", "bytewise", "random3", "random11", "random2024"]


# --- reading a provider's stream the way its SDK would --------------------------------------


def provider_of(name: str) -> str:
    if name.startswith("anthropic"):
        return "anthropic"
    if name.startswith("gemini"):
        return "gemini"
    if name == "openai_responses":
        return "responses"
    if name == "openai_completions":
        return "completions"
    if name == "oci_generate_text":
        return "oci_text"
    if name == "oci_chat_generic":
        return "oci_generic"
    if name == "oci_chat_cohere":
        return "oci_cohere"
    return "chat"  # openai_chat_*, azure_chat


def assemble(name: str, chunks: List[Any]) -> Dict[str, Any]:
    """What the chunks add up to, read with attribute access as an SDK user would:
    text, finish_reason, tool_calls (OpenAI shape), usage (OpenAI names), role."""
    provider = provider_of(name)
    text: List[str] = []
    out: Dict[str, Any] = {}
    tools: Dict[int, Dict[str, Any]] = {}

    if provider == "chat":
        for c in chunks:
            if c.usage is not None:
                u = c.usage
                out["usage"] = {
                    "prompt_tokens": u.prompt_tokens,
                    "completion_tokens": u.completion_tokens,
                    "total_tokens": u.total_tokens,
                }
            if not c.choices:
                continue
            choice = c.choices[0]
            delta = choice.delta
            if delta.role is not None:
                out["role"] = delta.role
            if delta.content is not None:
                text.append(delta.content)
            if choice.finish_reason is not None:
                out["finish_reason"] = choice.finish_reason
            for tc in delta.tool_calls or []:
                slot = tools.setdefault(
                    tc.index, {"id": None, "type": None, "function": {"name": None, "arguments": ""}}
                )
                if tc.id is not None:
                    slot["id"] = tc.id
                if tc.type is not None:
                    slot["type"] = tc.type
                if tc.function is not None:
                    if tc.function.name is not None:
                        slot["function"]["name"] = tc.function.name
                    if tc.function.arguments is not None:
                        slot["function"]["arguments"] += tc.function.arguments
    elif provider == "completions":
        for c in chunks:
            text.append(c.choices[0].text)
            if c.choices[0].finish_reason is not None:
                out["finish_reason"] = c.choices[0].finish_reason
    elif provider == "responses":
        for c in chunks:
            if c.type == "response.output_text.delta":
                text.append(c.delta)
            elif c.type == "response.completed":
                out["finish_reason"] = c.response.status
                u = c.response.usage
                out["usage"] = {
                    "prompt_tokens": u.input_tokens,
                    "completion_tokens": u.output_tokens,
                    "total_tokens": u.total_tokens,
                }
    elif provider == "oci_text":
        for c in chunks:
            text.append(c.text)
    elif provider == "oci_generic":
        for c in chunks:
            if "message" in c:
                for part in c.message.content:
                    text.append(part.text)
            if "finishReason" in c:
                out["finish_reason"] = c.finishReason
            if "usage" in c:
                out["usage"] = {
                    "prompt_tokens": c.usage.promptTokens,
                    "completion_tokens": c.usage.completionTokens,
                    "total_tokens": c.usage.totalTokens,
                }
    elif provider == "oci_cohere":
        for c in chunks:
            if "finishReason" in c:
                out["finish_reason"] = c.finishReason  # this event repeats the whole text
            else:
                text.append(c.text)
    elif provider == "anthropic":
        usage: Dict[str, int] = {}
        for c in chunks:
            if c.type == "message_start":
                usage["prompt_tokens"] = c.message.usage.input_tokens
            elif c.type == "content_block_start" and c.content_block.type == "tool_use":
                block = c.content_block
                tools[c.index] = {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": ""},
                }
            elif c.type == "content_block_delta":
                if c.delta.type == "text_delta":
                    text.append(c.delta.text)
                elif c.delta.type == "input_json_delta":
                    tools[c.index]["function"]["arguments"] += c.delta.partial_json
            elif c.type == "message_delta":
                out["finish_reason"] = c.delta.stop_reason
                usage["completion_tokens"] = c.usage.output_tokens
        if "completion_tokens" in usage:
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            out["usage"] = usage
    elif provider == "gemini":
        # google-genai's reading: snake_case attributes, `text` without the thoughts.
        for c in chunks:
            if c.text is not None:
                text.append(c.text)
            for call in c.function_calls or []:
                tools[len(tools)] = {"id": call.id, "type": "function",
                                     "function": {"name": call.name, "arguments": call.args.to_json()}}
            if c.candidates:
                cand = c.candidates[0]
                if cand.content is not None and cand.content.role is not None:
                    out["role"] = cand.content.role
                if cand.finish_reason is not None:
                    out["finish_reason"] = cand.finish_reason
            if c.prompt_feedback is not None and c.prompt_feedback.block_reason is not None:
                out["finish_reason"] = c.prompt_feedback.block_reason
            u = c.usage_metadata
            if u is not None:
                thoughts = u.thoughts_token_count
                out["usage"] = {
                    "prompt_tokens": u.prompt_token_count,
                    "completion_tokens": (u.candidates_token_count or 0) + (thoughts or 0)
                    if u.candidates_token_count is not None or thoughts is not None else None,
                    "total_tokens": u.total_token_count,
                }
                if thoughts is not None:
                    out["usage"]["reasoning_tokens"] = thoughts
    out["text"] = "".join(text)
    if tools:
        out["tool_calls"] = [tools[i] for i in sorted(tools)]
    return out


def check_against_expected(name: str, chunks: List[Any], expected: Dict[str, Any]) -> None:
    got = assemble(name, chunks)
    assert got["text"] == expected["text"]
    for key in ("finish_reason", "tool_calls", "usage", "role"):
        if key in expected:
            assert got[key] == expected[key], key
    if "chunks" in expected:
        assert len(chunks) == expected["chunks"]


# --- collecting the output of each API -------------------------------------------------------


def decoder_events(pieces: List[Any]) -> List[Event]:
    d = sserpent.Decoder()
    out: List[Event] = []
    for p in pieces:
        out += d.feed(p)
    out += d.close()
    return out


def collect_sync(fn, pieces) -> Tuple[List[Any], BaseException | None]:
    items: List[Any] = []
    try:
        for item in fn(iter(pieces)):
            items.append(item)
    except sserpent.SserpentError as e:
        return items, e
    return items, None


def collect_async(fn, pieces) -> Tuple[List[Any], BaseException | None]:
    async def main():
        items: List[Any] = []
        try:
            async for item in fn(agen(pieces)):
                items.append(item)
        except sserpent.SserpentError as e:
            return items, e
        return items, None

    return asyncio.run(main())


def chunk_texts(chunks: List[Any]) -> List[str]:
    return [c.to_json() for c in chunks]


def reference_chunks(name: str) -> List[str]:
    """The JSON texts iter_chunks must yield for a sample, computed from the raw events:
    skip [DONE]-and-after, ping, blank data; stop after message_stop / response.completed;
    stop before an error event."""
    raw, _ = load_sample(name)
    out = []
    for ev in decoder_events([raw]):
        if ev.data.strip() == "[DONE]":
            break
        if ev.event == "ping" or not ev.data.strip():
            continue
        if ev.event == "error" or "error" in json.loads(ev.data):
            break
        out.append(json.dumps(json.loads(ev.data)))
        if ev.event in ("message_stop", "response.completed"):
            break
    return out


# --- the samples themselves -----------------------------------------------------------------


def test_sample_list():
    assert set(SAMPLE_NAMES) == {
        "anthropic_error",
        "anthropic_messages",
        "azure_chat",
        "gemini_error_midstream",
        "gemini_function_call",
        "gemini_prompt_blocked",
        "gemini_safety",
        "gemini_text",
        "gemini_thinking",
        "oci_chat_cohere",
        "oci_chat_generic",
        "oci_generate_text",
        "openai_chat_error_midstream",
        "openai_chat_keepalive_cr",
        "openai_chat_structured",
        "openai_chat_tool_call",
        "openai_chat_usage",
        "openai_compat_reasoning",
        "openai_compat_reasoning_content",
        "openai_completions",
        "openai_responses",
    }
    assert set(ERROR_SAMPLES) == {"anthropic_error", "gemini_error_midstream", "openai_chat_error_midstream"}


# --- Decoder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_decoder_same_events_however_fed(name):
    raw, _ = load_sample(name)
    whole = decoder_events([raw])
    assert whole, "every sample has events"
    for label, pieces in piecings(raw).items():
        assert decoder_events(pieces) == whole, label
        assert decoder_events(as_types(pieces, seed=len(pieces))) == whole, label


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_decoder_events_match_the_reference(name):
    import reference_sse

    raw, _ = load_sample(name)
    ref = reference_sse.interpret(raw)
    assert [(e.event, e.data, e.id) for e in decoder_events([raw])] == ref.events


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_event_is_json_or_done(name):
    raw, _ = load_sample(name)
    for ev in decoder_events([raw]):
        if ev.data == "[DONE]":
            continue
        assert ev.json().to_dict() == json.loads(ev.data)


def test_keepalive_sample_has_bom_comments_and_cr():
    raw, _ = load_sample("openai_chat_keepalive_cr")
    assert raw.startswith(b"\xef\xbb\xbf") and b"\n" not in raw
    events = decoder_events([raw])
    assert [e.data == "[DONE]" for e in events] == [False, False, True]
    assert all(e.event == "message" and e.id == "" for e in events)


def test_anthropic_sample_event_types():
    raw, _ = load_sample("anthropic_messages")
    types = [e.event for e in decoder_events([raw])]
    assert types == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


# --- iter_events / aiter_events --------------------------------------------------------------


def expected_events(name: str) -> List[Event]:
    """Decoder events up to and including [DONE] / message_stop / response.completed."""
    raw, _ = load_sample(name)
    out = []
    for ev in decoder_events([raw]):
        out.append(ev)
        if ev.data == "[DONE]" or ev.event in ("message_stop", "response.completed"):
            break
    return out


@pytest.mark.parametrize("name", OK_SAMPLES)
@pytest.mark.parametrize("piecing", PIECINGS)
def test_iter_events(name, piecing):
    raw, _ = load_sample(name)
    pieces = piecings(raw)[piecing]
    items, error = collect_sync(sserpent.iter_events, pieces)
    assert error is None
    assert items == expected_events(name)
    assert all(type(e) is Event for e in items)


@pytest.mark.parametrize("name", OK_SAMPLES)
@pytest.mark.parametrize("piecing", ["whole", "bytewise", "random3"])
def test_aiter_events(name, piecing):
    raw, _ = load_sample(name)
    pieces = piecings(raw)[piecing]
    items, error = collect_async(sserpent.aiter_events, pieces)
    assert error is None
    assert items == expected_events(name)


@pytest.mark.parametrize("name", ERROR_SAMPLES)
def test_events_adapters_yield_error_events_as_events(name):
    # The event adapters do not interpret data: the error event is yielded like any other,
    # and every event of the sample comes out (up to [DONE] where there is one).
    raw, _ = load_sample(name)
    for fn, collect in ((sserpent.iter_events, collect_sync), (sserpent.aiter_events, collect_async)):
        items, _error = collect(fn, [raw])
        assert items == expected_events(name)
        assert sum(e.event == "error" or e.data.startswith('{"error"') for e in items) == 1


# --- iter_chunks / aiter_chunks --------------------------------------------------------------


@pytest.mark.parametrize("name", OK_SAMPLES)
@pytest.mark.parametrize("piecing", PIECINGS)
def test_iter_chunks(name, piecing):
    raw, expected = load_sample(name)
    pieces = piecings(raw)[piecing]
    chunks, error = collect_sync(sserpent.iter_chunks, pieces)
    assert error is None, error
    assert [json.dumps(c.to_dict()) for c in chunks] == reference_chunks(name)
    check_against_expected(name, chunks, expected)


@pytest.mark.parametrize("name", OK_SAMPLES)
@pytest.mark.parametrize("piecing", PIECINGS)
def test_aiter_chunks(name, piecing):
    raw, expected = load_sample(name)
    pieces = piecings(raw)[piecing]
    chunks, error = collect_async(sserpent.aiter_chunks, pieces)
    assert error is None, error
    assert [json.dumps(c.to_dict()) for c in chunks] == reference_chunks(name)
    check_against_expected(name, chunks, expected)


@pytest.mark.parametrize("name", OK_SAMPLES)
def test_sync_and_async_chunks_are_identical(name):
    raw, _ = load_sample(name)
    sync, _ = collect_sync(sserpent.iter_chunks, [raw])
    for label, pieces in piecings(raw).items():
        got, _ = collect_async(sserpent.aiter_chunks, as_types(pieces, seed=7))
        assert chunk_texts(got) == chunk_texts(sync), label
        assert [repr(c) for c in got] == [repr(c) for c in sync], label


@pytest.mark.parametrize("name", ERROR_SAMPLES)
@pytest.mark.parametrize("piecing", PIECINGS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_error_samples_raise_stream_error_after_the_text_before_it(name, piecing, mode):
    raw, expected = load_sample(name)
    pieces = piecings(raw)[piecing]
    if mode == "sync":
        chunks, error = collect_sync(sserpent.iter_chunks, pieces)
    else:
        chunks, error = collect_async(sserpent.aiter_chunks, pieces)
    assert isinstance(error, StreamError), error
    assert error.message == expected["error"]["message"]
    assert str(error) == expected["error"]["message"]
    assert error.type == expected["error"]["type"]
    assert assemble(name, chunks)["text"] == expected["text_before_error"]
    assert [json.dumps(c.to_dict()) for c in chunks] == reference_chunks(name)
    assert isinstance(error.event, Event)
    assert isinstance(error.body, dict)
    assert error.body == json.loads(error.event.data)


def test_openai_error_sample_details():
    raw, _ = load_sample("openai_chat_error_midstream")
    chunks, error = collect_sync(sserpent.iter_chunks, [raw])
    assert len(chunks) == 2
    assert error.code is None and error.param is None
    assert error.event.event == "message"
    assert error.body == {
        "error": {
            "message": "The server experienced an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


def test_anthropic_error_sample_details():
    raw, _ = load_sample("anthropic_error")
    chunks, error = collect_sync(sserpent.iter_chunks, [raw])
    assert [c.type for c in chunks] == ["message_start", "content_block_start", "content_block_delta"]
    assert error.event.event == "error"
    assert error.type == "overloaded_error"
    assert error.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_openai_chat_usage_sample():
    raw, expected = load_sample("openai_chat_usage")
    chunks, error = collect_sync(sserpent.iter_chunks, [raw])
    assert error is None
    assert len(chunks) == 5 == expected["chunks"]
    assert [c.usage for c in chunks[:4]] == [None] * 4
    last = chunks[4]
    assert last.choices == []
    assert last.usage.total_tokens == 20
    assert last.usage.prompt_tokens_details.cached_tokens == 0
    assert last.usage.completion_tokens_details.reasoning_tokens == 0
    assert last.usage.completion_tokens_details.audio_tokens is None
    assert chunks[3].choices[0].delta.content is None
    assert chunks[3].choices[0].finish_reason == "stop"
    assert all(repr(c).startswith("ChatCompletionChunk(") for c in chunks)


def test_openai_tool_call_sample():
    raw, _ = load_sample("openai_chat_tool_call")
    chunks, _ = collect_sync(sserpent.iter_chunks, [raw])
    first = chunks[0].choices[0].delta
    assert first.content is None and first.refusal is None
    assert first.tool_calls[0].function.name == "get_weather"
    later = chunks[1].choices[0].delta.tool_calls[0]
    assert later.id is None and later.type is None and later.function.name is None
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 60
    assert all(c.usage is None for c in chunks[:-1])


def test_azure_sample():
    raw, _ = load_sample("azure_chat")
    chunks, _ = collect_sync(sserpent.iter_chunks, [raw])
    assert repr(chunks[0]).startswith("ChatCompletionChunk(")
    assert chunks[0].choices == []
    assert chunks[0].usage is None
    assert chunks[0].prompt_filter_results[0].content_filter_results.hate.severity == "safe"
    assert chunks[-1].choices[0].delta.content is None
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_completions_sample_shape():
    raw, _ = load_sample("openai_completions")
    chunks, _ = collect_sync(sserpent.iter_chunks, [raw])
    assert all(repr(c).startswith("Completion(") for c in chunks)
    assert all(c.choices[0].logprobs is None for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_anthropic_sample_skips_ping_and_stops_at_message_stop():
    raw, _ = load_sample("anthropic_messages")
    chunks, error = collect_sync(sserpent.iter_chunks, [raw + b'event: extra\ndata: {"x":1}\n\n'])
    assert error is None
    assert "ping" not in [c.type for c in chunks]
    assert chunks[-1].type == "message_stop"
    assert len(chunks) == 12


def test_responses_sample_stops_at_response_completed():
    raw, _ = load_sample("openai_responses")
    chunks, error = collect_sync(sserpent.iter_chunks, [raw + b'data: {"x":1}\n\n'])
    assert error is None
    assert chunks[-1].type == "response.completed"
    assert len(chunks) == 11


@pytest.mark.parametrize("name", OK_SAMPLES)
def test_chunk_json_round_trips(name):
    raw, _ = load_sample(name)
    chunks, _ = collect_sync(sserpent.iter_chunks, [raw])
    for c in chunks:
        assert c == json.loads(c.to_json())
        assert c.to_dict() == json.loads(c.to_json())
        assert json.loads(c.model_dump_json()) == c.model_dump()
        assert raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n").count(c.to_json()) >= 1
