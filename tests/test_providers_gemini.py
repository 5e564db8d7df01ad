"""``sserpent.genai``: ``genai.Client`` for the Gemini API (``x-goog-api-key``) and Vertex AI
(bearer tokens from credentials), ``models.generate_content_stream`` sync and under ``aio``,
chunks read like google-genai's ``GenerateContentResponse`` (snake_case attributes, ``text``,
``function_calls``), ``final()``, the end of a stream (``finishReason``), errors, ``chats``.

Against the embedded mock server; tests/test_differential_gemini.py compares with the SDK.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, List

import pytest
import sserpent
from sserpent import genai
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
MODEL = "gemini-2.5-flash"
WORDS = ["Hello!", " This", " is", " the", " sserpent", " mock", " server."]
SECRET = "AIzaSy-TOPSECRET-0123456789abcdef"
TOKEN = "ya29.TOPSECRET-bearer-token-0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT",
                 "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_API_VERSION", "GOOGLE_GEMINI_BASE_URL",
                 "GOOGLE_VERTEX_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Any:
    with MockServer() as s:
        yield s


def client(server: MockServer, **kw: Any) -> genai.Client:
    kw.setdefault("api_key", SECRET)
    opts = dict(kw.pop("http_options", {}))
    opts.setdefault("base_url", server.url)
    return genai.Client(http_options=opts, **kw)


def stream(c: Any, **kw: Any) -> Any:
    kw.setdefault("model", MODEL)
    kw.setdefault("contents", "Why is the sky blue?")
    return c.models.generate_content_stream(**kw)


class Credentials:
    """What google-auth's credentials offer: ``token``, ``valid``, ``refresh(request)``."""

    def __init__(self) -> None:
        self.token: Any = None
        self.refreshed = 0

    @property
    def valid(self) -> bool:
        return self.token is not None

    def refresh(self, request: Any) -> None:
        self.refreshed += 1
        self.token = f"{TOKEN}-{self.refreshed}"


# --- requests ------------------------------------------------------------------------------------


def test_path_query_key_and_body(server: MockServer) -> None:
    s = stream(client(server))
    assert isinstance(s, sserpent.Stream) and s.status == 200
    assert [c.text for c in s] == [*WORDS, ""]
    r = server.requests[-1]
    assert (r.method, r.path, r.query) == ("POST", f"/v1/models/{MODEL}:streamGenerateContent", "alt=sse")
    assert r.headers["x-goog-api-key"] == SECRET
    assert "authorization" not in r.headers
    assert r.json() == {"contents": [{"parts": [{"text": "Why is the sky blue?"}], "role": "user"}]}


@pytest.mark.parametrize("env", ["GOOGLE_API_KEY", "GEMINI_API_KEY"])
def test_api_key_from_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv(env, "env-key")
    list(stream(genai.Client(http_options={"base_url": server.url})))
    assert server.requests[-1].headers["x-goog-api-key"] == "env-key"


def test_google_api_key_wins_over_gemini_api_key(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "google")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini")
    list(stream(genai.Client(http_options={"base_url": server.url})))
    assert server.requests[-1].headers["x-goog-api-key"] == "google"


def test_http_options_headers_api_version_and_model_prefix(server: MockServer) -> None:
    c = client(server, http_options={"headers": {"x-team": "a"}, "api_version": "v1beta", "timeout": 30_000})
    list(stream(c, model="models/gemini-2.0-flash"))
    r = server.requests[-1]
    assert r.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    assert r.headers["x-team"] == "a"


def test_per_call_http_options_in_config(server: MockServer) -> None:
    list(stream(client(server), config={"temperature": 0, "http_options": {"headers": {"x-call": "1"}}}))
    r = server.requests[-1]
    assert r.headers["x-call"] == "1"
    assert r.json()["generationConfig"] == {"temperature": 0}


def test_default_base_url() -> None:
    assert genai.Client(api_key="k").base_url == "https://generativelanguage.googleapis.com"


