"""sserpent.Decoder and sserpent.Event: every WHATWG "Interpreting an event stream" rule,
with exact events (the size limit: test_decoder_limits.py)."""

from __future__ import annotations

import pytest
import sserpent
from conftest import as_types, split_at
from decoder_helpers import decode, decode_state, msg, tuples
from sserpent import Decoder, Event

# --- the basics --------------------------------------------------------------------------------


def test_single_event():
    assert decode(b"data: hello\n\n") == [msg("hello")]


def test_feed_returns_events_as_soon_as_the_blank_line_arrives():
    d = Decoder()
    assert d.feed(b"data: a\n") == []
    assert d.feed(b"\n") == [Event("a")]
    assert d.feed(b"data: b\n\ndata: c\n\nda") == [Event("b"), Event("c")]
    assert d.feed(b"ta: d\n\n") == [Event("d")]
    assert d.close() == []


def test_empty_feed_and_close_on_fresh_decoder():
    d = Decoder()
    assert d.feed(b"") == []
    assert d.close() == []
    assert d.last_event_id == ""
    assert d.retry is None


def test_decoder_defaults():
    d = Decoder()
    assert d.max_event_size == 16 * 2**20 == sserpent.DEFAULT_MAX_EVENT_SIZE
    assert Decoder(1234).max_event_size == 1234
    assert Decoder(max_event_size=99).max_event_size == 99


@pytest.mark.parametrize("bad", [0])
def test_decoder_rejects_non_positive_limit(bad):
    with pytest.raises(ValueError):
        Decoder(bad)


def test_decoder_rejects_negative_limit():
    with pytest.raises((ValueError, OverflowError)):
        Decoder(-1)


@pytest.mark.parametrize(
    "bad, name", [("data: x\n\n", "str"), (5, "int"), (None, "NoneType"), ([b"x"], "list")]
)
def test_feed_rejects_non_bytes(bad, name):
    d = Decoder()
    with pytest.raises(TypeError, match=name):
        d.feed(bad)
    # The decoder is still usable.
    assert d.feed(b"data: ok\n\n") == [Event("ok")]


def test_feed_accepts_bytes_bytearray_memoryview():
    body = b"data: a\n\nevent: t\ndata: b\n\n"
    expected = [msg("a"), ("t", "b", "")]
    assert decode(body) == expected
    assert decode(bytearray(body)) == expected
    assert decode(memoryview(body)) == expected
    # A memoryview slice with an offset, and a strided (non-contiguous) view.
    assert decode(memoryview(b"xxx" + body)[3:]) == expected
    assert decode(memoryview(b"dxaxtxax:x xhxix\nx\nx")[::2]) == [msg("hi")]
    # Mixed types across feeds.
    for seed in range(5):
        pieces = split_at(body, [3, 9, 10, 17])
        assert decode(*as_types(pieces, seed)) == expected


def test_feed_does_not_keep_a_reference_to_the_input_buffer():
    buf = bytearray(b"data: abc")
    d = Decoder()
    assert d.feed(buf) == []
    buf[:] = b"XXXXXXXXX"  # mutate after feeding
    assert d.feed(b"\n\n") == [Event("abc")]


# --- Event objects -----------------------------------------------------------------------------


def test_event_constructor_defaults_and_fields():
    e = Event()
    assert (e.event, e.data, e.id) == ("message", "", "")
    e = Event("d", "t", "7")
    assert (e.event, e.data, e.id) == ("t", "d", "7")
    e = Event(data="x", event="ping", id="i")
    assert (e.event, e.data, e.id) == ("ping", "x", "i")


def test_event_equality_and_repr():
    assert Event("a") == Event("a")
    assert Event("a") == Event("a", "message", "")
    assert Event("a") != Event("b")
    assert Event("a") != Event("a", "other")
    assert Event("a") != Event("a", id="1")
    assert not (Event("a") == "a")
    assert Event("a") != ("message", "a", "")
    assert repr(Event("hi")) == 'Event(event="message", data="hi", id="")'
    assert repr(Event('a"b\nc', "t", "5")) == 'Event(event="t", data="a\\"b\\nc", id="5")'


