"""``sserpent.OpenAI`` / ``sserpent.AsyncOpenAI``: the openai SDK's constructor arguments and
environment variables, ``chat.completions`` / ``completions`` / ``responses.create``, errors at
``create`` time, parameters passed through unchanged, and no API key in any repr or error.

Everything runs against the embedded mock server (``sserpent.testing.MockServer``); where the
SDK's behaviour is the reference (request body, path, query, headers), the real openai SDK is
pointed at the same server and the two requests are compared.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import re
from typing import Any, Dict, List

import httpx
import openai
import pytest
import sserpent
from sserpent.testing import MockServer

DEFAULT_TEXT = "Hello! This is the sserpent mock server."
WORDS = ["Hello!", " This", " is", " the", " sserpent", " mock", " server."]
MESSAGES = [{"role": "user", "content": "Hello"}]
SECRET = "sk-proj-TOPSECRET0123456789abcdef"

ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Any:
    with MockServer() as s:
        yield s


def client(server: MockServer, **kw: Any) -> sserpent.OpenAI:
    kw.setdefault("api_key", "sk-test")
    kw.setdefault("base_url", server.base_url)
    return sserpent.OpenAI(**kw)


def aclient(server: MockServer, **kw: Any) -> sserpent.AsyncOpenAI:
    kw.setdefault("api_key", "sk-test")
    kw.setdefault("base_url", server.base_url)
    return sserpent.AsyncOpenAI(**kw)


def chat(c: Any, **kw: Any) -> Any:
    kw.setdefault("model", "gpt-4o-mini")
    kw.setdefault("messages", MESSAGES)
    return c.chat.completions.create(**kw)


def text_of(stream: Any) -> str:
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


# --- constructor and environment ---------------------------------------------------------------


def test_api_key_argument_is_the_bearer_token(server: MockServer) -> None:
    list(chat(client(server, api_key="sk-arg"), stream=True))
    assert server.requests[-1].headers["authorization"] == "Bearer sk-arg"


def test_api_key_from_openai_api_key(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    list(chat(sserpent.OpenAI(base_url=server.base_url), stream=True))
    assert server.requests[-1].headers["authorization"] == "Bearer sk-env"


def test_api_key_argument_beats_the_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    list(chat(client(server, api_key="sk-arg"), stream=True))
    assert server.requests[-1].headers["authorization"] == "Bearer sk-arg"


@pytest.mark.parametrize("cls", [sserpent.OpenAI, sserpent.AsyncOpenAI])
def test_missing_api_key_raises(cls: Any) -> None:
    with pytest.raises(sserpent.SserpentError, match="OPENAI_API_KEY") as e:
        cls()
    assert "api_key" in str(e.value)
    # the SDK refuses the same configuration
    with pytest.raises(openai.OpenAIError):
        openai.OpenAI()


def test_base_url_from_openai_base_url(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    c = sserpent.OpenAI()
    assert c.base_url == server.base_url
    s = chat(c, stream=True)
    assert s.url == server.base_url + "/chat/completions"
    assert text_of(s) == DEFAULT_TEXT
    assert server.requests[-1].path == "/v1/chat/completions"


def test_base_url_argument_beats_the_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    list(chat(client(server, base_url=server.base_url + "/"), stream=True))  # trailing slash too
    assert server.requests[-1].path == "/v1/chat/completions"


def test_default_base_url_is_openai() -> None:
    assert sserpent.OpenAI(api_key="k").base_url == "https://api.openai.com/v1"


def test_organization_and_project_headers(server: MockServer) -> None:
    list(chat(client(server, organization="org-123", project="proj_456"), stream=True))
    h = server.requests[-1].headers
    assert (h["openai-organization"], h["openai-project"]) == ("org-123", "proj_456")


def test_organization_and_project_from_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_env")
    c = client(server)
    assert (c.organization, c.project) == ("org-env", "proj_env")
    list(chat(c, stream=True))
    h = server.requests[-1].headers
    assert (h["openai-organization"], h["openai-project"]) == ("org-env", "proj_env")


def test_no_organization_or_project_header_by_default(server: MockServer) -> None:
    list(chat(client(server), stream=True))
    h = server.requests[-1].headers
    assert "openai-organization" not in h and "openai-project" not in h


def test_default_headers_and_default_query(server: MockServer) -> None:
    c = client(server, default_headers={"X-Team": "search", "Authorization": "Bearer override"},
               default_query={"tenant": "a b", "n": 1})
    list(chat(c, stream=True))
    r = server.requests[-1]
    assert r.headers["x-team"] == "search"
    assert r.headers["authorization"] == "Bearer override"  # default_headers win, as in the SDK
    assert r.query == "tenant=a+b&n=1"
    chat(c)  # stream=False uses them too
    assert server.requests[-1].query == "tenant=a+b&n=1"
    assert server.requests[-1].headers["x-team"] == "search"


def test_headers_and_query_equal_the_sdks(server: MockServer) -> None:
    """The same constructor arguments: the SDK's request and sserpent's carry the same path,
    query and configured headers."""
    kw: Dict[str, Any] = dict(api_key="sk-same", base_url=server.base_url, organization="org-1", project="proj-1",
                              default_headers={"X-Custom": "c"}, default_query={"q": "1"})
    list(chat(openai.OpenAI(**kw), stream=True))
    sdk = server.requests[-1]
    list(chat(sserpent.OpenAI(**kw), stream=True))
    ss = server.requests[-1]
    assert (ss.path, ss.query) == (sdk.path, sdk.query) == ("/v1/chat/completions", "q=1")
    for name in ("authorization", "openai-organization", "openai-project", "x-custom", "content-type"):
        assert ss.headers[name] == sdk.headers[name], name
    assert ss.json() == sdk.json()


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_max_retries(server: MockServer, retries: int) -> None:
    c = client(server, max_retries=retries)
    assert c.max_retries == retries
    if retries:
        server.enqueue(status=503, headers={"retry-after": "0"}, times=retries)
    before = len(server.requests)
    s = chat(c, stream=True)
    assert len(server.requests) - before == retries + 1
    assert s.metrics.attempts == retries + 1
    assert text_of(s) == DEFAULT_TEXT


def test_max_retries_exhausted_raises(server: MockServer) -> None:
    c = client(server, max_retries=1)
    server.enqueue(status=503, headers={"retry-after": "0"}, times=2)
    before = len(server.requests)
    with pytest.raises(sserpent.InternalServerError) as e:
        chat(c, stream=True)
    assert e.value.status_code == 503
    assert len(server.requests) - before == 2


@pytest.mark.parametrize("timeout", [0.5, httpx.Timeout(0.5)], ids=["seconds", "httpx.Timeout"])
@pytest.mark.parametrize("stream", [True, False])
def test_timeout(server: MockServer, timeout: Any, stream: bool) -> None:
    server.enqueue(headers_delay=3)
    with pytest.raises(sserpent.APITimeoutError):
        chat(client(server, timeout=timeout, max_retries=0), stream=stream)


def test_timeout_read_gap(server: MockServer) -> None:
    """The SDK's ``timeout`` bounds the silence between bytes of a streamed body too."""
    server.enqueue(stall_after=2)
    s = chat(client(server, timeout=0.5, max_retries=0), stream=True)
    got = []
    with pytest.raises(sserpent.APITimeoutError):
        for c in s:
            got.append(c)
    assert len(got) == 2


