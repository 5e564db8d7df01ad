"""Chunk objects (``Event.json()`` and the stream adapters): dict-like and attribute access,
OpenAI-shape optional fields, exact JSON text, and agreement with ``json.loads`` on many
documents (hypothesis)."""

from __future__ import annotations

import json
import math
import string
from typing import Any

import pytest
import sserpent
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sserpent import Chunk, ChunkDecodeError, Event

METHODS = ("get", "keys", "values", "items", "to_dict", "to_json", "model_dump", "model_dump_json")


def parse(text: str) -> Any:
    return Event(text).json()


# --- strict comparison against json.loads -------------------------------------------------------


def strict_eq(a: Any, b: Any) -> None:
    """Equal values of exactly the same types, dict keys in the same order, -0.0 kept."""
    assert type(a) is type(b), (a, b)
    if isinstance(b, dict):
        assert list(a.keys()) == list(b.keys())
        for k in b:
            strict_eq(a[k], b[k])
    elif isinstance(b, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            strict_eq(x, y)
    elif isinstance(b, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), (a, b)
        assert math.copysign(1.0, a) == math.copysign(1.0, b), (a, b)
    else:
        assert a == b, (a, b)


def plain(value: Any) -> Any:
    """Chunks (anywhere in lists) as plain dicts; anything else unchanged."""
    if type(value) is Chunk:
        return value.to_dict()
    if type(value) is list:
        return [plain(v) for v in value]
    return value


def deep_check(got: Any, exp: Any, shape: str = "Chunk") -> None:
    """``got`` (what sserpent returns) reads exactly like ``exp`` (json.loads' result)."""
    if isinstance(exp, dict):
        assert type(got) is Chunk
        assert len(got) == len(exp)
        assert list(got) == list(exp)
        keys, values, items = got.keys(), got.values(), got.items()
        assert type(keys) is list and type(values) is list and type(items) is list
        assert keys == list(exp)
        assert [k for k, _ in items] == list(exp)
        for (k, v), gv, (_, iv) in zip(exp.items(), values, items):
            deep_check(got[k], v)  # the full check recurses along one accessor only,
            # the others must give the same value (compared as plain data)
            strict_eq(plain(gv), v)
            strict_eq(plain(iv), v)
            strict_eq(plain(got.get(k)), v)
            strict_eq(plain(got.get(k, object())), v)
            assert k in got
            if not k.startswith("_") and k not in METHODS:
                strict_eq(plain(getattr(got, k)), v)
        assert got == exp
        assert not (got != exp)
        strict_eq(got.to_dict(), exp)
        strict_eq(got.model_dump(exclude_unset=True), exp)
        strict_eq(json.loads(got.to_json()), exp)
        strict_eq(json.loads(got.model_dump_json(exclude_unset=True)), exp)
        assert repr(got) == f"{shape}({got.to_json()})"
        assert got == parse(got.to_json())
    elif isinstance(exp, list):
        assert type(got) is list
        assert len(got) == len(exp)
        for g, e in zip(got, exp):
            deep_check(g, e)
    else:
        strict_eq(got, exp)


# --- hand-written behaviour ---------------------------------------------------------------------


def test_attribute_and_item_access():
    c = parse('{"choices":[{"delta":{"content":"Hi"},"index":0}],"n":1.5,"ok":true,"z":null}')
    assert c.choices[0].delta.content == "Hi"
    assert c["choices"][0]["delta"]["content"] == "Hi"
    assert c["choices"][0].delta["content"] == "Hi"
    assert c.n == 1.5 and c.ok is True and c.z is None
    assert isinstance(c.choices, list)
    assert type(c.choices[0]) is Chunk


def test_len_iter_in_get_keys_values_items():
    c = parse('{"a":1,"b":[1,2],"c":{"d":"e"}}')
    assert len(c) == 3
    assert list(c) == ["a", "b", "c"]
    assert "a" in c and "c" in c
    assert "d" not in c and 1 not in c and None not in c
    assert c.get("a") == 1
    assert c.get("missing") is None
    assert c.get("missing", 7) == 7
    assert c.keys() == ["a", "b", "c"]
    assert c.values()[:2] == [1, [1, 2]]
    assert c.values()[2] == {"d": "e"}
    assert c.items()[0] == ("a", 1)
    assert c.items()[2][1].d == "e"


def test_missing_key_raises_key_error():
    c = parse('{"a":1}')
    with pytest.raises(KeyError):
        c["b"]
    with pytest.raises(KeyError):
        c[0]


def test_unknown_attribute_raises_attribute_error_naming_shape_and_fields():
    c = parse('{"alpha":1,"beta":2}')
    with pytest.raises(AttributeError) as info:
        _ = c.gamma
    message = str(info.value)
    assert "Chunk" in message and "gamma" in message
    assert "alpha" in message and "beta" in message
    assert not hasattr(c, "gamma")
    assert getattr(c, "gamma", "dflt") == "dflt"


def test_equality():
    c = parse('{"a":[1,{"b":null}],"c":"x"}')
    assert c == {"a": [1, {"b": None}], "c": "x"}
    assert c == {"c": "x", "a": [1, {"b": None}]}  # dict equality ignores order
    assert {"a": [1, {"b": None}], "c": "x"} == c
    assert c != {"a": [1, {"b": None}]}
    assert c == parse('{ "c" : "x", "a" : [1, {"b": null}] }')
    assert c != parse('{"a":1}')
    assert not (c == [1])
    assert not (c == "x")
    assert c.a[1] == {"b": None}


def test_chunks_are_unhashable():
    with pytest.raises(TypeError):
        hash(parse("{}"))
    with pytest.raises(TypeError):
        {parse("{}"): 1}


def test_to_dict_is_plain_data():
    c = parse('{"a":[{"b":{"c":[1,{"d":2}]}}]}')
    d = c.to_dict()
    assert d == {"a": [{"b": {"c": [1, {"d": 2}]}}]}
    assert type(d) is dict and type(d["a"]) is list and type(d["a"][0]["b"]) is dict
    d["a"].append("mutated")
    assert len(c.a) == 1  # the chunk is not affected
    assert c.model_dump() == c.to_dict()  # an unknown shape has no optional fields to fill


def test_to_json_is_the_exact_source_text():
    text = '{ "a" : [1,  2.50, "\\u00e9\\n"] ,"b":{"c" :true}}'
    c = parse(text)
    assert c.to_json() == text
    assert c.model_dump_json() == '{"a":[1,2.5,"\u00e9\\n"],"b":{"c":true}}'  # re-serialized, as pydantic does
    assert c.b.to_json() == '{"c" :true}'
    assert repr(c) == f"Chunk({text})"
    assert repr(c.b) == 'Chunk({"c" :true})'


def test_to_json_of_data_with_surrounding_whitespace():
    c = parse(' \t{"a":1}\n ')
    assert c.to_json() == '{"a":1}'
    assert c == {"a": 1}


def test_json_arrays_and_scalars():
    v = parse('[1, [2, {"a": 3}], {"b": [4]}]')
    assert type(v) is list
    assert v[0] == 1
    assert type(v[1]) is list and type(v[1][1]) is Chunk and v[1][1].a == 3
    assert v[2].b == [4]
    assert parse("[]") == []
    assert parse("12") == 12
    assert parse("-1.25e2") == -125.0
    assert parse('"\\u00e9"') == "\u00e9"
    assert parse("true") is True
    assert parse("false") is False
    assert parse("null") is None


def test_escapes_and_unicode():
    c = parse('{"s":"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t","u":"\\u00e9\\u20AC\\ud83d\\ude00","raw":"é€😀"}')
    assert c.s == 'a"b\\c/d\b\f\n\r\t'
    assert c.u == "\u00e9\u20ac\U0001f600"
    assert c.raw == "é€😀"


def test_escaped_keys():
    c = parse('{"k\\u0065y":1,"t\\tab":2}')
    assert c.key == 1
    assert c["key"] == 1
    assert "key" in c
    assert c.keys() == ["key", "t\tab"]
    assert c["t\tab"] == 2


def test_numbers():
    c = parse(
        '{"big":123456789012345678901234567890,"neg":-98765432109876543210,'
        '"i64max":9223372036854775807,"i64min":-9223372036854775808,"over":9223372036854775808,'
        '"f":0.1,"e":1E+2,"e2":2.5e-3,"negzero":-0.0,"intzero":-0,"inf":1e400,"tiny":1e-400}'
    )
    strict_eq(c.to_dict(), json.loads(c.to_json()))
    assert c.big == 123456789012345678901234567890
    assert c.neg == -98765432109876543210
    assert c.over == 2**63
    assert c.i64min == -(2**63)
    assert type(c.e) is float and c.e == 100.0
    assert math.copysign(1, c.negzero) == -1.0
    assert type(c.intzero) is int
    assert c.inf == math.inf
    assert c.tiny == 0.0


def test_duplicate_keys_last_value_wins_first_position():
    text = '{"a":1,"b":2,"a":{"x":3},"c":4,"\\u0062":5}'
    c = parse(text)
    expected = json.loads(text)
    strict_eq(c.to_dict(), expected)
    assert c.keys() == ["a", "b", "c"]
    assert len(c) == 3
    assert c.a == {"x": 3}
    assert c.b == 5
    assert c["b"] == 5 and c.get("b") == 5
    assert c.values()[0] == {"x": 3} and c.values()[1] == 5
    assert [k for k, _ in c.items()] == ["a", "b", "c"]
    assert c == expected


def test_method_names_always_resolve_to_methods():
    text = (
        '{"get":1,"keys":2,"values":3,"items":4,"to_dict":5,"to_json":6,"model_dump":7,"model_dump_json":8}'
    )
    c = parse(text)
    for i, name in enumerate(METHODS, start=1):
        assert callable(getattr(c, name)), name
        assert c[name] == i
        assert name in c
    assert c.get("get") == 1
    assert c.keys() == list(METHODS)
    assert c.to_dict() == json.loads(text)


def test_fields_starting_with_underscore_are_reachable_by_item():
    c = parse('{"_id":1,"__class__":2}')
    assert c["_id"] == 1
    assert c["__class__"] == 2
    assert c.__class__ is Chunk


def test_chunk_outlives_its_event():
    chunks = [parse(f'{{"n":{i},"d":{{"x":[{i}]}}}}') for i in range(50)]
    nested = [c.d for c in chunks]
    del chunks
    assert [n.x[0] for n in nested] == list(range(50))


def test_deeply_nested_document():
    depth = 200
    text = '{"a":' * depth + "1" + "}" * depth
    c = parse(text)
    for _ in range(depth):
        c = c.a
    assert c == 1
    assert parse(text).to_dict() == json.loads(text)


def test_long_strings():
    s = "abcdefgh" * 1000 + "é" + "\\n"
    c = parse('{"s":"' + s + '"}')
    assert c.s == json.loads('"' + s + '"')


# --- OpenAI shapes ------------------------------------------------------------------------------

CHAT_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {}, "finish_reason": None}],
}


