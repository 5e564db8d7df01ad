"""``sserpent.sse_encode`` (one event, exact bytes, no field injection, round trip through
``sserpent.Decoder``) and ``stream.sse()`` pass-through of every wire sample replayed by the mock
server, sync and async: the bytes the server sent, but for keep-alive blocks and a BOM."""

from __future__ import annotations

import asyncio
import re
from typing import Any, List, Optional, Tuple

import pytest
import sserpent
from hypothesis import given, settings
from hypothesis import strategies as st
from live_helpers import SAMPLES, WIRE
from sserpent import Decoder, Event, sse_encode
from sserpent.testing import MockServer

# --- exact bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        (("hello",), {}, b"data: hello\n\n"),
        (("",), {}, b"data: \n\n"),
        (("two\nlines",), {}, b"data: two\ndata: lines\n\n"),
        (("crlf\r\nand\rcr",), {}, b"data: crlf\ndata: and\ndata: cr\n\n"),
        (("ends with a break\n",), {}, b"data: ends with a break\ndata: \n\n"),
        (("\n",), {}, b"data: \ndata: \n\n"),
        (("x",), {"event": "delta"}, b"event: delta\ndata: x\n\n"),
        (("x",), {"id": "42"}, b"id: 42\ndata: x\n\n"),
        (("x",), {"retry": 1500}, b"retry: 1500\ndata: x\n\n"),
        (("x",), {"event": "e", "id": "7", "retry": 0}, b"event: e\nid: 7\nretry: 0\ndata: x\n\n"),
        (("x",), {"event": ""}, b"data: x\n\n"),  # the default type: no field
        (("x",), {"id": ""}, b"id: \ndata: x\n\n"),  # an empty id resets the last event id
        (("  leading spaces",), {}, b"data:   leading spaces\n\n"),
        ((": not a comment",), {}, b"data: : not a comment\n\n"),
        (("data: x\n\nevent: evil",), {}, b"data: data: x\ndata: \ndata: event: evil\n\n"),
        (("[DONE]",), {}, b"data: [DONE]\n\n"),
        (("h\u00e9llo \u2603 \U0001f40d",), {}, "data: h\u00e9llo \u2603 \U0001f40d\n\n".encode()),
        (({"text": "hi", "n": 1},), {}, b'data: {"text":"hi","n":1}\n\n'),
        (({"k": "\u00e9\n"},), {}, b'data: {"k":"\xc3\xa9\\n"}\n\n'),  # JSON escapes the break
        (([1, "two", None],), {}, b'data: [1,"two",null]\n\n'),
        ((None,), {}, b"data: null\n\n"),
        ((True,), {}, b"data: true\n\n"),
        ((3.5,), {}, b"data: 3.5\n\n"),
        ((b"raw bytes",), {}, b"data: raw bytes\n\n"),
    ],
)
def test_exact_bytes(args: Tuple[Any, ...], kwargs: dict, expected: bytes) -> None:
    assert sse_encode(*args, **kwargs) == expected


def test_chunk_objects_encode_as_their_json_text() -> None:
    [event] = Decoder().feed(b'data: {"choices": [{"delta": {"content": "Hi"}}], "x": 1.50}\n\n')
    chunk = event.json()
    assert isinstance(chunk, sserpent.Chunk)
    assert sse_encode(chunk) == b'data: {"choices": [{"delta": {"content": "Hi"}}], "x": 1.50}\n\n'


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "a\nb"},
        {"event": "a\rb"},
        {"event": "a\r\nb"},
        {"event": "delta\n\ndata: injected"},
        {"event": "delta\r\nid: 666"},
        {"event": "\n"},
        {"event": "x\n"},
        {"id": "1\n2"},
        {"id": "1\r2"},
        {"id": "1\r\n2"},
        {"id": "7\n\ndata: injected"},
        {"id": "\r"},
        {"id": "a\x00b"},  # the WHATWG decoder ignores an id with NUL: refuse it
        {"event": "ok", "id": "bad\n"},
    ],
)
def test_injection_through_event_or_id_raises(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="line break"):
        sse_encode("payload", **kwargs)


def test_injection_attempts_never_reach_the_output() -> None:
    """What an attacker-controlled ``data`` can do is add data lines to the same event: the
    decoder still sees exactly one event with exactly that data."""
    nasty = "x\n\nevent: admin\nid: 999\nretry: 1\n\ndata: second\r\rdata: third\r\n"
    out = sse_encode(nasty, event="msg", id="1")
    events = Decoder().feed(out)
    assert len(events) == 1
    assert events[0].event == "msg" and events[0].id == "1"
    assert events[0].data == nasty.replace("\r\n", "\n").replace("\r", "\n")


def test_bad_retry_is_refused() -> None:
    with pytest.raises((ValueError, OverflowError)):
        sse_encode("x", retry=-1)
    with pytest.raises(TypeError):
        sse_encode("x", retry="soon")  # type: ignore[arg-type]


# --- round trip through sserpent.Decoder -----------------------------------------------------

_line_free = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)))