def test_vertex_path_and_bearer_from_credentials(server: MockServer) -> None:
    creds = Credentials()
    c = genai.Client(vertexai=True, project="my-proj", location="us-central1", credentials=creds,
                     http_options={"base_url": server.url})
    assert [c.text for c in stream(c)] == [*WORDS, ""]
    list(stream(c))
    first, second = server.requests
    assert first.path == (f"/v1beta1/projects/my-proj/locations/us-central1/publishers/google/models/{MODEL}"
                          ":streamGenerateContent")
    assert first.query == "alt=sse"
    assert first.headers["authorization"] == f"Bearer {TOKEN}-1"
    assert second.headers["authorization"] == f"Bearer {TOKEN}-1"  # still valid: not refreshed again
    assert creds.refreshed == 1
    assert "x-goog-api-key" not in first.headers


def test_vertex_default_url_and_token_callable(server: MockServer) -> None:
    c = genai.Client(vertexai=True, project="p", location="europe-west4", credentials=lambda: "tok-1")
    assert c.base_url == "https://europe-west4-aiplatform.googleapis.com"
    assert genai.Client(vertexai=True, project="p", location="global",
                        credentials=lambda: "t").base_url == "https://aiplatform.googleapis.com"
    c = genai.Client(vertexai=True, project="p", location="europe-west4", credentials=lambda: "tok-1",
                     http_options={"base_url": server.url, "api_version": "v1"})
    list(stream(c, model="gemini-2.0-flash"))
    r = server.requests[-1]
    assert r.path == ("/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.0-flash"
                      ":streamGenerateContent")
    assert r.headers["authorization"] == "Bearer tok-1"


def test_vertex_from_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "envproj")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "asia-east1")
    c = genai.Client(credentials=lambda: "t", http_options={"base_url": server.url})
    assert c.vertexai
    list(stream(c))
    assert server.requests[-1].path.startswith("/v1beta1/projects/envproj/locations/asia-east1/")


