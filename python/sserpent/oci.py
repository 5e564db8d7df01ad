"""OCI Generative AI streams through sserpent's core, with OCI request signing done in Rust.

::

    from sserpent.oci import GenerativeAiInference

    client = GenerativeAiInference()                  # ~/.oci/config, profile DEFAULT
    body = {
        "compartmentId": compartment_id,
        "servingMode": {"servingType": "ON_DEMAND", "modelId": model_ocid},
        "inferenceRequest": {"runtimeType": "COHERE", "prompt": "Tell me a joke.", "maxTokens": 500},
    }
    for text in client.generate_text(body).text():
        print(text, end="")

``body`` is the REST request body of ``POST /20231130/actions/generateText`` (``inferenceRequest``
with ``runtimeType`` COHERE or LLAMA) or ``/actions/chat`` (``chatRequest`` with ``apiFormat``
GENERIC or COHERE); ``isStream`` is set for you. HTTP errors raise when the call returns (the
stream is opened); ``stream.text()`` yields the text of every shape (COHERE chat's final event,
which repeats the whole text, is not a delta).

Requests are signed by OCI's HTTP Signature scheme (``rsa-sha256`` over ``date``,
``(request-target)``, ``host``, ``content-length``, ``content-type``, ``x-content-sha256``) from
the config file's API key (``user``, ``fingerprint``, ``tenancy``, ``key_file``, ``pass_phrase``)
or session token (``security_token_file``). Any other signer plugs in with ``signer=``: a
callable or ``requests`` auth object that signs a ``requests.PreparedRequest``, such as the
``oci`` package's ``InstancePrincipalsSecurityTokenSigner`` or resource-principal signers.

:class:`Signer` and :class:`SecurityTokenSigner` are sserpent's own signers; they are also
``requests`` auth objects (``requests.post(url, json=body, auth=signer, stream=True)``).
"""

from __future__ import annotations

import asyncio
import configparser
import json
import logging
import os
from typing import Any, Callable, Mapping, Optional, Union

from . import _observe
from ._errors import SserpentError
from ._sserpent import Client, Stream, oci_sign

__all__ = [
    "API_VERSION",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_PROFILE",
    "GenerativeAiInference",
    "OCIConfigError",
    "SecurityTokenSigner",
    "Signer",
    "load_config",
]

API_VERSION = "20231130"
DEFAULT_CONFIG_FILE = "~/.oci/config"
DEFAULT_PROFILE = "DEFAULT"
_ENDPOINT = "https://inference.generativeai.{region}.oci.oraclecloud.com"
_ACCEPT = "application/json, text/event-stream"


class OCIConfigError(SserpentError, ValueError):
    """The OCI configuration or key cannot be used (missing file, profile, field, or a bad key).

    Messages name files and fields, never key material or tokens.
    """


def load_config(config_file: str = DEFAULT_CONFIG_FILE, profile: str = DEFAULT_PROFILE) -> dict[str, str]:
    """Read one profile of an OCI config file (INI; a profile inherits ``[DEFAULT]``).

    As the ``oci`` package does: ``~`` is expanded, and when the default file does not exist
    ``$OCI_CONFIG_FILE`` is read instead; a missing ``region`` is taken from ``$OCI_REGION``.
    """
    path = os.path.expanduser(config_file)
    if config_file == DEFAULT_CONFIG_FILE and not os.path.isfile(path) and os.environ.get("OCI_CONFIG_FILE"):
        path = os.path.expanduser(os.environ["OCI_CONFIG_FILE"])
    parser = configparser.ConfigParser(interpolation=None)
    try:
        found = parser.read(path, encoding="utf-8")
    except configparser.Error as e:
        raise OCIConfigError(f"cannot parse the OCI config file {path}: {type(e).__name__}") from None
    if not found:
        raise OCIConfigError(f"could not find the OCI config file {path}")
    if profile not in parser:
        raise OCIConfigError(f"profile {profile!r} not found in the OCI config file {path}")
    config = dict(parser[profile])
    if "key_content" in config:
        raise OCIConfigError("'key_content' cannot be given in a config file (pass private_key_content)")
    if not config.get("region") and os.environ.get("OCI_REGION"):
        config["region"] = os.environ["OCI_REGION"]
    return config


