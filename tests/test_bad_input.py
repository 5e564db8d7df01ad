"""Bad arguments get a typed error naming the argument, before anything is sent: every numeric
argument of the public constructors and calls (negative, zero, NaN, infinite, bool, huge,
wrong type), JSON bodies holding NaN or infinities, and provider calls missing a required
argument (as the SDKs refuse them). The mock server must have received nothing."""

from __future__ import annotations

import asyncio
import math
from typing import Any, Callable

import httpx
import pytest
import sserpent
from sserpent.testing import MockServer

HUGE_INT = 10**30
HUGE_FLOAT = 1e300


@pytest.fixture
def server():
    with MockServer() as s:
        yield s
        assert s.requests == [], "a bad call reached the server"


# (value, exception type) for a positive number of seconds.
BAD_SECONDS = [
    (0, ValueError),
    (-1, ValueError),
    (-0.5, ValueError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    (HUGE_FLOAT, ValueError),
    (HUGE_INT, ValueError),
    (True, TypeError),
    ("abc", TypeError),
    ([1], TypeError),
]
# (value, exception type) for a count of at least 1.
BAD_SIZES = [
    (0, ValueError),
    (-1, ValueError),
    (HUGE_INT, ValueError),
    (-HUGE_INT, ValueError),
    (True, TypeError),
    (1.5, TypeError),
    ("8", TypeError),
]


def check(call: Callable[[], Any], exc: type, name: str) -> None:
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc
    assert name in str(info.value), str(info.value)


@pytest.mark.parametrize("value,exc", BAD_SECONDS, ids=repr)
@pytest.mark.parametrize("name", ["connect_timeout", "read_timeout", "timeout", "pool_idle_timeout"])
def test_client_timeouts(name, value, exc):
    check(lambda: sserpent.Client(**{name: value}), exc, name)


@pytest.mark.parametrize(
    "value,exc",
    [
        (-1, ValueError),
        (HUGE_INT, ValueError),
        (2**32, ValueError),
        (True, TypeError),
        (1.0, TypeError),
        ("2", TypeError),
    ],
    ids=repr,
)
def test_client_max_retries(value, exc):
    check(lambda: sserpent.Client(max_retries=value), exc, "max_retries")


@pytest.mark.parametrize("value,exc", BAD_SIZES, ids=repr)
def test_client_http2_max_streams(value, exc):
    check(lambda: sserpent.Client(http2_max_streams=value), exc, "http2_max_streams")


def test_good_numbers_are_accepted():
    c = sserpent.Client(connect_timeout=1, read_timeout=2.5, timeout=1e9, max_retries=0, pool_idle_timeout=0.1)
    assert isinstance(c, sserpent.Client)
    sserpent.Client(max_retries=2**32 - 1, http2_max_streams=1)


@pytest.mark.parametrize("value,exc", BAD_SIZES, ids=repr)
def test_per_call_sizes(server, value, exc):
    client = sserpent.Client(base_url=server.base_url)
    check(lambda: client.stream("POST", "/chat/completions", json={}, max_event_size=value), exc, "max_event_size")
    for method in ("request", "send", "arequest"):
        call = getattr(client, method)
        check(lambda call=call: call("POST", "/x", json={}, max_size=value), exc, "max_size")
    check(lambda: sserpent.Decoder(max_event_size=value), exc, "max_event_size")
    check(lambda: sserpent.iter_chunks([], max_event_size=value), exc, "max_event_size")
    check(lambda: sserpent.iter_events([], max_event_size=value), exc, "max_event_size")
    check(lambda: sserpent.ChunkParser(max_event_size=value), exc, "max_event_size")


@pytest.mark.parametrize("value,exc", BAD_SECONDS, ids=repr)
def test_per_call_seconds(server, value, exc):
    client = sserpent.Client(base_url=server.base_url)
    check(lambda: client.stream("POST", "/chat/completions", json={}, read_timeout=value), exc, "read_timeout")
    check(lambda: client.request("POST", "/x", json={}, read_timeout=value), exc, "read_timeout")
    stream = client.stream("POST", "/chat/completions", json={})
    check(lambda: stream.sse(ping=value), exc, "ping")


@pytest.mark.parametrize("value,exc", [(-1, ValueError), (True, TypeError), (1.5, TypeError)], ids=repr)
def test_sse_encode_retry(value, exc):
    check(lambda: sserpent.sse_encode("x", retry=value), exc, "retry")


# --- JSON bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [math.nan, math.inf, -math.inf, {"temperature": math.nan}, {"messages": [{"x": [1.0, math.inf]}]}], ids=repr
)
def test_nan_and_infinity_are_not_json(server, body):
    client = sserpent.Client(base_url=server.base_url)
    for call in (
        lambda: client.stream("POST", "/chat/completions", json=body),
        lambda: client.request("POST", "/chat/completions", json=body),
    ):
        with pytest.raises(ValueError, match="json= is not valid JSON: Out of range float values are not JSON"):
            call()


def test_nan_in_a_provider_call(server):
    client = sserpent.OpenAI(api_key="k", base_url=server.base_url)
    with pytest.raises(ValueError, match="not valid JSON"):
        client.chat.completions.create(model="m", messages=[], temperature=math.nan, stream=True)


