"""HTTP/2 over TLS, negotiated by ALPN, against a third-party server (hypercorn, whose HTTP/2
is the Python ``h2`` library, not the hyper stack sserpent uses).

``Client(http2=True)`` offers ``h2`` and ``http/1.1`` and speaks what the server picks; the
default client offers HTTP/1.1 alone. Streams to one origin share a TLS connection, up to
``http2_max_streams`` at once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import sserpent
from hypercorn.asyncio import serve
from hypercorn.config import Config
from live_helpers import WIRE
from test_credentials import _tls_material

SAMPLE = (WIRE / "openai_chat_usage.sse").read_bytes()
FRAMES = [f + b"\n\n" for f in SAMPLE.split(b"\n\n") if f]
CHUNKS = [json.loads(f[len("data: "):]) for f in FRAMES if f != b"data: [DONE]\n\n"]
BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


class SSEApp:
    """Answers every POST with the sample, an event per body message (so a DATA frame each),
    and records each request's HTTP version and client address."""

    def __init__(self) -> None:
        self.seen: List[Tuple[str, Tuple[str, int]]] = []
        # Clear: every stream waits after its first event until it is set (from the tests'
        # thread, hence a threading.Event, polled).
        self.released = threading.Event()
        self.released.set()

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen.append((scope["http_version"], tuple(scope["client"])))
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for i, frame in enumerate(FRAMES):
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            while i == 0 and not self.released.is_set():
                await asyncio.sleep(0.005)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@pytest.fixture(scope="module")
def h2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[str, Path, SSEApp]]:
    ca, cert, key = _tls_material(tmp_path_factory.mktemp("h2tls"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = str(cert), str(key)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.h2_max_concurrent_streams = 1000
    config.loglevel = "WARNING"
    loop = asyncio.new_event_loop()
    holder: Dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        # Made in the server's loop (before 3.10 an asyncio.Event binds the current loop).
        holder["stop"] = asyncio.Event()
        holder["app"] = SSEApp()
        loop.run_until_complete(serve(holder["app"], config, shutdown_trigger=holder["stop"].wait))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            threading.Event().wait(0.05)
    assert thread.is_alive(), "hypercorn did not start (see the thread's exception above)"
    try:
        yield f"https://127.0.0.1:{port}", ca, holder["app"]
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


@pytest.mark.parametrize("kwargs,version", [
    # The default offers HTTP/1.1 alone, as httpx and the openai SDK do, though the server
    # offers h2 (measured and decided in docs/performance.md, "HTTP/2 by default? (ALPN)").
    ({}, "HTTP/1.1"),
    ({"http2": False}, "HTTP/1.1"),
    ({"http1": True, "http2": False}, "HTTP/1.1"),
    ({"http2": True}, "HTTP/2"),
    ({"http1": False, "http2": True}, "HTTP/2"),
])
def test_alpn_picks_the_protocol(h2_server: Any, kwargs: Dict[str, bool], version: str) -> None:
    url, ca, app = h2_server
    app.seen.clear()
    client = sserpent.Client(base_url=url, verify=str(ca), max_retries=0, **kwargs)
    with client.stream("POST", "/v1/chat/completions", json=BODY) as stream:
        got = [c.to_dict() for c in stream]
        assert stream.http_version == version
    assert got == CHUNKS
    # The server's side: the ASGI scope's http_version of the one request.
    assert [v for v, _ in app.seen] == ["2" if version == "HTTP/2" else "1.1"]


@pytest.mark.parametrize("http2,version", [(None, "1.1"), (True, "2")])
@pytest.mark.parametrize("provider", ["OpenAI", "AzureOpenAI"])
def test_provider_clients_keep_the_default(h2_server: Any, provider: str, http2: Any, version: str) -> None:
    """The provider clients forward ``http2`` (default False): HTTP/1.1 against a server that
    offers h2, unless asked."""
    url, ca, app = h2_server
    app.seen.clear()
    kwargs: Dict[str, Any] = {"verify": str(ca), "max_retries": 0, "api_key": "sk-test"}
    if http2 is not None:
        kwargs["http2"] = http2
    if provider == "OpenAI":
        client: Any = sserpent.OpenAI(base_url=f"{url}/v1", **kwargs)
    else:
        client = sserpent.AzureOpenAI(azure_endpoint=url, api_version="2024-10-21", **kwargs)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=BODY["messages"], stream=True)
    assert [c.to_dict() for c in stream] == CHUNKS
    assert [v for v, _ in app.seen] == [version]


@pytest.mark.parametrize("cap,connections", [(100, 1), (10, 3)])
def test_concurrent_streams_share_tls_connections(h2_server: Any, cap: int, connections: int) -> None:
    url, ca, app = h2_server
    app.seen.clear()
    client = sserpent.Client(base_url=url, verify=str(ca), http2=True, http2_max_streams=cap,
                             max_retries=0)

    async def main() -> List[List[dict]]:
        # Every stream holds its place until all 30 are open at once.
        app.released.clear()
        streams = [client.stream("POST", "/v1/chat/completions", json=BODY) for _ in range(30)]
        try:
            firsts = [(await s.__anext__()).to_dict() for s in streams]
        finally:
            app.released.set()
        results = []
        for first, s in zip(firsts, streams):
            results.append([first] + [c.to_dict() async for c in s])
        return results

    assert asyncio.run(asyncio.wait_for(main(), 60)) == [CHUNKS] * 30
    assert [v for v, _ in app.seen] == ["2"] * 30
    # ceil(30 / cap) connections: one client address each.
    assert len({addr for _, addr in app.seen}) == connections


AZURE = {"azure_endpoint": "https://r.openai.azure.com", "api_version": "2024-10-21"}
PROVIDERS = {
    "OpenAI": lambda **kw: sserpent.OpenAI(api_key="sk-test", **kw),
    "AsyncOpenAI": lambda **kw: sserpent.AsyncOpenAI(api_key="sk-test", **kw),
    "AzureOpenAI": lambda **kw: sserpent.AzureOpenAI(api_key="k", **AZURE, **kw),
    "AsyncAzureOpenAI": lambda **kw: sserpent.AsyncAzureOpenAI(api_key="k", **AZURE, **kw),
    "Anthropic": lambda **kw: sserpent.Anthropic(api_key="sk-ant-test", **kw),
    "AsyncAnthropic": lambda **kw: sserpent.AsyncAnthropic(api_key="sk-ant-test", **kw),
    "genai.Client": lambda **kw: sserpent.genai.Client(api_key="g", **kw),
    "ollama.Client": lambda **kw: sserpent.ollama.Client(**kw),
    "ollama.AsyncClient": lambda **kw: sserpent.ollama.AsyncClient(**kw),
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_provider_client_offers_http1_only_by_default(name: str) -> None:
    """Their core client's repr names the protocols that differ from the default (HTTP/1.1 only)."""
    import sserpent.genai  # noqa: F401
    import sserpent.ollama  # noqa: F401

    assert "http2" not in repr(PROVIDERS[name]()._client)
    assert "http2=True" in repr(PROVIDERS[name](http2=True)._client)
