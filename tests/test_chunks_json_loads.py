"""Chunk objects agree with ``json.loads``: on random data and hand-built JSON text
(hypothesis), on which strings are valid JSON, and on lone surrogates in keys and values."""

from __future__ import annotations

import json
import string

import pytest
from chunk_helpers import deep_check, parse, strict_eq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sserpent import ChunkDecodeError

# --- hypothesis: json.dumps of random data ------------------------------------------------------

# String values may hold lone surrogates (json.dumps escapes them as "\ud800" with
# ensure_ascii, and json.loads returns them); keys never do here (see the dedicated tests
# at the end). st.text() itself never generates surrogates.
lone_surrogate = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
texts = st.one_of(
    st.text(max_size=12),
    st.lists(st.one_of(st.text(max_size=4), lone_surrogate), max_size=4).map("".join),
)
keys = st.one_of(
    st.sampled_from(["a", "b", "content", "get", "_x", "usage", "choices", ""]), st.text(max_size=8)
)


def has_lone_surrogate(s: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_data = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=30,
)
dump_options = st.fixed_dictionaries(
    {
        "ensure_ascii": st.booleans(),
        "indent": st.sampled_from([None, None, 0, 2]),
        "separators": st.sampled_from([None, (",", ":"), (" , ", " : ")]),
    }
)

HYP = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYP
@given(st.dictionaries(keys, json_data, max_size=6), dump_options)
@example(
    {"a": "\ud83d\ude00", "b": 10**30, "c": [1.5, -0.0, [[]]]},
    {"ensure_ascii": True, "indent": None, "separators": None},
)
def test_objects_match_json_loads(data, options):
    text = json.dumps(data, **options)
    if has_lone_surrogate(text):  # raw lone surrogates cannot be UTF-8 event data
        text = json.dumps(data, **dict(options, ensure_ascii=True))
    expected = json.loads(text)
    c = parse(text)
    deep_check(c, expected)
    assert c.to_json() == text


@HYP
@given(json_data, dump_options)
def test_any_document_matches_json_loads(data, options):
    text = json.dumps(data, **options)
    if has_lone_surrogate(text):  # raw lone surrogates cannot be UTF-8 event data
        text = json.dumps(data, **dict(options, ensure_ascii=True))
    deep_check(parse(text), json.loads(text))


# --- hypothesis: hand-built JSON text (duplicates, escapes, number forms, whitespace) -----------

ws = st.sampled_from(["", "", " ", "\n", "\t", "\r\n  "])


def _escape_char(c: str, style: int) -> str:
    if style == 0:
        return c if c not in '"\\' and ord(c) >= 0x20 else f"\\u{ord(c):04x}"
    if ord(c) > 0xFFFF:
        n = ord(c) - 0x10000
        hi, lo = 0xD800 + (n >> 10), 0xDC00 + (n & 0x3FF)
        return ("\\u%04x\\u%04x" if style == 1 else "\\u%04X\\u%04X") % (hi, lo)
    return ("\\u%04x" if style == 1 else "\\u%04X") % ord(c)


no_surrogates = st.characters(exclude_categories=["Cs"])
value_piece = st.one_of(
    st.builds(_escape_char, no_surrogates, st.integers(0, 2)),
    # an escaped lone surrogate
    st.builds(lambda c, upper: ("\\u%04X" if upper else "\\u%04x") % ord(c), lone_surrogate, st.booleans()),
    st.sampled_from(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "a", "é", "😀", " "]),
)
string_piece = st.one_of(
    st.builds(_escape_char, no_surrogates, st.integers(0, 2)),
    st.sampled_from(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "a", "é", "😀", " "]),
)
json_string = st.lists(value_piece, max_size=8).map(lambda ps: '"' + "".join(ps) + '"')
key_string = st.one_of(
    st.sampled_from(['"a"', '"b"', '"\\u0061"', '"a\\u0062"', '"ab"', '""', '"get"', '"k"']),
    st.lists(string_piece, max_size=6).map(lambda ps: '"' + "".join(ps) + '"'),
)
DIGITS = "0123456789"
json_number = st.builds(
    lambda sign, intpart, frac, exp: sign + intpart + frac + exp,
    st.sampled_from(["", "", "-"]),
    st.one_of(
        st.just("0"),
        st.builds(str.__add__, st.sampled_from("123456789"), st.text(DIGITS, max_size=30)),
    ),
    st.one_of(st.just(""), st.text(DIGITS, min_size=1, max_size=20).map(lambda d: "." + d)),
    st.one_of(
        st.just(""),
        st.builds(
            lambda e, sign, d: e + sign + d,
            st.sampled_from("eE"),
            st.sampled_from(["", "+", "-"]),
            st.text(DIGITS, min_size=1, max_size=3),
        ),
    ),
)
json_atom = st.one_of(st.sampled_from(["null", "true", "false"]), json_number, json_string)


