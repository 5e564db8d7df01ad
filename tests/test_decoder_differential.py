"""Differential tests: sserpent.Decoder against the pure-Python WHATWG reference
(tests/reference_sse.py) on random SSE-ish byte strings fed in random pieces.

For every input and every way of cutting it, the decoder must give exactly the
reference's events (type, data, id), last_event_id and retry. It must also be timely: after
each feed, the events returned so far are exactly the reference's events for the bytes fed
so far (an event is dispatched as soon as its blank line arrives, never later).
"""

from __future__ import annotations

from typing import List

import reference_sse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sserpent import Decoder

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- input strategies ------------------------------------------------------------------------

# Weighted towards the four real fields.
NAMES = (
    [b"data"] * 6
    + [b"event", b"id", b"retry"] * 2
    + [
        b"Data",
        b"DATA",
        b"data ",
        b" data",
        b"foo",
        b"",
        b"\xef\xbb\xbfdata",
    ]
)
SEPARATORS = [b":", b": ", b":  ", b"", b"::"]
TERMINATORS = [b"\n", b"\r", b"\r\n"]
VALUE_ATOMS = [
    b"a",
    b"xyz",
    b" ",
    b":",
    b"\x00",
    b"\t",
    b"0",
    b"123",
    b"42",
    b"[DONE]",
    b'{"k":1}',
    "é".encode(),
    "€".encode(),
    "😀".encode(),
    "\u3042".encode(),
    b"\xff",
    b"\xe2\x82",  # truncated
    b"\xc3",
    b"\xed\xa0\x80",  # encoded surrogate
    b"\xef\xbb\xbf",  # BOM inside a value
    b"\x80",
    b"-1",
    "١".encode(),  # a non-ASCII digit (str.isdigit() is True for it)
    "٣".encode(),
    "５".encode(),  # a fullwidth digit
]

values = st.lists(st.sampled_from(VALUE_ATOMS), max_size=4).map(b"".join)
retry_values = st.integers(min_value=0, max_value=2**64 - 1).map(lambda n: str(n).encode())

field_line = st.builds(
    lambda name, sep, value: name + sep + value,
    st.sampled_from(NAMES),
    st.sampled_from(SEPARATORS),
    st.one_of(values, retry_values),
)
comment_line = values.map(lambda v: b":" + v)
blank_line = st.just(b"")
line = st.one_of(field_line, field_line, field_line, comment_line, blank_line, blank_line)


def _join(bom: bytes, lines: List[bytes], terms: List[bytes], tail: bytes) -> bytes:
    return bom + b"".join(line + term for line, term in zip(lines, terms)) + tail


BOMS = st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\xef\xbb", b"\xef\xbb\xbf\xef\xbb\xbf"])
TAILS = st.sampled_from([b"", b"", b"data: tail", b"\r", b"id: 9\n", b"\xe2"])

# Free-form: any sequence of lines.
structured = st.builds(
    _join,
    BOMS,
    st.lists(line, max_size=14),
    st.lists(st.sampled_from(TERMINATORS), min_size=14, max_size=14),
    TAILS,
)

# Event-shaped: blocks of 0-4 field or comment lines, each block ended by a blank line.
block = st.lists(st.one_of(field_line, field_line, field_line, comment_line), max_size=4).map(
    lambda lines: lines + [b""]
)
blocks = st.builds(
    lambda bom, bs, terms, tail: _join(bom, [x for b in bs for x in b], terms, tail),
    BOMS,
    st.lists(block, max_size=5),
    st.lists(st.sampled_from(TERMINATORS), min_size=25, max_size=25),
    TAILS,
)

# Short strings over the bytes that matter to the grammar.
alphabet_soup = st.lists(
    st.sampled_from(
        [
            b"d",
            b"a",
            b"t",
            b"data",
            b"id",
            b"event",
            b"retry",
            b":",
            b" ",
            b"\r",
            b"\n",
            b"\r\n",
            b"1",
            b"x",
            b"\x00",
            b"\xef",
            b"\xbb",
            b"\xbf",
            b"\xe2",
            b"\x82",
            b"\xac",
            b"\xff",
        ]
    ),
    max_size=60,
).map(b"".join)

