"""What every provider client shares: the SDKs' call options and timeouts, one core
:class:`Client` per client, and the ``create`` / ``with_raw_response`` resources."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from .. import _observe
from .._sserpent import Client, Stream
from ._delegate import delegated_attribute
from ._raw_response import RawResponse

# Request options the SDKs accept on every call, next to the API parameters.
_EXTRAS = ("extra_headers", "extra_query", "extra_body", "timeout")


def _seconds(value: Any, name: str) -> float:
    """A timeout in seconds: a positive, finite number (not a bool), or ValueError/TypeError
    naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or an httpx.Timeout, not {type(value).__name__}")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return seconds


def _timeouts(timeout: Any, name: str = "timeout") -> dict[str, float]:
    """Maps the SDKs' ``timeout`` (seconds, or an httpx.Timeout-like object with ``connect``
    and ``read``) onto the core's; anything else is refused, naming the argument."""
    if timeout is None or not _given(timeout):
        return {}
    if isinstance(timeout, (int, float)) or not (hasattr(timeout, "connect") and hasattr(timeout, "read")):
        seconds = _seconds(timeout, name)
        return {"read_timeout": seconds, "connect_timeout": min(5.0, seconds)}
    out: dict[str, float] = {}
    # httpx: None is "no limit" for that phase; the core keeps its default there.
    if timeout.connect is not None:
        out["connect_timeout"] = _seconds(timeout.connect, f"{name}.connect")
    if timeout.read is not None:
        out["read_timeout"] = _seconds(timeout.read, f"{name}.read")
    return out


def _given(value: Any) -> bool:
    """False for sserpent's ``NOT_GIVEN`` and for the SDKs' own sentinels (``openai.NOT_GIVEN``,
    ``openai.omit``, ``anthropic.NOT_GIVEN``), which code written for the SDKs passes."""
    return value is not _NOT_GIVEN and type(value).__name__ not in ("NotGiven", "Omit")


