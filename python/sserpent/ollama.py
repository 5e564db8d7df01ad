"""Ollama's native API (``/api/chat``, ``/api/generate``), as the ``ollama`` package calls it.

``from sserpent import ollama``, then ``ollama.chat(model=..., messages=..., stream=True)``,
``ollama.Client(host=...)`` or ``ollama.AsyncClient``: the same arguments, the ``OLLAMA_HOST``
and ``OLLAMA_API_KEY`` environment variables, the same host parsing. Ollama streams
newline-delimited JSON (``application/x-ndjson``), not SSE: the core reads it with the same
bounded buffers (a line over ``max_event_size`` raises :class:`sserpent.SSEError`) and requires
the ``"done": true`` line (a stream that ends before it raises
:class:`sserpent.IncompleteStreamError`).

Chunks read like the package's ``ChatResponse`` / ``GenerateResponse``: ``chunk.message.content``,
``chunk["message"]["content"]``, ``chunk.done``, ``chunk.eval_count`` (``None`` until the last line).
The stream also has sserpent's ``text()``, ``reasoning_text()`` (``thinking``), ``final()``
(``usage`` from ``prompt_eval_count`` and ``eval_count``), ``metrics`` and ``close()``.

Errors, as the package raises them: :class:`ResponseError` (``error``, ``status_code``) for an
HTTP error status and for an ``{"error": ...}`` line mid-stream (``status_code`` -1);
:class:`ConnectError`, also a builtin ``ConnectionError``, when no response came. Each is chained
from sserpent's own exception (``__cause__``: a :class:`sserpent.RateLimitError`,
:class:`sserpent.StreamError`, ...). Cuts, stalls and undecodable lines raise sserpent's
exceptions (:class:`sserpent.IncompleteStreamError`, :class:`sserpent.APITimeoutError`,
:class:`sserpent.ChunkDecodeError`), where the package lets httpx's or ``json``'s through.
Unlike the package, 408/409/429/5xx answers and connect errors are retried before the first byte
(``max_retries``, default 2), as by every sserpent client.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import platform
import urllib.parse
from typing import Any, Mapping, Optional, Sequence

from ._errors import APIConnectionError, APIError, APIStatusError, APITimeoutError, SserpentError, StreamError
from ._providers._base import _Base

__all__ = ["Client", "AsyncClient", "ResponseError", "RequestError", "ConnectError", "chat", "generate"]

CONNECTION_ERROR_MESSAGE = (
    "Failed to connect to Ollama. Please check that Ollama is downloaded, running and accessible. "
    "https://ollama.com/download"
)


class RequestError(SserpentError, ValueError):
    """A request that cannot be sent (``error``: why), as ``ollama.RequestError``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class ResponseError(APIError):
    """Ollama answered with an error, as ``ollama.ResponseError``: an HTTP error status
    (``status_code``), or an ``{"error": ...}`` line mid-stream (``status_code`` -1).
    ``error`` is the body's ``error`` member when it has one, else the body."""

    def __init__(self, error: Any, status_code: int = -1) -> None:
        if isinstance(error, str):
            with contextlib.suppress(ValueError, AttributeError):
                error = json.loads(error).get("error", error)
        super().__init__(error if isinstance(error, str) else json.dumps(error))
        self.error = error
        self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.error} (status code: {self.status_code})"


class ConnectError(APIConnectionError, ConnectionError):
    """No response came (connect error, reset before the headers): also a builtin
    ``ConnectionError``, as the package raises."""


def _parse_host(host: Optional[str]) -> str:
    """``OLLAMA_HOST`` forms to a base URL, as the package reads them: ``127.0.0.1:11434`` by
    default, ``:PORT``, ``HOST``, ``HOST:PORT``, ``http(s)://HOST[:PORT][/path]``, IPv6 in brackets."""
    host, port = host or "", 11434
    scheme, _, hostport = host.partition("://")
    if not hostport:
        scheme, hostport = "http", host
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    host = split.hostname or "127.0.0.1"
    port = split.port or port
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    except ValueError:
        pass
    path = split.path.strip("/")
    return f"{scheme}://{host}:{port}/{path}" if path else f"{scheme}://{host}:{port}"


def _converted(e: BaseException) -> BaseException:
    """The package's exception for sserpent's ``e`` (``e`` itself when the package has none)."""
    if isinstance(e, APIStatusError):
        body = e.body
        if isinstance(body, Mapping):
            return ResponseError(body.get("error", json.dumps(body)), e.status_code)
        return ResponseError("" if body is None else str(body), e.status_code)
    if isinstance(e, StreamError):
        return ResponseError(e.message)
    if isinstance(e, APIConnectionError) and not isinstance(e, APITimeoutError):
        return ConnectError(f"{CONNECTION_ERROR_MESSAGE} ({e})")
    return e