def _read_key(path: Optional[str], content: Union[str, bytes, None], pass_phrase: Optional[str]) -> str:
    """The private key as unencrypted PEM text (decrypted with ``cryptography`` when needed)."""
    if content is not None:
        pem = content.encode("ascii") if isinstance(content, str) else bytes(content)
        where = "the private key"
    elif path:
        full = os.path.expanduser(path)
        try:
            with open(full, "rb") as f:
                pem = f.read()
        except OSError as e:
            raise OCIConfigError(f"cannot read the private key file {full}: {e.strerror}") from None
        where = f"the private key in {full}"
    else:
        raise OCIConfigError("no private key: give key_file (private_key_file_location) or key content")
    pem = pem.strip()
    if b"-----BEGIN ENCRYPTED" not in pem and b"Proc-Type: 4,ENCRYPTED" not in pem:
        return pem.decode("ascii", errors="replace")
    if not pass_phrase:
        raise OCIConfigError(f"{where} is encrypted: give its pass_phrase")
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise OCIConfigError(
            f"{where} is encrypted: decrypting it needs the `cryptography` package"
        ) from None
    try:
        key = serialization.load_pem_private_key(pem, pass_phrase.encode("utf-8"))
    except (ValueError, TypeError):
        raise OCIConfigError(f"cannot decrypt {where}: wrong pass_phrase, or not a PEM private key") from None
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _body_bytes(body: Any) -> Optional[bytes]:
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError("an OCI request body to sign must be bytes or str, not a stream")


class Signer:
    """Signs requests with an OCI API key, like ``oci.signer.Signer`` (same arguments).

    The signature is computed in Rust. Also a ``requests`` auth object: ``auth=signer``.
    """

    def __init__(
        self,
        tenancy: str,
        user: str,
        fingerprint: str,
        private_key_file_location: Optional[str] = None,
        pass_phrase: Optional[str] = None,
        private_key_content: Union[str, bytes, None] = None,
    ) -> None:
        self._key_id = f"{tenancy}/{user}/{fingerprint}"
        self._pem = _read_key(private_key_file_location, private_key_content, pass_phrase)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Signer:
        """A signer for an OCI config dict: a :class:`SecurityTokenSigner` when it has a
        ``security_token_file``, else an API-key :class:`Signer`."""
        key_args = {
            "private_key_file_location": config.get("key_file"),
            "pass_phrase": config.get("pass_phrase"),
            "private_key_content": config.get("key_content"),
        }
        if config.get("security_token_file"):
            return SecurityTokenSigner(token_file=config["security_token_file"], **key_args)
        missing = [k for k in ("user", "fingerprint", "tenancy") if not config.get(k)]
        if not (config.get("key_file") or config.get("key_content")):
            missing.append("key_file")
        if missing:
            raise OCIConfigError(f"the OCI config lacks {', '.join(missing)}")
        return cls(config["tenancy"], config["user"], config["fingerprint"], **key_args)

    @classmethod
    def from_file(cls, config_file: str = DEFAULT_CONFIG_FILE, profile: str = DEFAULT_PROFILE) -> Signer:
        return cls.from_config(load_config(config_file, profile))

    def key_id(self) -> str:
        """The ``keyId`` to sign with (``TENANCY/USER/FINGERPRINT``)."""
        return self._key_id

    def sign_headers(
        self,
        method: str,
        url: str,
        headers: Optional[Mapping[str, str]] = None,
        body: Union[bytes, str, None] = None,
        *,
        date: Optional[str] = None,
    ) -> dict[str, str]:
        """The headers to add to this request (lower-case names, ``authorization`` last)."""
        return oci_sign(method, url, headers or {}, _body_bytes(body), self.key_id(), self._pem, date)

    def __call__(self, request: Any) -> Any:
        """Sign a ``requests.PreparedRequest`` in place (the ``requests`` auth protocol)."""
        signed = self.sign_headers(request.method, request.url, dict(request.headers), request.body)
        request.headers.update(signed)
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self._key_id!r})"