def test_secrets_never_shown(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    c = client(server)
    v = genai.Client(vertexai=True, project="p", location="l", credentials=lambda: TOKEN,
                     http_options={"base_url": server.url})
    server.enqueue(status=401, json={"error": {"code": 401, "message": "API key not valid",
                                               "status": "UNAUTHENTICATED"}})
    server.enqueue(status=403, json={"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}})
    caplog.set_level(logging.DEBUG, logger="sserpent")
    with pytest.raises(sserpent.AuthenticationError) as e1:
        stream(c)
    with pytest.raises(sserpent.PermissionDeniedError) as e2:
        stream(v)
    shown = " ".join([repr(c), str(c), repr(v), str(v), repr(v._token), str(e1.value), repr(e1.value),
                      str(e2.value), repr(e2.value), repr(e1.value.headers), caplog.text])
    assert SECRET not in shown and TOKEN not in shown
    assert "API key not valid" in str(e1.value)


# --- bad input: typed errors naming the argument, before anything is sent -----------------------------


@pytest.mark.parametrize("kw,exc,match", [
    ({"model": 3}, TypeError, "model must be a string"),
    ({"model": ""}, ValueError, "model is required"),
    ({"model": "../x"}, ValueError, "invalid model"),
    ({"contents": None}, ValueError, "contents are required"),
    ({"contents": []}, ValueError, "contents are required"),
    ({"contents": 42}, TypeError, "contents must be"),
    ({"contents": [object()]}, TypeError, "contents must be"),
    ({"contents": {"role": 1, "parts": ["x"]}}, TypeError, r"contents\['role'\]"),
    ({"config": "hot"}, TypeError, "config must be a dict"),
    ({"config": {"tools": {"x": 1}}}, TypeError, r"config\['tools'\] must be a list"),
    ({"config": {"http_options": {"timeout": -1}}}, TypeError, "timeout"),
])
def test_bad_arguments_raise_before_sending(server: MockServer, kw: dict, exc: Any, match: str) -> None:
    with pytest.raises(exc, match=match):
        stream(client(server), **kw)
    assert server.requests == []


def test_missing_key_and_bad_constructor_arguments(server: MockServer) -> None:
    with pytest.raises(sserpent.SserpentError, match="api_key"):
        genai.Client()
    with pytest.raises(TypeError, match="api_key must be a string"):
        genai.Client(api_key=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="http_options must be a dict"):
        genai.Client(api_key="k", http_options="x")
    with pytest.raises(TypeError, match="credentials must have"):
        genai.Client(vertexai=True, project="p", location="l", credentials=object())
    with pytest.raises(ValueError, match="only supported with vertexai=True"):
        genai.Client(api_key="k", credentials=lambda: "t")
    with pytest.raises(ValueError, match="project= and location="):
        genai.Client(vertexai=True, credentials=lambda: "t")


def test_required_keyword_arguments(server: MockServer) -> None:
    with pytest.raises(TypeError):
        client(server).models.generate_content_stream(contents="x")  # type: ignore[call-arg]
    assert server.requests == []


# --- chunks --------------------------------------------------------------------------------------------


def chunks_of(server: MockServer, name: str, **kw: Any) -> List[Any]:
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    return list(stream(client(server), **kw))


def test_snake_case_attributes_over_the_camel_case_wire(server: MockServer) -> None:
    chunks = chunks_of(server, "gemini_text")
    last = chunks[-1]
    assert last.candidates[0].content.parts[0].text == " wavelengths most."
    assert last.candidates[0].content.role == "model"
    assert last.candidates[0].finish_reason == "STOP"
    assert chunks[0].candidates[0].finish_reason is None
    u = last.usage_metadata
    assert (u.prompt_token_count, u.candidates_token_count, u.total_token_count, u.thoughts_token_count) == (
        7, 16, 23, None)
    assert u.prompt_tokens_details[0].token_count == 7
    assert (last.model_version, last.response_id) == ("gemini-2.5-flash", "Zx8waPq1NZ2-nvgP7o6xsQg")
    assert last.prompt_feedback is None and last.create_time is None
    assert last["usageMetadata"]["promptTokenCount"] == 7  # the wire's keys, dict-style
    assert "usage_metadata" in dir(last) and "text" in dir(last) and "usageMetadata" not in dir(last)
    with pytest.raises(AttributeError, match="no attribute 'usage_metdata'"):
        last.usage_metdata  # noqa: B018


def test_text_function_calls_and_parts(server: MockServer) -> None:
    chunks = chunks_of(server, "gemini_function_call")
    assert [c.text for c in chunks] == ["Let me look", " up the weather.", None, ""]
    assert [c.function_calls is None for c in chunks] == [True, True, False, True]
    (call,) = chunks[2].function_calls
    assert (call.name, call.args.to_dict(), call.id) == ("get_weather", {"location": "Paris", "unit": "celsius"}, None)
    assert chunks[2].parts[0].thought_signature == "CiQBVKhc7g=="
    assert chunks[2].executable_code is None and chunks[2].code_execution_result is None


def test_thoughts_are_not_text(server: MockServer) -> None:
    chunks = chunks_of(server, "gemini_thinking")
    assert [c.text for c in chunks] == [None, None, "It is", " 4."]
    assert chunks[0].candidates[0].content.parts[0].thought is True
    assert chunks[0].usage_metadata.thoughts_token_count == 18


def test_safety_finish_and_prompt_block_are_visible(server: MockServer) -> None:
    chunks = chunks_of(server, "gemini_safety")
    last = chunks[-1].candidates[0]
    assert last.finish_reason == "SAFETY"
    assert [(r.category, r.probability, r.blocked) for r in last.safety_ratings][-1] == (
        "HARM_CATEGORY_DANGEROUS_CONTENT", "HIGH", True)
    (blocked,) = chunks_of(server, "gemini_prompt_blocked")
    assert blocked.prompt_feedback.block_reason == "PROHIBITED_CONTENT"
    assert (blocked.candidates, blocked.text, blocked.function_calls, blocked.parts) == (None, None, None, None)


def test_to_json_dict_and_model_dump_use_attribute_names(server: MockServer) -> None:
    (blocked,) = chunks_of(server, "gemini_prompt_blocked")
    assert blocked.to_json_dict() == {
        "prompt_feedback": {"block_reason": "PROHIBITED_CONTENT"},
        "usage_metadata": {"prompt_token_count": 12, "total_token_count": 12,
                           "prompt_tokens_details": [{"modality": "TEXT", "token_count": 12}]},
        "model_version": "gemini-2.5-flash", "response_id": "Zx8waPq1NZ2-nvgP7o6xsQg"}
    d = blocked.model_dump()
    assert d["candidates"] is None and d["prompt_feedback"]["safety_ratings"] is None
    assert blocked.to_dict()["promptFeedback"] == {"blockReason": "PROHIBITED_CONTENT"}  # the wire's own


# --- final() ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gemini_text", "gemini_function_call", "gemini_thinking", "gemini_safety",
                                  "gemini_prompt_blocked"])
def test_final_matches_the_sample(server: MockServer, name: str) -> None:
    import json

    expected = json.loads((WIRE / f"{name}.expected.json").read_text())
    server.enqueue(sse_file=str(WIRE / f"{name}.sse"))
    r = stream(client(server)).final()
    assert r.text == expected["text"]
    assert r.finish_reason == expected["finish_reason"]
    assert r.usage.to_dict() == expected["usage"]
    assert r.reasoning == expected.get("reasoning")
    assert r.role == expected.get("role")
    assert [t.to_dict() for t in r.tool_calls] == expected.get("tool_calls", [])
    assert r.get("block_reason") == expected.get("block_reason")
    assert (r.model, r.id) == ("gemini-2.5-flash", "Zx8waPq1NZ2-nvgP7o6xsQg")


def test_text_view(server: MockServer) -> None:
    server.enqueue(sse_file=str(WIRE / "gemini_thinking.sse"))
    assert list(stream(client(server)).text()) == ["It is", " 4."]


# --- the end of a stream, and errors -------------------------------------------------------------------


def test_ends_only_after_a_finish_reason(server: MockServer) -> None:
    raw = (WIRE / "gemini_text.sse").read_bytes()
    server.enqueue(sse=raw[: raw.rindex(b"data: ")])
    s = stream(client(server))
    got = []
    with pytest.raises(sserpent.IncompleteStreamError, match="without a candidate's finishReason, after 4 complete"):
        for c in s:
            got.append(c.text)
    assert got == ["The sky is blue", " because of Rayleigh", " scattering: air", " molecules scatter short"]


def test_usage_after_the_finish_reason_still_arrives(server: MockServer) -> None:
    raw = (WIRE / "gemini_text.sse").read_bytes()
    usage = b'data: {"usageMetadata": {"promptTokenCount": 7,"candidatesTokenCount": 17,"totalTokenCount": 24}}\r\n\r\n'
    server.enqueue(sse=raw + usage)
    s = stream(client(server))
    chunks = list(s)
    assert len(chunks) == 6 and chunks[-1].text is None
    assert s.final().usage.completion_tokens == 17


def test_error_event_raises_stream_error(server: MockServer) -> None:
    server.enqueue(sse_file=str(WIRE / "gemini_error_midstream.sse"))
    got = []
    with pytest.raises(sserpent.StreamError) as e:
        for c in stream(client(server)):
            got.append(c.text)
    assert got == ["Once upon"]
    assert (e.value.message, e.value.code, e.value.type) == (
        "The model is overloaded. Please try again later.", "UNAVAILABLE", "UNAVAILABLE")


def test_rate_limit_before_the_stream_is_retried(server: MockServer) -> None:
    body = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}
    server.enqueue(status=429, json=body, headers={"retry-after": "0"})
    s = stream(client(server))
    assert [c.text for c in s] == [*WORDS, ""]
    assert s.metrics.attempts == 2
    server.enqueue(status=429, json=body, headers={"retry-after": "0"}, times=3)
    with pytest.raises(sserpent.RateLimitError) as e:
        stream(client(server))
    assert e.value.body == body and "Resource has been exhausted" in str(e.value)


