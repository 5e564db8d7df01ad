"""``sserpent.AzureOpenAI`` / ``sserpent.AsyncAzureOpenAI``: deployment URLs and the v1 path,
``api-key`` and Entra ID (bearer) auth, the Azure environment variables, and Azure's stream
shapes (a first chunk with empty ``choices`` and ``prompt_filter_results``, per-choice
``content_filter_results``, ``finish_reason: "content_filter"``) passing through unchanged.

Against the embedded mock server; the openai SDK's AzureOpenAI, pointed at the same server, is
the reference for paths, queries and auth headers.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any, Dict, List

import openai
import pytest
import sserpent
from sserpent.testing import MockServer

FIXTURES = Path(__file__).parent / "fixtures"
AZURE_CHAT = FIXTURES / "wire" / "azure_chat.sse"
CONTENT_FILTER = FIXTURES / "recorded" / "azure_chat_content_filter.sse"
AZURE_TEXT = "なぜコンピュータは寒い？"
WORDS = ["Hello!", " This", " is", " the", " sserpent", " mock", " server."]
DEFAULT_TEXT = "".join(WORDS)
MESSAGES = [{"role": "user", "content": "Hello"}]
VERSION = "2024-10-21"
SECRET = "azkey-TOPSECRET-0123456789abcdef"
TOKEN_SECRET = "eyJ0eXAi.TOPSECRET-TOKEN.sig"

ENV_VARS = ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION", "AZURE_OPENAI_AD_TOKEN",
            "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Any:
    with MockServer() as s:
        yield s


def azure(server: MockServer, cls: Any = sserpent.AzureOpenAI, **kw: Any) -> Any:
    if "base_url" not in kw:
        kw.setdefault("azure_endpoint", server.url)
    kw.setdefault("api_version", VERSION)
    if not {"azure_ad_token", "azure_ad_token_provider"} & set(kw):
        kw.setdefault("api_key", "az-key")
    return cls(**kw)


def chat(c: Any, **kw: Any) -> Any:
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("messages", MESSAGES)
    return c.chat.completions.create(**kw)


def text_of(chunks: List[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- URLs ----------------------------------------------------------------------------------------


def test_deployment_url_with_api_version(server: MockServer) -> None:
    s = chat(azure(server, azure_deployment="my-gpt4o"), stream=True)
    assert s.url.startswith(f"{server.url}/openai/deployments/my-gpt4o/chat/completions")
    assert list(s.text()) == WORDS
    r = server.requests[-1]
    assert (r.method, r.path, r.query) == ("POST", "/openai/deployments/my-gpt4o/chat/completions",
                                           f"api-version={VERSION}")
    assert r.json() == {"model": "gpt-4o", "messages": MESSAGES, "stream": True}


def test_deployment_from_model_without_azure_deployment(server: MockServer) -> None:
    c = azure(server)
    list(chat(c, model="deploy-a", stream=True))
    assert server.requests[-1].path == "/openai/deployments/deploy-a/chat/completions"
    list(chat(c, model="deploy-b", stream=True))
    assert server.requests[-1].path == "/openai/deployments/deploy-b/chat/completions"
    chat(c, model="deploy-c")  # stream=False
    assert server.requests[-1].path == "/openai/deployments/deploy-c/chat/completions"
    assert server.requests[-1].query == f"api-version={VERSION}"


def test_azure_deployment_wins_over_model(server: MockServer) -> None:
    list(chat(azure(server, azure_deployment="fixed"), model="other", stream=True))
    assert server.requests[-1].path == "/openai/deployments/fixed/chat/completions"
    assert server.requests[-1].json()["model"] == "other"


def test_no_deployment_and_no_model_raises(server: MockServer) -> None:
    # model is a required argument of create(), as in the SDK, checked before the deployment.
    with pytest.raises(TypeError, match="Missing required argument: 'model'"):
        azure(server).chat.completions.create(messages=MESSAGES, stream=True)
    with pytest.raises(sserpent.SserpentError, match="deployment"):
        azure(server).chat.completions.create(messages=MESSAGES, model="", stream=True)
    assert server.requests == []


def test_completions_and_responses_paths(server: MockServer) -> None:
    c = azure(server, azure_deployment="dep")
    assert list(c.completions.create(model="m", prompt="p", stream=True).text()) == WORDS
    assert server.requests[-1].path == "/openai/deployments/dep/completions"
    assert list(c.responses.create(model="m", input="p", stream=True).text()) == WORDS
    assert server.requests[-1].path == "/openai/responses"  # not a deployment endpoint
    assert server.requests[-1].query == f"api-version={VERSION}"


def test_v1_base_url(server: MockServer) -> None:
    c = sserpent.AzureOpenAI(base_url=server.url + "/openai/v1/", api_key="az-key")
    s = chat(c, model="gpt-4o-deployment", stream=True)
    assert list(s.text()) == WORDS
    r = server.requests[-1]
    assert (r.path, r.query) == ("/openai/v1/chat/completions", "")
    assert r.headers["api-key"] == "az-key"
    assert r.json()["model"] == "gpt-4o-deployment"
    chat(sserpent.AzureOpenAI(base_url=server.url + "/openai/v1", api_key="k", api_version="preview"))
    assert (server.requests[-1].path, server.requests[-1].query) == ("/openai/v1/chat/completions",
                                                                    "api-version=preview")
    list(c.responses.create(model="m", input="hi", stream=True))
    assert server.requests[-1].path == "/openai/v1/responses"


CONFIGS: Dict[str, Dict[str, Any]] = {
    "endpoint+deployment": dict(azure_deployment="dep"),
    "endpoint": dict(),
    "endpoint-trailing-slash": dict(azure_endpoint="{url}/"),
    "base_url-deployment": dict(base_url="{url}/openai/deployments/dd"),
    "base_url-openai": dict(base_url="{url}/openai"),
    "ad-token": dict(azure_ad_token="tok-1"),
    "token-provider": dict(azure_ad_token_provider=lambda: "tok-2"),
    "organization+default_query": dict(organization="org-9", default_query={"x": "1"}),
    "default_headers": dict(default_headers={"X-Ms-Client-Request-Id": "abc"}),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_requests_equal_the_sdks(server: MockServer, name: str) -> None:
    kw = {k: (v.format(url=server.url) if isinstance(v, str) else v) for k, v in CONFIGS[name].items()}
    got = []
    for mod in (openai, sserpent):
        c = azure(server, cls=mod.AzureOpenAI, **kw)
        list(chat(c, model="gpt-4o-mini", stream=True))
        c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        list(c.completions.create(model="gpt-4o-mini", prompt="p", stream=True))
        list(c.responses.create(model="gpt-4o-mini", input="p", stream=True))
        rs = server.requests[-4:]
        got.append([
            (r.path, r.query, r.json(),
             {h: r.headers.get(h) for h in ("api-key", "authorization", "openai-organization",
                                            "x-ms-client-request-id")})
            for r in rs
        ])
    sdk, ss = got
    assert ss == sdk


# --- auth ----------------------------------------------------------------------------------------


def test_api_key_header(server: MockServer) -> None:
    list(chat(azure(server, api_key="the-key"), stream=True))
    h = server.requests[-1].headers
    assert h["api-key"] == "the-key"
    assert "authorization" not in h


def test_azure_ad_token_is_a_bearer(server: MockServer) -> None:
    list(chat(azure(server, azure_ad_token="entra-token"), stream=True))
    h = server.requests[-1].headers
    assert h["authorization"] == "Bearer entra-token"
    assert "api-key" not in h


def test_token_provider_is_called_for_every_request(server: MockServer) -> None:
    calls: List[int] = []

    def provider() -> str:
        calls.append(1)
        return f"token-{len(calls)}"

    c = azure(server, azure_ad_token_provider=provider)
    assert calls == []
    list(chat(c, stream=True))
    chat(c)
    list(c.completions.create(model="m", prompt="p", stream=True))
    assert len(calls) == 3
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer token-1", "Bearer token-2",
                                                                     "Bearer token-3"]
    assert all("api-key" not in r.headers for r in server.requests)


def test_token_provider_async(server: MockServer) -> None:
    calls: List[int] = []

    def provider() -> str:
        calls.append(1)
        return f"t{len(calls)}"

    async def main() -> List[str]:
        c = azure(server, cls=sserpent.AsyncAzureOpenAI, azure_ad_token_provider=provider)
        s = await chat(c, stream=True)
        out = [t async for t in s.text()]
        await chat(c)
        return out

    assert asyncio.run(main()) == WORDS
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer t1", "Bearer t2"]


def test_missing_credentials_raise(server: MockServer) -> None:
    with pytest.raises(sserpent.SserpentError, match="AZURE_OPENAI_API_KEY"):
        sserpent.AzureOpenAI(azure_endpoint=server.url, api_version=VERSION)
    with pytest.raises(sserpent.SserpentError, match="azure_endpoint"):
        sserpent.AzureOpenAI(api_key="k", api_version=VERSION)
    with pytest.raises(sserpent.SserpentError, match="OPENAI_API_VERSION"):
        sserpent.AzureOpenAI(api_key="k", azure_endpoint=server.url)


# --- environment ---------------------------------------------------------------------------------


def test_environment_variables(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    c = sserpent.AzureOpenAI()
    assert c.api_version == "2024-06-01"
    assert list(chat(c, model="dep-env", stream=True).text()) == WORDS
    r = server.requests[-1]
    assert (r.path, r.query, r.headers["api-key"]) == ("/openai/deployments/dep-env/chat/completions",
                                                       "api-version=2024-06-01", "env-key")
    # the SDK reads the same variables into the same request
    list(chat(openai.AzureOpenAI(), model="dep-env", stream=True))
    sdk = server.requests[-1]
    assert (sdk.path, sdk.query, sdk.headers["api-key"]) == (r.path, r.query, r.headers["api-key"])


def test_arguments_beat_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    list(chat(sserpent.AzureOpenAI(api_key="arg-key", azure_endpoint=server.url, api_version="2025-01-01"),
              stream=True))
    r = server.requests[-1]
    assert (r.query, r.headers["api-key"]) == ("api-version=2025-01-01", "arg-key")


def test_ad_token_from_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "env-token")
    list(chat(sserpent.AzureOpenAI(azure_endpoint=server.url, api_version=VERSION), stream=True))
    assert server.requests[-1].headers["authorization"] == "Bearer env-token"


def test_async_client_uses_the_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("OPENAI_API_VERSION", VERSION)

    async def main() -> str:
        s = await chat(sserpent.AsyncAzureOpenAI(), stream=True)
        return "".join([t async for t in s.text()])

    assert asyncio.run(main()) == DEFAULT_TEXT
    assert server.requests[-1].headers["api-key"] == "env-key"


# --- Azure's stream shapes ------------------------------------------------------------------------


def test_azure_chat_sample_passes_through(server: MockServer) -> None:
    server.enqueue(sse_file=str(AZURE_CHAT))
    chunks = list(chat(azure(server), stream=True))
    assert len(chunks) == 8
    first = chunks[0]
    assert first.choices == []
    assert (first.id, first.model, first.object, first.created) == ("", "", "", 0)
    pfr = first.prompt_filter_results
    assert pfr[0].prompt_index == 0
    assert {k: (v.filtered, v.severity) for k, v in pfr[0].content_filter_results.items()} == {
        "hate": (False, "safe"), "self_harm": (False, "safe"), "sexual": (False, "safe"),
        "violence": (False, "safe")}
    assert chunks[1].choices[0].content_filter_results.to_dict() == {}
    assert chunks[2].choices[0].content_filter_results.violence.severity == "safe"
    assert chunks[1].choices[0].delta.role == "assistant"
    assert text_of(chunks) == AZURE_TEXT
    assert chunks[-1].choices[0].finish_reason == "stop"
    # every chunk reads exactly as its JSON
    raw_events = [e for e in AZURE_CHAT.read_text(encoding="utf-8").split("\n\n") if e.startswith("data: {")]
    assert [c.to_dict() for c in chunks] == [json.loads(e[len("data: "):]) for e in raw_events]


def test_text_skips_chunks_without_choices(server: MockServer) -> None:
    server.enqueue(sse_file=str(AZURE_CHAT))
    assert list(chat(azure(server), stream=True).text()) == ["なぜ", "コンピュータ", "は", "寒い", "？"]


def test_text_skips_chunks_without_choices_async(server: MockServer) -> None:
    server.enqueue(sse_file=str(AZURE_CHAT))

    async def main() -> List[str]:
        s = await chat(azure(server, cls=sserpent.AsyncAzureOpenAI), stream=True)
        return [t async for t in s.text()]

    assert asyncio.run(main()) == ["なぜ", "コンピュータ", "は", "寒い", "？"]


def test_mock_azure_default_stream(server: MockServer) -> None:
    """The mock's own Azure answer starts with the prompt-filter chunk too."""
    chunks = list(chat(azure(server, azure_deployment="d"), stream=True))
    assert chunks[0].choices == [] and chunks[0].prompt_filter_results[0].prompt_index == 0
    assert text_of(chunks) == DEFAULT_TEXT
    assert list(chat(azure(server, azure_deployment="d"), stream=True).text()) == WORDS
    assert chat(azure(server, azure_deployment="d"), stream=True).final().text == DEFAULT_TEXT


