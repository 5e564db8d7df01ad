"""The parse adapters (iter_events, aiter_events, iter_chunks, aiter_chunks): their
semantics on plain byte sources, and on real HTTP clients (requests, httpx, aiohttp)
reading a local server that sends the wire samples in small flushed pieces."""

from __future__ import annotations

import asyncio
import io
from typing import Any, Callable, List, Tuple

import aiohttp
import httpx
import pytest
import requests
import sserpent
from conftest import SAMPLE_NAMES, WIRE, agen, as_types, load_sample, random_pieces
from sserpent import (
    ChunkDecodeError,
    Event,
    IncompleteStreamError,
    SSEError,
    StreamError,
)

CHAT = b'data: {"object":"chat.completion.chunk","choices":[]}\n\n'
DONE = b"data: [DONE]\n\n"

Outcome = Tuple[List[Any], Any]  # (items, the exception raised or None)


def run_sync(fn: Callable, source: Any, **kwargs: Any) -> Outcome:
    items: List[Any] = []
    try:
        for item in fn(source, **kwargs):
            items.append(item)
    except Exception as e:  # noqa: BLE001 - the outcome is compared by the tests
        return items, e
    return items, None


def run_async(fn: Callable, source: Any, **kwargs: Any) -> Outcome:
    async def main() -> Outcome:
        items: List[Any] = []
        try:
            async for item in fn(source, **kwargs):
                items.append(item)
        except Exception as e:  # noqa: BLE001
            return items, e
        return items, None

    return asyncio.run(main())


def both_chunks(pieces: List[Any], **kwargs: Any) -> Outcome:
    """iter_chunks on a list and aiter_chunks on an async generator must agree."""
    sync = run_sync(sserpent.iter_chunks, iter(pieces), **kwargs)
    asyn = run_async(sserpent.aiter_chunks, agen(pieces), **kwargs)
    assert summary(sync) == summary(asyn)
    return sync


def both_events(pieces: List[Any], **kwargs: Any) -> Outcome:
    sync = run_sync(sserpent.iter_events, iter(pieces), **kwargs)
    asyn = run_async(sserpent.aiter_events, agen(pieces), **kwargs)
    assert summary(sync) == summary(asyn)
    return sync


def summary(outcome: Outcome) -> Tuple[List[str], Tuple[str, str] | None]:
    items, error = outcome
    texts = [repr(i) for i in items]
    return texts, None if error is None else (type(error).__name__, str(error))


# --- sources of bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generators_of_bytes_bytearray_memoryview(seed):
    raw, _ = load_sample("openai_chat_tool_call")
    reference, _ = run_sync(sserpent.iter_chunks, [raw])
    pieces = as_types(random_pieces(raw, seed=seed, max_len=9), seed=seed)

    def gen():
        yield from pieces

    chunks, error = run_sync(sserpent.iter_chunks, gen())
    assert error is None
    assert [c.to_json() for c in chunks] == [c.to_json() for c in reference]
    chunks, error = run_async(sserpent.aiter_chunks, agen(pieces))
    assert error is None
    assert [c.to_json() for c in chunks] == [c.to_json() for c in reference]
    events, error = run_sync(sserpent.iter_events, iter(pieces))
    assert error is None
    events2, error = run_async(sserpent.aiter_events, agen(pieces))
    assert error is None
    assert events == events2
    assert events[-1] == Event("[DONE]")


def test_memoryview_items_are_not_retained():
    buf = bytearray(b'data: {"a":1}')
    view = memoryview(buf)

    def gen():
        yield view
        buf[:] = b"XXXXXXXXXXXXX"
        yield b"\n\n"

    chunks, error = run_sync(sserpent.iter_chunks, gen())
    assert error is None
    assert chunks == [{"a": 1}]


def test_file_object_source():
    with open(WIRE / "openai_chat_usage.sse", "rb") as f:
        chunks, error = run_sync(sserpent.iter_chunks, f)
    assert error is None
    assert len(chunks) == 5
    chunks, error = run_sync(sserpent.iter_chunks, io.BytesIO((WIRE / "anthropic_messages.sse").read_bytes()))
    assert error is None
    assert chunks[-1].type == "message_stop"


