"""``model_dump`` / ``model_dump_json`` behave as on the SDKs' pydantic models, keyword arguments
included: differentially against the openai SDK over every recorded OpenAI/Azure stream (chat
and completions) for a matrix of arguments, against the Anthropic SDK for its events, and by
exact expected values for the rules themselves (optional fields filled with ``None``, what
``exclude_none`` / ``exclude_defaults`` drop and keep, ``include`` / ``exclude`` specs, errors).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import pytest
import sserpent
from openai._models import construct_type
from openai.types import Completion
from openai.types.chat import ChatCompletionChunk
from sdk_helpers import sdk_decode

FIXTURES = Path(__file__).parent / "fixtures"
CHAT = [
    "wire/openai_chat_usage",
    "wire/openai_chat_tool_call",
    "wire/openai_chat_keepalive_cr",
    "wire/azure_chat",
] + [f"recorded/{p.stem}" for p in sorted((FIXTURES / "recorded").glob("*.sse"))]
assert len(CHAT) == 10, CHAT

# sserpent fills the optional fields of the current openai SDK (3.x); older SDKs (openai 3 needs
# Python >= 3.10) lack some of them (ChoiceDelta.audio, ChatCompletionChunk.obfuscation), so the
# default dumps can only be compared with an SDK that has them.
CURRENT_SDK = pytest.mark.skipif(
    "obfuscation" not in ChatCompletionChunk.model_fields,
    reason="the installed openai SDK predates fields sserpent fills (compare with openai>=3)",
)

ARGS: List[dict] = [
    {},
    {"mode": "json"},
    {"exclude_unset": True},
    {"exclude_none": True},
    {"exclude_defaults": True},
    {"exclude_unset": True, "exclude_none": True},
    {"exclude_unset": True, "exclude_defaults": True},
    {"include": {"id", "choices"}},
    {"include": {"choices": {"__all__": {"delta": {"content", "role", "tool_calls"}}}}},
    {"include": {"choices": {-1: True}, "usage": ...}, "exclude_none": True},
    {"exclude": {"choices": {0: {"logprobs": True, "delta": {"refusal"}}}, "usage": True}},
    {"exclude": {"choices": {"__all__": {"index"}, 0: {"finish_reason"}}}},
    {"include": {"choices": {"__all__": {"logprobs": {"content": {0: {"token": True, "top_logprobs": {0}}}}}}}},
    {"include": {"choices": {0: {"delta": {"tool_calls": {"__all__": {"function": {"name"}}}}}}}},
    {"include": {"choices"}, "exclude": {"choices": {"__all__": {"delta"}}}},
]


def pairs(stream: str, model: Any) -> List[tuple]:
    raw = (FIXTURES / f"{stream}.sse").read_bytes()
    sdk = sdk_decode(raw, model)
    ours = list(sserpent.iter_chunks([raw]))
    assert len(ours) == len(sdk) > 0
    return list(zip(sdk, ours))


@CURRENT_SDK
@pytest.mark.parametrize("stream", CHAT + ["wire/openai_completions"])
@pytest.mark.parametrize("args", ARGS, ids=[json.dumps(a, default=repr)[:60] for a in ARGS])
def test_same_as_the_openai_sdk(stream: str, args: dict) -> None:
    model = Completion if stream.endswith("completions") else ChatCompletionChunk
    json_args = {k: v for k, v in args.items() if k != "mode"}
    for i, (sdk, ours) in enumerate(pairs(stream, model)):
        assert ours.model_dump(**args) == sdk.model_dump(**args), (stream, i)
        assert json.loads(ours.model_dump_json(**json_args)) == json.loads(sdk.model_dump_json(**json_args))
        indented = ours.model_dump_json(indent=2, **json_args)
        assert indented == json.dumps(ours.model_dump(**json_args), indent=2, ensure_ascii=False)


SDK_TO_DICT_ARGS: List[dict] = [
    {},
    {"mode": "json"},
    {"exclude_unset": False},
    {"exclude_none": True},
    {"exclude_defaults": True},
    {"exclude_unset": False, "exclude_none": True},
    {"use_api_names": False, "warnings": False},
]


@CURRENT_SDK
@pytest.mark.parametrize("stream", CHAT + ["wire/openai_completions"])
def test_to_dict_and_to_json_take_the_openai_sdk_arguments(stream: str) -> None:
    model = Completion if stream.endswith("completions") else ChatCompletionChunk
    for sdk, ours in pairs(stream, model):
        for args in SDK_TO_DICT_ARGS:
            assert ours.to_dict(**args) == sdk.to_dict(**args), args
            json_args = {k: v for k, v in args.items() if k != "mode"}
            assert json.loads(ours.to_json(**json_args)) == json.loads(sdk.to_json(**json_args)), args
        assert ours.to_json(indent=4) == json.dumps(ours.to_dict(), indent=4, ensure_ascii=False)
        assert ours.to_json() == ours.to_json(exclude_unset=True)  # the received text


@CURRENT_SDK
def test_nested_objects_dump_like_the_sdk_nested_models() -> None:
    sdk, ours = pairs("recorded/openai_chat_parallel_tools", ChatCompletionChunk)[1]
    assert ours.choices[0].delta.model_dump() == sdk.choices[0].delta.model_dump()
    assert ours.choices[0].model_dump(exclude_none=True) == sdk.choices[0].model_dump(exclude_none=True)
    call_sdk, call_ours = sdk.choices[0].delta.tool_calls[0], ours.choices[0].delta.tool_calls[0]
    assert call_ours.model_dump() == call_sdk.model_dump()
    # Same data; keys in the order received (pydantic orders by field declaration).
    assert json.loads(call_ours.function.model_dump_json()) == json.loads(call_sdk.function.model_dump_json())
    assert call_ours.function.model_dump_json() == '{"name":"get_weather","arguments":""}'


def test_anthropic_events_match_the_anthropic_sdk_where_the_json_has_the_keys() -> None:
    anthropic = pytest.importorskip("anthropic")  # a dev requirement: always present in CI
    from anthropic.types import RawMessageStreamEvent

    raw = (FIXTURES / "wire/anthropic_messages.sse").read_bytes()
    ours = list(sserpent.iter_chunks([raw]))
    sdk = [construct_type(type_=RawMessageStreamEvent, value=json.loads(o.to_json())) for o in ours]
    assert len(ours) > 5 and anthropic
    for s, o in zip(sdk, ours):
        for args in ({"exclude_unset": True}, {"exclude_unset": True, "exclude_none": True},
                     {"exclude_unset": True, "include": {"type", "delta"}}):
            assert o.model_dump(**args) == s.model_dump(**args)


CHUNK = (
    '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":null,'
    '"x_none":null,"x_extra":{"a":null,"b":[null,{"c":null}]},'
    '"choices":[{"index":0,"delta":{"content":"hi","x_d":null},"finish_reason":null}]}'
)


def chunk(text: str = CHUNK) -> sserpent.Chunk:
    (c,) = sserpent.iter_chunks([f"data: {text}\n\ndata: [DONE]\n\n".encode()])
    return c


def test_default_fills_every_optional_field_with_none_after_the_json_keys() -> None:
    d = chunk().model_dump()
    assert d == {
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "system_fingerprint": None, "x_none": None, "x_extra": {"a": None, "b": [None, {"c": None}]},
        "choices": [{
            "index": 0,
            "delta": {"content": "hi", "x_d": None, "audio": None, "function_call": None,
                      "refusal": None, "role": None, "tool_calls": None},
            "finish_reason": None, "logprobs": None,
        }],
        "usage": None, "moderation": None, "obfuscation": None, "service_tier": None,
    }
    assert list(d)[:8] == ["id", "object", "created", "model", "system_fingerprint", "x_none", "x_extra",
                           "choices"]
    assert chunk().model_dump(exclude_unset=True) == json.loads(CHUNK) == chunk().to_dict()


def test_exclude_none_drops_model_values_but_not_values_inside_plain_extras() -> None:
    assert chunk().model_dump(exclude_none=True) == {
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "x_extra": {"a": None, "b": [None, {"c": None}]},
        "choices": [{"index": 0, "delta": {"content": "hi"}}],
    }


def test_exclude_defaults_drops_optional_fields_holding_none_and_keeps_extras() -> None:
    assert chunk().model_dump(exclude_defaults=True) == {
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "x_none": None, "x_extra": {"a": None, "b": [None, {"c": None}]},
        "choices": [{"index": 0, "delta": {"content": "hi", "x_d": None}}],
    }


def test_duplicate_keys_last_wins_before_exclusion() -> None:
    c = chunk('{"id":"a","choices":[],"model":"m","id":null}')
    assert c.to_dict() == {"id": None, "choices": [], "model": "m"}
    assert c.model_dump(exclude_none=True) == {"choices": [], "model": "m"}


def test_include_and_exclude_specs() -> None:
    c = chunk('{"id":"x","choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}},'
              '{"index":2,"delta":{"content":"c"}}]}')
    assert c.model_dump(include={"choices": {-1: {"index"}, 0: {"index"}}}) == {
        "choices": [{"index": 0}, {"index": 2}]}
    assert c.model_dump(include={"choices": {"__all__": {"index"}, 1: {"delta": {"content"}}}},
                        exclude_unset=True) == {
        "choices": [{"index": 0}, {"index": 1, "delta": {"content": "b"}}, {"index": 2}]}
    assert c.model_dump(exclude={"choices": {1}}, exclude_unset=True) == {
        "id": "x", "choices": [{"index": 0, "delta": {"content": "a"}}, {"index": 2, "delta": {"content": "c"}}]}
    assert c.model_dump(exclude={"choices": {"__all__": {"delta": True}}, "id": ...}, exclude_unset=True) == {
        "choices": [{"index": 0}, {"index": 1}, {"index": 2}]}
    # A dict value that is not a spec, True or ...: the whole item for include, nothing for exclude.
    assert c.model_dump(include={"id": False, "choices": {0: {"index"}}}) == {"id": "x", "choices": [{"index": 0}]}
    assert c.model_dump(exclude={"id": 0, "choices": None}, exclude_unset=True) == c.to_dict()
    assert c.model_dump(include=["id"]) == {"id": "x"}
    assert c.model_dump(include=set()) == {}


THREE = ('{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":['
         '{"index":0,"delta":{"content":"a","audio":{"transcript":"hi"}},"logprobs":{"content":['
         '{"token":"a","logprob":-0.5,"top_logprobs":[{"token":"a","logprob":-0.5}]}]}},'
         '{"index":1,"delta":{}},{"index":2,"delta":{},"finish_reason":"stop"}]}')
SELF: dict = {}
SELF["choices"] = SELF
DEEP: dict = {}
_d = DEEP
for _ in range(20_000):
    _d["choices"] = _d = {}
SPECS = [
    {"include": {"choices": {1: {"index"}, 2: {"index"}}}, "exclude": {"choices": {1}}},
    {"include": {"choices": {0: True}}, "exclude": {"choices": {-3}}},
    {"include": {"id": False, "model": None, "created": 0}},
    {"exclude": {"id": 1, "model": None, "choices": {"__all__": {"index"}, 0: {"index": False}}}},
    {"exclude": {"choices": {"__all__": True, 0: {"index"}}}},
    {"include": {"choices": {"__all__": True, 0: {"index"}}}},
    {"include": {"choices": {0: {"index"}, -3: {"delta"}}}},
    {"include": {"choices": {5: True, -5: {"index"}}}},
    {"include": {"choices": {"__all__": {"delta": {"audio": {"id", "transcript"}}}, 0: {"logprobs"}}}},
    {"exclude": {"choices": {0: {"logprobs": {"content": {"__all__": {"top_logprobs": {0: {"bytes"}}}}}}}}},
    {"include": SELF},
    {"exclude": SELF},
    {"include": DEEP},
]


@CURRENT_SDK
@pytest.mark.parametrize("spec", SPECS, ids=[f"spec{i}" for i in range(len(SPECS))])
@pytest.mark.parametrize("flags", [{}, {"exclude_unset": True}, {"exclude_none": True}], ids=["all", "unset", "none"])
def test_include_exclude_rules_as_pydantic(spec: dict, flags: dict) -> None:
    sdk = construct_type(type_=ChatCompletionChunk, value=json.loads(THREE))
    ours = chunk(THREE)
    assert ours.model_dump(**spec, **flags) == sdk.model_dump(**spec, **flags)
    assert json.loads(ours.model_dump_json(**spec, **flags)) == json.loads(sdk.model_dump_json(**spec, **flags))


@CURRENT_SDK
def test_nested_optional_fields_are_filled_as_the_sdk_fills_them() -> None:
    sdk = construct_type(type_=ChatCompletionChunk, value=json.loads(THREE))
    ours = chunk(THREE)
    assert ours.model_dump() == sdk.model_dump()
    assert ours.choices[0].delta.audio.id is None and ours.choices[0].logprobs.content[0].bytes is None
    body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
    from openai.types.chat import ChatCompletion

    (done,) = sserpent.iter_chunks([f"data: {json.dumps(body)}\n\ndata: [DONE]\n\n".encode()])
    assert done.model_dump() == construct_type(type_=ChatCompletion, value=body).model_dump()


@CURRENT_SDK
def test_plain_dict_fields_keep_their_nones() -> None:
    body = {"id": "c", "object": "text_completion", "created": 1, "model": "m", "choices": [
        {"index": 0, "text": "a", "finish_reason": None,
         "logprobs": {"tokens": ["a"], "token_logprobs": [-0.1], "top_logprobs": [{"a": -0.1, "b": None}]}}]}
    (ours,) = sserpent.iter_chunks([f"data: {json.dumps(body)}\n\ndata: [DONE]\n\n".encode()])
    sdk = construct_type(type_=Completion, value=body)
    for flags in ({}, {"exclude_none": True}, {"exclude_defaults": True}):
        assert ours.model_dump(**flags) == sdk.model_dump(**flags), flags
    assert ours.model_dump(exclude_none=True)["choices"][0]["logprobs"]["top_logprobs"] == [{"a": -0.1, "b": None}]


def test_to_json_with_arguments_indents_by_two_as_the_sdk() -> None:
    c = chunk(THREE)
    assert c.to_json(exclude_none=True) == json.dumps(c.to_dict(exclude_none=True), indent=2, ensure_ascii=False)
    assert c.to_json(indent=None, exclude_none=True) == json.dumps(c.to_dict(exclude_none=True), separators=(",", ":"),
                                                                   ensure_ascii=False)
    assert c.to_json() == THREE


@pytest.mark.parametrize(
    "spec, message",
    [
        ("id", "must be a set or dict of keys, not a str"),
        (42, "must be a set or dict of keys, not int"),
        ({1.5}, "keys must be str (object keys) or int (list indices), not float"),
        ({"choices": {True}}, "not bool"),
    ],
)
def test_bad_include_or_exclude_is_a_type_error_naming_the_problem(spec: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        chunk().model_dump(include=spec)
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        chunk().model_dump_json(exclude=spec)


def test_mode_is_python_or_json() -> None:
    assert chunk().model_dump(mode="json") == chunk().model_dump(mode="python")
    with pytest.raises(ValueError, match="mode must be 'python' or 'json', not 'xml'"):
        chunk().model_dump(mode="xml")
    with pytest.raises(TypeError):
        chunk().model_dump(True)  # keyword-only, as in pydantic


def test_model_dump_json_is_compact_and_to_json_stays_the_received_text() -> None:
    c = chunk('{ "id" : "é", "choices" : [ ] , "n": 1.50 }')
    assert c.model_dump_json(exclude_unset=True) == '{"id":"é","choices":[],"n":1.5}'
    assert c.model_dump_json(exclude_unset=True, ensure_ascii=True) == '{"id":"\\u00e9","choices":[],"n":1.5}'
    assert c.model_dump_json(exclude_unset=True, indent=1) == '{\n "id": "é",\n "choices": [],\n "n": 1.5\n}'
    assert c.to_json() == '{ "id" : "é", "choices" : [ ] , "n": 1.50 }'
    assert json.loads(c.model_dump_json()) == c.model_dump()


def test_accepted_pydantic_arguments_change_nothing() -> None:
    c = chunk()
    same = c.model_dump(by_alias=True, round_trip=True, warnings="none", context={"x": 1}, fallback=str,
                        serialize_as_any=True, exclude_computed_fields=True)
    assert same == c.model_dump()