def test_chat_chunk_optional_fields_read_none_when_absent():
    c = parse(json.dumps(CHAT_CHUNK))
    assert repr(c).startswith("ChatCompletionChunk({")
    assert c.usage is None
    assert c.system_fingerprint is None
    assert c.service_tier is None
    choice = c.choices[0]
    assert repr(choice).startswith("Choice({")
    assert choice.logprobs is None
    assert choice.finish_reason is None
    delta = choice.delta
    assert repr(delta) == "ChoiceDelta({})"
    assert delta.content is None
    assert delta.role is None
    assert delta.refusal is None
    assert delta.tool_calls is None
    assert delta.function_call is None


def test_absent_optional_fields_are_not_json_keys():
    c = parse(json.dumps(CHAT_CHUNK))
    assert "usage" not in c
    assert c.get("usage") is None
    assert c.get("usage", "dflt") == "dflt"
    with pytest.raises(KeyError):
        c["usage"]
    assert "usage" not in c.keys()
    assert c.to_dict() == CHAT_CHUNK
    assert c.choices[0].delta.to_dict() == {}
    assert len(c.choices[0].delta) == 0
    assert hasattr(c, "usage")


def test_present_values_win_over_optional_none():
    chunk = dict(CHAT_CHUNK, usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    chunk["choices"] = [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "Hi", "refusal": None},
            "logprobs": {"content": [{"token": "Hi"}]},
            "finish_reason": "stop",
        }
    ]
    c = parse(json.dumps(chunk))
    assert c.usage.total_tokens == 3
    assert repr(c.usage).startswith("CompletionUsage({")
    assert c.usage.prompt_tokens_details is None
    assert c.usage.completion_tokens_details is None
    assert c.choices[0].delta.content == "Hi"
    assert c.choices[0].delta.refusal is None
    assert c.choices[0].logprobs.content[0].token == "Hi"
    assert c.choices[0].logprobs.refusal is None
    assert c.choices[0].finish_reason == "stop"


