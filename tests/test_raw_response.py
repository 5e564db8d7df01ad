"""``with_raw_response.create(...)`` as in the openai and anthropic SDKs: the same replies served
to the SDK and to sserpent give the same ``status_code``, headers, ``request_id``,
``retries_taken`` and ``parse()`` result, streamed and not, sync and async; errors raise as
``create`` raises them.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Callable

import anthropic
import openai
import pytest
import sserpent
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
MESSAGES = [{"role": "user", "content": "Hello"}]
HEADERS = {"x-request-id": "req_raw_1", "request-id": "req_raw_1", "x-ratelimit-remaining-requests": "4999"}
COMPLETION = {
    "id": "chatcmpl-raw", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
}
MESSAGE = {
    "id": "msg_raw", "type": "message", "role": "assistant", "model": "claude-test",
    "content": [{"type": "text", "text": "Hi there."}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 3},
}


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


def clients(server: MockServer, kind: str, is_async: bool, retries: int = 0) -> tuple:
    if kind == "openai":
        sdk_cls = openai.AsyncOpenAI if is_async else openai.OpenAI
        ss_cls = sserpent.AsyncOpenAI if is_async else sserpent.OpenAI
        kw: dict = {"api_key": "sk-test", "base_url": server.base_url}
    elif kind == "azure":
        sdk_cls = openai.AsyncAzureOpenAI if is_async else openai.AzureOpenAI
        ss_cls = sserpent.AsyncAzureOpenAI if is_async else sserpent.AzureOpenAI
        kw = {"api_key": "az-test", "azure_endpoint": server.url, "api_version": "2024-10-21"}
    else:
        sdk_cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
        ss_cls = sserpent.AsyncAnthropic if is_async else sserpent.Anthropic
        kw = {"api_key": "k", "base_url": server.url}
    return sdk_cls(max_retries=retries, **kw), ss_cls(max_retries=retries, **kw)


def raw_create(client: Any, kind: str, stream: bool) -> Any:
    if kind == "anthropic":
        return client.messages.with_raw_response.create(model="claude-test", max_tokens=64,
                                                        messages=MESSAGES, stream=stream)
    return client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES,
                                                            stream=stream)


def run(is_async: bool, fn: Callable[[], Any]) -> Any:
    return asyncio.run(fn()) if is_async else fn()


def enqueue(server: MockServer, kind: str, stream: bool, times: int = 1) -> None:
    if stream:
        name = "anthropic_messages" if kind == "anthropic" else "openai_chat_usage"
        server.enqueue(sse_file=str(WIRE / f"{name}.sse"), headers=HEADERS, times=times)
    else:
        server.enqueue(json=MESSAGE if kind == "anthropic" else COMPLETION, headers=HEADERS, times=times)


def dump(obj: Any) -> Any:
    return obj.model_dump(exclude_unset=True)


def read(raw: Any, stream: bool) -> Any:
    """The raw response's parse(), as plain data (every item of a stream)."""
    parsed = raw.parse()
    return [dump(c) for c in parsed] if stream else dump(parsed)


async def aread(raw: Any, stream: bool) -> Any:
    parsed = raw.parse()
    if asyncio.iscoroutine(parsed):  # the anthropic SDK's async parse()
        parsed = await parsed
    return [dump(c) async for c in parsed] if stream else dump(parsed)


