"""The rest of the openai surface: delegation to the official SDKs (``models``,
``embeddings``, ``files``, ``beta``, ``chat.completions.parse`` ...), ``responses.stream()``,
``with_streaming_response``, the mock server's ``/v1/models`` and ``/v1/embeddings``, and a
program written for the openai SDK run with only its import switched."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import sserpent
from sserpent._providers import _delegate
from sserpent.testing import MockServer

FIXTURES = Path(__file__).parent / "fixtures"
MESSAGES = [{"role": "user", "content": "Hello"}]
MOCK_TEXT = "Hello! This is the sserpent mock server."


@pytest.fixture()
def server() -> Any:
    with MockServer() as s:
        yield s


# --- a program written for the openai SDK ------------------------------------------------------


def program(sdk: Any, base_url: str) -> dict[str, Any]:
    """Streams with .stream(), lists the models, creates an embedding: only `sdk` differs."""
    client = sdk.OpenAI(api_key="sk-prog", base_url=base_url, max_retries=0)
    text = []
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta":
                text.append(event.delta)
        final = stream.get_final_completion()
    models = [m.id for m in client.models.list()]
    model = client.models.retrieve("gpt-4o-mini")
    emb = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"], dimensions=4)
    return {
        "text": "".join(text),
        "final": final.choices[0].message.content,
        "finish": final.choices[0].finish_reason,
        "models": models,
        "model": (model.id, model.owned_by),
        "embeddings": [d.embedding for d in emb.data],
        "usage": emb.usage.prompt_tokens,
    }


def test_an_openai_program_runs_with_only_its_import_switched(server: MockServer) -> None:
    with_sdk = program(openai, server.base_url)
    sdk_requests = [(r.method, r.path) for r in server.requests]
    server.reset()
    with_sserpent = program(sserpent, server.base_url)
    assert with_sserpent == with_sdk
    assert with_sserpent["text"] == with_sserpent["final"] == MOCK_TEXT
    assert with_sserpent["models"] == ["sserpent-mock", "gpt-4o-mini", "text-embedding-3-small"]
    assert with_sserpent["model"] == ("gpt-4o-mini", "sserpent")
    assert len(with_sserpent["embeddings"]) == 2 and all(len(v) == 4 for v in with_sserpent["embeddings"])
    assert with_sserpent["embeddings"][0] != with_sserpent["embeddings"][1]
    assert with_sserpent["usage"] == 3
    assert [(r.method, r.path) for r in server.requests] == sdk_requests == [
        ("POST", "/v1/chat/completions"), ("GET", "/v1/models"), ("GET", "/v1/models/gpt-4o-mini"),
        ("POST", "/v1/embeddings")]
    # The stream went through sserpent, the rest through the SDK, all with the same key.
    assert all(r.headers["authorization"] == "Bearer sk-prog" for r in server.requests)
    assert server.requests[0].headers["x-stainless-helper-method"] == "chat.completions.stream"
    assert "x-stainless-lang" not in server.requests[0].headers
    assert server.requests[1].headers["x-stainless-lang"] == "python"


def test_embeddings_are_deterministic_in_both_encodings(server: MockServer) -> None:
    client = sserpent.OpenAI(api_key="sk-x", base_url=server.base_url)
    as_float = client.embeddings.create(model="m", input="same text", encoding_format="float", dimensions=6)
    as_base64 = client.embeddings.create(model="m", input="same text", dimensions=6)  # the SDK asks base64
    again = client.embeddings.create(model="m", input="same text", dimensions=6)
    assert as_float.data[0].embedding == as_base64.data[0].embedding == again.data[0].embedding
    assert all(v * 1024 == int(v * 1024) and -1 <= v < 1 for v in as_float.data[0].embedding)
    with pytest.raises(openai.BadRequestError, match="'input' must be"):
        client.embeddings.create(model="m", input=5)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.models.retrieve("no-such-model")


# --- delegation --------------------------------------------------------------------------------


def test_the_sdk_client_gets_the_same_configuration(server: MockServer) -> None:
    client = sserpent.OpenAI(api_key="sk-conf", organization="org-1", project="proj-1", base_url=server.base_url,
                             timeout=12.5, max_retries=4, default_headers={"x-custom": "yes"},
                             default_query={"q": "1"})
    sdk = _delegate.sdk_client(client)
    assert type(sdk) is openai.OpenAI
    assert (sdk.api_key, sdk.organization, sdk.project, sdk.max_retries, sdk.timeout) == (
        "sk-conf", "org-1", "proj-1", 4, 12.5)
    assert str(sdk.base_url).rstrip("/") == server.base_url
    assert _delegate.sdk_client(client) is sdk  # built once
    client.models.list()
    r = server.requests[-1]
    assert (r.headers["authorization"], r.headers["openai-organization"], r.headers["openai-project"],
            r.headers["x-custom"]) == ("Bearer sk-conf", "org-1", "proj-1", "yes")
    assert r.query == "q=1"
    assert "sk-conf" not in repr(client)


def test_async_clients_delegate_to_the_async_sdk(server: MockServer) -> None:
    async def run() -> list[str]:
        client = sserpent.AsyncOpenAI(api_key="sk-a", base_url=server.base_url)
        assert type(_delegate.sdk_client(client)) is openai.AsyncOpenAI
        page = await client.models.list()
        return [m.id for m in page.data]

    assert asyncio.run(run()) == ["sserpent-mock", "gpt-4o-mini", "text-embedding-3-small"]


def test_every_client_delegates(server: MockServer) -> None:
    azure = sserpent.AzureOpenAI(api_key="az-k", azure_endpoint=server.url, api_version="2024-10-21")
    assert type(_delegate.sdk_client(azure)) is openai.AzureOpenAI
    assert [m.id for m in azure.models.list()][:1] == ["sserpent-mock"]
    r = server.requests[-1]
    assert (r.path, r.query, r.headers["api-key"]) == ("/openai/models", "api-version=2024-10-21", "az-k")
    assert type(_delegate.sdk_client(sserpent.AsyncAzureOpenAI(
        api_key="az-k", azure_endpoint=server.url, api_version="2024-10-21"))) is openai.AsyncAzureOpenAI
    claude = sserpent.Anthropic(api_key="sk-ant", base_url=server.url, max_retries=1, timeout=7.0)
    sdk = _delegate.sdk_client(claude)
    assert type(sdk) is anthropic.Anthropic and (sdk.api_key, sdk.max_retries, sdk.timeout) == ("sk-ant", 1, 7.0)
    assert type(_delegate.sdk_client(sserpent.AsyncAnthropic(api_key="sk-ant"))) is anthropic.AsyncAnthropic
    # Attributes of the resources, too: the SDK's bound methods.
    assert claude.messages.count_tokens.__self__ is sdk.messages
    oa = sserpent.OpenAI(api_key="sk-x", base_url=server.base_url)
    sdk_oa = _delegate.sdk_client(oa)
    assert oa.chat.completions.parse.__self__ is sdk_oa.chat.completions
    assert oa.responses.retrieve.__self__ is sdk_oa.responses
    assert oa.files is sdk_oa.files and oa.beta is sdk_oa.beta and oa.images is sdk_oa.images
    assert oa.audio is sdk_oa.audio and oa.batches is sdk_oa.batches


def test_what_is_native_stays_native(server: MockServer) -> None:
    client = sserpent.OpenAI(api_key="sk-x", base_url=server.base_url)
    assert isinstance(client.chat.completions.create(model="m", messages=MESSAGES, stream=True), sserpent.Stream)
    assert isinstance(client.responses.create(model="m", input="hi", stream=True), sserpent.Stream)
    assert "_sdk_client" not in vars(client)  # nothing delegated yet: no SDK client was built


def test_without_the_sdk_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(package: str) -> Any:
        raise ImportError(f"No module named {package!r}")

    monkeypatch.setattr(_delegate, "_module", missing)
    client = sserpent.OpenAI(api_key="sk-secret-key", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(AttributeError, match=r"'embeddings' is delegated .* pip install openai") as e:
        client.embeddings  # noqa: B018
    assert "sk-secret-key" not in str(e.value)
    with pytest.raises(AttributeError, match=r"'chat.completions.parse' .* pip install openai"):
        client.chat.completions.parse  # noqa: B018
    with pytest.raises(AttributeError, match="pip install anthropic"):
        sserpent.Anthropic(api_key="k").models  # noqa: B018
    # hasattr stays False-safe; private names never reach the SDK.
    assert not hasattr(client, "files")
    with pytest.raises(AttributeError, match="'OpenAI' object has no attribute '_nothing'"):
        client._nothing  # noqa: B018


def test_an_unknown_attribute_is_the_sdks_attribute_error(server: MockServer) -> None:
    client = sserpent.OpenAI(api_key="sk-x", base_url=server.base_url)
    with pytest.raises(AttributeError, match="no_such_thing"):
        client.no_such_thing  # noqa: B018


# --- responses.stream() ------------------------------------------------------------------------


def _responses_events(client: Any, server: MockServer) -> tuple[list[tuple], Any]:
    server.enqueue(sse_file=str(FIXTURES / "wire" / "openai_responses.sse"))
    out = []
    with client.responses.stream(model="gpt-4o", input="hi") as stream:
        for e in stream:
            extra = (getattr(e, "snapshot", None) if e.type.endswith(".delta") else
                     e.text if e.type == "response.output_text.done" else None)
            out.append((e.type, e.sequence_number, getattr(e, "delta", None), extra))
        final = stream.get_final_response()
    return out, final


def test_responses_stream_matches_the_sdk(server: MockServer) -> None:
    sdk_events, sdk_final = _responses_events(openai.OpenAI(api_key="k", base_url=server.base_url), server)
    ss_events, ss_final = _responses_events(sserpent.OpenAI(api_key="k", base_url=server.base_url), server)
    assert ss_events == sdk_events
    assert any(t == "response.output_text.delta" and snap for t, _, _, snap in ss_events)
    assert type(ss_final) is type(sdk_final)
    assert ss_final.model_dump() == sdk_final.model_dump()
    assert ss_final.output_text == sdk_final.output_text
    assert server.requests[-1].headers["x-stainless-helper-method"] == "responses.stream"


def test_responses_stream_async_and_function_call_snapshots(server: MockServer) -> None:
    async def run() -> tuple[list[Any], Any]:
        client = sserpent.AsyncOpenAI(api_key="k", base_url=server.base_url)
        async with client.responses.stream(model="m", input="hi") as stream:
            events = [e async for e in stream]
            return events, await stream.get_final_response()

    events, final = asyncio.run(run())
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert deltas and deltas[-1].snapshot == "".join(e.delta for e in deltas) == MOCK_TEXT
    assert events[-1].type == "response.completed" and events[-1].response is final
    assert final.output_text == MOCK_TEXT


def test_responses_stream_refuses_what_it_cannot_do() -> None:
    client = sserpent.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(TypeError, match=r"response_id=\.\.\."):
        client.responses.stream(response_id="resp_1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'stream'"):
        client.responses.stream(model="m", input="x", stream=True)


def test_responses_create_stream_unchanged(server: MockServer) -> None:
    client = sserpent.OpenAI(api_key="k", base_url=server.base_url)
    types_seen = [e.type for e in client.responses.create(model="m", input="hi", stream=True)]
    assert types_seen[0] == "response.created" and types_seen[-1] == "response.completed"


# --- with_streaming_response -------------------------------------------------------------------


def test_with_streaming_response_create(server: MockServer) -> None:
    client = sserpent.OpenAI(api_key="k", base_url=server.base_url)
    with client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES,
                                                                stream=True) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = response.parse()
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == MOCK_TEXT

    async def run() -> str:
        aclient = sserpent.AsyncOpenAI(api_key="k", base_url=server.base_url)
        async with aclient.responses.with_streaming_response.create(model="m", input="hi", stream=True) as r:
            assert r.status_code == 200
            s = await r.parse()
            return "".join([e.delta async for e in s if e.type == "response.output_text.delta"])

    assert asyncio.run(run()) == MOCK_TEXT
    with pytest.raises(TypeError, match="async with"):
        with sserpent.AsyncOpenAI(api_key="k").chat.completions.with_streaming_response.create(
                model="m", messages=MESSAGES):
            pass
