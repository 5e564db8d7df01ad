"""``sserpent.genai`` against the google-genai SDK (3.x), both pointed at the same mock server:
the same request for the same call, and for the same response bytes (every Gemini wire
sample) the same text per chunk, the same ``model_dump`` / ``to_json_dict`` data, the same
usage numbers, and the same exception family for errors and cuts."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any, List, Tuple

import pytest
import sserpent
from google import genai as sdk_genai
from google.genai import errors as sdk_errors
from google.genai import types
from sserpent import genai
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
MODEL = "gemini-2.5-flash"
OK = ["gemini_text", "gemini_function_call", "gemini_thinking", "gemini_safety", "gemini_prompt_blocked"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT",
                 "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_API_VERSION", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Any:
    with MockServer() as s:
        yield s


def clients(server: MockServer) -> Tuple[Any, Any]:
    opts = {"base_url": server.url}
    return sdk_genai.Client(api_key="k", http_options=opts), genai.Client(api_key="k", http_options=opts)


def read_all(client: Any, **kw: Any) -> Tuple[List[Any], Any]:
    """The chunks, and the exception that ended the stream (or None)."""
    kw.setdefault("model", MODEL)
    kw.setdefault("contents", "Why is the sky blue?")
    chunks: List[Any] = []
    try:
        for c in client.models.generate_content_stream(**kw):
            chunks.append(c)
    except Exception as e:  # compared by the caller
        return chunks, e
    return chunks, None


def base64_bytes(value: Any) -> Any:
    """The SDK decodes bytes fields (``thought_signature``, ``inline_data.data``) from base64;
    sserpent's chunks keep the wire's base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: base64_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [base64_bytes(v) for v in value]
    return value


def sdk_dump(chunk: Any, **kw: Any) -> Any:
    d = base64_bytes(chunk.model_dump(**kw))
    d.pop("sdk_http_response", None)  # the SDK's copy of the HTTP headers
    return d


# --- the request -----------------------------------------------------------------------------------


def config_kwargs() -> dict:
    return dict(
        system_instruction="Be brief.", temperature=0.2, top_p=0.9, top_k=3, max_output_tokens=100,
        stop_sequences=["END"], candidate_count=1, seed=5, response_mime_type="application/json",
        response_json_schema={"type": "object", "properties": {"snake_key": {"type": "string"}}},
        safety_settings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}],
        tools=[{"function_declarations": [{
            "name": "get_weather", "description": "The weather",
            "parameters": {"type": "OBJECT", "properties": {"city_name": {"type": "STRING", "max_length": 5}},
                           "required": ["city_name"]}}]}],
        tool_config={"function_calling_config": {"mode": "ANY", "allowed_function_names": ["get_weather"]}},
        labels={"team_name": "x"},
    )


CONTENTS = [
    "Hi", "there",
    {"role": "model", "parts": [{"text": "Hello."}]},
    {"function_call": {"name": "get_weather", "args": {"city_name": "Paris"}}},
    {"role": "user", "parts": [{"function_response": {"name": "get_weather", "response": {"temp_c": 21}}}]},
]


@pytest.mark.parametrize("config_as", ["dict", "types"])
def test_request_equals_the_sdks(server: MockServer, config_as: str) -> None:
    sdk, ss = clients(server)
    config: Any = config_kwargs()
    if config_as == "types":
        config = types.GenerateContentConfig(**config)
    read_all(sdk, contents=CONTENTS, config=config)
    a = server.requests[-1]
    read_all(ss, contents=CONTENTS, config=config)
    b = server.requests[-1]
    assert (b.method, b.path, b.query) == (a.method, a.path, a.query) == (
        "POST", f"/v1/models/{MODEL}:streamGenerateContent", "alt=sse")
    assert b.json() == a.json()
    assert b.headers["x-goog-api-key"] == a.headers["x-goog-api-key"] == "k"
    assert b.headers["content-type"] == a.headers["content-type"] == "application/json"