class SecurityTokenSigner(Signer):
    """Signs with a session token (``keyId`` ``ST$<token>``) and its session key, like
    ``oci.auth.signers.SecurityTokenSigner``. With ``token_file`` the token is read at every
    request, so ``oci session refresh`` takes effect at once."""

    def __init__(
        self,
        token: Optional[str] = None,
        private_key_file_location: Optional[str] = None,
        pass_phrase: Optional[str] = None,
        private_key_content: Union[str, bytes, None] = None,
        *,
        token_file: Optional[str] = None,
    ) -> None:
        if (token is None) == (token_file is None):
            raise ValueError("give one of token and token_file")
        self._token = token
        self._token_file = os.path.expanduser(token_file) if token_file else None
        self._key_id = "ST$<token>"
        self._pem = _read_key(private_key_file_location, private_key_content, pass_phrase)

    def key_id(self) -> str:
        if self._token_file is None:
            token = self._token or ""
        else:
            try:
                with open(self._token_file, encoding="utf-8") as f:
                    token = f.read().strip()
            except OSError as e:
                raise OCIConfigError(
                    f"cannot read the security token file {self._token_file}: {e.strerror}"
                ) from None
        if not token:
            raise OCIConfigError("the security token is empty")
        return f"ST${token}"

    def __repr__(self) -> str:
        where = f"token_file={self._token_file!r}" if self._token_file else "token=<redacted>"
        return f"SecurityTokenSigner({where})"


def _prepared_request(url: str, headers: Mapping[str, str], body: bytes) -> Any:
    try:
        import requests
    except ImportError:  # the oci package vendors its own
        try:
            from oci._vendor import requests  # type: ignore[import-not-found,no-redef]
        except ImportError:
            raise ImportError("signer= needs the `requests` package to build the request to sign") from None
    return requests.Request("POST", url, headers=dict(headers), data=body).prepare()


def _with_isstream(body: Mapping[str, Any], key: str, what: str) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise TypeError(f"body must be a dict (the REST body of {what}), not {type(body).__name__}")
    inner = body.get(key)
    if not isinstance(inner, Mapping):
        raise ValueError(f"body[{key!r}] must be an object (the {what} request)")
    out = dict(body)
    out[key] = {**inner, "isStream": True}
    return out


