"""Chunk objects (``Event.json()`` and the stream adapters): dict-like and attribute access,
OpenAI-shape optional fields, exact JSON text, invalid JSON (agreement with ``json.loads`` on
many documents: test_chunks_json_loads.py)."""

from __future__ import annotations

import json
import math

import pytest
import sserpent
from chunk_helpers import METHODS, parse, strict_eq
from sserpent import Chunk, ChunkDecodeError, Event

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


def test_an_attribute_name_no_utf8_holds_is_an_attribute_error():
    """A lone surrogate names no field: AttributeError naming it (not the UnicodeEncodeError of
    reading it as UTF-8), so ``getattr`` with a default and ``hasattr`` work as on any object."""
    c = parse('{"alpha":1}')
    with pytest.raises(AttributeError, match=r"^'Chunk' object has no attribute '\\ud800' \(fields: alpha\)$"):
        getattr(c, "\ud800")
    assert getattr(c, "\ud800", "dflt") == "dflt"
    assert not hasattr(c, "\ud800")
    assert c.alpha == 1


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


# --- nested chunks read twice -----------------------------------------------------------------

NESTED = (
    '{"choices":[{"index":0,"delta":{"content":"Hi","tool_calls":[{"index":0,"function":'
    '{"name":"f","arguments":"{}"}}]},"logprobs":null}],"usage":{"total_tokens":3},"tags":[[1],[2]]}'
)


def test_a_path_read_twice_gives_the_same_nested_chunks():
    # As a pydantic model does: the SDK's own example reads `chunk.choices[0].delta.content` twice.
    c = parse(NESTED)
    assert c.choices[0] is c.choices[0]
    assert c.choices[0].delta is c.choices[0].delta
    d = c.choices[0].delta
    assert d.tool_calls[0] is d.tool_calls[0]
    assert d.tool_calls[0].function is d.tool_calls[0].function
    assert c.choices[0].delta.content == "Hi"


def test_the_list_read_again_is_a_new_list_so_changing_one_changes_nothing():
    c = parse(NESTED)
    first = c.choices
    first.append("mine")
    first[0] = None
    assert c.choices is not first
    assert len(c.choices) == 1 and type(c.choices[0]) is Chunk
    assert c.choices[0].index == 0
    assert c.model_dump()["choices"] == json.loads(NESTED)["choices"]
    assert c.to_dict() == json.loads(NESTED)


def test_only_the_first_nested_member_read_is_kept_others_are_new_each_time():
    c2 = parse(NESTED)
    u = c2.usage  # kept: read first
    assert c2.usage is u
    assert c2.choices[0] is not c2.choices[0]  # a second nested member: a new chunk each time
    assert c2.choices[0].delta.content == "Hi"
    # Arrays of arrays hold lists, which are never kept.
    c3 = parse(NESTED)
    assert c3.tags == [[1], [2]] and c3.tags[0] is not c3.tags[0]


def test_item_access_and_get_make_new_objects_as_before():
    c = parse(NESTED)
    assert c["choices"][0] is not c["choices"][0]
    assert c.get("usage") == {"total_tokens": 3}


def test_kept_chunks_are_freed_with_their_parent():
    import sys

    c = parse(NESTED)
    delta = c.choices[0].delta
    before = sys.getrefcount(delta)  # ours, getrefcount's argument, and the kept one
    del c
    assert sys.getrefcount(delta) == before - 1


def test_arrays_of_several_objects_are_read_anew_each_time():
    c = parse('{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}')
    assert [ch.delta.content for ch in c.choices] == ["a", "b"]
    assert c.choices[1] is not c.choices[1]
    assert [ch.index for ch in c.choices] == [0, 1]