def test_usage_details_optional_fields():
    usage = {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
        "prompt_tokens_details": {},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    c = parse(json.dumps(dict(CHAT_CHUNK, choices=[], usage=usage)))
    assert c.usage.prompt_tokens_details.cached_tokens is None
    assert c.usage.prompt_tokens_details.audio_tokens is None
    d = c.usage.completion_tokens_details
    assert d.reasoning_tokens == 0
    assert d.audio_tokens is None
    assert d.accepted_prediction_tokens is None
    assert d.rejected_prediction_tokens is None


def test_null_usage_reads_none():
    c = parse(json.dumps(dict(CHAT_CHUNK, usage=None)))
    assert c.usage is None
    assert "usage" in c


def test_tool_call_fragments():
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    later = {"index": 0, "function": {"arguments": '{"a"'}}
    c1 = parse(json.dumps(dict(CHAT_CHUNK, choices=[{"index": 0, "delta": {"tool_calls": [first]}}])))
    c2 = parse(json.dumps(dict(CHAT_CHUNK, choices=[{"index": 0, "delta": {"tool_calls": [later]}}])))
    t1 = c1.choices[0].delta.tool_calls[0]
    assert repr(t1).startswith("ChoiceDeltaToolCall({")
    assert (t1.id, t1.type, t1.function.name, t1.function.arguments) == ("call_1", "function", "f", "")
    t2 = c2.choices[0].delta.tool_calls[0]
    assert t2.id is None
    assert t2.type is None
    assert t2.function.name is None
    assert t2.function.arguments == '{"a"'
    assert repr(t2.function).startswith("ChoiceDeltaToolCallFunction({")
    bare = {"index": 0, "delta": {"tool_calls": [{"index": 0}]}}
    empty = parse(json.dumps(dict(CHAT_CHUNK, choices=[bare])))
    tc = empty.choices[0].delta.tool_calls[0]
    assert tc.function is None
    fc = parse(json.dumps(dict(CHAT_CHUNK, choices=[{"index": 0, "delta": {"function_call": {}}}])))
    assert fc.choices[0].delta.function_call.name is None
    assert fc.choices[0].delta.function_call.arguments is None


def test_misspelled_attribute_on_shapes_raises():
    c = parse(json.dumps(CHAT_CHUNK))
    with pytest.raises(AttributeError) as info:
        _ = c.usag
    assert "ChatCompletionChunk" in str(info.value)
    assert "usag" in str(info.value)
    assert "choices" in str(info.value) and "model" in str(info.value)
    with pytest.raises(AttributeError) as info:
        _ = c.choices[0].delta.contnet
    assert "ChoiceDelta" in str(info.value) and "contnet" in str(info.value)
    with pytest.raises(AttributeError):
        _ = c.choices[0].finish_reasons
    assert not hasattr(c.choices[0].delta, "contnet")


def test_completion_shape():
    c = parse(
        '{"id":"cmpl-1","object":"text_completion","created":1,"model":"m",'
        '"choices":[{"text":"Hi","index":0,"finish_reason":null}]}'
    )
    assert repr(c).startswith("Completion({")
    assert c.usage is None
    assert c.system_fingerprint is None
    choice = c.choices[0]
    assert repr(choice).startswith("CompletionChoice({")
    assert choice.text == "Hi"
    assert choice.logprobs is None
    with pytest.raises(AttributeError):
        _ = choice.delta


def test_chat_completion_shape():
    c = parse(
        '{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",'
        '"choices":[{"index":0,"message":{"role":"assistant"},"finish_reason":"stop"}]}'
    )
    assert repr(c).startswith("ChatCompletion({")
    assert c.usage is None
    m = c.choices[0].message
    assert repr(m).startswith("ChatCompletionMessage({")
    assert m.role == "assistant"
    assert m.content is None
    assert m.tool_calls is None
    assert m.refusal is None
    assert m.function_call is None
    assert m.audio is None
    assert m.annotations is None
    assert c.choices[0].logprobs is None


def test_azure_first_chunk_is_a_chat_chunk():
    c = parse('{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}')
    assert repr(c).startswith("ChatCompletionChunk({")
    assert c.usage is None
    assert c.prompt_filter_results == []
    other = parse('{"object":"","x":1}')
    assert repr(other).startswith("Chunk({")


def test_unknown_shapes_have_no_optional_fields():
    c = parse('{"object":"something.else","choices":[{"delta":{}}]}')
    assert repr(c).startswith("Chunk({")
    with pytest.raises(AttributeError):
        _ = c.usage
    with pytest.raises(AttributeError):
        _ = c.choices[0].delta.content
    c = parse('{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}')
    assert repr(c).startswith("Chunk({")
    with pytest.raises(AttributeError):
        _ = c.delta.content


def test_shape_is_chosen_by_the_root_only():
    c = parse('{"inner":{"object":"chat.completion.chunk","choices":[]}}')
    assert repr(c.inner).startswith("Chunk({")
    with pytest.raises(AttributeError):
        _ = c.inner.usage


# --- invalid JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[1,]",
        '{"a":1,}',
        "{'a':1}",
        '{"a":NaN}',
        '{"a":Infinity}',
        "[DONE]",
        "01",
        '"a\tb"',  # raw control character
        '{"a":1} {"b":2}',
        "not json at all",
        '{"a":"\\x"}',
        '{"a":"\\u12"}',
        "-",
        "1.",
        "tru",
    ],
)
def test_invalid_json_raises_chunk_decode_error(text):
    if "NaN" not in text and "Infinity" not in text:  # json.loads' non-standard extensions
        with pytest.raises(ValueError):
            json.loads(text)
    with pytest.raises(ChunkDecodeError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, sserpent.SserpentError)
    assert isinstance(err, ValueError)
    assert err.data == text
    assert isinstance(err.position, int) and 0 <= err.position <= len(text.encode())
    assert err.event == Event(text)


def test_chunk_decode_error_message_quotes_the_start_of_the_data():
    text = '{"broken": ' + "x" * 300
    with pytest.raises(ChunkDecodeError) as info:
        parse(text)
    message = str(info.value)
    assert '{\\"broken\\": xxxx' in message or '{"broken": xxxx' in message
    assert len(message) < 300  # the start only, not the whole data
    assert info.value.data == text
    assert info.value.position == 11


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
