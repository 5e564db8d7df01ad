"""Cleartext HTTP/1.1 is read straight from the socket (``SSERPENT_HTTP1`` unset or ``direct``),
or through hyper (``SSERPENT_HTTP1=hyper``, what ``https://`` and proxies use): the server sees the
same requests from both, connections are reused alike, and a bad value is a clear error. (The
rest of the suite runs over the direct reader; ``scripts/test.sh`` runs the fault matrix over
hyper's too.)"""

from __future__ import annotations

import pytest
import sserpent
from sserpent.testing import MockServer

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def three_streams(server: MockServer) -> list[str]:
    client = sserpent.Client(base_url=server.base_url, headers={"authorization": "Bearer sk-secret"}, max_retries=0)
    texts = []
    for i in range(3):
        stream = client.stream("POST", "/chat/completions", json=BODY, headers={"x-mock-chunks": str(3 + i)})
        texts.append("".join(c.choices[0].delta.content or "" for c in stream))
        assert stream.http_version == "HTTP/1.1"
    return texts


def test_both_readers_send_the_same_requests_and_reuse_one_connection(monkeypatch):
    seen = {}
    for reader in ("direct", "hyper"):
        monkeypatch.setenv("SSERPENT_HTTP1", reader)
        with MockServer() as server:
            texts = three_streams(server)
            port = server.base_url.split(":")[2].split("/")[0]
            seen[reader] = (
                texts,
                [(r.method, r.path, r.body, {k: v for k, v in r.headers.items()}) for r in server.requests],
                len({r.connection_id for r in server.requests}),
                port,
            )
    (texts, requests, connections, port) = seen["direct"]
    assert texts == ["Hello! This is", "Hello! This is the", "Hello! This is the sserpent"]
    assert connections == 1, "sequential streams reuse the pooled connection"
    assert requests[0][3]["host"] == f"127.0.0.1:{port}"
    assert requests[0][3]["authorization"] == "Bearer sk-secret"
    assert requests[0][3]["accept-encoding"] == "gzip"
    hyper_texts, hyper_requests, hyper_connections, hyper_port = seen["hyper"]
    assert (texts, connections) == (hyper_texts, hyper_connections)
    # The same requests, field for field (the port differs: one server each).
    for ours, theirs in zip(requests, hyper_requests):
        theirs[3]["host"] = theirs[3]["host"].replace(hyper_port, port)
        assert ours[:3] == theirs[:3]
        assert ours[3] == theirs[3]


def test_an_unknown_reader_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SSERPENT_HTTP1", "fast")
    with pytest.raises(ValueError) as info:
        sserpent.Client(base_url="http://127.0.0.1:9/v1")
    assert str(info.value) == (
        'SSERPENT_HTTP1="fast" is not an HTTP/1.1 reader; allowed values: direct, hyper (unset or empty: direct)'
    )


def test_credentials_in_the_url_become_basic_auth_as_with_hyper():
    with MockServer() as server:
        base = server.base_url.replace("http://", "http://user:pa%20ss@")
        client = sserpent.Client(base_url=base, max_retries=0)
        chunks = list(client.stream("POST", "/chat/completions", json=BODY, headers={"x-mock-chunks": "2"}))
        assert len(chunks) == 4
        assert server.requests[0].headers["authorization"] == "Basic dXNlcjpwYSBzcw=="  # user:pa ss


def test_a_large_request_body_arrives_whole():
    # Past 64 KiB the body goes through hyper, which reads an early answer while it writes.
    long = dict(BODY, messages=[{"role": "user", "content": "x" * 200_000}])
    with MockServer() as server:
        client = sserpent.Client(base_url=server.base_url, max_retries=0)
        text = "".join(c.choices[0].delta.content or "" for c in client.stream(
            "POST", "/chat/completions", json=long, headers={"x-mock-chunks": "2"}))
        assert text == "Hello! This"
        assert server.requests[0].json()["messages"][0]["content"] == "x" * 200_000