@pytest.mark.parametrize("contents", [
    "Why?",
    ["a", "b"],
    [{"text": "a"}, {"text": "b"}],
    {"role": "user", "parts": [{"text": "x"}]},
    [{"role": "user", "parts": [{"text": "x"}]}, {"role": "model", "parts": [{"text": "y"}]}, "z"],
    [["a", "b"], "c"],
    {"text": "lone part"},
    {"inline_data": {"mime_type": "image/png", "data": b"\x89PNG"}},
    [types.Content(role="user", parts=[types.Part(text="typed")])],
    types.Part(text="a typed part"),
])
def test_contents_as_the_sdk_sends_them(server: MockServer, contents: Any) -> None:
    sdk, ss = clients(server)
    read_all(sdk, contents=contents)
    a = server.requests[-1].json()
    read_all(ss, contents=contents)
    assert server.requests[-1].json() == a


@pytest.mark.parametrize("config", [
    {"thinking_config": {"thinking_budget": 64, "include_thoughts": True}},
    {"thinkingConfig": {"thinkingBudget": 64}, "maxOutputTokens": 5},
    {"response_schema": {"type": "OBJECT", "properties": {"a_b": {"type": "STRING", "max_length": 3}}}},
    {"cached_content": "abc", "service_tier": "flex"},
    {"system_instruction": {"parts": [{"text": "You are terse."}]}},
    types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0), temperature=1),
])
def test_config_as_the_sdk_sends_it(server: MockServer, config: Any) -> None:
    """Field by field as the SDK's converters write them: the config's own keys in camelCase,
    what the SDK copies as its models dump them (``thinkingConfig``, a Schema) in snake_case."""
    sdk, ss = clients(server)
    read_all(sdk, config=config)
    a = server.requests[-1].json()
    read_all(ss, config=config)
    assert server.requests[-1].json() == a


# --- the response ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OK)
def test_chunks_read_like_the_sdks(server: MockServer, name: str) -> None:
    sdk, ss = clients(server)
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    want, err = read_all(sdk)
    assert err is None and want
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    got, err = read_all(ss)
    assert err is None
    assert [c.text for c in got] == [c.text for c in want]
    assert [c.to_json_dict() for c in got] == [sdk_dump(c, exclude_none=True, mode="json") for c in want]
    dumps = [c.model_dump() for c in got]
    assert all(d.pop("sdk_http_response") is None for d in dumps)
    assert dumps == [sdk_dump(c) for c in want]
    for a, b in zip(want, got):
        assert (b.function_calls is None) == (a.function_calls is None)
        if a.function_calls:
            assert [(f.name, f.args.to_dict(), f.id) for f in b.function_calls] == [
                (f.name, f.args, f.id) for f in a.function_calls]
        assert (b.parts is None) == (a.parts is None)
        if a.usage_metadata is not None:
            for field in ("prompt_token_count", "candidates_token_count", "thoughts_token_count",
                          "total_token_count"):
                assert getattr(b.usage_metadata, field) == getattr(a.usage_metadata, field), field
        if a.candidates:
            ca, cb = a.candidates[0], b.candidates[0]
            assert cb.finish_reason == (ca.finish_reason.value if ca.finish_reason else None)
            assert cb.index == ca.index
            assert [r.category for r in cb.safety_ratings or []] == [r.category.value for r in ca.safety_ratings or []]
        if a.prompt_feedback is not None:
            assert b.prompt_feedback.block_reason == a.prompt_feedback.block_reason.value


def test_mock_default_reply_reads_like_the_sdks(server: MockServer) -> None:
    sdk, ss = clients(server)
    want, _ = read_all(sdk)
    got, err = read_all(ss)
    assert err is None
    assert [c.text for c in got] == [c.text for c in want] == [
        "Hello!", " This", " is", " the", " sserpent", " mock", " server.", ""]
    assert got[-1].usage_metadata.candidates_token_count == want[-1].usage_metadata.candidates_token_count == 7


def test_async_chunks_read_like_the_sdks(server: MockServer) -> None:
    sdk, ss = clients(server)

    async def texts(client: Any) -> List[Any]:
        server.enqueue(sse_file=str(WIRE / "gemini_thinking.sse"))
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="2+2?")
        return [c.text async for c in stream]

    assert asyncio.run(texts(ss)) == asyncio.run(texts(sdk)) == [None, None, "It is", " 4."]


# --- errors and cuts: the same family --------------------------------------------------------------


