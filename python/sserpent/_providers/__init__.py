"""Drop-in clients: the openai and anthropic SDKs' constructors and ``create`` calls, one
module per provider. Only configuration lives here (URLs, auth headers, environment
variables); the requests, SSE decoding, JSON parsing, retries and errors are the core's."""

from __future__ import annotations

from ._raw_response import AnthropicRawResponse, AsyncAnthropicRawResponse, RawResponse
from .anthropic import Anthropic, AsyncAnthropic
from .azure import AsyncAzureOpenAI, AzureOpenAI
from .openai import AsyncOpenAI, OpenAI

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