def test_nan_from_a_restream_transform(server):
    server.enqueue(events=[{"choices": []}, "[DONE]"])
    server_ok = sserpent.Client(base_url=server.base_url)
    stream = server_ok.stream("POST", "/chat/completions", json={"stream": True})
    with pytest.raises(ValueError, match="Out of range float"):
        list(stream.sse(lambda chunk: {"score": math.nan}))
    server.reset()  # this one request was meant to reach the server


# --- provider clients ------------------------------------------------------------------------


PROVIDERS = {
    "openai": lambda base, **kw: sserpent.OpenAI(api_key="k", base_url=base, **kw),
    "async_openai": lambda base, **kw: sserpent.AsyncOpenAI(api_key="k", base_url=base, **kw),
    "azure": lambda base, **kw: sserpent.AzureOpenAI(
        api_key="k", azure_endpoint=base, api_version="2024-06-01", azure_deployment="d", **kw
    ),
    "anthropic": lambda base, **kw: sserpent.Anthropic(api_key="k", base_url=base, **kw),
}


@pytest.mark.parametrize("make", PROVIDERS.values(), ids=PROVIDERS.keys())
@pytest.mark.parametrize(
    "timeout,exc,name",
    [
        ("abc", TypeError, "timeout"),
        (True, TypeError, "timeout"),
        (-1, ValueError, "timeout"),
        (math.nan, ValueError, "timeout"),
        (math.inf, ValueError, "timeout"),
        (HUGE_INT, ValueError, "timeout"),
        (httpx.Timeout(1.0, connect="x"), TypeError, "timeout.connect"),
        (httpx.Timeout(1.0, read=-2.0), ValueError, "timeout.read"),
    ],
    ids=repr,
)
def test_provider_timeout(server, make, timeout, exc, name):
    check(lambda: make(server.base_url, timeout=timeout), exc, name)


@pytest.mark.parametrize("make", PROVIDERS.values(), ids=PROVIDERS.keys())
@pytest.mark.parametrize(
    "value,exc", [(-1, ValueError), (True, TypeError), (1.5, TypeError), (HUGE_INT, ValueError)], ids=repr
)
def test_provider_max_retries(server, make, value, exc):
    check(lambda: make(server.base_url, max_retries=value), exc, "max_retries")


@pytest.mark.parametrize("timeout,exc", [("abc", TypeError), (0, ValueError), (math.nan, ValueError)], ids=repr)
def test_per_call_timeout(server, timeout, exc):
    client = sserpent.OpenAI(api_key="k", base_url=server.base_url)
    check(
        lambda: client.chat.completions.create(model="m", messages=[], stream=True, timeout=timeout), exc, "timeout"
    )


MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "kwargs,missing",
    [
        ({"messages": MESSAGES}, "'model'"),
        ({"model": "m"}, "'messages'"),
        ({}, "'messages' and 'model'"),
    ],
)
def test_chat_create_needs_model_and_messages_as_in_the_sdk(server, kwargs, missing):
    openai = pytest.importorskip("openai")
    sdk = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0)
    with pytest.raises(TypeError):
        sdk.chat.completions.create(**kwargs, stream=True)
    for name in ("openai", "azure"):
        client = PROVIDERS[name](server.base_url)
        with pytest.raises(TypeError, match=f"Missing required arguments?: {missing}$"):
            client.chat.completions.create(**kwargs, stream=True)
    aclient = PROVIDERS["async_openai"](server.base_url)
    with pytest.raises(TypeError, match=missing):
        asyncio.run(aclient.chat.completions.create(**kwargs, stream=True))


def test_completions_create_needs_model_and_prompt(server):
    client = PROVIDERS["openai"](server.base_url)
    with pytest.raises(TypeError, match="Missing required argument: 'prompt'"):
        client.completions.create(model="m", stream=True)


@pytest.mark.parametrize(
    "kwargs,missing",
    [
        ({"model": "m", "messages": MESSAGES}, "'max_tokens'"),
        ({"max_tokens": 10, "messages": MESSAGES}, "'model'"),
        ({"max_tokens": 10, "model": "m"}, "'messages'"),
    ],
)
def test_anthropic_create_and_stream_need_their_arguments_as_in_the_sdk(server, kwargs, missing):
    anthropic = pytest.importorskip("anthropic")
    sdk = anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0)
    with pytest.raises(TypeError):
        sdk.messages.create(**kwargs, stream=True)
    client = PROVIDERS["anthropic"](server.base_url)
    with pytest.raises(TypeError, match=f"Missing required argument: {missing}$"):
        client.messages.create(**kwargs, stream=True)
    with pytest.raises(TypeError, match=missing):
        with client.messages.stream(**kwargs):
            pass


def test_sdk_sentinels_count_as_missing(server):
    openai = pytest.importorskip("openai")
    client = PROVIDERS["openai"](server.base_url)
    with pytest.raises(TypeError, match="'model'"):
        client.chat.completions.create(model=openai.NOT_GIVEN, messages=MESSAGES, stream=True)