@settings(max_examples=300, deadline=None)
@given(
    data=st.text(st.characters(blacklist_categories=("Cs",))),
    event=st.one_of(st.none(), _line_free),
    id_=st.one_of(st.none(), _line_free),
    retry=st.one_of(st.none(), st.integers(min_value=0, max_value=2**53)),
)
def test_round_trip_through_decoder(
    data: str, event: Optional[str], id_: Optional[str], retry: Optional[int]
) -> None:
    out = sse_encode(data, event=event, id=id_, retry=retry)
    decoder = Decoder()
    # Byte by byte: the framing cannot depend on how the bytes arrive.
    events: List[Event] = []
    for i in range(len(out)):
        events += decoder.feed(out[i : i + 1])
    events += decoder.close()
    assert len(events) == 1
    [ev] = events
    assert ev.data == data.replace("\r\n", "\n").replace("\r", "\n")
    assert ev.event == (event or "message")
    assert ev.id == (id_ or "")
    assert decoder.last_event_id == (id_ or "")
    assert decoder.retry == retry


def test_many_events_concatenate() -> None:
    items = [("a", None, None), ("b\nc", "delta", None), ("{}", None, "9"), ("[DONE]", None, None)]
    out = b"".join(sse_encode(d, event=e, id=i) for d, e, i in items)
    events = Decoder().feed(out)
    assert [(ev.data, ev.event, ev.id) for ev in events] == [
        ("a", "message", ""),
        ("b\nc", "delta", ""),
        ("{}", "message", "9"),
        ("[DONE]", "message", "9"),  # the last event id persists, as the spec says
    ]


# --- stream.sse() pass-through of the wire samples -------------------------------------------


def decode_all(raw: bytes) -> List[Tuple[str, str, str]]:
    d = Decoder()
    return [(e.event, e.data, e.id) for e in d.feed(raw) + d.close()]


def without_keepalives(body: bytes) -> bytes:
    """What sse() forwards of ``body``, by its documented rule: the bytes as sent, without a
    leading BOM, blocks of comment lines only (keep-alives) and an unfinished last block."""
    body = body[len(BOM) :] if body.startswith(BOM) else body
    lines = re.findall(rb"[^\r\n]*(?:\r\n|\r|\n)", body)
    out: List[bytes] = []
    block: List[bytes] = []
    for line in lines:
        block.append(line)
        if line in (b"\r\n", b"\r", b"\n"):
            if not all(x.startswith(b":") for x in block[:-1]):
                out.extend(block)
            block = []
    return b"".join(out)


BOM = b"\xef\xbb\xbf"
# The one sample with a BOM and keep-alive comments (and lone-CR line endings).
WITH_KEEPALIVES = {"openai_chat_keepalive_cr"}


def test_the_reference_drops_only_keepalives() -> None:
    sample = b"\xef\xbb\xbf: keep-alive\r\rdata: a\r\n: note\r\ndata: b\r\n\r\n: ping\n\nretry: 5\n\ndata: c"
    assert without_keepalives(sample) == b"data: a\r\n: note\r\ndata: b\r\n\r\nretry: 5\n\n"
    changed = {n for n in SAMPLES if without_keepalives(raw := (WIRE / f"{n}.sse").read_bytes()) != raw}
    assert changed == WITH_KEEPALIVES


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


def _client(server: MockServer) -> sserpent.Client:
    return sserpent.Client(base_url=server.base_url, max_retries=0)


def replay(server: MockServer, name: str, mode: str) -> Tuple[List[bytes], Optional[BaseException]]:
    """The pieces ``stream.sse()`` yields for the sample replayed by the mock, and how it ended."""
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    stream = _client(server).stream("POST", "/chat/completions", json={"stream": True})
    pieces: List[bytes] = []
    if mode == "sync":
        try:
            for piece in stream.sse():
                pieces.append(piece)
        except sserpent.SserpentError as e:
            return pieces, e
        return pieces, None

    async def consume() -> Optional[BaseException]:
        try:
            async for piece in stream.sse():
                pieces.append(piece)
        except sserpent.SserpentError as e:
            return e
        return None

    return pieces, asyncio.run(consume())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", SAMPLES)
def test_pass_through_is_byte_identical(server: MockServer, name: str, mode: str) -> None:
    raw = (WIRE / f"{name}.sse").read_bytes()
    pieces, error = replay(server, name, mode)
    assert all(isinstance(p, bytes) for p in pieces)
    out = b"".join(pieces)
    # Every event, unchanged: type, data, id; [DONE] kept.
    assert decode_all(out) == decode_all(raw)
    # Byte for byte as sent (CRLF, lone CR, comments, field order), keep-alive blocks aside.
    assert out == without_keepalives(raw)
    if name not in WITH_KEEPALIVES:
        assert out == raw
    # One event per piece, so each is flushed downstream as soon as it arrived.
    assert len(pieces) == len(decode_all(raw))
    if name == "anthropic_error":
        # The error event went through; the stream then ends without message_stop.
        assert decode_all(out)[-1][0] == "error"
        assert error is None or isinstance(error, (sserpent.StreamError, sserpent.IncompleteStreamError))
    else:
        assert error is None, repr(error)


def test_pass_through_keeps_ids_and_event_types(server: MockServer) -> None:
    events = [
        {"event": "start", "data": "{}", "id": "1"},
        {"data": '{"choices":[{"delta":{"content":"a\\nb"}}]}', "id": "2"},
        {"event": "delta", "data": "line one\nline two"},
        "[DONE]",
    ]
    server.enqueue(events=events)
    stream = _client(server).stream("POST", "/chat/completions", json={"stream": True})
    out = b"".join(stream.sse())
    assert out == (
        b"event: start\nid: 1\ndata: {}\n\n"
        b'id: 2\ndata: {"choices":[{"delta":{"content":"a\\nb"}}]}\n\n'
        b"event: delta\ndata: line one\ndata: line two\n\n"
        b"data: [DONE]\n\n"
    )