def _reraise(e: BaseException) -> None:
    new = _converted(e)
    if new is e:
        raise e
    raise new from e


class _Iter:
    """One of a stream's views (chunks, ``text()``, ``reasoning_text()``) with the package's
    exceptions."""

    __slots__ = ("_next", "_it")

    def __init__(self, it: Any) -> None:
        self._it = it
        self._next = it.__next__  # bound once: one call per chunk

    def __iter__(self) -> _Iter:
        return self

    def __next__(self) -> Any:
        try:
            return self._next()
        except StreamError as e:
            raise ResponseError(e.message) from e

    def __aiter__(self) -> _Iter:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._it.__anext__()
        except StreamError as e:
            raise ResponseError(e.message) from e


class ResponseStream(_Iter):
    """What ``chat(..., stream=True)`` / ``generate(..., stream=True)`` return: an iterator of
    chunks (``for``, or ``async for`` from :class:`AsyncClient`), with the core
    :class:`sserpent.Stream`'s ``text()``, ``reasoning_text()``, ``final()``, ``close()``,
    ``metrics``, ``status``, ``headers``."""

    __slots__ = ("stream",)

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.stream = stream

    def text(self) -> _Iter:
        return _Iter(self.stream.text())

    def reasoning_text(self) -> _Iter:
        return _Iter(self.stream.reasoning_text())

    def final(self) -> Any:
        try:
            return self.stream.final()
        except (StreamError, APIStatusError) as e:
            _reraise(e)

    async def afinal(self) -> Any:
        try:
            return await self.stream.afinal()
        except (StreamError, APIStatusError) as e:
            _reraise(e)

    def close(self) -> None:
        self.stream.close()

    async def aclose(self) -> None:
        self.stream.close()

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stream.close()

    async def __aenter__(self) -> ResponseStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def __repr__(self) -> str:
        return f"<ollama ResponseStream {self.stream!r}>"