def test_event_is_unhashable_and_immutable():
    with pytest.raises(TypeError):
        hash(Event("x"))
    e = Event("x")
    with pytest.raises(AttributeError):
        e.data = "y"  # type: ignore[misc]


def test_event_json():
    assert Event('{"a": [1, 2.5, "x", null, true]}').json().to_dict() == {"a": [1, 2.5, "x", None, True]}
    assert Event('[1, {"b": 2}]').json()[1].b == 2
    assert Event("3").json() == 3
    assert Event('"s"').json() == "s"
    assert Event("null").json() is None
    with pytest.raises(sserpent.ChunkDecodeError):
        Event("[DONE]").json()


def test_decoded_events_are_event_instances():
    (e,) = Decoder().feed(b"event: t\nid: 1\ndata: x\n\n")
    assert isinstance(e, Event)
    assert e == Event("x", "t", "1")


# --- BOM ---------------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def test_leading_bom_is_stripped():
    assert decode(BOM + b"data: x\n\n") == [msg("x")]


def test_only_the_first_bom_is_stripped():
    # The second BOM becomes part of the first field name: "\ufeffdata" is unknown.
    assert decode(BOM + BOM + b"data: x\n\ndata: y\n\n") == [msg("y")]


def test_bom_split_across_feeds():
    assert decode(b"\xef", b"\xbb", b"\xbf", b"data: x\n\n") == [msg("x")]
    assert decode(b"", b"\xef\xbb", b"", b"\xbfdata: x\n\n") == [msg("x")]
    assert decode(b"\xef\xbb\xbfda", b"ta: x\n\n") == [msg("x")]


def test_bom_not_at_stream_start_is_content():
    assert decode(b"data: a\n\n" + BOM + b"data: b\n\n") == [msg("a")]
    assert decode(b"data: " + BOM + b"x\n\n") == [msg("\ufeffx")]


def test_partial_bom_is_content():
    # EF BB followed by 'd' is an invalid sequence: one U+FFFD, so the name is "\ufffddata".
    assert decode(b"\xef\xbbdata: x\n\ndata: y\n\n") == [msg("y")]
    assert decode(b"\xef\xbb", b"\n" + b"data: y\n\n") == [msg("y")]
    # A lone partial BOM at end of stream produces nothing and does not hang.
    assert decode(b"\xef\xbb") == []


def test_bom_only_stream():
    assert decode(BOM) == []
    assert decode(BOM + b"\n") == []


# --- UTF-8 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, text",
    [
        (b"a\xffb", "a\ufffdb"),
        (b"\xc3", "\ufffd"),  # truncated two-byte sequence at end of line
        (b"\xe2\x82", "\ufffd"),  # truncated three-byte sequence: one replacement
        (b"\xe2\x82X", "\ufffdX"),
        (b"\xf0\x9f\x98", "\ufffd"),
        (b"\xc0\x80", "\ufffd\ufffd"),  # overlong
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # encoded surrogate
        (b"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"),  # above U+10FFFF
        (b"\x80\x80", "\ufffd\ufffd"),
        (b"\xe2\x82\xac\xe2", "\u20ac\ufffd"),
        (b"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\u00e9 \U0001f600"),
    ],
)
def test_invalid_utf8_is_replaced(raw, text):
    body = b"data: " + raw + b"\n\n"
    assert decode(body) == [msg(text)]
    # The same however it is split.
    for i in range(len(body) + 1):
        assert decode(body[:i], body[i:]) == [msg(text)], i
    assert decode(*[body[i : i + 1] for i in range(len(body))]) == [msg(text)]


def test_multibyte_character_split_across_feeds():
    for ch in ["\u00e9", "\u20ac", "\U0001f600", "\u3042"]:
        raw = ch.encode()
        for cut in range(1, len(raw)):
            assert decode(b"data: " + raw[:cut], raw[cut:] + b"\n\n") == [msg(ch)]


def test_invalid_sequence_split_across_data_lines():
    # E2 then LF: the line ends, so the truncated sequence is one U+FFFD in the first line.
    assert decode(b"data: \xe2\n", b"data: \x82\xac\n\n") == [msg("\ufffd\n\ufffd\ufffd")]


