"""``Anthropic.messages.stream()`` against the anthropic SDK's own helper: the same streams
served to both give the same events (the raw ones and those the SDK builds, with their
snapshots), the same final message and text, sync and async; tool input is parsed as it
streams exactly as jiter's partial mode reads it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import jiter
import pytest
import sserpent
from sserpent._providers._message_stream import _events_for
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
PARAMS: dict[str, Any] = {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
START = {"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": [],
    "stop_reason": None, "stop_sequence": None,
    "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
              "output_tokens": 1}}}
STOP = [{"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 30, "cache_read_input_tokens": 7}},
        {"type": "message_stop"}]


def sse(events: list[dict]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def block(index: int, content_block: dict, deltas: list[dict]) -> list[dict]:
    return ([{"type": "content_block_start", "index": index, "content_block": content_block}]
            + [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
            + [{"type": "content_block_stop", "index": index}])


THINKING_AND_CITATIONS = [START, {"type": "ping"}] + block(0, {"type": "thinking", "thinking": "", "signature": ""}, [
    {"type": "thinking_delta", "thinking": "Let me "},
    {"type": "thinking_delta", "thinking": "think: \"quoted\" \u00e9"},
    {"type": "signature_delta", "signature": "EqQBCkYIARgCIkB"},
]) + block(1, {"type": "text", "text": "", "citations": []}, [
    {"type": "text_delta", "text": "The sky "},
    {"type": "citations_delta", "citation": {"type": "char_location", "cited_text": "blue", "document_index": 0,
                                             "document_title": None, "start_char_index": 0, "end_char_index": 4}},
    {"type": "text_delta", "text": "is blue."},
    {"type": "citations_delta", "citation": {"type": "char_location", "cited_text": "sky", "document_index": 0,
                                             "document_title": "Doc", "start_char_index": 5, "end_char_index": 8}},
]) + block(2, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}, [
    {"type": "input_json_delta", "partial_json": ""},
    {"type": "input_json_delta", "partial_json": "{\"query\": \"sky co"},
    {"type": "input_json_delta", "partial_json": "lor\", \"n\": [1, 2.5e3"},
    {"type": "input_json_delta", "partial_json": "]}"},
]) + STOP

STREAMS = {
    "text_and_tool_use": (WIRE / "anthropic_messages.sse").read_text(),
    "thinking_citations_server_tool": sse(THINKING_AND_CITATIONS),
}


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


def clients(server: MockServer, is_async: bool) -> tuple[Any, Any]:
    kw: dict = {"api_key": "k", "base_url": server.url, "max_retries": 0}
    if is_async:
        return anthropic.AsyncAnthropic(**kw), sserpent.AsyncAnthropic(**kw)
    return anthropic.Anthropic(**kw), sserpent.Anthropic(**kw)


def dump(obj: Any) -> Any:
    return obj.model_dump(exclude_unset=True)


def read_all(client: Any, how: str) -> dict:
    """Everything one sync client's helper gives for one stream."""
    with client.messages.stream(**PARAMS) as stream:
        if how == "events":
            items = [dump(e) for e in stream if e.type != "ping"]  # sserpent skips pings
        else:
            items = list(stream.text_stream)
        message = stream.get_final_message()
        return {"items": items, "final": dump(message), "text": stream.get_final_text(),
                "snapshot": dump(stream.current_message_snapshot)}