def _plain(value: Any, name: str) -> Any:
    """A message, tool or options object as the JSON the package sends (``None`` members dropped)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True, by_alias=True)
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if v is not None}
    raise TypeError(f"{name} must be a mapping or an ollama model, not {type(value).__name__}")


def _list(values: Any, name: str) -> list:
    if values is None:
        return []
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence, not {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        if callable(v) and not isinstance(v, Mapping) and not hasattr(v, "model_dump"):
            raise TypeError(f"{name}[{i}] is a function: pass its JSON schema as a dict "
                            "(sserpent does not convert Python functions into tools)")
        out.append(_plain(v, f"{name}[{i}]"))
    return out


def _image(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, str):
        return value
    if hasattr(value, "value"):  # ollama.Image
        return _image(value.value)
    raise TypeError(f"images must hold str (base64) or bytes, not {type(value).__name__}")


def _body(fields: Mapping[str, Any]) -> dict:
    return {k: (_plain(v, k) if k == "options" and not isinstance(v, Mapping) else v)
            for k, v in fields.items() if v is not None}


class Client(_Base):
    """``ollama.Client(host=None, **kwargs)``: ``host`` defaults to ``OLLAMA_HOST``, then
    ``http://127.0.0.1:11434``. ``timeout`` (seconds or an httpx.Timeout-like object; default
    none, as the package's), ``headers``; ``OLLAMA_API_KEY`` becomes ``Authorization: Bearer``.
    sserpent's own: ``max_retries`` (default 2), ``verify``, ``http2``, ``max_event_size``."""

    _is_async = False
    _gen_ai_provider = "ollama"

    def __init__(
        self,
        host: Optional[str] = None,
        *,
        timeout: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        max_retries: int = 2,
        verify: Any = None,
        http2: bool = False,
        follow_redirects: bool = True,
        max_event_size: Optional[int] = None,
    ) -> None:
        if host is not None and not isinstance(host, str):
            raise TypeError(f"host must be a str, not {type(host).__name__}")
        if follow_redirects is not True:
            raise ValueError("follow_redirects=False is not supported: sserpent follows redirects")
        merged = {k.lower(): v for k, v in (headers or {}).items()}
        merged.update({
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": f"sserpent-ollama ({platform.machine()} {platform.system().lower()}) "
                          f"Python/{platform.python_version()}",
        })
        api_key = os.environ.get("OLLAMA_API_KEY")
        if not merged.get("authorization") and api_key:
            merged["authorization"] = f"Bearer {api_key}"
        super().__init__(
            base_url=_parse_host(host or os.environ.get("OLLAMA_HOST")), headers=merged,
            timeout=timeout if timeout is not None else 24 * 3600.0, max_retries=max_retries,
            default_query=None, verify=verify, http2=http2,
        )
        self._stream_options = {"framing": "ndjson", "terminator": "done_true"}
        if max_event_size is not None:
            self._stream_options["max_event_size"] = max_event_size

    def _send(self, path: str, body: dict) -> Any:
        if not isinstance(body.get("stream", False), bool):
            raise TypeError(f"stream must be a bool, not {type(body['stream']).__name__}")
        if self._is_async:
            return self._asend(path, body)
        try:
            out = self._post(path, body)
        except (APIStatusError, APIConnectionError) as e:
            _reraise(e)
        return ResponseStream(out) if body["stream"] else out

    async def _asend(self, path: str, body: dict) -> Any:
        try:
            out = await self._apost(path, body)
        except (APIStatusError, APIConnectionError) as e:
            _reraise(e)
        return ResponseStream(out) if body["stream"] else out

    def chat(
        self,
        model: str = "",
        messages: Optional[Sequence[Any]] = None,
        *,
        tools: Optional[Sequence[Any]] = None,
        stream: bool = False,
        think: Any = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
        format: Any = None,
        options: Any = None,
        keep_alive: Any = None,
    ) -> Any:
        """``POST /api/chat``. ``stream=True``: a :class:`ResponseStream` of ``ChatResponse``-like
        chunks; else the one response. From :class:`AsyncClient`, await it."""
        if not isinstance(model, str):
            raise TypeError(f"model must be a str, not {type(model).__name__}")
        return self._send("/api/chat", _body({
            "model": model, "messages": _list(messages, "messages"), "tools": _list(tools, "tools"),
            "stream": stream, "think": think, "logprobs": logprobs, "top_logprobs": top_logprobs,
            "format": format, "options": options, "keep_alive": keep_alive,
        }))

    def generate(
        self,
        model: str = "",
        prompt: Optional[str] = None,
        suffix: Optional[str] = None,
        *,
        system: Optional[str] = None,
        template: Optional[str] = None,
        context: Optional[Sequence[int]] = None,
        stream: bool = False,
        think: Any = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
        raw: Optional[bool] = None,
        format: Any = None,
        images: Optional[Sequence[Any]] = None,
        options: Any = None,
        keep_alive: Any = None,
        width: Optional[int] = None,
        height: Optional[int] = None,
        steps: Optional[int] = None,
    ) -> Any:
        """``POST /api/generate``. ``stream=True``: a :class:`ResponseStream` of
        ``GenerateResponse``-like chunks (``chunk.response``); else the one response."""
        if not isinstance(model, str):
            raise TypeError(f"model must be a str, not {type(model).__name__}")
        if prompt is not None and not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, not {type(prompt).__name__}")
        if images is not None and (isinstance(images, (str, bytes)) or not hasattr(images, "__iter__")):
            raise TypeError(f"images must be a sequence, not {type(images).__name__}")
        return self._send("/api/generate", _body({
            "model": model, "prompt": prompt, "suffix": suffix, "system": system, "template": template,
            "context": list(context) if context is not None else None, "stream": stream, "think": think,
            "logprobs": logprobs, "top_logprobs": top_logprobs, "raw": raw, "format": format,
            "images": [_image(i) for i in images] if images else None, "options": options,
            "keep_alive": keep_alive, "width": width, "height": height, "steps": steps,
        }))

    def close(self) -> None:
        """Nothing to release early (the pool closes with the client); for the package's API."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncClient(Client):
    """Same as :class:`Client`; ``await client.chat(..., stream=True)`` returns a stream for
    ``async for``."""

    _is_async = True

    async def close(self) -> None:  # type: ignore[override]
        """For the package's API (``await client.close()``)."""

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


_default: Optional[Client] = None


def _client() -> Client:
    global _default
    if _default is None:
        _default = Client()
    return _default


def chat(*args: Any, **kwargs: Any) -> Any:
    """``Client().chat(...)`` on a module-level client (``OLLAMA_HOST``), made on first use."""
    return _client().chat(*args, **kwargs)


def generate(*args: Any, **kwargs: Any) -> Any:
    """``Client().generate(...)`` on the module-level client."""
    return _client().generate(*args, **kwargs)