def test_adapters_return_iterators():
    it = sserpent.iter_chunks([CHAT, DONE])
    assert iter(it) is it
    assert next(it) == {"object": "chat.completion.chunk", "choices": []}
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    ait = sserpent.aiter_chunks(agen([CHAT, DONE]))
    assert hasattr(ait, "__anext__")


# --- termination ---------------------------------------------------------------------------------


def test_chunks_stop_at_done_without_reading_further():
    pulled = []

    def gen():
        pulled.append(1)
        yield CHAT + DONE
        pulled.append(2)
        raise AssertionError("read past [DONE]")

    chunks, error = run_sync(sserpent.iter_chunks, gen())
    assert error is None and len(chunks) == 1
    assert pulled == [1]

    async def agen_strict():
        yield CHAT + DONE
        raise AssertionError("read past [DONE]")

    chunks, error = run_async(sserpent.aiter_chunks, agen_strict())
    assert error is None and len(chunks) == 1


def test_data_after_done_is_ignored():
    chunks, error = both_chunks([CHAT, DONE, CHAT, b"data: {bad json\n\n"])
    assert error is None and len(chunks) == 1


def test_events_stop_after_done_which_is_yielded():
    events, error = both_events([b"data: a\n\n", DONE, b"data: b\n\n"])
    assert error is None
    assert events == [Event("a"), Event("[DONE]")]


def test_events_stop_after_message_stop_and_response_completed():
    events, error = both_events(
        [b"event: message_start\ndata: {}\n\nevent: message_stop\ndata: {}\n\ndata: more\n\n"]
    )
    assert error is None
    assert [e.event for e in events] == ["message_start", "message_stop"]
    events, error = both_events(
        [b"event: response.created\ndata: {}\n\nevent: response.completed\ndata: {}\n\ndata: more\n\n"]
    )
    assert error is None
    assert [e.event for e in events] == ["response.created", "response.completed"]


def test_events_yield_everything_raw():
    body = b': comment\n\nevent: ping\ndata: {}\n\ndata:\n\ndata: not json\n\nid: 3\ndata: {"error":{}}\n\n'
    events, error = both_events([body])
    assert error is None
    assert events == [
        Event("{}", "ping"),
        Event(""),
        Event("not json"),
        Event('{"error":{}}', id="3"),
    ]


def test_chunks_skip_comments_pings_and_blank_data():
    body = (
        b": keep-alive\n\n"
        + b'event: ping\ndata: {"type":"ping"}\n\n'
        + b"data:\n\n"
        + b"data:   \n\n"
        + b"retry: 100\nid: 1\n\n"
        + CHAT
        + b": another\n\n"
        + DONE
    )
    chunks, error = both_chunks([body])
    assert error is None
    assert chunks == [{"object": "chat.completion.chunk", "choices": []}]


def test_chunks_arrays_and_scalars():
    chunks, error = both_chunks([b'data: [1,{"a":2}]\n\ndata: 3\n\ndata: "s"\n\ndata: null\n\n'])
    assert error is None
    assert chunks[0][1].a == 2
    assert chunks[1:] == [3, "s", None]


def test_anthropic_stops_after_message_stop():
    body = (
        b'event: message_start\ndata: {"type":"message_start"}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        b'data: {"after":1}\n\n'
    )
    chunks, error = both_chunks([body])
    assert error is None
    assert [c.type for c in chunks] == ["message_start", "message_stop"]


def test_responses_stop_after_response_completed():
    body = (
        b'event: response.created\ndata: {"type":"response.created"}\n\n'
        b'event: response.completed\ndata: {"type":"response.completed"}\n\n'
        b'data: {"after":1}\n\n'
    )
    chunks, error = both_chunks([body])
    assert error is None
    assert [c.type for c in chunks] == ["response.created", "response.completed"]