def _split(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """API parameters (the JSON body) and the per-call extras."""
    extras = {k: params.pop(k) for k in _EXTRAS if k in params}
    extras = {k: v for k, v in extras.items() if _given(v)}
    body = {k: v for k, v in params.items() if _given(v)}
    body.update(extras.get("extra_body") or {})
    return body, extras


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


_NOT_GIVEN = _NotGiven()


class _Base:
    """Shared by every provider client: one core :class:`Client` and request plumbing."""

    _auth_names: tuple[str, ...] = ()
    # The official SDK's (package, client class) that what sserpent does not implement goes to,
    # and the constructor arguments for it (set by each client's __init__).
    _sdk: tuple[str, str] = ("openai", "OpenAI")
    _sdk_kwargs: dict[str, Any]
    _is_async: bool = False
    # gen_ai.provider.name (OpenTelemetry GenAI conventions).
    _gen_ai_provider = "openai"
    # Passed to the core's `Client.stream` for streamed calls (framing, require_done, ...).
    _stream_options: dict[str, Any] = {}

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        timeout: Any,
        max_retries: int,
        default_query: Optional[Mapping[str, Any]],
        verify: Any = None,
        http1: bool = True,
        http2: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._query = dict(default_query or {})
        self._client = Client(
            base_url=self.base_url, headers=dict(headers), max_retries=max_retries, verify=verify,
            http1=http1, http2=http2, **_timeouts(timeout),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def __getattr__(self, name: str) -> Any:
        # Only for what the instance and its class lack: `models`, `embeddings`, `files`, `beta`, ...
        if name.startswith("_"):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return delegated_attribute(self, name)

    def _auth_headers(self) -> dict[str, str]:
        return {}

    def _raw_response(self, stream: Stream, parsed: Any) -> Any:
        """What ``with_raw_response.create`` returns."""
        return RawResponse(stream, parsed)

    def _prepare(self, path: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any], Any]:
        body, extras = _split(params)
        headers = self._auth_headers()
        headers.update(extras.get("extra_headers") or {})
        query = dict(self._query)
        query.update(extras.get("extra_query") or {})
        kw: dict[str, Any] = {"headers": headers, "params": query or None}
        # A per-call `timeout=` (seconds or an httpx.Timeout): its read part bounds this request's
        # gaps in the data. The connect timeout belongs to the connection pool (the client's).
        read = _timeouts(extras.get("timeout")).get("read_timeout")
        if read is not None:
            kw["read_timeout"] = read
        stream = body.get("stream", False)
        if stream and self._stream_options:
            kw.update(self._stream_options)
        return path, body, kw, stream

    def _observe(self, path: str, body: Any, kw: dict[str, Any], stream: Any) -> Optional[_observe.Call]:
        return _observe.begin(self._gen_ai_provider, "POST", _observe.safe_url(self.base_url + path), path, body,
                              kw["headers"], bool(stream))

    def _post(self, path: str, params: dict[str, Any], raw: bool = False) -> Any:
        path, body, kw, stream = self._prepare(path, params)
        call = self._observe(path, body, kw, stream)
        if call is not None:
            return self._post_observed(call, path, body, kw, stream, raw)
        if stream:
            s = self._client.stream("POST", path, json=body, **kw).open()
            return self._raw_response(s, s) if raw else s
        if raw:
            s = self._client.send("POST", path, json=body, **kw).open()
            return self._raw_response(s, s.read())
        return self._client.request("POST", path, json=body, **kw)

    def _post_observed(self, call: _observe.Call, path: str, body: Any, kw: dict[str, Any], stream: Any,
                       raw: bool) -> Any:
        try:
            if stream:
                s = self._client.stream("POST", path, json=body, **kw)
                s._on_end(call, call.with_text)
                s.open()
                return self._raw_response(s, s) if raw else s
            s = self._client.send("POST", path, json=body, **kw)
            s._on_end(call, call.with_text)
            result = call.response = s.open().read()
            s.close()
            return self._raw_response(s, result) if raw else result
        except BaseException as e:
            call.fail(e)
            raise

    async def _apost_observed(self, call: _observe.Call, path: str, body: Any, kw: dict[str, Any], stream: Any,
                              raw: bool) -> Any:
        try:
            if stream:
                s: Stream = self._client.stream("POST", path, json=body, **kw)
                s._on_end(call, call.with_text)
                await s.aopen()
                return self._raw_response(s, s) if raw else s
            s = self._client.send("POST", path, json=body, **kw)
            s._on_end(call, call.with_text)
            await s.aopen()
            result = call.response = await s.aread()
            s.close()
            return self._raw_response(s, result) if raw else result
        except BaseException as e:
            call.fail(e)
            raise

    async def _apost(self, path: str, params: dict[str, Any], raw: bool = False) -> Any:
        path, body, kw, stream = self._prepare(path, params)
        call = self._observe(path, body, kw, stream)
        if call is not None:
            return await self._apost_observed(call, path, body, kw, stream, raw)
        if stream:
            s: Stream = await self._client.stream("POST", path, json=body, **kw).aopen()
            return self._raw_response(s, s) if raw else s
        if raw:
            s = await self._client.send("POST", path, json=body, **kw).aopen()
            return self._raw_response(s, await s.aread())
        return await self._client.arequest("POST", path, json=body, **kw)


class _Resource:
    def __init__(self, owner: _Base, path: str, is_async: bool, required: tuple[str, ...] = (),
                 sdk_path: Optional[str] = None) -> None:
        self._owner = owner
        self._path = path
        self._async = is_async
        # The API parameters the SDK's signature requires (keyword-only, no default).
        self._required = required
        # Where this resource is on the SDK's client ("chat.completions"): what sserpent does
        # not implement here (`parse`, `retrieve`, `list`, ...) is read there.
        self._sdk_path = sdk_path

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self._sdk_path is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return delegated_attribute(self._owner, name, self._sdk_path)

    def _check_required(self, params: dict[str, Any]) -> None:
        missing = [name for name in self._required if not _given(params.get(name, _NOT_GIVEN))]
        if missing:
            # As the SDKs' `required_args`: before anything is sent.
            names = " and ".join(repr(name) for name in missing)
            raise TypeError(f"Missing required argument{'s' if len(missing) > 1 else ''}: {names}")

    def _call(self, params: dict[str, Any], raw: bool = False) -> Any:
        self._check_required(params)
        if self._async:
            return self._owner._apost(self._path_for(params), params, raw)
        return self._owner._post(self._path_for(params), params, raw)

    def _path_for(self, params: dict[str, Any]) -> str:
        return self._path

    def create(self, **params: Any) -> Any:
        """POST the parameters as the JSON body. ``stream=True`` returns an opened
        :class:`sserpent.Stream` (HTTP errors raise here); otherwise the JSON response
        as a chunk object. For the async clients, await the call."""
        return self._call(params)

    @property
    def with_raw_response(self) -> _RawResource:
        """``.with_raw_response.create(...)``: a :class:`RawResponse` (status, headers,
        ``request_id``; ``parse()`` for what ``create`` returns), as in the SDKs."""
        return _RawResource(self)

    @property
    def with_streaming_response(self) -> _StreamingResource:
        """``with ....with_streaming_response.create(...) as response:`` (``async with`` on the
        async clients): the response as ``with_raw_response`` gives it (``status_code``,
        ``headers``, ``parse()`` for the stream), closed on leaving the block, as in the SDKs."""
        return _StreamingResource(self)


class _StreamingResource:
    def __init__(self, resource: _Resource) -> None:
        self._resource = resource

    def create(self, **params: Any) -> _StreamingResponse:
        return _StreamingResponse(self._resource, params)


class _AsyncParse:
    """A raw response whose ``parse()`` is awaited (the async SDKs' ``AsyncAPIResponse``)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    async def parse(self) -> Any:
        return self._raw.parse()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class _StreamingResponse:
    def __init__(self, resource: _Resource, params: dict[str, Any]) -> None:
        self._resource = resource
        self._params = params
        self._raw: Any = None

    def __enter__(self) -> Any:
        if self._resource._async:
            raise TypeError("use `async with` for with_streaming_response on an async client")
        self._raw = self._resource._call(self._params, raw=True)
        return self._raw

    def __exit__(self, *exc: Any) -> None:
        if self._raw is not None:
            self._raw.close()

    async def __aenter__(self) -> Any:
        if not self._resource._async:
            raise TypeError("use `with` for with_streaming_response on a sync client")
        self._raw = await self._resource._call(self._params, raw=True)
        return _AsyncParse(self._raw)

    async def __aexit__(self, *exc: Any) -> None:
        if self._raw is not None:
            self._raw.close()


class _RawResource:
    def __init__(self, resource: _Resource) -> None:
        self._resource = resource

    def create(self, **params: Any) -> Any:
        return self._resource._call(params, raw=True)


class _Chat:
    def __init__(self, completions: _Resource) -> None:
        self.completions = completions
        completions._sdk_path = completions._sdk_path or "chat.completions"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"'_Chat' object has no attribute '{name}'")
        return delegated_attribute(self.completions._owner, name, "chat")
