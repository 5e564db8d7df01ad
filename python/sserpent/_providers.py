"""Drop-in clients: the openai and anthropic SDKs' constructors and ``create`` calls,
streamed through sserpent's Rust core.

Only configuration lives here (URLs, auth headers, environment variables); the requests,
SSE decoding, JSON parsing, retries and errors are the core's.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Callable, Mapping, Optional

from ._errors import SserpentError
from ._message_stream import AsyncMessageStreamManager, MessageStreamManager
from ._sserpent import Chunk, Client, Headers, Stream

__all__ = [
    "OpenAI",
    "AsyncOpenAI",
    "AzureOpenAI",
    "AsyncAzureOpenAI",
    "Anthropic",
    "AsyncAnthropic",
    "RawResponse",
    "AnthropicRawResponse",
    "AsyncAnthropicRawResponse",
]

# Request options the SDKs accept on every call, next to the API parameters.
_EXTRAS = ("extra_headers", "extra_query", "extra_body", "timeout")


def _timeouts(timeout: Any) -> dict[str, float]:
    """Maps the SDKs' ``timeout`` (seconds, or an httpx.Timeout-like object) onto the core's."""
    if timeout is None:
        return {}
    if isinstance(timeout, (int, float)):
        return {"read_timeout": float(timeout), "connect_timeout": min(5.0, float(timeout))}
    out: dict[str, float] = {}
    connect = getattr(timeout, "connect", None)
    read = getattr(timeout, "read", None)
    if connect:
        out["connect_timeout"] = float(connect)
    if read:
        out["read_timeout"] = float(read)
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
        return path, body, kw, body.get("stream", False)

    def _post(self, path: str, params: dict[str, Any], raw: bool = False) -> Any:
        path, body, kw, stream = self._prepare(path, params)
        if stream:
            s = self._client.stream("POST", path, json=body, **kw).open()
            return self._raw_response(s, s) if raw else s
        if raw:
            s = self._client.send("POST", path, json=body, **kw).open()
            return self._raw_response(s, s.read())
        return self._client.request("POST", path, json=body, **kw)

    async def _apost(self, path: str, params: dict[str, Any], raw: bool = False) -> Any:
        path, body, kw, stream = self._prepare(path, params)
        if stream:
            s: Stream = await self._client.stream("POST", path, json=body, **kw).aopen()
            return self._raw_response(s, s) if raw else s
        if raw:
            s = await self._client.send("POST", path, json=body, **kw).aopen()
            return self._raw_response(s, await s.aread())
        return await self._client.arequest("POST", path, json=body, **kw)


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


class _Resource:
    def __init__(self, owner: _Base, path: str, is_async: bool) -> None:
        self._owner = owner
        self._path = path
        self._async = is_async

    def _call(self, params: dict[str, Any], raw: bool = False) -> Any:
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


class _RawResource:
    def __init__(self, resource: _Resource) -> None:
        self._resource = resource

    def create(self, **params: Any) -> Any:
        return self._resource._call(params, raw=True)


class _Chat:
    def __init__(self, completions: _Resource) -> None:
        self.completions = completions


# --- OpenAI ----------------------------------------------------------------------------------


class OpenAI(_Base):
    """Same constructor arguments and environment variables as ``openai.OpenAI``."""

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
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise SserpentError(
                "The api_key client option must be set either by passing api_key to the client or by "
                "setting the OPENAI_API_KEY environment variable"
            )
        self._api_key = api_key
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
        self.chat = _Chat(_Resource(self, "/chat/completions", self._is_async))
        self.completions = _Resource(self, "/completions", self._is_async)
        self.responses = _Resource(self, "/responses", self._is_async)


class AsyncOpenAI(OpenAI):
    """Same as :class:`OpenAI`; ``await client.chat.completions.create(..., stream=True)``
    returns a stream for ``async for``."""

    _is_async = True


# --- Azure OpenAI ----------------------------------------------------------------------------


class _AzureDeploymentResource(_Resource):
    """Without ``azure_deployment``, the request's ``model`` names the deployment."""

    def __init__(self, owner: AzureOpenAI, suffix: str, is_async: bool) -> None:
        super().__init__(owner, suffix, is_async)
        self._suffix = suffix

    def _path_for(self, params: dict[str, Any]) -> str:
        owner = self._owner
        assert isinstance(owner, AzureOpenAI)
        if owner._deployment_in_url:
            return self._suffix
        deployment = owner._azure_deployment or params.get("model")
        if not deployment or not _given(deployment):
            raise SserpentError("AzureOpenAI without azure_deployment needs model= (the deployment name)")
        return f"/deployments/{deployment}{self._suffix}"