class GenerativeAiInference:
    """Streams from OCI Generative AI's inference API (``generateText`` and ``chat``).

    Credentials come from ``signer`` when given, else from ``config`` (a dict such as
    ``oci.config.from_file()`` returns), else from profile ``profile`` of ``config_file``, read
    on first use. The region is ``region``, else the signer's ``region`` attribute (instance
    principals), else the config's. ``service_endpoint`` (an origin such as
    ``https://inference.generativeai.us-chicago-1.oci.oraclecloud.com``, or a test server)
    replaces the regional endpoint. Timeouts and retries are :class:`sserpent.Client`'s.
    """

    def __init__(
        self,
        config_file: str = DEFAULT_CONFIG_FILE,
        profile: str = DEFAULT_PROFILE,
        region: Optional[str] = None,
        service_endpoint: Optional[str] = None,
        signer: Optional[Callable[[Any], Any]] = None,
        *,
        config: Optional[Mapping[str, Any]] = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 600.0,
        timeout: Optional[float] = None,
        max_retries: int = 2,
    ) -> None:
        if signer is not None and not callable(signer):
            raise TypeError("signer must be a callable or a requests auth object")
        self._config_file = config_file
        self._profile = profile
        self._config: Optional[dict[str, Any]] = dict(config) if config is not None else None
        self._region = region
        self._service_endpoint = service_endpoint.rstrip("/") if service_endpoint else None
        self._signer = signer
        self._native: Optional[Signer] = None
        self._client = Client(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            timeout=timeout,
            max_retries=max_retries,
        )

    def _get_config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = load_config(self._config_file, self._profile)
        return self._config

    @property
    def endpoint(self) -> str:
        """The origin requests go to."""
        if self._service_endpoint:
            return self._service_endpoint
        region = self._region or getattr(self._signer, "region", None)
        if not region:
            region = self._get_config().get("region")
        if not region:
            raise OCIConfigError("no region: give region=, service_endpoint=, or a config with region")
        return _ENDPOINT.format(region=str(region).strip().lower())

    def _headers(self, url: str, body: bytes) -> tuple[list[tuple[str, str]], bytes]:
        base = {"content-type": "application/json", "accept": _ACCEPT}
        if self._signer is None:
            if self._native is None:
                self._native = Signer.from_config(self._get_config())
            signed = self._native.sign_headers("POST", url, base, body)
            return list({**base, **signed}.items()), body
        prepared = _prepared_request(url, base, body)
        result = self._signer(prepared)
        if result is None:  # a plain callable that signed in place
            result = prepared
        return [(str(k), str(v)) for k, v in result.headers.items()], _body_bytes(result.body) or b""

    def _request(self, action: str, body: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        url = f"{self.endpoint}/{API_VERSION}/actions/{action}"
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers, raw = self._headers(url, raw)
        return url, headers, raw

    def _stream(self, url: str, headers: list[tuple[str, str]], raw: bytes,
                call: Optional[_observe.Call] = None) -> Stream:
        if call is not None and _observe.TELEMETRY is not None:
            _observe.TELEMETRY.start(call, headers)  # after signing: traceparent is not signed
        # OCI's streams have no terminator: the end of the body is the end.
        stream = self._client.stream("POST", url, content=raw, headers=headers, terminator="eof")
        if call is not None:
            stream._on_end(call, call.with_text)
        return stream

    def _call(self, action: str, body: dict[str, Any]) -> Optional[_observe.Call]:
        """Telemetry and logging for one request (None when both are off); the span starts
        once the request is signed, in ``_stream``."""
        if _observe.TELEMETRY is None and not _observe.logger.isEnabledFor(logging.WARNING):
            return None
        try:
            url = _observe.safe_url(f"{self.endpoint}/{API_VERSION}/actions/{action}")
        except Exception:
            url = f"/{API_VERSION}/actions/{action}"
        return _observe.Call("oci", _observe.operation_of(action), "POST", url, body, True)

    def _open(self, action: str, body: dict[str, Any]) -> Stream:
        call = self._call(action, body)
        try:
            return self._stream(*self._request(action, body), call=call).open()
        except BaseException as e:
            if call is not None:
                call.fail(e)
            raise

    def generate_text(self, body: Mapping[str, Any]) -> Stream:
        """``POST /20231130/actions/generateText`` with ``inferenceRequest.isStream`` set; returns
        the opened stream (HTTP errors raise here). Events: ``{"text": ...}``."""
        return self._open("generateText", _with_isstream(body, "inferenceRequest", "generateText"))

    def chat(self, body: Mapping[str, Any]) -> Stream:
        """``POST /20231130/actions/chat`` with ``chatRequest.isStream`` set; returns the opened
        stream (HTTP errors raise here). GENERIC events carry ``message.content[].text``, then
        ``finishReason`` and usage; COHERE events ``text``, the last one the whole text."""
        return self._open("chat", _with_isstream(body, "chatRequest", "chat"))

    async def _aopen(self, action: str, body: dict[str, Any]) -> Stream:
        call = self._call(action, body)
        try:
            if self._signer is None:
                args = self._request(action, body)
            else:  # a foreign signer may do blocking I/O (token refresh): off the event loop
                args = await asyncio.get_running_loop().run_in_executor(None, self._request, action, body)
            stream = self._stream(*args, call=call)
            await stream.aopen()
            return stream
        except BaseException as e:
            if call is not None:
                call.fail(e)
            raise

    async def agenerate_text(self, body: Mapping[str, Any]) -> Stream:
        """Async :meth:`generate_text`: ``async for text in (await c.agenerate_text(b)).text()``."""
        return await self._aopen("generateText", _with_isstream(body, "inferenceRequest", "generateText"))

    async def achat(self, body: Mapping[str, Any]) -> Stream:
        """Async :meth:`chat`."""
        return await self._aopen("chat", _with_isstream(body, "chatRequest", "chat"))

    def __repr__(self) -> str:
        if self._service_endpoint:
            where = f"service_endpoint={self._service_endpoint!r}"
        elif self._region:
            where = f"region={self._region!r}"
        else:
            where = f"config_file={self._config_file!r}, profile={self._profile!r}"
        signer = f", signer={type(self._signer).__name__}" if self._signer is not None else ""
        return f"GenerativeAiInference({where}{signer})"