# --- incomplete streams --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_stream_cut_mid_event_raises_incomplete_after_intact_chunks(name):
    raw, _ = load_sample(name)
    full, full_error = run_sync(sserpent.iter_chunks, [raw])
    # Cut inside the last data line that iter_chunks consumed.
    last = full_error.event.data if isinstance(full_error, StreamError) else full[-1].to_json()
    last_json = last.encode()
    at = raw.rindex(last_json) + len(last_json) // 2
    chunks, error = both_chunks([raw[:at]])
    assert isinstance(error, IncompleteStreamError), error
    assert isinstance(error, sserpent.APIConnectionError)
    assert [c.to_json() for c in chunks] == [c.to_json() for c in full[: len(chunks)]]
    intact = len(full) - (0 if isinstance(full_error, StreamError) else 1)
    assert len(chunks) == intact


@pytest.mark.parametrize(
    "name, terminator",
    [
        ("openai_chat_usage", b"data: [DONE]"),
        ("openai_chat_tool_call", b"data: [DONE]"),
        ("openai_chat_keepalive_cr", b"data: [DONE]"),
        ("azure_chat", b"data: [DONE]"),
        ("openai_completions", b"data: [DONE]"),
        ("anthropic_messages", b"event: message_stop"),
        ("openai_responses", b"event: response.completed"),
    ],
)
def test_stream_without_its_terminator_raises_incomplete(name, terminator):
    raw, _ = load_sample(name)
    cut = raw[: raw.rindex(terminator)]
    full, _ = run_sync(sserpent.iter_chunks, [raw])
    for pieces in ([cut], random_pieces(cut, seed=5, max_len=11)):
        chunks, error = both_chunks(pieces)
        assert isinstance(error, IncompleteStreamError), error
        assert [c.to_json() for c in chunks] == [c.to_json() for c in full[: len(chunks)]]
        expected_count = len(full) - (1 if terminator.startswith(b"event:") else 0)
        assert len(chunks) == expected_count


@pytest.mark.parametrize("name", ["oci_generate_text", "oci_chat_cohere", "oci_chat_generic"])
def test_oci_and_unknown_streams_may_just_end(name):
    raw, _ = load_sample(name)
    cut = raw.replace(b"data: [DONE]\n\n", b"")
    chunks, error = both_chunks([cut])
    assert error is None
    assert len(chunks) > 0


def test_unknown_stream_may_end_and_empty_streams_are_fine():
    assert both_chunks([b'data: {"text":"a"}\n\n']) == ([{"text": "a"}], None)
    assert both_chunks([]) == ([], None)
    assert both_chunks([b""]) == ([], None)
    assert both_chunks([b": only a comment\n\n"]) == ([], None)
    assert both_chunks([DONE]) == ([], None)


def test_chat_stream_with_null_error_field_still_owes_done():
    # A chunk carrying "error": null is an ordinary chunk; the stream still owes [DONE].
    body = b'data: {"object":"chat.completion.chunk","choices":[],"error":null}\n\n'
    chunks, error = both_chunks([body])
    assert len(chunks) == 1
    assert isinstance(error, IncompleteStreamError), error


def test_events_cut_mid_event_raises_incomplete():
    events, error = both_events([b"data: a\n\ndata: b"])
    assert events == [Event("a")]
    assert isinstance(error, IncompleteStreamError)


def test_trailing_partial_line_after_last_event_is_incomplete():
    chunks, error = both_chunks([b'data: {"text":"a"}\n\ndata: {"te'])
    assert chunks == [{"text": "a"}]
    assert isinstance(error, IncompleteStreamError)
    chunks, error = both_chunks([b'data: {"text":"a"}\n\ndata: {"text":"b"}\n'])
    assert chunks == [{"text": "a"}]
    assert isinstance(error, IncompleteStreamError)


# --- provider errors and invalid JSON ------------------------------------------------------------


def test_error_object_raises_stream_error_after_every_chunk_before_it():
    err = b'data: {"error":{"message":"m","type":"t","code":429,"param":"p"}}\n\n'
    for pieces in ([CHAT + CHAT + err + CHAT + DONE], [CHAT, CHAT, err, CHAT, DONE]):
        chunks, error = both_chunks(pieces)
        assert len(chunks) == 2
        assert isinstance(error, StreamError)
        assert (error.message, error.type, error.code, error.param) == ("m", "t", 429, "p")
        assert str(error) == "m"
        assert error.event == Event('{"error":{"message":"m","type":"t","code":429,"param":"p"}}')
        assert error.body == {"error": {"message": "m", "type": "t", "code": 429, "param": "p"}}
        assert type(error.body) is dict