async def aread_all(client: Any, how: str) -> dict:
    async with client.messages.stream(**PARAMS) as stream:
        if how == "events":
            items = [dump(e) async for e in stream if e.type != "ping"]
        else:
            items = [t async for t in stream.text_stream]
        message = await stream.get_final_message()
        return {"items": items, "final": dump(message), "text": await stream.get_final_text(),
                "snapshot": dump(stream.current_message_snapshot)}


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("how", ["events", "text_stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_same_as_the_sdk(server: MockServer, name: str, how: str, is_async: bool) -> None:
    results = []
    for client in clients(server, is_async):
        server.enqueue(sse=STREAMS[name])
        results.append(asyncio.run(aread_all(client, how)) if is_async else read_all(client, how))
        assert server.requests[-1].json()["stream"] is True
    sdk, ours = results
    assert ours == sdk
    if how == "events":
        kinds = [e["type"] for e in ours["items"]]
        assert kinds.count("message_stop") == 1 and kinds[-1] == "message_stop"
        assert "content_block_stop" in kinds and ("text" in kinds)


def test_the_built_events_carry_the_snapshots(server: MockServer) -> None:
    server.enqueue(sse=STREAMS["thinking_citations_server_tool"])
    with sserpent.Anthropic(api_key="k", base_url=server.url).messages.stream(**PARAMS) as stream:
        events = list(stream)
    built = [(e.type, e.get("snapshot")) for e in events if e.type in ("text", "thinking", "input_json")]
    assert built == [
        ("thinking", "Let me "), ("thinking", "Let me think: \"quoted\" \u00e9"),
        ("text", "The sky "), ("text", "The sky is blue."),
        # "2.5e3" at the end of a fragment is already a whole number.
        ("input_json", {}), ("input_json", {}), ("input_json", {"query": "sky color", "n": [1, 2500.0]}),
        ("input_json", {"query": "sky color", "n": [1, 2500.0]}),
    ]
    assert [e.signature for e in events if e.type == "signature"] == ["EqQBCkYIARgCIkB"]
    assert [len(e.snapshot) for e in events if e.type == "citation"] == [1, 2]
    final = events[-1].message
    assert (final.stop_reason, final.usage.output_tokens, final.usage.cache_read_input_tokens) == ("end_turn", 30, 7)
    assert final.content[2].input == {"query": "sky color", "n": [1, 2500.0]}


# Documents whose every prefix is streamed as tool input, one character per delta.
TOOL_INPUTS = [
    '{"location": "Paris", "unit": "celsius"}',
    '{"a": [1, -2.5, 3e-2, true, false, null], "b": {"c": "d\\"e\\u00e9\\n"}, "e": []}',
    '[{"x": 0}, {"y": [[], {}]}, "z"]',
    '{"emoji": "\\ud83d\\ude00 \u65e5\u672c", "big": 123456789012345678901234567890}',
]


@pytest.mark.parametrize("doc", TOOL_INPUTS)
def test_tool_input_snapshots_read_prefixes_as_jiter_partial_mode(doc: str) -> None:
    state, feed = tool_state()
    for n in range(1, len(doc) + 1):
        fired = feed({"type": "content_block_delta", "index": 0,
                      "delta": {"type": "input_json_delta", "partial_json": doc[n - 1]}})
        want = jiter.from_json(doc[:n].encode(), partial_mode=True)  # every prefix opens a container
        assert fired[1].get("snapshot") == want, doc[:n]
    assert state.snapshot().content[0].input == json.loads(doc)


def tool_state() -> Any:
    """A ``_MessageState`` holding one tool-use block, and a function feeding it an event."""
    state = sserpent._sserpent._MessageState()
    parser = sserpent.ChunkParser()

    def feed(event: dict) -> list:
        (chunk,) = parser.feed(f"data: {json.dumps(event)}\n\n".encode())
        return state.push(chunk)

    feed(START)
    feed({"type": "content_block_start", "index": 0,
          "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}})
    return state, feed


@pytest.mark.parametrize("doc", ["[" * 202 + "]" * 202, '["\\udc00"]', '{"a": "\\ud800x"}'])
def test_tool_input_jiter_refuses_raises_on_its_delta(doc: str) -> None:
    with pytest.raises(ValueError) as sdk_error:  # what the anthropic SDK does with it
        jiter.from_json(doc.encode(), partial_mode=True)
    _, feed = tool_state()
    with pytest.raises(ValueError, match="Unable to parse tool parameter JSON from model"):
        feed({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": doc}})
    assert sdk_error.value is not None


def test_nesting_jiter_accepts_is_accepted_and_survives_the_built_events() -> None:
    doc = "[" * 201 + "]" * 201
    state, feed = tool_state()
    feed({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": doc}})
    feed({"type": "content_block_stop", "index": 0})
    (stop,) = feed({"type": "message_stop"})
    assert json.dumps(stop.message.content[0].input).count("[") == 201


def test_tool_input_that_is_not_json_raises_value_error_as_in_the_sdk(server: MockServer) -> None:
    events = [START] + block(0, {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                             [{"type": "input_json_delta", "partial_json": "{\"a\": x}"}]) + STOP
    server.enqueue(sse=sse(events))
    with sserpent.Anthropic(api_key="k", base_url=server.url).messages.stream(**PARAMS) as stream:
        with pytest.raises(ValueError, match="Unable to parse tool parameter JSON from model.*JSON: \\{\"a\": x\\}"):
            stream.until_done()


def test_http_errors_raise_on_entering(server: MockServer) -> None:
    server.enqueue(status=404, json={"type": "error", "error": {"type": "not_found_error", "message": "no model"}})
    manager = sserpent.Anthropic(api_key="k", base_url=server.url, max_retries=0).messages.stream(**PARAMS)
    with pytest.raises(sserpent.NotFoundError) as e:
        manager.__enter__()
    assert e.value.status_code == 404


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_leaving_early_closes_the_connection(server: MockServer, is_async: bool) -> None:
    server.enqueue(sse=STREAMS["text_and_tool_use"], delay=0.2)
    client = (sserpent.AsyncAnthropic if is_async else sserpent.Anthropic)(api_key="k", base_url=server.url)

    async def go() -> str:
        async with client.messages.stream(**PARAMS) as stream:
            async for text in stream.text_stream:
                return text
        return ""

    if is_async:
        first = asyncio.run(go())
    else:
        with client.messages.stream(**PARAMS) as stream:
            first = next(iter(stream.text_stream))
    assert first == "Let me check"
    conn_id = server.requests[-1].connection_id
    assert server.wait_closed(conn_id, timeout=5), "the connection is still open after 5 s"
    assert next(c for c in server.connections if c.id == conn_id).closed_by == "client"


def test_final_text_without_a_text_block_and_unsupported_output_format(server: MockServer) -> None:
    events = [START] + block(0, {"type": "tool_use", "id": "t", "name": "f", "input": {}}, []) + STOP
    server.enqueue(sse=sse(events))
    client = sserpent.Anthropic(api_key="k", base_url=server.url)
    with client.messages.stream(**PARAMS) as stream:
        with pytest.raises(RuntimeError, match="can only be called when the API returns a `text` content block"):
            stream.get_final_text()
        assert stream.request_id is not None
        response = stream.response
        assert (response.status_code, response.http_version, response.is_closed) == (200, "HTTP/1.1", True)
        assert response.headers["content-type"].startswith("text/event-stream")
    with pytest.raises(TypeError, match="output_format"):
        client.messages.stream(output_format=dict, **PARAMS)


def test_final_message_after_an_early_close_raises_instead_of_a_truncated_message(server: MockServer) -> None:
    events = [START] + block(0, {"type": "text", "text": ""},
                             [{"type": "text_delta", "text": str(i)} for i in range(5)]) + STOP
    server.enqueue(sse=sse(events), delay=0.05)
    with sserpent.Anthropic(api_key="k", base_url=server.url).messages.stream(**PARAMS) as stream:
        it = iter(stream)
        for _ in range(4):
            next(it)
    with pytest.raises(RuntimeError, match="closed before its message_stop event"):
        stream.get_final_message()
    assert stream.current_message_snapshot.content[0].text == "0"  # what arrived is still there


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_events_after_part_of_text_stream_continue_where_it_stopped(server: MockServer, is_async: bool) -> None:
    events = [START] + block(0, {"type": "text", "text": ""},
                             [{"type": "text_delta", "text": str(i)} for i in range(5)]) + STOP

    def sync_read(client: Any) -> list:
        with client.messages.stream(**PARAMS) as stream:
            t = stream.text_stream
            return [next(t), next(t)] + [dump(e) for e in stream if e.type != "ping"]

    async def async_read(client: Any) -> list:
        async with client.messages.stream(**PARAMS) as stream:
            t = stream.text_stream
            head = [await t.__anext__(), await t.__anext__()]
            return head + [dump(e) async for e in stream if e.type != "ping"]

    got = []
    for client in clients(server, is_async):
        server.enqueue(sse=sse(events))
        got.append(asyncio.run(async_read(client)) if is_async else sync_read(client))
    sdk, ours = got
    assert ours == sdk
    assert ours[:3] == ["0", "1", {"type": "text", "text": "1", "snapshot": "01"}]


def test_built_text_events_read_like_the_sdk_models() -> None:
    state, _ = tool_state()
    parser = sserpent.ChunkParser()

    def feed(event: dict) -> list:
        (chunk,) = parser.feed(f"data: {json.dumps(event)}\n\n".encode())
        return _events_for(state, chunk)

    feed({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "Hi"}})
    _, first = feed({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " \u00e9"}})
    _, second = feed({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "!"}})
    assert (first.type, first.text, first.snapshot, second.snapshot) == ("text", " \u00e9", "Hi \u00e9", "Hi \u00e9!")
    assert first.model_dump() == {"type": "text", "text": " \u00e9", "snapshot": "Hi \u00e9"} == first
    assert first.model_dump(exclude={"snapshot"}) == {"type": "text", "text": " \u00e9"}
    assert json.loads(first.model_dump_json()) == first.to_dict() and first["snapshot"] == "Hi \u00e9"
    assert repr(first) == "TextEvent({'type': 'text', 'text': ' \u00e9', 'snapshot': 'Hi \u00e9'})"
