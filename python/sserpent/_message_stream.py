"""``Anthropic.messages.stream()``: the anthropic SDK's streaming helper, over a sserpent stream.

The snapshot message and the events built from it come from the Rust core
(``_MessageState``), as the SDK's ``accumulate_event`` and ``build_events`` make them: after
each raw ``content_block_delta``, a ``text``, ``input_json``, ``citation``, ``thinking`` or
``signature`` event with the snapshot so far; ``content_block_stop`` and ``message_stop``
carrying the finished block and message. This module only drives the iteration.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Optional, Type

from ._sserpent import Chunk, Stream, _MessageState

__all__ = ["MessageStream", "AsyncMessageStream", "MessageStreamManager", "AsyncMessageStreamManager"]


def _text_of(event: Chunk) -> Optional[str]:
    if event.type == "content_block_delta":
        delta = event.delta
        if delta.type == "text_delta":
            text: str = delta.text
            return text
    return None


def _final_text(message: Chunk) -> str:
    texts = [block.text for block in message.content if block.type == "text"]
    if not texts:
        kinds = ",".join(block.type for block in message.content)
        raise RuntimeError(
            ".get_final_text() can only be called when the API returns a `text` content block.\n"
            f"The API returned {kinds} content block type(s) that you can access by calling "
            "get_final_message().content"
        )
    return "".join(texts)


class _Base:
    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._state = _MessageState()

    @property
    def response(self) -> Any:
        """The response line and headers (``status_code``, ``headers``, ``http_version``,
        ``is_closed``, ``elapsed``), in place of the SDK's httpx response."""
        from ._providers import AnthropicRawResponse

        return AnthropicRawResponse(self._stream, self._stream)

    @property
    def request_id(self) -> Optional[str]:
        """The ``request-id`` response header."""
        headers = self._stream.headers
        return headers.get("request-id") if headers is not None else None

    @property
    def workspace_id(self) -> Optional[str]:
        headers = self._stream.headers
        return headers.get("anthropic-workspace-id") if headers is not None else None

    @property
    def current_message_snapshot(self) -> Chunk:
        """The message accumulated so far."""
        snapshot = self._state.snapshot()
        if snapshot is None:
            raise RuntimeError("no message_start event has arrived yet")
        return snapshot

    def _final(self) -> Chunk:
        snapshot = self._state.snapshot()
        if snapshot is None:
            raise RuntimeError("the stream ended without a message_start event")
        return snapshot

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._stream!r}>"


class MessageStream(_Base):
    """``with client.messages.stream(...) as stream:``. Iterate it for the events (the raw
    ones, ``ping`` skipped, plus those the SDK builds), or read ``text_stream`` for the text
    alone; ``get_final_message()`` is the whole message."""

    text_stream: Iterator[str]
    """The text deltas alone: ``for text in stream.text_stream: print(text, end="")``."""

    def __init__(self, stream: Stream) -> None:
        super().__init__(stream)
        self._iterator = self.__events()
        self.text_stream = self.__text()

    def __events(self) -> Iterator[Any]:
        push = self._state.push
        for raw in self._stream:
            yield from push(raw)

    def __text(self) -> Iterator[str]:
        # Reads the raw events and folds them in without building the derived events,
        # which text alone does not need.
        accumulate = self._state.accumulate
        for raw in self._stream:
            accumulate(raw)
            text = _text_of(raw)
            if text is not None:
                yield text

    def __iter__(self) -> Iterator[Any]:
        return self._iterator

    def __next__(self) -> Any:
        return next(self._iterator)

    def until_done(self) -> None:
        """Reads the stream to its end."""
        for _ in self._iterator:
            pass

    def get_final_message(self) -> Chunk:
        """Reads the stream to its end and returns the accumulated message."""
        self.until_done()
        return self._final()

    def get_final_text(self) -> str:
        """The text blocks of the final message, joined; ``RuntimeError`` if there is none."""
        return _final_text(self.get_final_message())

    def close(self) -> None:
        """Closes the upstream connection at once."""
        self._stream.close()

    def __enter__(self) -> MessageStream:
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()


class AsyncMessageStream(_Base):
    """``async with client.messages.stream(...) as stream:``: :class:`MessageStream` for
    ``async for``; ``get_final_message()``, ``get_final_text()``, ``until_done()`` and
    ``close()`` are awaited."""

    text_stream: AsyncIterator[str]
    """The text deltas alone: ``async for text in stream.text_stream: ...``."""

    def __init__(self, stream: Stream) -> None:
        super().__init__(stream)
        self._iterator = self.__events()
        self.text_stream = self.__text()

    async def __events(self) -> AsyncIterator[Any]:
        push = self._state.push
        async for raw in self._stream:
            for event in push(raw):
                yield event

    async def __text(self) -> AsyncIterator[str]:
        accumulate = self._state.accumulate
        async for raw in self._stream:
            accumulate(raw)
            text = _text_of(raw)
            if text is not None:
                yield text

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterator

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    async def until_done(self) -> None:
        async for _ in self._iterator:
            pass

    async def get_final_message(self) -> Chunk:
        await self.until_done()
        return self._final()

    async def get_final_text(self) -> str:
        return _final_text(await self.get_final_message())

    async def close(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> AsyncMessageStream:
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()


class MessageStreamManager:
    """What ``client.messages.stream(...)`` returns: the request is sent on ``with``
    (HTTP errors raise there) and the stream closed on leaving it."""

    def __init__(self, request: Callable[[], Stream]) -> None:
        self._request = request
        self._stream: Optional[MessageStream] = None

    def __enter__(self) -> MessageStream:
        self._stream = MessageStream(self._request())
        return self._stream

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if self._stream is not None:
            self._stream.close()


class AsyncMessageStreamManager:
    """What ``AsyncAnthropic().messages.stream(...)`` returns, for ``async with``."""

    def __init__(self, request: Callable[[], Awaitable[Stream]]) -> None:
        self._request = request
        self._stream: Optional[AsyncMessageStream] = None

    async def __aenter__(self) -> AsyncMessageStream:
        self._stream = AsyncMessageStream(await self._request())
        return self._stream

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if self._stream is not None:
            await self._stream.close()