def test_error_event_type_raises_stream_error():
    body = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    chunks, error = both_chunks([CHAT + body])
    assert len(chunks) == 1
    assert isinstance(error, StreamError)
    assert error.message == "Overloaded" and error.type == "overloaded_error"
    assert error.event.event == "error"


def test_error_event_with_plain_text_data():
    chunks, error = both_chunks([b"event: error\ndata: upstream failure\n\n"])
    assert chunks == []
    assert isinstance(error, StreamError)
    assert "upstream failure" in error.message
    assert error.event == Event("upstream failure", "error")


def test_error_string_value():
    chunks, error = both_chunks([b'data: {"error":"rate limited"}\n\n'])
    assert isinstance(error, StreamError)
    assert error.message == "rate limited"


def test_nothing_is_yielded_after_a_stream_error():
    it = sserpent.iter_chunks([b'data: {"error":{"message":"x"}}\n\n' + CHAT + DONE])
    with pytest.raises(StreamError):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_invalid_json_raises_chunk_decode_error_after_intact_chunks():
    bad = b"data: {not json, and a long tail " + b"z" * 200 + b"\n\n"
    chunks, error = both_chunks([CHAT + CHAT + bad + CHAT + DONE])
    assert len(chunks) == 2
    assert isinstance(error, ChunkDecodeError)
    data = bad[6:-2].decode()
    assert error.data == data
    assert error.position == 1
    assert error.event == Event(data)
    assert "{not json, and a long tail" in str(error)
    assert len(str(error)) < len(data)


def test_invalid_utf8_inside_json_is_replaced_before_parsing():
    chunks, error = both_chunks([b'data: {"t":"a\xffb"}\n\n'])
    assert error is None
    assert chunks == [{"t": "a\ufffdb"}]


# --- limits and bad input ------------------------------------------------------------------------


def test_max_event_size_applies_to_the_adapters():
    big = b"data: " + b"x" * 200 + b"\n\n"
    chunks, error = both_chunks([CHAT + big + CHAT], max_event_size=100)
    assert len(chunks) == 1
    assert isinstance(error, SSEError)
    assert error.limit == 100
    events, error = both_events([b"data: a\n\n" + big], max_event_size=100)
    assert events == [Event("a")]
    assert isinstance(error, SSEError)


def test_max_event_size_must_be_positive():
    with pytest.raises(ValueError):
        sserpent.iter_chunks([], max_event_size=0)
    with pytest.raises(ValueError):
        sserpent.iter_events([], max_event_size=0)


@pytest.mark.parametrize("bad, name", [("data: x\n\n", "str"), (5, "int"), (None, "NoneType"), ({}, "dict")])
@pytest.mark.parametrize("fn", ["iter_chunks", "iter_events", "aiter_chunks", "aiter_events"])
def test_non_bytes_items_raise_type_error_naming_the_type(bad, name, fn):
    pieces = [CHAT, bad, CHAT, DONE]
    if fn.startswith("a"):
        items, error = run_async(getattr(sserpent, fn), agen(pieces))
    else:
        items, error = run_sync(getattr(sserpent, fn), iter(pieces))
    assert isinstance(error, TypeError), error
    assert name in str(error)
    assert len(items) == 1  # the chunk before the bad item was delivered


def test_non_iterable_source():
    with pytest.raises(TypeError):
        sserpent.iter_chunks(5)
    with pytest.raises(TypeError):
        sserpent.iter_events(None)


def test_exceptions_from_the_source_propagate_after_earlier_chunks():
    class Boom(Exception):
        pass

    def gen():
        yield CHAT
        raise Boom("network")

    async def agen_boom():
        yield CHAT
        raise Boom("network")

    chunks, error = run_sync(sserpent.iter_chunks, gen())
    assert len(chunks) == 1 and type(error) is Boom
    chunks, error = run_async(sserpent.aiter_chunks, agen_boom())
    assert len(chunks) == 1 and type(error) is Boom