def test_content_filter_finish_passes_through(server: MockServer) -> None:
    server.enqueue(sse_file=str(CONTENT_FILTER))
    chunks = list(chat(azure(server), stream=True))
    assert len(chunks) == 5
    assert chunks[0].prompt_filter_results[0].content_filter_results.jailbreak.detected is False
    last = chunks[-1].choices[0]
    assert last.finish_reason == "content_filter"
    assert (last.content_filter_results.violence.filtered, last.content_filter_results.violence.severity) == (
        True, "medium")
    assert last.content_filter_results.hate.filtered is False
    assert text_of(chunks) == "The duel began at dawn"

    server.enqueue(sse_file=str(CONTENT_FILTER))
    assert list(chat(azure(server), stream=True).text()) == ["The duel", " began at dawn"]
    server.enqueue(sse_file=str(CONTENT_FILTER))
    final = chat(azure(server), stream=True).final()
    assert (final.text, final.finish_reason, final.role) == ("The duel began at dawn", "content_filter", "assistant")


def test_content_filter_error_at_create(server: MockServer) -> None:
    """A prompt rejected by the filter: HTTP 400 with Azure's error body, raised at create."""
    body = {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                                 "content management policy.", "type": None, "param": "prompt",
                      "code": "content_filter", "status": 400,
                      "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                          "violence": {"filtered": True, "severity": "high"}}}}}
    server.enqueue(status=400, json=body, headers={"apim-request-id": "apim-1"})
    with pytest.raises(sserpent.BadRequestError) as e:
        chat(azure(server, max_retries=0), stream=True)
    assert e.value.body == body
    assert e.value.body["error"]["code"] == "content_filter"
    assert e.value.headers["apim-request-id"] == "apim-1"


def test_stream_false(server: MockServer) -> None:
    resp = chat(azure(server, azure_deployment="dep"))
    assert resp.choices[0].message.content == DEFAULT_TEXT
    assert resp.choices[0].content_filter_results.hate.filtered is False
    assert resp.prompt_filter_results[0].prompt_index == 0
    assert server.requests[-1].headers["accept"] != "text/event-stream"


# --- secrets -------------------------------------------------------------------------------------


def assert_secret_free(*objs: Any) -> None:
    for obj in objs:
        for secret in (SECRET, TOKEN_SECRET):
            assert secret not in repr(obj) and secret not in str(obj)
            if isinstance(obj, BaseException):
                assert secret not in repr(obj.__dict__)
                assert secret.encode() not in pickle.dumps(obj)


def test_key_and_token_not_in_reprs_or_errors(server: MockServer) -> None:
    for kw in (dict(api_key=SECRET), dict(azure_ad_token=TOKEN_SECRET),
               dict(azure_ad_token_provider=lambda: TOKEN_SECRET)):
        c = azure(server, max_retries=0, **kw)
        s = chat(c, stream=True)
        assert_secret_free(c, s, s.headers)
        server.enqueue(status=401)
        with pytest.raises(sserpent.AuthenticationError) as e:
            chat(c, stream=True)
        server.enqueue(status=429)
        with pytest.raises(sserpent.RateLimitError) as e2:
            chat(c)
        server.enqueue(events=[{"choices": []}, "[DONE]"], cut_after=1)
        with pytest.raises(sserpent.IncompleteStreamError) as e3:
            list(chat(c, stream=True))
        assert_secret_free(e.value, e2.value, e3.value)