def test_error_event_mid_stream(server: MockServer) -> None:
    sdk, ss = clients(server)
    server.enqueue(sse_file=str(WIRE / "gemini_error_midstream.sse"))
    want, a = read_all(sdk)
    server.enqueue(sse_file=str(WIRE / "gemini_error_midstream.sse"))
    got, b = read_all(ss)
    assert [c.text for c in got] == [c.text for c in want] == ["Once upon"]
    assert isinstance(a, sdk_errors.ServerError) and (a.code, a.status) == (503, "UNAVAILABLE")
    assert type(b) is sserpent.StreamError
    assert (b.message, b.code, b.type) == (a.message, a.status, a.status)
    assert b.body == {"error": {"code": 503, "message": a.message, "status": "UNAVAILABLE"}}


@pytest.mark.parametrize("status,name,sdk_cls,cls", [
    (429, "RESOURCE_EXHAUSTED", sdk_errors.ClientError, sserpent.RateLimitError),
    (400, "INVALID_ARGUMENT", sdk_errors.ClientError, sserpent.BadRequestError),
    (403, "PERMISSION_DENIED", sdk_errors.ClientError, sserpent.PermissionDeniedError),
    (500, "INTERNAL", sdk_errors.ServerError, sserpent.InternalServerError),
])
def test_error_status_before_the_stream(server: MockServer, status: int, name: str, sdk_cls: Any, cls: Any) -> None:
    body = {"error": {"code": status, "message": f"{name.lower()} happened", "status": name}}
    sdk = sdk_genai.Client(api_key="k", http_options={"base_url": server.url,
                                                      "retry_options": {"attempts": 1}})
    ss = genai.Client(api_key="k", http_options={"base_url": server.url}, max_retries=0)
    server.enqueue(status=status, json=body)
    _, a = read_all(sdk)
    server.enqueue(status=status, json=body)
    _, b = read_all(ss)
    assert type(a) is sdk_cls and a.code == status and a.status == name
    assert type(b) is cls and b.status_code == status and b.body == body
    assert b.code == a.status == name
    assert f"{name.lower()} happened" in str(b)


def test_cut_mid_stream(server: MockServer) -> None:
    """A reset after two chunks: the SDK raises httpx's transport error, sserpent
    IncompleteStreamError (an APIConnectionError), both after the same chunks."""
    sdk, ss = clients(server)
    raw = (WIRE / "gemini_text.sse").read_bytes()
    frames = [f + b"\r\n\r\n" for f in raw.split(b"\r\n\r\n") if f]
    server.enqueue(events=frames, cut_after=2, reset=True)
    want, a = read_all(sdk)
    server.enqueue(events=frames, cut_after=2, reset=True)
    got, b = read_all(ss)
    assert [c.text for c in got] == [c.text for c in want] == ["The sky is blue", " because of Rayleigh"]
    assert "TransportError" in {k.__name__ for k in type(a).__mro__}  # httpx's (the SDK's copy of it)
    assert type(b) is sserpent.IncompleteStreamError and isinstance(b, sserpent.APIConnectionError)


def test_clean_end_without_finish_reason(server: MockServer) -> None:
    """The body ends cleanly before any finishReason: the SDK ends quietly, sserpent raises
    IncompleteStreamError after the same chunks (Gemini sends no terminator, so this is the
    only sign of a truncated answer)."""
    sdk, ss = clients(server)
    raw = (WIRE / "gemini_text.sse").read_bytes()
    cut = b"".join(f + b"\r\n\r\n" for f in raw.split(b"\r\n\r\n")[:3])
    server.enqueue(sse=cut)
    want, a = read_all(sdk)
    server.enqueue(sse=cut)
    got, b = read_all(ss)
    assert a is None
    assert [c.text for c in got] == [c.text for c in want]
    assert type(b) is sserpent.IncompleteStreamError
    assert str(b).startswith("the stream ended without a candidate's finishReason, after 3 complete chunks")


def test_sdk_reads_the_sample_bytes_as_json(server: MockServer) -> None:
    """The samples are what the SDK reads: every data line parses, CRLF line endings."""
    for name in OK + ["gemini_error_midstream"]:
        raw = (WIRE / f"{name}.sse").read_bytes()
        assert raw.endswith(b"}\r\n\r\n") and b"\n\n" not in raw
        for frame in raw.split(b"\r\n\r\n")[:-1]:
            assert frame.startswith(b"data: ")
            json.loads(frame[len(b"data: "):])