# --- real HTTP clients ---------------------------------------------------------------------------


def served_pieces(raw: bytes, name: str) -> List[bytes]:
    return random_pieces(raw, seed=sum(name.encode()), max_len=9)


def expected_outcome(raw: bytes) -> Tuple[List[str], Tuple[str, str] | None]:
    items, error = run_sync(sserpent.iter_chunks, [raw])
    return [c.to_json() for c in items], None if error is None else (type(error).__name__, str(error))


def outcome_of(items: List[Any], error: BaseException | None):
    return [c.to_json() for c in items], None if error is None else (type(error).__name__, str(error))


@pytest.mark.parametrize("name", SAMPLE_NAMES)
@pytest.mark.parametrize("chunk_size", [None, 1])
def test_requests_iter_content(sse_server, name, chunk_size):
    raw, _ = load_sample(name)
    url = sse_server.serve(served_pieces(raw, name))
    with requests.get(url, stream=True, timeout=30) as resp:
        assert resp.status_code == 200
        items, error = run_sync(sserpent.iter_chunks, resp.iter_content(chunk_size=chunk_size))
    assert outcome_of(items, error) == expected_outcome(raw)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_httpx_iter_bytes(sse_server, name):
    raw, _ = load_sample(name)
    url = sse_server.serve(served_pieces(raw, name))
    with httpx.Client(timeout=30) as client:
        with client.stream("GET", url) as resp:
            assert resp.status_code == 200
            items, error = run_sync(sserpent.iter_chunks, resp.iter_bytes())
    assert outcome_of(items, error) == expected_outcome(raw)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_httpx_aiter_bytes(sse_server, name):
    raw, _ = load_sample(name)
    url = sse_server.serve(served_pieces(raw, name))

    async def main():
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("GET", url) as resp:
                assert resp.status_code == 200
                items = []
                try:
                    async for chunk in sserpent.aiter_chunks(resp.aiter_bytes()):
                        items.append(chunk)
                except sserpent.SserpentError as e:
                    return items, e
                return items, None

    items, error = asyncio.run(main())
    assert outcome_of(items, error) == expected_outcome(raw)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_aiohttp_iter_any(sse_server, name):
    raw, _ = load_sample(name)
    url = sse_server.serve(served_pieces(raw, name))

    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                assert resp.status == 200
                items = []
                try:
                    async for chunk in sserpent.aiter_chunks(resp.content.iter_any()):
                        items.append(chunk)
                except sserpent.SserpentError as e:
                    return items, e
                return items, None

    items, error = asyncio.run(main())
    assert outcome_of(items, error) == expected_outcome(raw)


@pytest.mark.parametrize("name", ["openai_chat_keepalive_cr", "anthropic_messages", "azure_chat"])
def test_events_over_http(sse_server, name):
    raw, _ = load_sample(name)
    reference, ref_error = run_sync(sserpent.iter_events, [raw])
    assert ref_error is None
    url = sse_server.serve(random_pieces(raw, seed=1, max_len=3))
    with requests.get(url, stream=True, timeout=30) as resp:
        events, error = run_sync(sserpent.iter_events, resp.iter_content(chunk_size=None))
    assert error is None and events == reference

    async def main():
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("GET", url) as resp:
                return [e async for e in sserpent.aiter_events(resp.aiter_bytes())]

    assert asyncio.run(main()) == reference


def test_http_stream_cut_short_raises_incomplete(sse_server):
    raw, _ = load_sample("openai_chat_usage")
    cut = raw[: raw.rindex(b"data: [DONE]")]
    url = sse_server.serve(random_pieces(cut, seed=9, max_len=5))
    with httpx.Client(timeout=30) as client:
        with client.stream("GET", url) as resp:
            items, error = run_sync(sserpent.iter_chunks, resp.iter_bytes())
    assert len(items) == 5
    assert isinstance(error, IncompleteStreamError)


def test_server_serves_exact_bytes(sse_server):
    # The fixture itself: the body arrives byte-exact.
    raw, _ = load_sample("anthropic_messages")
    url = sse_server.serve(random_pieces(raw, seed=4, max_len=5))
    assert requests.get(url, timeout=30).content == raw
