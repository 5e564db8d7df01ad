"""The Anthropic clients: ``anthropic.Anthropic``'s constructor and ``messages`` (``create``
and the ``stream()`` helper)."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from .._errors import SserpentError
from .._sserpent import Stream
from ._base import _Base, _Resource
from ._message_stream import AsyncMessageStreamManager, MessageStreamManager
from ._raw_response import AnthropicRawResponse, AsyncAnthropicRawResponse

__all__ = ["Anthropic", "AsyncAnthropic"]


class _Messages(_Resource):
    """Anthropic's ``messages``: ``create`` plus the SDK's ``stream()`` helper."""

    def stream(self, **params: Any) -> Any:
        """``with client.messages.stream(...) as stream:`` (``async with`` on the async
        client), as in the anthropic SDK: iterate ``stream`` for the events (the raw ones,
        ``ping`` skipped, and those the SDK builds: ``text``, ``input_json``, ``citation``,
        ``thinking``, ``signature``, ``content_block_stop`` and ``message_stop`` with the
        block or message so far), ``stream.text_stream`` for the text alone,
        ``stream.get_final_message()`` / ``get_final_text()`` for the result."""
        if "output_format" in params:
            raise TypeError(
                "messages.stream(output_format=...) (a parsed structured output) is not supported; "
                "pass output_config with a JSON schema and parse get_final_text() instead"
            )
        body = {**params, "stream": True}
        if self._async:
            return AsyncMessageStreamManager(lambda: self._call(body))
        return MessageStreamManager(lambda: self._call(body))


class Anthropic(_Base):
    """Same constructor arguments and environment variables as ``anthropic.Anthropic``:
    ``messages.create(..., stream=True)`` streams every event type (``ping`` skipped) and
    ends at ``message_stop``; ``messages.stream(...)`` is the SDK's streaming helper."""

    _gen_ai_provider = "anthropic"
    _is_async = False
    _sdk = ("anthropic", "Anthropic")

    def _raw_response(self, stream: Stream, parsed: Any) -> Any:
        if self._is_async:
            return AsyncAnthropicRawResponse(stream, parsed)
        return AnthropicRawResponse(stream, parsed)

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        auth_token: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Any = None,
        max_retries: int = 2,
        default_headers: Optional[Mapping[str, str]] = None,
        default_query: Optional[Mapping[str, Any]] = None,
        anthropic_version: str = "2023-06-01",
        verify: Any = None,
        http1: bool = True,
        http2: bool = False,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        auth_token = auth_token if auth_token is not None else os.environ.get("ANTHROPIC_AUTH_TOKEN")
        if not (api_key or auth_token):
            raise SserpentError(
                "Could not resolve authentication method. Expected either api_key or auth_token to be set, "
                "or the ANTHROPIC_API_KEY environment variable"
            )
        self._api_key = api_key
        self._sdk_kwargs = dict(api_key=api_key, auth_token=auth_token, base_url=base_url, timeout=timeout,
                                max_retries=max_retries, default_query=default_query, verify=verify,
                                default_headers=default_headers if anthropic_version == "2023-06-01" else
                                {"anthropic-version": anthropic_version, **(default_headers or {})})
        headers: dict[str, str] = {"anthropic-version": anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        if auth_token:
            headers["authorization"] = f"Bearer {auth_token}"
        headers.update(default_headers or {})
        super().__init__(
            base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
            headers=headers, timeout=timeout, max_retries=max_retries, default_query=default_query,
            verify=verify, http1=http1, http2=http2,
        )
        self.messages = _Messages(self, "/v1/messages", self._is_async, ("max_tokens", "messages", "model"),
                                  "messages")


class AsyncAnthropic(Anthropic):
    """Async :class:`Anthropic`."""

    _is_async = True
    _sdk = ("anthropic", "AsyncAnthropic")