def test_invalid_utf8_in_type_and_id():
    d = Decoder()
    assert tuples(d.feed(b"event: \xff\nid: a\xfe\ndata: x\n\n")) == [("\ufffd", "x", "a\ufffd")]
    assert d.last_event_id == "a\ufffd"


def test_non_ascii_text_roundtrips():
    text = "なぜコンピュータは寒い？ – ĉu 😀"
    assert decode(("data: " + text + "\n\n").encode()) == [msg(text)]


# --- line terminators --------------------------------------------------------------------------


@pytest.mark.parametrize("nl", [b"\n", b"\r\n", b"\r"])
def test_each_terminator(nl):
    body = b"event: t" + nl + b"data: a" + nl + b"data: b" + nl + nl + b"data: c" + nl + nl
    assert decode(body) == [("t", "a\nb", ""), msg("c")]


def test_mixed_terminators():
    body = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\r"
    assert decode(body) == [msg("a\nb\nc"), msg("d")]


def test_lf_cr_is_two_terminators():
    assert decode(b"data: a\n\rdata: b\n\n") == [msg("a"), msg("b")]


def test_cr_cr_is_a_blank_line():
    assert decode(b"data: a\r\rdata: b\r\r") == [msg("a"), msg("b")]


def test_crlf_split_across_feeds_is_one_terminator():
    # If the LF were a second terminator it would be a blank line and dispatch "a" alone.
    assert decode(b"data: a\r", b"\ndata: b\r\n\r\n") == [msg("a\nb")]
    assert decode(b"data: a\r", b"", b"\n", b"data: b\n\n") == [msg("a\nb")]
    assert decode(bytearray(b"data: a\r"), memoryview(b"\ndata: b\n\n")) == [msg("a\nb")]


def test_cr_at_end_of_feed_then_cr_is_blank_line():
    d = Decoder()
    assert d.feed(b"data: a\r") == []
    assert d.feed(b"\r") == [Event("a")]
    assert d.feed(b"\ndata: b\n\n") == [Event("b")]  # that LF ended an empty line: nothing


def test_cr_at_end_of_feed_dispatches_immediately():
    d = Decoder()
    assert d.feed(b"data: a\r\r") == [Event("a")]
    # The line of the CR is processed without waiting for the next byte.
    assert d.feed(b"\n") == []  # the LF completes the CRLF: no extra line
    assert d.feed(b"data: b\r") == []
    assert d.feed(b"\n\r\n") == [Event("b")]


def test_crlf_split_repeatedly():
    pieces = [b"data: a\r", b"\n", b"\r", b"\n", b"data: b\r", b"\n\r", b"\n"]
    assert decode(*pieces) == [msg("a"), msg("b")]


# --- comments and field parsing ----------------------------------------------------------------


def test_comments_are_ignored():
    body = b": keep-alive\n:\n: data: not data\ndata: a\n: between\ndata: b\n\n"
    assert decode(body) == [msg("a\nb")]


def test_comment_only_block_dispatches_nothing():
    assert decode(b": ping\n\n: ping\r\n\r\n") == []


def test_field_without_colon_has_empty_value():
    assert decode(b"data\n\n") == [msg("")]
    assert decode(b"data\ndata\n\n") == [msg("\n")]
    assert decode(b"data: a\ndata\n\n") == [msg("a\n")]
    assert decode(b"event\ndata: x\n\n") == [msg("x")]


def test_exactly_one_leading_space_is_removed():
    assert decode(b"data:x\n\n") == [msg("x")]
    assert decode(b"data: x\n\n") == [msg("x")]
    assert decode(b"data:  x\n\n") == [msg(" x")]
    assert decode(b"data:   x \n\n") == [msg("  x ")]
    assert decode(b"data: \n\n") == [msg("")]
    assert decode(b"data:\tx\n\n") == [msg("\tx")]
    assert decode(b"event:  t\ndata: x\n\n") == [(" t", "x", "")]


def test_value_keeps_further_colons():
    assert decode(b"data: a:b: c\n\n") == [msg("a:b: c")]
    assert decode(b"data::\n\n") == [msg(":")]
    assert decode(b'data: {"k": "v"}\n\n') == [msg('{"k": "v"}')]


