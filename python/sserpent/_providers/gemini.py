"""The Gemini client: ``google.genai.Client``'s constructor (the Gemini API with an API key,
or Vertex AI with a bearer token), ``models.generate_content_stream`` /
``generate_content``, the same under ``aio``, and ``chats``. The request body is built
as the SDK builds it (``_gemini_request``); the stream, its chunks (snake_case attributes
over the camelCase wire, ``chunk.text``) and its errors are the core's."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

from .._errors import SserpentError
from .._sserpent import Stream
from . import _gemini_request as req
from ._base import _Base

__all__ = ["Client"]

_MLDEV_URL = "https://generativelanguage.googleapis.com/"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _model_path(model: Any, vertexai: bool) -> str:
    """The SDK's ``t_model``: ``models/{model}`` (Gemini API) or
    ``publishers/google/models/{model}`` (Vertex AI)."""
    if not isinstance(model, str):
        raise TypeError(f"model must be a string, not {type(model).__name__}")
    if not model:
        raise ValueError("model is required.")
    if ".." in model or "?" in model or "&" in model:
        raise ValueError("invalid model parameter.")
    if vertexai:
        if model.startswith(("projects/", "models/", "publishers/")):
            return model
        if "/" in model:
            publisher, model_id = model.split("/", 1)
            return f"publishers/{publisher}/models/{model_id}"
        return f"publishers/google/models/{model}"
    if model.startswith(("models/", "tunedModels/")):
        return model
    return f"models/{model}"


def _http_options(value: Any) -> Dict[str, Any]:
    value = req._plain(value)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"http_options must be a dict or a types.HttpOptions, not {type(value).__name__}")
    return {req.snake(k): v for k, v in value.items() if v is not None}


def _timeout_seconds(ms: Any, name: str) -> Optional[float]:
    """``http_options.timeout`` is in milliseconds, as in the SDK."""
    if ms is None:
        return None
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not ms > 0:
        raise TypeError(f"{name} must be a positive number of milliseconds, not {ms!r}")
    return ms / 1000


class _Token:
    """A bearer token from a google-auth ``credentials`` object (refreshed when it has none
    or it expired) or from a callable returning one. Never shown in a repr."""

    def __init__(self, source: Any) -> None:
        if not (callable(source) or hasattr(source, "refresh")):
            raise TypeError(
                "credentials must have .token and .refresh() (google-auth) or be a callable returning a token")
        self._source = source

    def __repr__(self) -> str:
        return "<token>"

    def get(self) -> str:
        source = self._source
        if hasattr(source, "refresh"):
            if getattr(source, "token", None) is None or getattr(source, "valid", True) is False:
                try:
                    from google.auth.transport.requests import Request
                except ImportError:  # a credentials-like object without google-auth
                    source.refresh(None)
                else:
                    source.refresh(Request())
            token = source.token
        else:
            token = source()
        if not isinstance(token, str) or not token:
            raise SserpentError("the credentials gave no token")
        return token


class _Models:
    def __init__(self, client: Client, is_async: bool) -> None:
        self._client = client
        self._async = is_async

    def _request(self, method: str, model: Any, contents: Any,
                 config: Any) -> tuple[str, Dict[str, Any], Dict[str, Any]]:
        path = self._client._path(_model_path(model, self._client.vertexai), method)
        body: Dict[str, Any] = {"contents": req.contents(contents)}
        fields, options = req.config(config)
        body.update(fields)
        return path, body, options

    def generate_content_stream(self, *, model: Any, contents: Any, config: Any = None) -> Any:
        """An opened :class:`sserpent.Stream` of ``GenerateContentResponse`` chunks
        (``chunk.text``, ``chunk.candidates[0].content.parts``, ``chunk.usage_metadata``).
        On ``client.aio.models``: ``async for chunk in await ...``."""
        path, body, options = self._request("streamGenerateContent", model, contents, config)
        return self._client._send(path, body, options, stream=True, is_async=self._async, model=model)

    def generate_content(self, *, model: Any, contents: Any, config: Any = None) -> Any:
        """The whole ``GenerateContentResponse`` as a chunk object (``response.text``)."""
        path, body, options = self._request("generateContent", model, contents, config)
        return self._client._send(path, body, options, stream=False, is_async=self._async, model=model)


class _Aio:
    """``client.aio``: the async ``models`` and ``chats``; ``async with client.aio:`` and
    ``await client.aio.aclose()`` as in the SDK (the connections are the client's)."""

    def __init__(self, client: Client) -> None:
        self.models = _Models(client, True)
        from ._gemini_chats import _Chats

        self.chats = _Chats(self.models, True)

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> _Aio:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.aclose()


class Client(_Base):
    """Same constructor arguments and environment variables as ``google.genai.Client``.

    The Gemini API: ``api_key=`` or ``GOOGLE_API_KEY`` / ``GEMINI_API_KEY`` (sent as
    ``x-goog-api-key``). Vertex AI: ``vertexai=True`` (or ``GOOGLE_GENAI_USE_VERTEXAI``) with
    ``project=`` / ``location=`` (``GOOGLE_CLOUD_PROJECT``, ``GOOGLE_CLOUD_LOCATION``) and
    ``credentials=`` (google-auth credentials, or a callable returning a token; without one,
    ``google.auth.default()``), sent as a bearer token; or ``api_key=`` (express mode).
    ``http_options``: ``base_url``, ``api_version``, ``headers``, ``timeout`` (milliseconds)."""

    _gen_ai_provider = "gcp.gemini"

    def __init__(
        self,
        *,
        vertexai: Optional[bool] = None,
        api_key: Optional[str] = None,
        credentials: Any = None,
        project: Optional[str] = None,
        location: Optional[str] = None,
        debug_config: Any = None,
        http_options: Any = None,
        max_retries: int = 2,
        verify: Any = None,
        http1: bool = True,
        http2: bool = False,
    ) -> None:
        options = _http_options(http_options)
        if vertexai is None:
            vertexai = os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "0").lower() in ("true", "1")
        self.vertexai = bool(vertexai)
        for name, value in (("api_key", api_key), ("project", project), ("location", location)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string, not {type(value).__name__}")
        self._token: Optional[_Token] = None
        headers: Dict[str, str] = {"content-type": "application/json"}
        env_version = os.environ.get("GOOGLE_GENAI_API_VERSION")
        if self.vertexai:
            if credentials is not None and api_key is not None:
                raise ValueError("credentials and api_key are mutually exclusive.")
            project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
            location = location or os.environ.get("GOOGLE_CLOUD_LOCATION")
            if api_key is None and credentials is None and (project or location):
                credentials = _default_credentials()
            if api_key is None and credentials is None:
                api_key = os.environ.get("GOOGLE_API_KEY")
            if credentials is not None:
                self._token = _Token(credentials)
                if not (project and location):
                    raise ValueError("Vertex AI needs project= and location= (or GOOGLE_CLOUD_PROJECT and "
                                     "GOOGLE_CLOUD_LOCATION) with credentials")
            elif not api_key:
                raise ValueError("Vertex AI needs credentials= (or google.auth.default()) or api_key=")
            if api_key and credentials is None:
                project = location = None  # express mode: no project in the path
            if location == "global" or not location:
                default_url = "https://aiplatform.googleapis.com/"
            else:
                default_url = f"https://{location}-aiplatform.googleapis.com/"
            self.api_version = options.get("api_version") or (
                "v1beta1" if not env_version or env_version == "beta" else env_version)
        else:
            if credentials is not None:
                raise ValueError("credentials are only supported with vertexai=True (the Gemini API takes api_key=)")
            if api_key is None:
                api_key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
            if not api_key:
                raise SserpentError(
                    "Missing key inputs argument! To use the Google AI API, provide (`api_key`) arguments. "
                    "To use the Google Cloud API, provide (`vertexai`, `project` & `location`) arguments."
                )
            default_url = _MLDEV_URL
            self.api_version = options.get("api_version") or (
                "v1beta" if env_version == "beta" else (env_version or "v1"))
        self.project, self.location = project, location
        if self.vertexai:
            self._gen_ai_provider = "gcp.vertex_ai"  # gen_ai.provider.name (OpenTelemetry)
        if api_key and self._token is None:
            headers["x-goog-api-key"] = api_key
        extra = options.get("headers") or {}
        if not isinstance(extra, Mapping):
            raise TypeError(f"http_options['headers'] must be a mapping, not {type(extra).__name__}")
        headers.update(extra)
        base_url = options.get("base_url") or os.environ.get(
            "GOOGLE_VERTEX_BASE_URL" if self.vertexai else "GOOGLE_GEMINI_BASE_URL") or default_url
        if not isinstance(base_url, str):
            raise TypeError(f"http_options['base_url'] must be a string, not {type(base_url).__name__}")
        timeout = _timeout_seconds(options.get("timeout"), "http_options['timeout']")
        super().__init__(base_url=base_url, headers=headers, timeout=timeout, max_retries=max_retries,
                         default_query=None, verify=verify, http1=http1, http2=http2)
        self.models = _Models(self, False)
        self.aio = _Aio(self)
        from ._gemini_chats import _Chats

        self.chats = _Chats(self.models, False)

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, vertexai={self.vertexai!r})"

    def close(self) -> None:
        """As the SDK's: a no-op here (idle pooled connections close with the client)."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def _path(self, model: str, method: str) -> str:
        path = f"{model}:{method}"
        if self.vertexai and self.project and not path.startswith("projects/"):
            path = f"projects/{self.project}/locations/{self.location}/{path}"
        return f"/{self.api_version}/{path}" if self.api_version else f"/{path}"

    def _auth_headers(self) -> Dict[str, str]:
        if self._token is None:
            return {}
        return {"authorization": f"Bearer {self._token.get()}"}

    def _send(self, path: str, body: Dict[str, Any], options: Dict[str, Any], stream: bool, is_async: bool,
              model: str = "") -> Any:
        per_call = _http_options(options.get("http_options"))
        headers = self._auth_headers()
        extra = per_call.get("headers") or {}
        if not isinstance(extra, Mapping):
            raise TypeError(f"config['http_options']['headers'] must be a mapping, not {type(extra).__name__}")
        headers.update(extra)
        kw: Dict[str, Any] = {"headers": headers}
        timeout = _timeout_seconds(per_call.get("timeout"), "config['http_options']['timeout']")
        if timeout is not None:
            kw["read_timeout"] = timeout
        if per_call.get("extra_body"):
            body = {**body, **per_call["extra_body"]}
        if stream:
            # Gemini sends no terminator: complete once a candidate has a finishReason.
            kw["params"] = {"alt": "sse"}
            kw["terminator"] = "finish_reason"
        # What telemetry reads: the model (in the path here) and the generation parameters.
        observed = {**(body.get("generationConfig") or {}), "model": model.rsplit("/", 1)[-1]}
        if is_async:
            return self._asend(path, body, kw, stream, observed)
        call = self._observe(path, observed, kw, stream)
        if call is not None:
            return self._post_observed(call, path, body, kw, stream, False)
        if stream:
            return self._client.stream("POST", path, json=body, **kw).open()
        return self._client.request("POST", path, json=body, **kw)

    async def _asend(self, path: str, body: Dict[str, Any], kw: Dict[str, Any], stream: bool,
                     observed: Dict[str, Any]) -> Any:
        call = self._observe(path, observed, kw, stream)
        if call is not None:
            return await self._apost_observed(call, path, body, kw, stream, False)
        if stream:
            s: Stream = self._client.stream("POST", path, json=body, **kw)
            return await s.aopen()
        return await self._client.arequest("POST", path, json=body, **kw)


def _default_credentials() -> Any:
    try:
        import google.auth
    except ImportError:
        raise SserpentError(
            "Vertex AI without credentials= needs google-auth (pip install google-auth) for "
            "google.auth.default(), or pass credentials= (an object with .token and .refresh(), or a callable)"
        ) from None
    credentials, _ = google.auth.default(scopes=_SCOPES)
    return credentials