@pytest.mark.parametrize("timeout", [0.4, httpx.Timeout(0.4)], ids=["seconds", "httpx.Timeout"])
def test_per_call_timeout_bounds_the_read_gap(server: MockServer, timeout: Any) -> None:
    """``create(..., timeout=...)`` replaces the client's read timeout for that call only."""
    c = client(server, timeout=60, max_retries=0)
    server.enqueue(stall_after=2, stall_for=5)
    got = []
    with pytest.raises(sserpent.APITimeoutError) as e:
        for chunk in chat(c, stream=True, timeout=timeout):
            got.append(chunk)
    assert len(got) == 2
    assert "no data received for 0.400s" in str(e.value)
    # The next call without one is back on the client's 60 s: a 0.6 s stall passes.
    server.enqueue(stall_after=2, stall_for=0.6)
    stalled = text_of(chat(c, stream=True))
    assert stalled and stalled == text_of(chat(c, stream=True))


def test_per_call_timeout_async(server: MockServer) -> None:
    async def main() -> Any:
        c = aclient(server, timeout=60, max_retries=0)
        server.enqueue(stall_after=1, stall_for=5)
        got = []
        try:
            async for chunk in await c.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, timeout=0.3
            ):
                got.append(chunk)
        except sserpent.APITimeoutError as e:
            return got, e
        return got, None

    got, exc = asyncio.run(main())
    assert len(got) == 1
    assert isinstance(exc, sserpent.APITimeoutError)
    assert "no data received for 0.300s" in str(exc)


def test_per_call_timeout_non_streamed(server: MockServer) -> None:
    server.enqueue(stall_after=0, stall_for=5, body=b'{"id": "x", "object": "chat.completion", "choices": []}')
    with pytest.raises(sserpent.APITimeoutError):
        chat(client(server, timeout=60, max_retries=0), timeout=0.3)