def test_field_names_are_case_sensitive():
    assert decode(b"Data: x\nDATA: y\nEvent: e\nID: 1\nRetry: 5\n\n") == []
    d = Decoder()
    d.feed(b"Id: 1\nRETRY: 5\ndata: x\n\n")
    assert d.last_event_id == ""
    assert d.retry is None


def test_unknown_fields_are_ignored():
    assert decode(b"foo: bar\ndata: x\nbaz\n\n") == [msg("x")]
    assert decode(b"data : x\n\n") == []  # the name is "data " (with a space)
    assert decode(b" data: x\n\n") == []  # the name is " data"
    assert decode(b"foo: bar\n\n") == []


def test_nul_in_data_and_type_is_kept():
    assert decode(b"event: a\x00b\ndata: c\x00d\n\n") == [("a\x00b", "c\x00d", "")]


# --- data --------------------------------------------------------------------------------------


def test_data_lines_are_joined_with_lf_and_one_trailing_lf_removed():
    assert decode(b"data: a\ndata: b\ndata: c\n\n") == [msg("a\nb\nc")]
    assert decode(b"data: a\ndata:\n\n") == [msg("a\n")]
    assert decode(b"data:\ndata:\ndata:\n\n") == [msg("\n\n")]
    assert decode(b"data: \n\n") == [msg("")]


def test_block_without_data_dispatches_nothing_but_resets_type():
    assert decode(b"event: foo\n\ndata: x\n\n") == [msg("x")]
    assert decode(b"event: foo\nid: 1\nretry: 5\n\ndata: x\n\n") == [msg("x", "1")]


def test_consecutive_blank_lines():
    assert decode(b"\n\n\ndata: a\n\n\n\ndata: b\n\n\n") == [msg("a"), msg("b")]


# --- event type --------------------------------------------------------------------------------


def test_event_type_default_set_and_reset():
    body = b"event: foo\ndata: a\n\ndata: b\n\nevent: bar\ndata: c\n\n"
    assert decode(body) == [("foo", "a", ""), msg("b"), ("bar", "c", "")]


def test_last_event_line_wins():
    assert decode(b"event: a\nevent: b\ndata: x\n\n") == [("b", "x", "")]
    assert decode(b"event: a\nevent:\ndata: x\n\n") == [msg("x")]


def test_event_type_after_data_in_same_block():
    assert decode(b"data: x\nevent: late\n\n") == [("late", "x", "")]


def test_explicit_message_type():
    assert decode(b"event: message\ndata: x\n\n") == [msg("x")]


# --- id ----------------------------------------------------------------------------------------


def test_id_sets_persists_and_resets():
    d = Decoder()
    got = tuples(d.feed(b"id: 1\ndata: a\n\ndata: b\n\n"))
    assert got == [msg("a", "1"), msg("b", "1")]
    assert d.last_event_id == "1"
    got = tuples(d.feed(b"id: 2\ndata: c\n\nid\ndata: d\n\ndata: e\n\n"))
    assert got == [msg("c", "2"), msg("d"), msg("e")]
    assert d.last_event_id == ""
    got = tuples(d.feed(b"id: 3\ndata: f\n\nid:\ndata: g\n\n"))
    assert got == [msg("f", "3"), msg("g")]


