"""``Anthropic.messages.stream()``: the anthropic SDK's streaming helper, over a sserpent stream.

The snapshot message and the events built from it come from the Rust core
(``_MessageState``), as the SDK's ``accumulate_event`` and ``build_events`` make them: after
each raw ``content_block_delta``, a ``text``, ``input_json``, ``citation``, ``thinking`` or
``signature`` event with the snapshot so far; ``content_block_stop`` and ``message_stop``
carrying the finished block and message. This module only drives the iteration.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Optional, Type

from .._sserpent import Chunk, Stream, _MessageState
from ._raw_response import AnthropicRawResponse

__all__ = [
    "MessageStream",
    "AsyncMessageStream",
    "MessageStreamManager",
    "AsyncMessageStreamManager",
    "TextEvent",
    "ThinkingEvent",
]


class _GrowingEvent:
    """A ``text`` or ``thinking`` event: the delta, and the block's string as it was then
    (``snapshot``, read from the Rust snapshot only when asked for: copying it into every
    event would make a long answer cost quadratic time)."""

    __slots__ = ("_delta", "_state", "_index", "_length")
    type: str

    def __init__(self, delta: str, state: _MessageState, index: int, length: int) -> None:
        self._delta = delta
        self._state = state
        self._index = index
        self._length = length

    @property
    def snapshot(self) -> str:
        return self._state.block_str(self._index, self.type, self._length)

    def to_dict(self, **_: Any) -> dict[str, Any]:
        return {"type": self.type, self.type: self._delta, "snapshot": self.snapshot}

    def model_dump(self, *, include: Any = None, exclude: Any = None, **_: Any) -> dict[str, Any]:
        """As pydantic's, for these three string fields (``include``/``exclude`` as sets of names)."""
        data = self.to_dict()
        return {k: v for k, v in data.items()
                if (include is None or k in include) and (exclude is None or k not in exclude)}

    def model_dump_json(self, *, indent: Optional[int] = None, **kwargs: Any) -> str:
        return json.dumps(self.model_dump(**kwargs), indent=indent, ensure_ascii=False,
                          separators=None if indent is not None else (",", ":"))

    def to_json(self, *, indent: Optional[int] = 2, **kwargs: Any) -> str:
        return self.model_dump_json(indent=indent, **kwargs)

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _GrowingEvent):
            return self.to_dict() == other.to_dict()
        if isinstance(other, dict):
            return self.to_dict() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


class TextEvent(_GrowingEvent):
    """``type="text"``: ``text`` (the delta) and ``snapshot`` (the block's text so far)."""

    __slots__ = ()
    type = "text"

    @property
    def text(self) -> str:
        return self._delta


class ThinkingEvent(_GrowingEvent):
    """``type="thinking"``: ``thinking`` (the delta) and ``snapshot`` (the block's thinking so far)."""

    __slots__ = ()
    type = "thinking"

    @property
    def thinking(self) -> str:
        return self._delta


_GROWING = {"text": TextEvent, "thinking": ThinkingEvent}


def _events_for(state: _MessageState, raw: Any) -> list[Any]:
    fired = state.push(raw)
    for i, item in enumerate(fired):
        if type(item) is tuple:
            kind, delta, index, length = item
            fired[i] = _GROWING[kind](delta, state, index, length)
    return fired


def _text_of(event: Any) -> Optional[str]:
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
        if snapshot is None or not self._state.stopped:
            # Read to its end, the stream has its message_stop (or raised); so it was closed.
            raise RuntimeError(
                "the stream was closed before its message_stop event: the message is incomplete "
                "(current_message_snapshot has what arrived)"
            )
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
        state = self._state
        for raw in self._stream:
            yield from _events_for(state, raw)

    def __text(self) -> Iterator[str]:
        # The same iterator as the events, as in the SDK: switching between the two loses
        # nothing.
        for event in self._iterator:
            text = _text_of(event)
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
        state = self._state
        async for raw in self._stream:
            for event in _events_for(state, raw):
                yield event

    async def __text(self) -> AsyncIterator[str]:
        async for event in self._iterator:
            text = _text_of(event)
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