# --- async, generate_content, chats --------------------------------------------------------------------


def test_async_stream(server: MockServer) -> None:
    async def main() -> Any:
        c = client(server)
        s = await c.aio.models.generate_content_stream(model=MODEL, contents="hi")
        texts = [ch.text async for ch in s]
        return texts, await s.afinal()

    texts, final = asyncio.run(main())
    assert texts == [*WORDS, ""]
    assert final.text == "".join(WORDS)


def test_generate_content(server: MockServer) -> None:
    r = client(server).models.generate_content(model=MODEL, contents="hi")
    assert r.text == "".join(WORDS)
    assert r.candidates[0].finish_reason == "STOP"
    assert server.requests[-1].path == f"/v1/models/{MODEL}:generateContent"
    assert server.requests[-1].query == ""
    r = asyncio.run(client(server).aio.models.generate_content(model=MODEL, contents="hi"))
    assert r.usage_metadata.candidates_token_count == 7


def test_chat_keeps_history(server: MockServer) -> None:
    chat = client(server).chats.create(model=MODEL, config={"temperature": 0})
    assert [c.text for c in chat.send_message_stream("Hi")] == [*WORDS, ""]
    server.enqueue(sse_file=str(WIRE / "gemini_function_call.sse"))
    list(chat.send_message_stream("Weather?"))
    body = server.requests[-1].json()
    assert body["generationConfig"] == {"temperature": 0}
    assert body["contents"] == [
        {"parts": [{"text": "Hi"}], "role": "user"},
        {"parts": [{"text": w} for w in WORDS] + [{"text": ""}], "role": "model"},
        {"parts": [{"text": "Weather?"}], "role": "user"},
    ]
    history = chat.get_history()
    assert history[-1]["parts"][2] == {"functionCall": {"name": "get_weather", "args": {"location": "Paris",
                                                                                        "unit": "celsius"}},
                                       "thoughtSignature": "CiQBVKhc7g=="}
    assert len(history) == 4


