"""The OpenAI clients: ``openai.OpenAI``'s constructor, environment variables and endpoints."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from .._errors import SserpentError
from ._base import _Base, _Chat, _Resource
from ._chat_stream import ChatStreamMixin
from ._responses_stream import ResponsesStreamMixin


class _Responses(ResponsesStreamMixin, _Resource):
    """``responses``: ``create`` and the SDK's ``stream()`` helper."""


class _ChatCompletions(ChatStreamMixin, _Resource):
    """``chat.completions``: ``create`` and the SDK's ``stream()`` helper."""

__all__ = ["OpenAI", "AsyncOpenAI"]


class OpenAI(_Base):
    """Same constructor arguments and environment variables as ``openai.OpenAI``.

    ``require_done=False`` (sserpent's own): a stream may end without ``data: [DONE]``, for
    OpenAI-compatible servers known to omit it; a cut event or an empty body still raises
    :class:`sserpent.IncompleteStreamError`."""

    _is_async = False

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        organization: Optional[str] = None,
        project: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Any = None,
        max_retries: int = 2,
        default_headers: Optional[Mapping[str, str]] = None,
        default_query: Optional[Mapping[str, Any]] = None,
        verify: Any = None,
        http1: bool = True,
        http2: bool = False,
        require_done: bool = True,
    ) -> None:
        if not isinstance(require_done, bool):
            raise TypeError(f"require_done must be a bool, not {type(require_done).__name__}")
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise SserpentError(
                "The api_key client option must be set either by passing api_key to the client or by "
                "setting the OPENAI_API_KEY environment variable"
            )
        self._api_key = api_key
        self._sdk_kwargs = dict(api_key=api_key, organization=organization, project=project, base_url=base_url,
                                timeout=timeout, max_retries=max_retries, default_headers=default_headers,
                                default_query=default_query, verify=verify)
        self.organization = organization if organization is not None else os.environ.get("OPENAI_ORG_ID")
        self.project = project if project is not None else os.environ.get("OPENAI_PROJECT_ID")
        headers = {"authorization": f"Bearer {api_key}"}
        if self.organization:
            headers["openai-organization"] = self.organization
        if self.project:
            headers["openai-project"] = self.project
        headers.update(default_headers or {})
        super().__init__(
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
            headers=headers, timeout=timeout, max_retries=max_retries, default_query=default_query,
            verify=verify, http1=http1, http2=http2,
        )
        # False: streams may end without `data: [DONE]` (OpenAI-compatible servers that omit it).
        if not require_done:
            self._stream_options = {"require_done": False}
        self.chat = _Chat(_ChatCompletions(self, "/chat/completions", self._is_async, ("messages", "model")))
        self.completions = _Resource(self, "/completions", self._is_async, ("model", "prompt"), "completions")
        self.responses = _Responses(self, "/responses", self._is_async, (), "responses")


class AsyncOpenAI(OpenAI):
    """Same as :class:`OpenAI`; ``await client.chat.completions.create(..., stream=True)``
    returns a stream for ``async for``."""

    _is_async = True
    _sdk = ("openai", "AsyncOpenAI")