def _array(items, w):
    return "[" + w[0] + (w[1] + "," + w[2]).join(items) + w[3] + "]"


def _object(members, w):
    return "{" + w[0] + (w[1] + "," + w[2]).join(k + w[4] + ":" + w[5] + v for k, v in members) + w[3] + "}"


json_text = st.recursive(
    json_atom,
    lambda children: st.one_of(
        st.builds(_array, st.lists(children, max_size=5), st.lists(ws, min_size=4, max_size=4)),
        st.builds(
            _object,
            st.lists(st.tuples(key_string, children), max_size=6),
            st.lists(ws, min_size=6, max_size=6),
        ),
    ),
    max_leaves=15,
)
json_object_text = st.builds(
    _object,
    st.lists(st.tuples(key_string, json_text), max_size=6),
    st.lists(ws, min_size=6, max_size=6),
)


@HYP
@given(json_object_text)
@example('{"a":1,"\\u0061":2,"b":{"a":3,"a":[4]},"a":5}')
@example('{"a":"\\ud800","b":"\\udc00x\\ud83d\\ude00","c":"\\uDBFF\\uDFFF"}')
@example('{"n":[0,-0,-0.0,1E5,1e-5,2.5E+10,123456789012345678901234567890,1e400,-1e400]}')
def test_hand_built_objects_match_json_loads(text):
    c = parse(text)
    deep_check(c, json.loads(text))
    assert c.to_json() == text


@HYP
@given(json_text, ws, ws)
def test_hand_built_documents_match_json_loads(text, before, after):
    deep_check(parse(before + text + after), json.loads(text))


# Random strings over the JSON alphabet: valid for sserpent exactly when json.loads accepts.
json_soup = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            '"a"',
            '"\\u00e9"',
            '"\\',
            "1",
            "-2.5e3",
            "0",
            "01",
            ".",
            "null",
            "true",
            "nul",
            " ",
            "\n",
            '"',
            "\\",
            "e",
            "u",
            "x",
            "\t",
        ]
    ),
    max_size=14,
).map("".join)


@HYP
@given(json_soup)
def test_validity_agrees_with_json_loads(text):
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ChunkDecodeError) as info:
            parse(text)
        assert info.value.data == text
        return
    deep_check(parse(text), expected)


# --- lone surrogates in keys ---------------------------------------------------------------------
# json.loads accepts "\udXXX" escapes that are not part of a pair and returns Python strings
# holding lone surrogates; a chunk must read exactly the same.


def test_lone_surrogate_string_values():
    text = '{"a":"\\ud800","b":["\\udfff"],"c":"x\\udc00y"}'
    c = parse(text)
    expected = json.loads(text)
    strict_eq(c.to_dict(), expected)
    assert c.a == "\ud800"
    assert c.b == ["\udfff"]
    assert c["c"] == "x\udc00y"


def test_lone_surrogate_key_values_and_items():
    text = '{"":1,"\\ud800":2}'
    c = parse(text)
    strict_eq(c.to_dict(), json.loads(text))
    assert c.keys() == ["", "\ud800"]
    assert c.values() == [1, 2]
    assert c.items() == [("", 1), ("\ud800", 2)]


def test_lone_surrogate_duplicate_keys():
    text = '{"\\ud800":1,"\\ud800":2}'
    c = parse(text)
    strict_eq(c.to_dict(), json.loads(text))
    assert c.values() == [2]
    assert c.items() == [("\ud800", 2)]


def test_lone_surrogate_key_lookup():
    c = parse('{"\\ud800":2}')
    assert c["\ud800"] == 2
    assert "\ud800" in c
    assert c.get("\ud800") == 2
    assert "\udc00" not in c
    assert c.get("\udc00", 5) == 5
    with pytest.raises(KeyError):
        c["\udc00"]


def test_attribute_names_are_plain_strings():
    # Every printable ASCII key reads back by item.
    keys = list(string.ascii_letters + string.digits + "-_ .")
    text = json.dumps({k: i for i, k in enumerate(keys)})
    c = parse(text)
    for i, k in enumerate(keys):
        assert c[k] == i
