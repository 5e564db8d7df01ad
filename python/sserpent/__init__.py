"""sserpent: stream LLM responses over server-sent events, decoded in Rust.

HTTP, SSE framing (exactly by the WHATWG rules) and JSON decoding happen in Rust;
the chunk objects read like the openai SDK's (``chunk.choices[0].delta.content``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterable, AsyncIterator, Union

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChunkDecodeError,
    ConflictError,
    ContentDecodingError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SSEError,
    SserpentError,
    StreamError,
    UnprocessableEntityError,
)
from ._providers import (
    Anthropic,
    AnthropicRawResponse,
    AsyncAnthropic,
    AsyncAnthropicRawResponse,
    AsyncAzureOpenAI,
    AsyncOpenAI,
    AzureOpenAI,
    OpenAI,
    RawResponse,
)
from ._sserpent import (
    ChatCompletionStreamEvent,
    Chunk,
    ChunkIter,
    ChunkParser,
    Client,
    Decoder,
    Event,
    Headers,
    SseIterator,
    Stream,
    StreamMetrics,
    StreamView,
    iter_chunks,
    iter_events,
    sse_encode,
)

if TYPE_CHECKING:
    __version__: str


def instrument(tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool = False) -> None:
    """OpenTelemetry GenAI spans and metrics for every request of sserpent's provider clients,
    timed by the Rust clock (needs ``pip install 'sserpent[otel]'``). See ``sserpent._otel``."""
    from ._otel import instrument as _instrument

    _instrument(tracer_provider, meter_provider, capture_content)


def uninstrument() -> None:
    """Turns :func:`instrument` off."""
    from . import _observe

    _observe.TELEMETRY = None

DEFAULT_MAX_EVENT_SIZE = 16 * 2**20

_BytesLike = Union[bytes, bytearray, memoryview]

__all__ = [
    "instrument",
    "uninstrument",
    "Anthropic",
    "AsyncAnthropic",
    "AsyncAzureOpenAI",
    "AsyncOpenAI",
    "AzureOpenAI",
    "OpenAI",
    "RawResponse",
    "AnthropicRawResponse",
    "AsyncAnthropicRawResponse",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletionStreamEvent",
    "Chunk",
    "ChunkDecodeError",
    "ChunkIter",
    "ChunkParser",
    "Client",
    "ConflictError",
    "DEFAULT_MAX_EVENT_SIZE",
    "Decoder",
    "Event",
    "Headers",
    "IncompleteStreamError",
    "ContentDecodingError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SSEError",
    "SseIterator",
    "SserpentError",
    "Stream",
    "StreamError",
    "StreamMetrics",
    "StreamView",
    "UnprocessableEntityError",
    "aiter_chunks",
    "aiter_events",
    "iter_chunks",
    "iter_events",
    "sse_encode",
    "stream",
]

_default_client: Client | None = None


def stream(method: str, url: str, **kwargs: Any) -> Stream:
    """``Client().stream(...)`` on a shared default client (created on first use)."""
    global _default_client
    if _default_client is None:
        _default_client = Client()
    return _default_client.stream(method, url, **kwargs)


async def _aiter(
    source: AsyncIterable[_BytesLike], chunks: bool, max_event_size: int
) -> AsyncIterator[Any]:
    parser = ChunkParser(chunks, max_event_size)
    async for data in source:
        for item in parser.feed(data):
            yield item
        if parser.done:
            break
    for item in parser.finish():
        yield item


def aiter_events(
    source: AsyncIterable[_BytesLike], *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> AsyncIterator[Event]:
    """Yield the :class:`Event` objects of an async iterable of bytes
    (httpx's ``aiter_bytes()``, aiohttp's ``content.iter_any()``)."""
    return _aiter(source, False, max_event_size)


def aiter_chunks(
    source: AsyncIterable[_BytesLike], *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> AsyncIterator[Any]:
    """Yield the JSON chunks of an async iterable of bytes; stops at ``data: [DONE]``.

    Raises :class:`StreamError` on a provider error event, :class:`ChunkDecodeError`
    on invalid JSON and :class:`IncompleteStreamError` when the bytes end before the
    stream's terminator, always after every complete chunk before it.
    """
    return _aiter(source, True, max_event_size)


def __getattr__(name: str) -> Any:
    # `__version__` is the installed distribution's, which the build takes from Cargo.toml:
    # one source for the crate, the wheel and this. Read on first use, not at import
    # (importlib.metadata takes milliseconds to import).
    if name == "__version__":
        from importlib.metadata import version

        value = globals()["__version__"] = version("sserpent")
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
