"""The Azure OpenAI clients: ``openai.AzureOpenAI``'s constructor, deployment URLs and auth."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional

from .._errors import SserpentError
from ._base import _Base, _Chat, _given, _Resource
from ._chat_stream import ChatStreamMixin
from .openai import _Responses

__all__ = ["AzureOpenAI", "AsyncAzureOpenAI"]


class _AzureDeploymentResource(_Resource):
    """Without ``azure_deployment``, the request's ``model`` names the deployment."""

    def __init__(self, owner: AzureOpenAI, suffix: str, is_async: bool, required: tuple[str, ...]) -> None:
        super().__init__(owner, suffix, is_async, required)
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


class _AzureChatCompletions(ChatStreamMixin, _AzureDeploymentResource):
    """``chat.completions`` on a deployment: ``create`` and ``stream()``."""


class AzureOpenAI(_Base):
    """Same constructor arguments and environment variables as ``openai.AzureOpenAI``.

    Deployment URLs ``{azure_endpoint}/openai/deployments/{deployment}/chat/completions
    ?api-version=...`` (the deployment from ``azure_deployment`` or each request's ``model``),
    or the v1 API with ``base_url="https://{resource}.openai.azure.com/openai/v1"``.
    ``api_key`` is sent as ``api-key``; ``azure_ad_token`` / ``azure_ad_token_provider`` as
    a bearer token (the provider is called for every request).
    """

    _gen_ai_provider = "azure.ai.openai"
    _is_async = False
    _sdk = ("openai", "AzureOpenAI")

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
        self._sdk_kwargs = dict(api_version=api_version, azure_endpoint=azure_endpoint,
                                azure_deployment=azure_deployment, api_key=api_key, azure_ad_token=azure_ad_token,
                                azure_ad_token_provider=azure_ad_token_provider, organization=organization,
                                base_url=base_url, timeout=timeout, max_retries=max_retries,
                                default_headers=default_headers, default_query=default_query, verify=verify)
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
        self.chat = _Chat(_AzureChatCompletions(self, "/chat/completions", self._is_async, ("messages", "model")))
        self.completions = _AzureDeploymentResource(self, "/completions", self._is_async, ("model", "prompt"))
        self.completions._sdk_path = "completions"
        self.responses = _Responses(self, "/responses", self._is_async, (), "responses")

    def _auth_headers(self) -> dict[str, str]:
        if self._token_provider is not None:
            return {"authorization": f"Bearer {self._token_provider()}"}
        if self._azure_ad_token and not self._api_key:
            return {"authorization": f"Bearer {self._azure_ad_token}"}
        return {}


class AsyncAzureOpenAI(AzureOpenAI):
    """Async :class:`AzureOpenAI` (``await client.chat.completions.create(...)``)."""

    _is_async = True
    _sdk = ("openai", "AsyncAzureOpenAI")
