"""Test helpers: an embedded mock LLM server, written in Rust, and a pytest fixture.

:class:`MockServer` listens on loopback (an ephemeral port by default) and runs on its own
threads, so a test talks to it with any HTTP client, sync or async::

    from sserpent.testing import MockServer

    with MockServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.requests[0].json()["model"] == "gpt-4o-mini"

With no scripted response queued it answers like the providers, by path (POST):

- ``*/chat/completions``: OpenAI chat completions (streamed when ``"stream": true``, honouring
  ``n`` and ``stream_options.include_usage``); Azure's shapes under ``/openai/...``;
- ``*/completions``: legacy text completions; ``*/responses``: the Responses API;
- ``*/messages``: Anthropic Messages;
- ``/20231130/actions/generateText`` and ``/20231130/actions/chat``: OCI Generative AI
  (``chatRequest.apiFormat`` GENERIC or COHERE);
- anything else: 404 with an OpenAI-style error body.

``MockServer(oci_public_key=pem)`` (or :meth:`MockServer.require_oci_signature`) makes the OCI
paths check OCI request signatures (``rsa-sha256``, the signed headers present, ``x-content-sha256``
matching the body) and answer 401 ``NotAuthenticated`` otherwise; each request records the outcome
(``oci_signature_valid``, ``oci_signature_error``, ``oci_key_id``).

Request headers set the load: ``x-mock-chunks: N`` content chunks, ``x-mock-interval-ms: F``
between events, ``x-mock-timestamps: 1`` adds ``"x_sent_ns"`` (``time.time_ns()`` clock, taken
just before the write) to every content chunk.

:meth:`MockServer.enqueue` queues scripted responses and faults, used first in first out::

    server.enqueue(status=429, headers={"retry-after": "0"})    # then the default answer
    server.enqueue(sse_file="tests/fixtures/wire/azure_chat.sse", delay=0.01)
    server.enqueue(events=[{"choices": []}, "[DONE]"], cut_after=1, cut_mid_event=True)
    server.enqueue(stall_after=2, keepalive=0.5)                 # until the client leaves
    server.enqueue(stall_after=2, keepalive=0.1, stall_for=1.0)  # then the rest of the body
    server.enqueue(close_before_headers=True, reset=True)

Events: a dict is sent as ``data: <json>``, a str as ``data: <str>``, bytes as they are; a
dict with only ``event``/``data``/``id``/``retry`` keys (or a :class:`sserpent.Event`) as
that event. Without a body source a scripted response uses the default answer (or, for a
status of 400 and above, an OpenAI-style error body), with the scripted status, headers and
faults.

Records: :attr:`MockServer.requests` (:class:`MockRequest`), :attr:`MockServer.connections`
(:class:`MockConnection` snapshots) and :meth:`MockServer.wait_closed`.

HTTP/1.1 and cleartext HTTP/2 with prior knowledge (``sserpent.Client(http1=False,
http2=True)``, ``httpx.Client(http1=False, http2=True)``) share the port. Over HTTP/2 each
stream is recorded as a connection of its own (``MockConnection.http_version == "HTTP/2"``;
a client cancels a response by resetting its stream), and a fault that cuts the body resets
the stream (``RST_STREAM``) after the bytes before the cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from ._sserpent import MockConnection, MockRequest, MockServer

__all__ = ["MockServer", "MockRequest", "MockConnection", "mock_server"]

if TYPE_CHECKING:
    import pytest

    fixture = pytest.fixture
else:
    try:
        import pytest
    except ImportError:  # pytest is only needed for the fixture

        def fixture(func):
            return func

    else:
        fixture = pytest.fixture


@fixture
def mock_server() -> Iterator[MockServer]:
    """A started :class:`MockServer` for one test, closed afterwards.

    Use it from a ``conftest.py`` with ``from sserpent.testing import mock_server``, or load
    this module as a plugin: ``pytest -p sserpent.testing``.
    """
    with MockServer() as server:
        yield server