inputs = st.one_of(blocks, blocks, structured, alphabet_soup, st.binary(max_size=200))


@st.composite
def cut_input(draw):
    data = draw(inputs)
    cuts = draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=8))
    kinds = draw(st.lists(st.sampled_from(["bytes", "bytearray", "memoryview"]), min_size=9, max_size=9))
    return data, sorted(cuts), kinds


def pieces_of(data: bytes, cuts: List[int]) -> List[bytes]:
    out, prev = [], 0
    for c in cuts:
        out.append(data[prev:c])
        prev = c
    out.append(data[prev:])
    return out


def convert(piece: bytes, kind: str):
    if kind == "bytearray":
        return bytearray(piece)
    if kind == "memoryview":
        return memoryview(piece)
    return piece


# --- the properties --------------------------------------------------------------------------


def check(data: bytes, cuts: List[int], kinds: List[str]) -> None:
    decoder = Decoder()
    got = []
    fed = b""
    for piece, kind in zip(pieces_of(data, cuts), kinds):
        got += [(e.event, e.data, e.id) for e in decoder.feed(convert(piece, kind))]
        fed += piece
        ref = reference_sse.interpret(fed)
        assert got == ref.events, f"after feeding {fed!r}"
        assert decoder.last_event_id == ref.last_event_id, f"after feeding {fed!r}"
        assert decoder.retry == ref.retry, f"after feeding {fed!r}"
    got += [(e.event, e.data, e.id) for e in decoder.close()]
    ref = reference_sse.interpret(data)
    assert got == ref.events
    assert decoder.last_event_id == ref.last_event_id
    assert decoder.retry == ref.retry


@SETTINGS
@given(cut_input())
@example((b"data: a\r\ndata: b\r\n\r\n", [7, 8], ["bytes"] * 9))
@example((b"\xef\xbb\xbfdata: x\n\n", [1, 2], ["memoryview"] * 9))
@example((b"id: 1\n\nid: \x00\ndata: \xe2\x82\n\n", [3, 22, 23], ["bytearray"] * 9))
@example((b"data: a\r\r\n\r", [8, 9], ["bytes"] * 9))
@example((b"\xef\xbb\xbfdata: x\n\n", [], ["bytes"] * 9))
@example((b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n", [4], ["bytes"] * 9))
@example((b"retry: 7\nid: a\x00\nid: b\n\n", [], ["bytes"] * 9))
@example(("retry: ١٢\nretry: ５\n".encode(), [], ["bytes"] * 9))
@example((b"event: t\n\ndata: x\n\n", [], ["bytes"] * 9))
@example((b"data: \xff\n\n", [], ["bytes"] * 9))
def test_decoder_matches_reference(case):
    data, cuts, kinds = case
    check(data, cuts, kinds)


@SETTINGS
@given(inputs)
def test_decoder_matches_reference_byte_by_byte(data):
    check(data, list(range(1, len(data))), ["bytes"] * (len(data) + 1))


@SETTINGS
@given(cut_input())
def test_split_never_changes_the_result(case):
    data, cuts, kinds = case

    def run(pieces):
        d = Decoder()
        evs = []
        for p in pieces:
            evs += d.feed(p)
        evs += d.close()
        return evs, d.last_event_id, d.retry

    assert run([convert(p, k) for p, k in zip(pieces_of(data, cuts), kinds)]) == run([data])


def test_reference_sanity():
    # The reference itself, on the spec's own examples.
    r = reference_sse.interpret(b"data: YHOO\ndata: +2\ndata: 10\n\n")
    assert r.events == [("message", "YHOO\n+2\n10", "")]
    r = reference_sse.interpret(
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n"
    )
    assert r.events == [("message", "first event", "1"), ("message", "second event", "")]
    r = reference_sse.interpret(b"data\n\ndata\ndata\n\ndata:")
    assert r.events == [("message", "", ""), ("message", "\n", "")]
    r = reference_sse.interpret(b"data:test\n\ndata: test\n\n")
    assert r.events == [("message", "test", ""), ("message", "test", "")]