# --- chat.completions.create --------------------------------------------------------------------


def test_create_stream_returns_an_opened_stream(server: MockServer) -> None:
    s = chat(client(server), stream=True)
    assert isinstance(s, sserpent.Stream)
    assert len(server.requests) == 1  # the request went out at create time
    assert s.status == 200
    assert s.request_id == s.headers["x-request-id"]
    assert re.fullmatch(r"req_mock_\d{6}", s.request_id)
    assert s.headers["content-type"].startswith("text/event-stream")
    chunks = list(s)
    assert [c.choices[0].delta.content for c in chunks] == ["", *WORDS, None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    r = server.requests[0]
    assert (r.method, r.path) == ("POST", "/v1/chat/completions")
    assert r.headers["accept"] == "text/event-stream"
    assert r.json() == {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}


def test_create_stream_text_view_and_context_manager(server: MockServer) -> None:
    with chat(client(server), stream=True) as s:
        assert list(s.text()) == WORDS


def test_async_create_stream(server: MockServer) -> None:
    async def main() -> List[Any]:
        c = aclient(server)
        pending = chat(c, stream=True)
        assert inspect.isawaitable(pending)
        s = await pending
        assert isinstance(s, sserpent.Stream)
        assert s.status == 200
        assert len(server.requests) == 1
        return [ch.choices[0].delta.content async for ch in s]

    assert asyncio.run(main()) == ["", *WORDS, None]


def test_async_create_stream_text_and_async_with(server: MockServer) -> None:
    async def main() -> List[str]:
        s = await chat(aclient(server), stream=True)
        async with s:
            return [t async for t in s.text()]

    assert asyncio.run(main()) == WORDS


ERRORS = [
    (400, sserpent.BadRequestError),
    (401, sserpent.AuthenticationError),
    (403, sserpent.PermissionDeniedError),
    (404, sserpent.NotFoundError),
    (409, sserpent.ConflictError),
    (422, sserpent.UnprocessableEntityError),
    (429, sserpent.RateLimitError),
    (500, sserpent.InternalServerError),
    (503, sserpent.InternalServerError),
    (418, sserpent.APIStatusError),
]


@pytest.mark.parametrize("status,exc", ERRORS, ids=[str(s) for s, _ in ERRORS])
@pytest.mark.parametrize("stream", [True, False])
def test_http_errors_raise_at_create(server: MockServer, status: int, exc: type, stream: bool) -> None:
    body = {"error": {"message": f"failure {status}", "type": "invalid_request_error", "param": None,
                      "code": f"c{status}"}}
    server.enqueue(status=status, json=body, headers={"x-request-id": f"req_{status}"})
    with pytest.raises(exc) as e:
        chat(client(server, max_retries=0), stream=stream)
    assert type(e.value) is exc
    assert isinstance(e.value, sserpent.APIStatusError)
    assert e.value.status_code == status
    assert e.value.body == body
    assert e.value.request_id == f"req_{status}"
    assert f"failure {status}" in str(e.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status,exc", ERRORS, ids=[str(s) for s, _ in ERRORS])
@pytest.mark.parametrize("stream", [True, False])
def test_http_errors_raise_at_await_create(server: MockServer, status: int, exc: type, stream: bool) -> None:
    server.enqueue(status=status)

    async def main() -> None:
        pending = chat(aclient(server, max_retries=0), stream=stream)  # nothing raised before await
        with pytest.raises(exc) as e:
            await pending
        assert type(e.value) is exc
        assert e.value.status_code == status

    asyncio.run(main())


def test_http_error_class_matches_the_sdks(server: MockServer) -> None:
    """The SDK raises the class of the same name for the same status."""
    for status, exc in ERRORS:
        server.enqueue(status=status)
        with pytest.raises(openai.APIStatusError) as sdk:
            chat(openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0), stream=True)
        assert type(sdk.value).__name__ == exc.__name__, status


def test_stream_false_returns_the_json_as_chunk_objects(server: MockServer) -> None:
    resp = chat(client(server))
    assert isinstance(resp, sserpent.Chunk)
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == DEFAULT_TEXT
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.tool_calls is None
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.completion_tokens == 7
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + 7
    assert server.requests[-1].json() == {"model": "gpt-4o-mini", "messages": MESSAGES}
    chat(client(server), stream=False)
    assert server.requests[-1].json()["stream"] is False


def test_stream_false_equals_the_sdks_response(server: MockServer) -> None:
    server.enqueue(json={"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m",
                         "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                      "message": {"role": "assistant", "content": "Hi", "refusal": None}}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})
    resp = chat(client(server), n=1)
    sdk_body = server.requests[-1].json()
    assert resp.to_dict() == {
        "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "Hi", "refusal": None}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    assert sdk_body == {"model": "gpt-4o-mini", "messages": MESSAGES, "n": 1}


def test_async_stream_false(server: MockServer) -> None:
    async def main() -> Any:
        return await chat(aclient(server), n=2)

    resp = asyncio.run(main())
    assert [c.message.content for c in resp.choices] == [DEFAULT_TEXT, DEFAULT_TEXT]
    assert [c.index for c in resp.choices] == [0, 1]


# --- completions and responses -------------------------------------------------------------------


def test_completions_create(server: MockServer) -> None:
    c = client(server)
    s = c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say", stream=True, max_tokens=7)
    assert isinstance(s, sserpent.Stream)
    chunks = list(s)
    assert "".join(ch.choices[0].text for ch in chunks) == DEFAULT_TEXT
    assert chunks[-1].choices[0].finish_reason == "stop"
    r = server.requests[-1]
    assert r.path == "/v1/completions"
    assert r.json() == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say", "stream": True, "max_tokens": 7}
    assert list(c.completions.create(model="m", prompt="Say", stream=True).text()) == WORDS
    resp = c.completions.create(model="m", prompt="Say")
    assert resp.object == "text_completion"
    assert resp.choices[0].text == DEFAULT_TEXT


def test_responses_create(server: MockServer) -> None:
    c = client(server)
    s = c.responses.create(model="gpt-4.1-mini", input="Hi", stream=True)
    events = list(s)
    assert [e.type for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * 7,
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == DEFAULT_TEXT
    assert server.requests[-1].path == "/v1/responses"
    assert server.requests[-1].json() == {"model": "gpt-4.1-mini", "input": "Hi", "stream": True}
    assert list(c.responses.create(model="m", input="Hi", stream=True).text()) == WORDS
    resp = c.responses.create(model="m", input="Hi")
    assert resp.object == "response"
    assert resp.output[0].content[0].text == DEFAULT_TEXT


def test_async_completions_and_responses(server: MockServer) -> None:
    async def main() -> List[List[str]]:
        c = aclient(server)
        s1 = await c.completions.create(model="m", prompt="p", stream=True)
        s2 = await c.responses.create(model="m", input="p", stream=True)
        r = await c.responses.create(model="m", input="p")
        return [[t async for t in s1.text()], [t async for t in s2.text()], [r.output[0].content[0].text]]

    assert asyncio.run(main()) == [WORDS, WORDS, [DEFAULT_TEXT]]


# --- parameters pass through unchanged ---------------------------------------------------------

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city", "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False}}}]

SDK_PARAMS: Dict[str, Any] = dict(
    model="gpt-4o-mini",
    messages=[{"role": "system", "content": "Be brief. ünïcødé ✓"}, *MESSAGES],
    stream=True,
    stream_options={"include_usage": True},
    tools=TOOLS,
    tool_choice={"type": "function", "function": {"name": "get_weather"}},
    parallel_tool_calls=False,
    n=2,
    logprobs=True,
    top_logprobs=3,
    temperature=0.0,
    top_p=1,
    max_tokens=50,
    seed=42,
    stop=["\n\n", "END"],
    user="user-1",
    response_format={"type": "json_object"},
    logit_bias={"50256": -100},
    metadata={"k": "v"},
    presence_penalty=0.5,
)


def test_params_reach_the_server_unchanged(server: MockServer) -> None:
    s = chat(client(server), **SDK_PARAMS)
    assert server.requests[-1].json() == SDK_PARAMS
    f = s.final()  # n and include_usage are honoured by the mock
    assert [c.index for c in f.choices] == [0, 1]
    assert f.usage.completion_tokens == 14


def test_unknown_params_and_extras_reach_the_server_unchanged(server: MockServer) -> None:
    list(chat(
        client(server, default_query={"dq": "1"}),
        stream=True,
        reasoning_effort="low",
        future_param={"nested": [1, 2.5, None, True, "x"]},
        extra_body={"vendor": {"top_k": 40}, "min_p": 0.05},
        extra_headers={"X-Trace": "abc", "OpenAI-Beta": "assistants=v2"},
        extra_query={"api-version": "preview", "dq": "2"},
    ))
    r = server.requests[-1]
    assert r.json() == {
        "model": "gpt-4o-mini", "messages": MESSAGES, "stream": True, "reasoning_effort": "low",
        "future_param": {"nested": [1, 2.5, None, True, "x"]}, "vendor": {"top_k": 40}, "min_p": 0.05,
    }
    assert (r.headers["x-trace"], r.headers["openai-beta"]) == ("abc", "assistants=v2")
    assert r.query == "dq=2&api-version=preview"
    for name in ("extra_body", "extra_headers", "extra_query", "timeout"):
        assert name not in r.json()


def test_request_body_equals_the_sdks(server: MockServer) -> None:
    """The openai SDK and sserpent, given the same parameters (unknown ones by extra_body, the
    SDK's only way), send the same JSON body, query and extra headers."""
    params = dict(SDK_PARAMS, extra_body={"vendor": {"top_k": 40}}, extra_headers={"X-Trace": "t"},
                  extra_query={"x": "1"})
    list(chat(openai.OpenAI(api_key="k", base_url=server.base_url), **params))
    sdk = server.requests[-1]
    list(chat(client(server), **params))
    ss = server.requests[-1]
    assert ss.json() == sdk.json()
    assert ss.query == sdk.query == "x=1"
    assert ss.headers["x-trace"] == sdk.headers["x-trace"] == "t"


def test_sdk_sentinels_are_left_out(server: MockServer) -> None:
    """Code written for the SDK passes ``openai.NOT_GIVEN`` / ``openai.omit`` for parameters it
    does not set: they are not sent (and do not break JSON encoding)."""
    omit = getattr(openai, "omit", openai.NOT_GIVEN)  # openai.omit is newer than NOT_GIVEN
    list(chat(client(server), stream=True, tools=openai.NOT_GIVEN, n=omit, temperature=openai.NOT_GIVEN,
              extra_headers=openai.NOT_GIVEN, extra_body=openai.NOT_GIVEN, timeout=openai.NOT_GIVEN))
    assert server.requests[-1].json() == {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    list(chat(openai.OpenAI(api_key="k", base_url=server.base_url), stream=True, tools=openai.NOT_GIVEN, n=omit))
    assert server.requests[-1].json() == {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}


def test_none_is_sent_as_null(server: MockServer) -> None:
    list(chat(client(server), stream=True, stop=None, user=None))
    assert server.requests[-1].json() == {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
                                          "stop": None, "user": None}


# --- the API key never shows ---------------------------------------------------------------------


def assert_secret_free(*objs: Any) -> None:
    for obj in objs:
        for text in (repr(obj), str(obj)):
            assert SECRET not in text, text
        if isinstance(obj, BaseException):
            assert SECRET not in repr(obj.__dict__)
            assert SECRET.encode() not in pickle.dumps(obj)
            assert SECRET not in repr(obj.args)


def test_api_key_not_in_reprs_or_errors(server: MockServer) -> None:
    c = client(server, api_key=SECRET, max_retries=0)
    s = chat(c, stream=True)
    assert_secret_free(c, s, s.headers, s.metrics)
    list(s)
    assert_secret_free(s)

    server.enqueue(status=401)
    with pytest.raises(sserpent.AuthenticationError) as status_err:
        chat(c, stream=True)
    server.enqueue(status=500)
    with pytest.raises(sserpent.InternalServerError) as status_err2:
        chat(c)
    server.enqueue(events=[{"choices": []}, {"error": {"message": "boom", "type": "server_error"}}, "[DONE]"])
    with pytest.raises(sserpent.StreamError) as stream_err:
        list(chat(c, stream=True))
    server.enqueue(events=[{"choices": []}, "[DONE]"], cut_after=1)
    with pytest.raises(sserpent.IncompleteStreamError) as cut_err:
        list(chat(c, stream=True))
    server.enqueue(headers_delay=2)
    with pytest.raises(sserpent.APITimeoutError) as timeout_err:
        chat(client(server, api_key=SECRET, max_retries=0, timeout=0.1), stream=True)
    with pytest.raises(sserpent.APIConnectionError) as conn_err:
        chat(sserpent.OpenAI(api_key=SECRET, base_url="http://127.0.0.1:1/v1", max_retries=0), stream=True)
    errors = [status_err, status_err2, stream_err, cut_err, timeout_err, conn_err]
    assert_secret_free(*(e.value for e in errors))
    # the error objects' extra fields (body, headers) are secret-free as well
    assert_secret_free(status_err.value.body, status_err.value.headers)


def test_api_key_not_in_async_reprs_or_errors(server: MockServer) -> None:
    async def main() -> None:
        c = aclient(server, api_key=SECRET, max_retries=0)
        s = await chat(c, stream=True)
        assert_secret_free(c, s)
        server.enqueue(status=403)
        with pytest.raises(sserpent.PermissionDeniedError) as e:
            await chat(c, stream=True)
        assert_secret_free(e.value)

    asyncio.run(main())