def test_id_containing_nul_is_ignored():
    d = Decoder()
    got = tuples(d.feed(b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\nid: \x00\ndata: c\n\n"))
    assert got == [msg("a", "1"), msg("b", "1"), msg("c", "1")]
    assert d.last_event_id == "1"


def test_id_values_keep_spaces_and_colons():
    assert decode(b"id:  a: b \ndata: x\n\n") == [msg("x", " a: b ")]


def test_last_id_line_in_block_wins():
    assert decode(b"id: 1\nid: 2\ndata: x\n\n") == [msg("x", "2")]
    assert decode(b"data: x\nid: late\n\n") == [msg("x", "late")]


def test_id_only_block_updates_last_event_id_at_the_blank_line():
    d = Decoder()
    assert d.feed(b"id: 7\n") == []
    assert d.last_event_id == ""  # not before the blank line
    assert d.feed(b"\n") == []
    assert d.last_event_id == "7"
    assert tuples(d.feed(b"data: x\n\n")) == [msg("x", "7")]


def test_id_of_incomplete_event_is_not_applied_at_close():
    d = Decoder()
    d.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    assert d.close() == []
    assert d.last_event_id == "1"


def test_id_set_in_unfinished_block_applies_to_next_dispatch():
    # The last event ID *buffer* keeps the value; it is committed at the next dispatch.
    d = Decoder()
    d.feed(b"id: 5\n")
    assert d.last_event_id == ""
    assert tuples(d.feed(b"data: x\n\n")) == [msg("x", "5")]


# --- retry -------------------------------------------------------------------------------------


def test_retry_valid():
    d = Decoder()
    assert d.feed(b"retry: 3000\n\n") == []
    assert d.retry == 3000
    d.feed(b"retry: 0\n")
    assert d.retry == 0
    d.feed(b"retry:42\n")
    assert d.retry == 42
    d.feed(b"retry: 18446744073709551615\n")
    assert d.retry == 18446744073709551615


def test_retry_is_taken_when_the_line_is_processed():
    d = Decoder()
    d.feed(b"retry: 10\n")  # no blank line yet
    assert d.retry == 10
    assert d.close() == []
    assert d.retry == 10


@pytest.mark.parametrize(
    "value",
    [b"", b"30a", b"-1", b"+1", b"1.5", b"1e3", b" 5", b"5 ", b"\xd9\xa1\xd9\xa2", b"\xef\xbc\x95"],
)
def test_retry_invalid_is_ignored(value):
    d = Decoder()
    d.feed(b"retry: 1000\n")
    d.feed(b"retry: " + value + b"\n\n")
    assert d.retry == 1000
    d2 = Decoder()
    d2.feed(b"retry: " + value + b"\n\n")
    assert d2.retry is None


def test_retry_without_value_is_ignored():
    d = Decoder()
    d.feed(b"retry\n\n")
    assert d.retry is None


def test_retry_does_not_dispatch():
    assert decode(b"retry: 5\n\nretry: 6\ndata: x\n\n") == [msg("x")]


# --- end of stream -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail", [b"data: x", b"data: x\n", b"data: x\r", b"data: x\r\n", b"event: t\ndata: x\n", b"data"]
)
def test_incomplete_event_is_discarded_at_close(tail):
    d = Decoder()
    assert tuples(d.feed(b"data: done\n\n" + tail)) == [msg("done")]
    assert d.close() == []


def test_close_keeps_last_event_id_and_retry():
    d = Decoder()
    d.feed(b"id: 9\nretry: 50\ndata: x\n\n")
    d.close()
    assert d.last_event_id == "9"
    assert d.retry == 50


# --- every split point -------------------------------------------------------------------------

SMALL_INPUTS = [
    b"data: hello\n\n",
    BOM + b"data: a\r\n\r\n",
    b"event: t\r\ndata: a\r\ndata: b\r\n\r\n",
    b"id: 1\rdata: x\r\rid\rdata: y\r\r",
    b": c\ndata:\xe2\x82\xac\xf0\x9f\x98\x80\n\n",
    b"data: \xe2\x82\n\n",
    b"retry: 12\nretry: x\ndata\n\n",
    b"data: a\r\n\ndata: b\n\r\n",
    b"id: 1\n\nid: \x00\ndata: z\n\nevent: e\n\n",
    BOM + BOM + b"data: q\n\n",
]


@pytest.mark.parametrize("body", SMALL_INPUTS)
def test_every_single_split_point_gives_the_same_result(body):
    whole = decode_state(body)
    for i in range(len(body) + 1):
        assert decode_state(body[:i], body[i:]) == whole, i


@pytest.mark.parametrize("body", SMALL_INPUTS)
def test_every_pair_of_split_points_gives_the_same_result(body):
    whole = decode_state(body)
    for i in range(len(body) + 1):
        for j in range(i, len(body) + 1):
            assert decode_state(body[:i], body[i:j], body[j:]) == whole, (i, j)


@pytest.mark.parametrize("body", SMALL_INPUTS)
def test_byte_by_byte_gives_the_same_result(body):
    assert decode_state(*[body[i : i + 1] for i in range(len(body))]) == decode_state(body)