@pytest.mark.parametrize("kind", ["openai", "azure", "anthropic"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_same_as_the_sdk(server: MockServer, kind: str, is_async: bool, stream: bool) -> None:
    results = []
    for client in clients(server, kind, is_async):
        enqueue(server, kind, stream)

        async def go_async(client: Any = client) -> tuple:
            raw = await raw_create(client, kind, stream)
            closed_before = raw.is_closed
            return raw, closed_before, await aread(raw, stream)

        if is_async:
            raw, closed_before, data = asyncio.run(go_async())
        else:
            raw = raw_create(client, kind, stream)
            closed_before = raw.is_closed
            data = read(raw, stream)
        results.append((raw.status_code, raw.headers.get("x-ratelimit-remaining-requests"),
                        raw.headers.get("X-Request-Id"), raw.request_id, raw.retries_taken, data,
                        raw.http_version, (closed_before, raw.is_closed)))
        body = server.requests[-1].json()
        assert body["stream"] is stream if "stream" in body else not stream
    sdk, ours = results
    if kind == "anthropic" and stream:
        sdk = sdk[:5] + ([e for e in sdk[5] if e["type"] != "ping"],) + sdk[6:]  # sserpent skips pings
    assert ours == sdk
    assert ours[:5] == (200, "4999", "req_raw_1", "req_raw_1", 0)
    # Open until a streamed body was read to its end; a whole body was read at once.
    assert ours[6:] == ("HTTP/1.1", (not stream, True))
    assert len(ours[5]) >= (5 if stream else 1)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_retries_taken_counts_the_retried_attempts(server: MockServer, is_async: bool) -> None:
    taken = []
    for client in clients(server, "openai", is_async, retries=2):
        server.enqueue(status=503, json={"error": {"message": "busy"}}, headers={"retry-after-ms": "1"})
        enqueue(server, "openai", False)

        async def go(client: Any = client) -> Any:
            return await raw_create(client, "openai", False)

        raw = run(is_async, go) if is_async else raw_create(client, "openai", False)
        taken.append((raw.retries_taken, raw.parse().choices[0].message.content))
    assert taken[1] == taken[0] == (1, "Hi there.")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_http_errors_raise_as_create_raises_them(server: MockServer, is_async: bool) -> None:
    _, client = clients(server, "openai", is_async)
    server.enqueue(status=429, json={"error": {"message": "slow down", "type": "rate_limit"}},
                   headers={"x-request-id": "req_429"})

    async def go() -> Any:
        return await raw_create(client, "openai", True)

    with pytest.raises(sserpent.RateLimitError) as e:
        run(is_async, go) if is_async else raw_create(client, "openai", True)
    assert (e.value.status_code, e.value.request_id) == (429, "req_429")
    assert e.value.body == {"error": {"message": "slow down", "type": "rate_limit"}}


def test_body_accessors_and_repr(server: MockServer) -> None:
    _, client = clients(server, "openai", False)
    enqueue(server, "openai", False)
    raw = raw_create(client, "openai", False)
    assert repr(raw) == "<RawResponse [200] body>"
    assert raw.request_id == "req_raw_1"
    assert (raw.method, raw.url) == ("POST", server.base_url + "/chat/completions")
    assert raw.elapsed.total_seconds() > 0
    assert json.loads(raw.text) == COMPLETION == raw.json()
    assert raw.content == raw.text.encode()
    assert raw.parse() is raw.parse()
    enqueue(server, "openai", True)
    raw = raw_create(client, "openai", True)
    assert repr(raw) == "<RawResponse [200] stream>"
    with pytest.raises(TypeError, match="a streaming response's body is read by iterating parse"):
        _ = raw.text
    assert isinstance(raw.parse(), sserpent.Stream)
    assert 0 < raw.elapsed.total_seconds()
    assert "".join(raw.parse().text()) == json.loads((WIRE / "openai_chat_usage.expected.json").read_text())["text"]


def test_anthropic_shape(server: MockServer) -> None:
    sdk, ours = clients(server, "anthropic", False)
    enqueue(server, "anthropic", False)
    raw = raw_create(ours, "anthropic", False)
    assert isinstance(raw, sserpent.AnthropicRawResponse)
    assert json.loads(raw.text()) == MESSAGE == raw.json() == json.loads(raw.read())
    assert raw.parse().content[0].text == "Hi there."
    server.enqueue(json=MESSAGE, headers={"request-id": "req_anthropic"})
    assert raw_create(ours, "anthropic", False).request_id == "req_anthropic"

    async def go() -> Any:
        _, aours = clients(server, "anthropic", True)
        enqueue(server, "anthropic", False)
        raw = await raw_create(aours, "anthropic", False)
        assert isinstance(raw, sserpent.AsyncAnthropicRawResponse)
        return (await raw.parse()).content[0].text, await raw.json(), json.loads(await raw.text())

    assert asyncio.run(go()) == ("Hi there.", MESSAGE, MESSAGE)


def test_a_body_that_is_not_an_object(server: MockServer) -> None:
    _, client = clients(server, "openai", False)
    server.enqueue(json=[{"a": 1, "b": [None, "é"]}, 2])
    raw = raw_create(client, "openai", False)
    assert raw.json() == [{"a": 1, "b": [None, "é"]}, 2]
    assert raw.text == '[{"a":1,"b":[null,"é"]},2]'
    assert raw.parse()[0].a == 1


def test_close_closes_a_streamed_response_at_once(server: MockServer) -> None:
    _, client = clients(server, "openai", False)
    server.enqueue(sse_file=str(WIRE / "openai_chat_usage.sse"), delay=0.2)
    raw = raw_create(client, "openai", True)
    next(iter(raw.parse()))
    raw.close()
    conn_id = server.requests[-1].connection_id
    assert server.wait_closed(conn_id, timeout=5), "the connection is still open after 5 s"
    assert next(c for c in server.connections if c.id == conn_id).closed_by == "client"


CHUNKS = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
           "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in "abc"] + ["[DONE]"]


def test_is_closed_stays_false_while_streamed_chunks_are_left_to_read(server: MockServer) -> None:
    got = []
    for client in clients(server, "openai", False):
        server.enqueue(events=CHUNKS)
        raw = client.chat.completions.with_raw_response.create(model="m", messages=[], stream=True)
        it = iter(raw.parse())
        next(it)
        # Let the whole (small) body arrive, with two chunks still unread: sserpent's reader
        # task records the body's end; the SDK reads on demand.
        if isinstance(raw, sserpent.RawResponse):
            deadline = time.monotonic() + 5
            while raw._stream.metrics.duration is None and time.monotonic() < deadline:
                time.sleep(0.005)
            assert raw._stream.metrics.duration is not None
        got.append((raw.is_closed, len(list(it)), raw.is_closed))
    sdk, ours = got
    assert ours == sdk == (False, 2, True)
