"""What ``with_raw_response.create(...)`` returns: the response line and headers around the
parsed body, for the OpenAI and Azure clients and (with methods) for the Anthropic ones."""

from __future__ import annotations

import datetime
import json
from typing import Any, Optional

from .._sserpent import Chunk, Headers, Stream

__all__ = ["RawResponse", "AnthropicRawResponse", "AsyncAnthropicRawResponse"]


def _chunk_data(value: Any) -> Any:
    if isinstance(value, Chunk):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON data")


class _RawBase:
    """The response line and headers of a ``with_raw_response`` call."""

    _request_id_header = "x-request-id"

    def __init__(self, stream: Stream, parsed: Any) -> None:
        self._stream = stream
        self._parsed = parsed

    @property
    def status_code(self) -> int:
        status = self._stream.status
        assert status is not None  # the response was opened
        return status

    @property
    def headers(self) -> Headers:
        headers = self._stream.headers
        assert headers is not None
        return headers

    @property
    def request_id(self) -> Optional[str]:
        return self.headers.get(self._request_id_header) or self._stream.request_id

    @property
    def http_version(self) -> str:
        version = self._stream.http_version
        assert version is not None
        return version

    @property
    def is_closed(self) -> bool:
        """Whether the connection is done with: a body read whole, or a stream that ended,
        failed or was closed."""
        return self._stream.is_closed

    @property
    def retries_taken(self) -> int:
        return max(0, self._stream.metrics.attempts - 1)

    @property
    def method(self) -> str:
        return "POST"

    @property
    def url(self) -> str:
        """The request URL (credentials in it redacted)."""
        return self._stream.url

    @property
    def elapsed(self) -> datetime.timedelta:
        """From sending the request to the end of the body, or to the headers while a
        streamed body is still being read."""
        m = self._stream.metrics
        seconds = m.duration if m.duration is not None else m.time_to_headers
        return datetime.timedelta(seconds=seconds or 0.0)

    def close(self) -> None:
        """Closes the response (a streamed body's connection at once)."""
        self._stream.close()

    def _body(self) -> Any:
        if self._parsed is self._stream:
            raise TypeError("a streaming response's body is read by iterating parse()")
        return self._parsed

    def _text(self) -> str:
        body = self._body()
        if isinstance(body, Chunk):
            return body.to_json()
        # A JSON body that is not an object: its objects are chunks inside plain lists.
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=_chunk_data)

    def _json(self) -> Any:
        body = self._body()
        return body.to_dict() if isinstance(body, Chunk) else json.loads(self._text())

    def __repr__(self) -> str:
        kind = "stream" if self._parsed is self._stream else "body"
        return f"<{type(self).__name__} [{self.status_code}] {kind}>"


class RawResponse(_RawBase):
    """What ``with_raw_response.create(...)`` returns on the OpenAI and Azure clients, as the
    openai SDK's ``LegacyAPIResponse``: ``status_code``, ``headers`` (case-insensitive),
    ``request_id``, ``retries_taken``, and ``parse()``, which returns what ``create`` would
    have (the opened stream for ``stream=True``, else the response as a chunk object). A
    non-streamed body is read before this is returned: ``text``, ``content``, ``json()``."""

    def parse(self) -> Any:
        return self._parsed

    @property
    def text(self) -> str:
        return self._text()

    @property
    def content(self) -> bytes:
        return self._text().encode()

    def json(self) -> Any:
        return self._json()


class AnthropicRawResponse(_RawBase):
    """``with_raw_response.create(...)`` on :class:`Anthropic`, as the anthropic SDK's
    ``APIResponse``: ``parse()``, ``read()``, ``text()`` and ``json()`` are methods."""

    _request_id_header = "request-id"

    def parse(self) -> Any:
        return self._parsed

    def read(self) -> bytes:
        return self._text().encode()

    def text(self) -> str:
        return self._text()

    def json(self) -> Any:
        return self._json()


class AsyncAnthropicRawResponse(_RawBase):
    """:class:`AnthropicRawResponse` for :class:`AsyncAnthropic`: await its methods."""

    _request_id_header = "request-id"

    async def parse(self) -> Any:
        return self._parsed

    async def read(self) -> bytes:
        return self._text().encode()

    async def text(self) -> str:
        return self._text()

    async def json(self) -> Any:
        return self._json()
