"""HTTP/2 streams past a server's cap on concurrent streams per connection.

A server caps the streams open at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS,
often 100 to 250), and hyper queues a stream past the cap until another ends instead of opening
a connection. sserpent opens another connection for every ``http2_max_streams`` streams open at
once, so no stream waits on another's end.
"""

from __future__ import annotations

import asyncio

import pytest
import sserpent
from sserpent.testing import MockServer

BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def open_all(client: sserpent.Client, n: int, timeout: float) -> list[sserpent.Stream]:
    """Opens ``n`` streams that stall after their first chunk and stay open; each must get
    its response head within ``timeout`` seconds (a stream queued behind the others never does)."""
    streams = [client.stream("POST", "/chat/completions", json=BODY) for _ in range(n)]
    await asyncio.wait_for(asyncio.gather(*(s.aopen() for s in streams)), timeout)
    return streams


@pytest.mark.parametrize("cap", [1, 3])
def test_streams_past_the_cap_open_another_connection(cap: int) -> None:
    with MockServer(http2_max_concurrent_streams=3) as server:
        n = 7
        for _ in range(n):
            server.enqueue(stall_after=1)
        client = sserpent.Client(base_url=server.base_url, http1=False, http2=True,
                                 http2_max_streams=cap, max_retries=0)

        async def main() -> None:
            streams = await open_all(client, n, timeout=20)
            assert [s.http_version for s in streams] == ["HTTP/2"] * n
            for s in streams:
                await s.aclose()

        asyncio.run(main())
        records = server.connections
        assert len(records) == n and all(r.http_version == "HTTP/2" for r in records)
        per_peer: dict[str, int] = {}
        for r in records:
            per_peer[r.peer] = per_peer.get(r.peer, 0) + 1
        # ceil(7 / cap) connections, none carrying more than `cap` streams.
        assert len(per_peer) == -(-n // cap)
        assert max(per_peer.values()) == cap


def test_a_cap_above_the_servers_queues_streams_behind_it() -> None:
    """What the pools prevent: with more streams allowed per connection than the server takes,
    the streams past the server's cap wait for a slot (hyper's behaviour)."""
    with MockServer(http2_max_concurrent_streams=2) as server:
        for _ in range(3):
            server.enqueue(stall_after=1)
        client = sserpent.Client(base_url=server.base_url, http1=False, http2=True,
                                 http2_max_streams=100, max_retries=0)

        async def main() -> None:
            streams = [client.stream("POST", "/chat/completions", json=BODY) for _ in range(3)]
            opened = [asyncio.ensure_future(s.aopen()) for s in streams]
            # (The third HEADERS may go out before the server's SETTINGS arrive; the server
            # then refuses that stream and hyper retries it once a slot is free: either way
            # it waits behind the others.)
            done, pending = await asyncio.wait(opened, timeout=2)
            # Two streams are open on the one connection; the third waits for a slot.
            assert len(done) == 2 and len(pending) == 1
            assert len(server.requests) == 2
            for s in streams:
                await s.aclose()
            await asyncio.gather(*opened, return_exceptions=True)

        asyncio.run(main())
        assert len({r.peer for r in server.connections}) == 1


def test_http2_max_streams_must_be_positive() -> None:
    with pytest.raises(ValueError, match="http2_max_streams must be an int from 1 to"):
        sserpent.Client(http1=False, http2=True, http2_max_streams=0)
    with pytest.raises(ValueError, match="http2_max_concurrent_streams must be at least 1"):
        MockServer(http2_max_concurrent_streams=0)


@pytest.mark.parametrize("provider", ["openai", "azure", "anthropic"])
def test_provider_clients_take_the_protocol_flags(provider: str) -> None:
    with MockServer() as server:
        common = {"http1": False, "http2": True, "max_retries": 0}
        if provider == "openai":
            client: object = sserpent.OpenAI(api_key="sk-test", base_url=server.base_url, **common)
            make = lambda: client.chat.completions.create(  # noqa: E731
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True)
        elif provider == "azure":
            client = sserpent.AzureOpenAI(api_key="az-test", azure_endpoint=server.url,
                                          api_version="2024-10-21", **common)
            make = lambda: client.chat.completions.create(  # noqa: E731
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True)
        else:
            client = sserpent.Anthropic(api_key="sk-ant-test", base_url=server.url, **common)
            make = lambda: client.messages.create(  # noqa: E731
                model="claude-x", max_tokens=16, messages=[{"role": "user", "content": "hi"}],
                stream=True)
        stream = make()
        events = list(stream)
        assert events and stream.http_version == "HTTP/2"
        assert [c.http_version for c in server.connections] == ["HTTP/2"]


def test_client_repr_names_the_protocols_and_no_secret() -> None:
    secret = {"authorization": "Bearer sk-REPR-SECRET"}
    assert repr(sserpent.Client(base_url="http://u:pw@h/v1", headers=secret)) == 'Client(base_url="http://h/v1")'
    assert repr(sserpent.Client(http2=True)) == "Client(http2=True)"
    assert (repr(sserpent.Client(base_url="http://h/v1", http1=False, http2=True, http2_max_streams=8))
            == 'Client(base_url="http://h/v1", http1=False, http2=True, http2_max_streams=8)')
    assert repr(sserpent.Client()) == "Client()"