def test_async_chat(server: MockServer) -> None:
    async def main() -> Any:
        chat = client(server).aio.chats.create(model=MODEL)
        first = [c.text async for c in await chat.send_message_stream("Hi")]
        second = [c.text async for c in await chat.send_message_stream("Again")]
        return first, second, chat.get_history()

    first, second, history = asyncio.run(main())
    assert first == second == [*WORDS, ""]
    assert [h["role"] for h in history] == ["user", "model", "user", "model"]
    assert len(server.requests[-1].json()["contents"]) == 3


def test_types_is_the_sdks() -> None:
    from google.genai import types

    assert genai.types is types


def test_telemetry_names_the_model_and_the_generation_config(server: MockServer) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    sserpent.instrument(tracer_provider=provider)
    try:
        config = {"temperature": 0.5, "max_output_tokens": 64, "stop_sequences": ["END"]}
        list(stream(client(server), config=config))
        v = genai.Client(vertexai=True, project="p", location="l", credentials=lambda: TOKEN,
                         http_options={"base_url": server.url})
        list(stream(v, model="publishers/google/models/gemini-2.0-flash"))
    finally:
        sserpent.uninstrument()
    first, second = spans.get_finished_spans()
    a = dict(first.attributes)
    assert first.name == f"chat {MODEL}"
    assert (a["gen_ai.provider.name"], a["gen_ai.request.model"], a["gen_ai.response.model"]) == (
        "gcp.gemini", MODEL, MODEL)
    assert (a["gen_ai.request.temperature"], a["gen_ai.request.max_tokens"]) == (0.5, 64)
    assert tuple(a["gen_ai.request.stop_sequences"]) == ("END",)
    assert (a["gen_ai.usage.output_tokens"], a["gen_ai.response.finish_reasons"]) == (7, ("STOP",))
    b = dict(second.attributes)
    assert (b["gen_ai.provider.name"], b["gen_ai.request.model"]) == ("gcp.vertex_ai", "gemini-2.0-flash")
    assert TOKEN not in str(b)


def test_context_managers_as_the_sdks(server: MockServer) -> None:
    with client(server) as c:
        assert [ch.text for ch in stream(c)][-2:] == [" server.", ""]

    async def main() -> Any:
        async with client(server).aio as aio:
            s = await aio.models.generate_content_stream(model=MODEL, contents="hi")
            return [ch.text async for ch in s][0]

    assert asyncio.run(main()) == "Hello!"