class AzureOpenAI(_Base):
    """Same constructor arguments and environment variables as ``openai.AzureOpenAI``.

    Deployment URLs ``{azure_endpoint}/openai/deployments/{deployment}/chat/completions
    ?api-version=...`` (the deployment from ``azure_deployment`` or each request's ``model``),
    or the v1 API with ``base_url="https://{resource}.openai.azure.com/openai/v1"``.
    ``api_key`` is sent as ``api-key``; ``azure_ad_token`` / ``azure_ad_token_provider`` as
    a bearer token (the provider is called for every request).
    """

    _is_async = False

    def __init__(
        self,
        *,
        api_version: Optional[str] = None,
        azure_endpoint: Optional[str] = None,
        azure_deployment: Optional[str] = None,
        api_key: Optional[str] = None,
        azure_ad_token: Optional[str] = None,
        azure_ad_token_provider: Optional[Callable[[], str]] = None,
        organization: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Any = None,
        max_retries: int = 2,
        default_headers: Optional[Mapping[str, str]] = None,
        default_query: Optional[Mapping[str, Any]] = None,
        verify: Any = None,
        http1: bool = True,
        http2: bool = False,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("AZURE_OPENAI_API_KEY")
        azure_ad_token = azure_ad_token if azure_ad_token is not None else os.environ.get("AZURE_OPENAI_AD_TOKEN")
        if not (api_key or azure_ad_token or azure_ad_token_provider):
            raise SserpentError(
                "Missing credentials. Please pass one of `api_key`, `azure_ad_token`, or "
                "`azure_ad_token_provider`, or set the AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN "
                "environment variable"
            )
        api_version = api_version if api_version is not None else os.environ.get("OPENAI_API_VERSION")
        if base_url is None:
            azure_endpoint = azure_endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
            if not azure_endpoint:
                raise SserpentError(
                    "Must provide one of the `base_url` or `azure_endpoint` arguments, or the "
                    "AZURE_OPENAI_ENDPOINT environment variable"
                )
            if api_version is None:
                raise SserpentError(
                    "Must provide either the `api_version` argument or the OPENAI_API_VERSION environment variable"
                )
            # Deployment endpoints get /deployments/{azure_deployment or model}; the others
            # (responses) stay under /openai, as in the SDK.
            base_url = azure_endpoint.rstrip("/") + "/openai"
            self._azure_deployment = azure_deployment
            self._deployment_in_url = False
        else:
            # As in the SDK, a base_url naming no deployment gets /deployments/{model}, except
            # Azure's v1 API (.../openai/v1), which has no deployment in its paths.
            self._azure_deployment = None
            self._deployment_in_url = "/deployments" in base_url or base_url.rstrip("/").endswith("/v1")
        self._api_key = api_key
        self._azure_ad_token = azure_ad_token
        self._token_provider = azure_ad_token_provider
        self.api_version = api_version
        query = dict(default_query or {})
        if api_version:
            query.setdefault("api-version", api_version)
        headers: dict[str, str] = {}
        if api_key:
            headers["api-key"] = api_key
        if organization:
            headers["openai-organization"] = organization
        headers.update(default_headers or {})
        super().__init__(
            base_url=base_url, headers=headers, timeout=timeout, max_retries=max_retries, default_query=query,
            verify=verify, http1=http1, http2=http2,
        )
        self.chat = _Chat(_AzureDeploymentResource(self, "/chat/completions", self._is_async))
        self.completions = _AzureDeploymentResource(self, "/completions", self._is_async)
        self.responses = _Resource(self, "/responses", self._is_async)

    def _auth_headers(self) -> dict[str, str]:
        if self._token_provider is not None:
            return {"authorization": f"Bearer {self._token_provider()}"}
        if self._azure_ad_token and not self._api_key:
            return {"authorization": f"Bearer {self._azure_ad_token}"}
        return {}


class AsyncAzureOpenAI(AzureOpenAI):
    """Async :class:`AzureOpenAI` (``await client.chat.completions.create(...)``)."""

    _is_async = True


# --- Anthropic -------------------------------------------------------------------------------


class Anthropic(_Base):
    """Same constructor arguments and environment variables as ``anthropic.Anthropic``:
    ``messages.create(..., stream=True)`` streams every event type (``ping`` skipped) and
    ends at ``message_stop``; ``messages.stream(...)`` is the SDK's streaming helper."""

    _is_async = False

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
        self.messages = _Messages(self, "/v1/messages", self._is_async)


class AsyncAnthropic(Anthropic):
    """Async :class:`Anthropic`."""

    _is_async = True

